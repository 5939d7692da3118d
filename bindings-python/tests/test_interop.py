"""Byte identity: the format-v1 vectors open here, and values cross to and
from the Rust CLI."""

import json
import os
import subprocess

import pytest

import dekbox
from conftest import REPO

VECTORS = json.loads((REPO / "tests" / "vectors" / "format-v1.json").read_text())
CODES = {
    "AUTHENTICATION": dekbox.AuthenticationError,
    "MALFORMED": dekbox.MalformedError,
    "UNKNOWN_KEY": dekbox.UnknownKeyError,
}


def vector_box():
    # The vectors name insecure-test-key by URI and as label v1.
    return dekbox.Box(keys={"v1": "insecure-test-key"}, accept_json=True)


@pytest.mark.parametrize("v", VECTORS["vectors"], ids=lambda v: v["name"])
def test_known_answer_vectors_open(v):
    box = vector_box()
    aad = bytes.fromhex(v["aad"])
    pt = bytes.fromhex(v["plaintext"])
    if v["form"] == "json":
        assert box.decrypt(v["json"], context=v["context"], aad=aad) == pt
        return
    assert box.decrypt(bytes.fromhex(v["binary"]), context=v["context"], aad=aad) == pt
    assert box.decrypt(v["text"], context=v["context"], aad=aad) == pt
    # A message's data key is wrapped under the context plus dekbox:purpose, so
    # unwrap() (the compatibility domain, the context alone) refuses it.
    with pytest.raises(dekbox.AuthenticationError):
        box.unwrap(bytes.fromhex(v["wrapped_dek"]), context=v["context"], label="v1")


@pytest.mark.parametrize("v", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors_raise_their_error(v):
    with pytest.raises(CODES[v["error"]]) as e:
        vector_box().decrypt(bytes.fromhex(v["binary"]), context=v["context"], aad=bytes.fromhex(v["aad"]))
    assert e.value.code == v["error"]


def cli():
    path = os.environ.get("DEKBOX_CLI", str(REPO / "target" / "debug" / "dekbox"))
    if not os.path.exists(path):
        pytest.fail(f"the dekbox CLI is not built at {path} (cargo build -p dekbox-cli)")
    return path


def test_python_to_cli_and_back(key_file):
    key = key_file()
    box = dekbox.Box(key)
    token = box.encrypt("from python", context={"tenant": "a"}, aad=b"r/1", text=True)
    out = subprocess.run(
        [cli(), "decrypt", "--key", key, "--context", "tenant=a", "--aad", "r/1"],
        input=token.encode(), capture_output=True, check=True,
    )
    assert out.stdout == b"from python"
    sealed = subprocess.run(
        [cli(), "encrypt", "--key", key, "--context", "tenant=a", "--format", "binary"],
        input=b"from rust", capture_output=True, check=True,
    ).stdout
    assert box.decrypt(sealed, context={"tenant": "a"}) == b"from rust"
