# dekbox's SigV4 requests against botocore's signer, byte for byte.
need_servers || return 0
sigv4_botocore() {
    cargo build -q -p dekbox-core --example sigv4_sign --locked &&
        "$venv/bin/python" -m pytest -q tests/aws/test_sigv4_botocore.py
}
pytest_suite "pytest: SigV4 against botocore" sigv4_botocore
