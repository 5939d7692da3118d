# Rust against AWS KMS on moto (signature checks, faults, the provider suite).
need_servers || return 0
cargo_suite "cargo test: AWS KMS against moto" \
    -p dekbox-transport --test aws_moto -p dekbox-cli --test aws_cli --locked -- --include-ignored \
    --skip fault_matrix --skip soak_through_faults
# The fault matrix and a short soak (DEKBOX_SOAK_OPS, default 20,000 pairs),
# with their tables printed.
cargo_suite "cargo test: the fault matrix and a soak through the fault proxy" \
    -p dekbox-transport --test aws_moto --locked -- --include-ignored --nocapture --test-threads 1 \
    fault_matrix soak_through_faults
