# Tenant isolation at scale (release build; seconds): 1,000 tenants x 1,000
# records, every record tried under another tenant's context.
cargo_suite "cargo test --release: 1,000,000 cross-tenant opens" \
    --release -p dekbox-core --test isolation --locked -- --include-ignored --nocapture
