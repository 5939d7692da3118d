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
fi

say "cargo test (Rust: core, transport, CLI)"
cargo test --workspace --locked 2>&1 | tee "$logs/cargo-test.txt"
status=${PIPESTATUS[0]}
count_cargo "$logs/cargo-test.txt"
if [ "$status" -ne 0 ] && ! grep -qE '^test result: FAILED' "$logs/cargo-test.txt"; then
    # A build failure runs no test: count it.
    failed=$((failed + 1))
    failures+=("cargo test did not build")
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
    printf 'failed checks: %s\n' "${failures[*]}"
fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
