#!/usr/bin/env bash
# Installs what the tests need (idempotently) and runs every suite.
#
#   ./scripts/test.sh            everything
#   DEKBOX_TEST_FAST=1 ...       skip fmt/clippy/wasm checks (local iteration)
#
# Each check and each test counts once in the closing line,
# "total: N passed, N failed"; the exit status is non-zero if anything failed.
# Later suites (Python, Node, Ruby, browser) add themselves as steps below.

set -uo pipefail
cd "$(dirname "$0")/.."

logs=$(mktemp -d)
passed=0
failed=0
failures=()

cleanup() {
    # Servers started by later suites register their PIDs here.
    if [ -f "$logs/pids" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$logs/pids"
    fi
    rm -rf "$logs"
}
trap cleanup EXIT

say() { printf '\n==> %s\n' "$*"; }

# check NAME CMD...: one pass/fail entry for a whole command.
check() {
    local name=$1
    shift
    say "$name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
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

# Sums pytest's closing line ("3 passed, 1 failed in 0.2s").
count_pytest() {
    local file=$1 p f
    p=$(grep -Eo '[0-9]+ passed' "$file" | tail -1 | grep -Eo '[0-9]+')
    f=$(grep -Eo '[0-9]+ (failed|error)' "$file" | tail -1 | grep -Eo '[0-9]+')
    if [ -z "$p$f" ]; then
        failed=$((failed + 1))
        failures+=("$file: pytest ran no test")
        return
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
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

say "tools"
ensure_tools

if [ -z "${DEKBOX_TEST_FAST:-}" ]; then
    check "cargo fmt --check" cargo fmt --all -- --check
    check "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
    check "dekbox-core builds for wasm32-unknown-unknown" \
        cargo build -p dekbox-core --target wasm32-unknown-unknown --locked
    check "dekbox-transport builds for wasm32 (reqwest fetch backend)" \
        cargo build -p dekbox-transport --target wasm32-unknown-unknown --locked
fi

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

# The Python package as a user gets it: a wheel built by maturin, installed
# with pip into a fresh virtualenv, tested with pytest from outside the source.
python_suite() {
    rm -f target/wheels/dekbox-*.whl
    "$venv/bin/maturin" build --release -q -m bindings-python/Cargo.toml -o target/wheels || return 1
    rm -rf .dekbox-test/py
    python3 -m venv .dekbox-test/py || return 1
    pip_install .dekbox-test/py/bin/pip target/wheels/dekbox-*.whl pytest cryptography botocore sqlalchemy || return 1
    (cd bindings-python && DEKBOX_CLI="$PWD/../target/debug/dekbox" ../.dekbox-test/py/bin/python -m pytest -q tests)
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

say "cargo test (Rust: core, transport, CLI)"
cargo test --workspace --locked 2>&1 | tee "$logs/cargo-test.txt"
status=${PIPESTATUS[0]}
count_cargo "$logs/cargo-test.txt"
if [ "$status" -ne 0 ] && ! grep -qE '^test result: FAILED' "$logs/cargo-test.txt"; then
    # A build failure runs no test: count it.
    failed=$((failed + 1))
    failures+=("cargo test did not build")
fi

say "loopback servers: moto, moto with signature checks, fault proxy"
if start_servers; then
    passed=$((passed + 1))

    say "cargo test: AWS KMS against moto"
    cargo test -p dekbox-transport --test aws_moto -p dekbox-cli --test aws_cli --locked -- --include-ignored 2>&1 | tee "$logs/moto-test.txt"
    status=${PIPESTATUS[0]}
    count_cargo "$logs/moto-test.txt"
    if [ "$status" -ne 0 ] && ! grep -qE '^test result: FAILED' "$logs/moto-test.txt"; then
        failed=$((failed + 1))
        failures+=("AWS KMS tests did not build")
    fi

    say "Python package: maturin wheel, pip install into a fresh venv, pytest"
    python_suite 2>&1 | tee "$logs/pytest-python.txt"
    count_pytest "$logs/pytest-python.txt"

    say "pytest: SigV4 against botocore"
    cargo build -q -p dekbox-core --example sigv4_sign --locked &&
        "$venv/bin/python" -m pytest -q tests/aws/test_sigv4_botocore.py 2>&1 | tee "$logs/pytest-sigv4.txt"
    count_pytest "$logs/pytest-sigv4.txt"
else
    failed=$((failed + 1))
    failures+=("loopback servers did not start (see moto logs above)")
    cat "$logs"/moto*.log "$logs"/proxy.log 2>/dev/null | tail -40
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
    printf 'failed checks: %s\n' "${failures[*]}"
fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
