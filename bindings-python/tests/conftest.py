import base64
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def key_file(tmp_path):
    """A fresh local key file, as `dekbox keygen` writes it."""
    def make(name="app.key"):
        p = tmp_path / name
        p.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        p.chmod(0o600)
        return f"local://{p}"
    return make


def require_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run ./scripts/test.sh, which starts the loopback servers")
    return value
