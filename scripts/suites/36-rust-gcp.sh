# Rust against the loopback Cloud KMS (tests/gcp/kms_server.py): round trips,
# google.rpc errors, CRC32C integrity, service-account JWTs refreshed once
# under concurrency, the provider suite; then the three-vendor rewrap
# (Cloud KMS -> Vault -> AWS KMS) through the CLI.
need_gcp || return 0
cargo_suite "cargo test: Cloud KMS against the loopback server" \
    -p dekbox-transport --test gcp_kms --locked -- --include-ignored
if need_servers && need_bao; then
    cargo_suite "cargo test: dekbox rewrap of 10,000 records from Cloud KMS and Vault to AWS KMS" \
        -p dekbox-cli --test three_vendors --locked -- --include-ignored
fi
