# Rust: core, transport, facade and the CLI (tests that need no server).
cargo_suite "cargo test (Rust: core, transport, facade, CLI)" --workspace --locked
