# Fuzzing (cargo-fuzz, nightly): every target in fuzz/ for a short budget
# (DEKBOX_FUZZ_SECONDS, default 10 s here; scripts/fuzz.sh alone runs 60 s).
# A crash, a leak or a build failure is a failed check.
fuzz_tools() {
    rustup toolchain list | grep -q '^nightly' ||
        rustup toolchain install nightly --profile minimal --no-self-update || return 1
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked -q || return 1
}
if check "fuzz tools: nightly and cargo-fuzz" fuzz_tools; then
    check "fuzz: every target, ${DEKBOX_FUZZ_SECONDS:-10} s each" \
        env DEKBOX_FUZZ_SECONDS="${DEKBOX_FUZZ_SECONDS:-10}" scripts/fuzz.sh
fi
