# The Python package as a user gets it: a wheel built by maturin, installed
# with pip into a fresh virtualenv, tested with pytest from outside the source.
need_servers || return 0
need_bao || return 0
need_gcp || return 0

python_package() {
    rm -f target/wheels/dekbox-*.whl
    "$venv/bin/maturin" build --release -q -m bindings-python/Cargo.toml -o target/wheels || return 1
    cargo build -q -p dekbox-cli --locked || return 1
    rm -rf .dekbox-test/py
    python3 -m venv .dekbox-test/py || return 1
    pip_install .dekbox-test/py/bin/pip target/wheels/dekbox-*.whl pytest cryptography botocore sqlalchemy google-cloud-kms google-crc32c || return 1
    (cd bindings-python && DEKBOX_CLI="$PWD/../target/debug/dekbox" ../.dekbox-test/py/bin/python -m pytest -q tests)
}
pytest_suite "Python package: maturin wheel, pip install into a fresh venv, pytest" python_package
