# Rust against AWS KMS on moto (signature checks, faults, the provider suite).
need_servers || return 0
cargo_suite "cargo test: AWS KMS against moto" \
    -p dekbox-transport --test aws_moto -p dekbox-cli --test aws_cli --locked -- --include-ignored
