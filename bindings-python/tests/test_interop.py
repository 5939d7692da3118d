"""Byte identity: the format-v1 vectors open here, and values cross to and
from the Rust CLI."""

import base64
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


def _token_bytes(token):
    assert token.startswith("dekbox:key:v1:")
    b64 = token[len("dekbox:key:v1:"):]
    return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))


@pytest.mark.parametrize("v", [v for v in VECTORS["vectors"] if v["form"] != "json"], ids=lambda v: v["name"])
def test_message_data_key_hands_out_exactly_the_messages_key(v):
    box = vector_box()
    if not v["context"]:
        # A key for the empty context would open every context-less message.
        with pytest.raises(dekbox.ApiMisuseError):
            box.message_data_key(v["text"], context=v["context"])
        return
    token = box.message_data_key(v["text"], context=v["context"])
    raw = _token_bytes(token)
    # "DKK" 01 ‖ the message's data key ‖ the message's key section.
    assert raw[:4] == b"DKK\x01"
    assert raw[4:36] == bytes.fromhex(v["dek"])
    assert raw[36:] == bytes.fromhex(v["binary"])[81 : 81 + len(raw) - 36]
    assert box.message_data_key(bytes.fromhex(v["binary"]), context=v["context"]) == token
    # The KMS (here the local key) still checks the context.
    with pytest.raises(dekbox.AuthenticationError):
        box.message_data_key(v["text"], context={"someone": "else"})


def test_message_data_key_refuses_what_is_not_a_message_and_cli_agrees(tmp_path):
    box = vector_box()
    json_vector = next(v for v in VECTORS["vectors"] if v["form"] == "json")
    with pytest.raises(dekbox.ApiMisuseError):
        box.message_data_key(json_vector["json"], context=json_vector["context"])
    with pytest.raises(dekbox.MalformedError):
        box.message_data_key(b"not sealed", context={"user": "42"})
    with pytest.raises(dekbox.ApiMisuseError):
        box.new_message_data_key()
    with pytest.raises(TypeError):
        box.message_data_key(5)
    # A fresh key for uploads is a token under the primary key.
    up = _token_bytes(box.new_message_data_key(context={"user": "42"}))
    assert up[:4] == b"DKK\x01" and len(up) > 36 + 5
    assert box.cache_stats().data_keys_generated == 1
    # The CLI hands out the same token for the same message.
    key = tmp_path / "k"
    key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key.chmod(0o600)
    uri = f"local://{key}"
    sealed = dekbox.Box(uri).encrypt("x", context={"user": "42"}, text=True)
    cli = os.environ.get("DEKBOX_CLI", str(REPO / "target" / "debug" / "dekbox"))
    out = subprocess.run(
        [cli, "message-key", "--key", uri, "--context", "user=42"],
        input=sealed.encode(), capture_output=True, check=True,
    ).stdout.decode().strip()
    assert out == dekbox.Box(uri).message_data_key(sealed, context={"user": "42"})


def test_message_data_key_async_twins_agree():
    import asyncio

    box = vector_box()
    v = next(v for v in VECTORS["vectors"] if v["form"] != "json" and v["context"])

    async def main():
        token = await box.message_data_key_async(v["text"], context=v["context"])
        assert token == box.message_data_key(v["text"], context=v["context"])
        with pytest.raises(dekbox.AuthenticationError):
            await box.message_data_key_async(v["text"], context={"someone": "else"})
        fresh = await box.new_message_data_key_async(context={"user": "42"})
        assert fresh.startswith("dekbox:key:v1:") and fresh != token
        with pytest.raises(dekbox.ApiMisuseError):
            await box.new_message_data_key_async()

    asyncio.run(main())
