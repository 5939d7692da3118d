#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a fixed budget and prints a table of
# executions and crashes per target; exits non-zero if any target crashed,
# leaked or failed to build. Needs nightly and cargo-fuzz (the test suite
# installs both).
#
#   scripts/fuzz.sh                 60 s per target
#   DEKBOX_FUZZ_SECONDS=10 scripts/fuzz.sh
#   scripts/fuzz.sh message key_uri only these targets
#   DEKBOX_FUZZ_RUNS=10000000 DEKBOX_FUZZ_SECONDS=7200 scripts/fuzz.sh
#                                   the long run: stop each target after
#                                   10 M executions (or the time budget)
#   DEKBOX_FUZZ_SANITIZER=none ...  without AddressSanitizer (about 3x the
#                                   executions; for targets of safe-Rust
#                                   parsers; default: address, with leaks)
#
# New inputs go to a scratch corpus (not git); the committed seeds in
# fuzz/corpus/<target>/seed-* are read as a second corpus. A crash leaves
# its input in fuzz/artifacts/<target>/ and the libFuzzer log in the output.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${DEKBOX_FUZZ_SECONDS:-60}
runs=${DEKBOX_FUZZ_RUNS:--1}
san=${DEKBOX_FUZZ_SANITIZER:-address}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
    [ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets found" >&2; exit 1; }
fi
# One build for every target (cargo fuzz build builds one target, or all).
if [ $# -eq 0 ]; then
    cargo +nightly fuzz build -O -s "$san" || exit 1
else
    for t in "${targets[@]}"; do cargo +nightly fuzz build -O -s "$san" "$t" || exit 1; done
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
rows=()
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "corpus/$t"
    log="$scratch/$t.log"
    cargo +nightly fuzz run -O -s "$san" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
    crashes=0
    if [ "$rc" -ne 0 ]; then
        crashes=1
        status=1
        echo "---- $t failed (exit $rc):"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|leak' "$log" | head -20
    fi
    secs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -Eo '[0-9]+ second' | grep -Eo '[0-9]+' | tail -1)
    rows+=("$(printf '%-20s %12s %8s %8s' "$t" "${execs:-?}" "${secs:-?}" "$crashes")")
done
printf '%-20s %12s %8s %8s\n' target executions seconds crashes
printf '%s\n' "${rows[@]}"
exit $status
