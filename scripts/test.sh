#!/usr/bin/env bash
# Installs what the tests need (idempotently) and runs every suite.
#
#   ./scripts/test.sh            everything
#   ./scripts/test.sh python     only suites whose file name contains "python"
#   DEKBOX_TEST_FAST=1 ...       skip fmt/clippy/wasm checks (local iteration)
#
# One file per suite in scripts/suites/, run in name order; a new language
# adds a file there. Helpers (check, cargo_suite, pytest_suite, need_servers,
# apt_install, pip_install) are in scripts/lib.sh. Each check and each test
# counts once in the closing line, "total: N passed, N failed"; the exit status
# is non-zero if anything failed.

set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

say "tools"
ensure_tools

ran=0
for suite in scripts/suites/*.sh; do
    if [ $# -gt 0 ] && [[ "$suite" != *"$1"* ]]; then
        continue
    fi
    ran=$((ran + 1))
    source "$suite"
done
[ "$ran" -gt 0 ] || fail "no suite matches ${1:-}"

echo
if [ ${#failures[@]} -gt 0 ]; then
    printf 'failed checks: %s\n' "${failures[*]}"
fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
