# Formatting, lints, and the wasm32 builds of core and transport.
if [ -z "${DEKBOX_TEST_FAST:-}" ]; then
    check "cargo fmt --check" cargo fmt --all -- --check
    check "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
    check "clippy -D warnings on dekbox-core with both AES-GCM backends (fuzzing)" \
        cargo clippy -p dekbox-core --features both-backends --all-targets --locked -- -D warnings
    check "dekbox-core builds for wasm32-unknown-unknown" \
        cargo build -p dekbox-core --target wasm32-unknown-unknown --locked
    check "dekbox-transport builds for wasm32 (reqwest fetch backend)" \
        cargo build -p dekbox-transport --target wasm32-unknown-unknown --locked
    check "dekbox-facade builds for wasm32" \
        cargo build -p dekbox-facade --target wasm32-unknown-unknown --locked
    check "clippy -D warnings on dekbox-wasm for wasm32 (both builds)" bash -c \
        'cargo clippy -p dekbox-wasm --target wasm32-unknown-unknown --all-targets --locked -- -D warnings &&
         cargo clippy -p dekbox-wasm --target wasm32-unknown-unknown --all-targets --features kms --locked -- -D warnings'
fi
