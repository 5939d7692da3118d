"""The Box API on the installed wheel: forms, errors, types, batches, rotation."""

import json

import pytest

import dekbox

CTX = {"tenant": "acme"}


def test_installed_package_is_the_wheel():
    assert "site-packages" in dekbox.__file__
    assert dekbox.__version__


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 1024 * 1024])
@pytest.mark.parametrize("text", [False, True])
def test_round_trips(size, text):
    box = dekbox.Box("insecure-test-key")
    data = bytes(i % 251 for i in range(size))
    sealed = box.encrypt(data, context=CTX, aad=b"row-1", text=text)
    if text:
        assert isinstance(sealed, str) and sealed.startswith("dekbox:v1:")
    else:
        assert isinstance(sealed, bytes) and sealed.startswith(b"DKB\x01\x01")
    assert box.decrypt(sealed, context=CTX, aad=b"row-1") == data


def test_accepts_str_bytearray_memoryview():
    box = dekbox.Box("insecure-test-key")
    for value in ["héllo", bytearray(b"abc"), memoryview(b"xyz")]:
        expected = value.encode() if isinstance(value, str) else bytes(value)
        assert box.decrypt(box.encrypt(value), aad=None) == expected
    # aad as str is its UTF-8 bytes.
    s = box.encrypt(b"x", aad="users/1")
    assert box.decrypt(s, aad=b"users/1") == b"x"


def test_wrong_context_aad_key_and_tampering_are_authentication_errors(key_file):
    box = dekbox.Box("insecure-test-key")
    sealed = box.encrypt(b"secret", context=CTX, aad=b"row-1")
    with pytest.raises(dekbox.AuthenticationError) as e:
        box.decrypt(sealed, context={"tenant": "other"}, aad=b"row-1")
    assert e.value.code == "AUTHENTICATION"
    with pytest.raises(dekbox.AuthenticationError):
        box.decrypt(sealed, context=CTX, aad=b"row-2")
    # Salt, commitment, nonce, ciphertext and tag bytes (the key reference
    # at 84.. names a key instead: see docs/FORMAT.md).
    for i in (10, 50, 75, len(sealed) - 20, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[i] ^= 1
        with pytest.raises(dekbox.AuthenticationError):
            box.decrypt(bytes(tampered), context=CTX, aad=b"row-1")
    assert "secret" not in str(e.value)
    # Same URI, different key material: a wrong key is the same error.
    uri = key_file()
    sealed2 = dekbox.Box(uri).encrypt(b"x")
    path = uri[len("local://"):]
    import base64, os
    with open(path, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(dekbox.AuthenticationError):
        dekbox.Box(uri).decrypt(sealed2)
    # A key this Box does not have at all is named in the error.
    with pytest.raises(dekbox.UnknownKeyError):
        dekbox.Box("insecure-test-key").decrypt(sealed2)


def test_truncated_and_garbage_are_malformed():
    box = dekbox.Box("insecure-test-key")
    sealed = box.encrypt(b"hello", context=CTX)
    for cut in (0, 3, 50, 90):
        with pytest.raises(dekbox.MalformedError) as e:
            box.decrypt(sealed[:cut], context=CTX)
        assert e.value.code == "MALFORMED"
    for garbage in (b"plain text", "dekbox:v1:!!!", b"DKB\x09", "dekbox:v7:AAAA"):
        with pytest.raises(dekbox.MalformedError):
            box.decrypt(garbage)
    assert issubclass(dekbox.MalformedError, dekbox.Error)


def test_oversized_input_is_refused():
    box = dekbox.Box("insecure-test-key", max_plaintext=1024)
    with pytest.raises(dekbox.MalformedError, match="larger than the limit"):
        box.encrypt(b"x" * 1025)
    assert box.cache_stats().kms_calls == 0


def test_wrong_types_are_type_errors_with_clear_messages():
    box = dekbox.Box("insecure-test-key")
    with pytest.raises(TypeError, match="data must be bytes or str, not int"):
        box.encrypt(42)
    with pytest.raises(TypeError, match="context must be a mapping"):
        box.encrypt(b"x", context=["tenant", "a"])
    with pytest.raises(TypeError, match='context value for "tenant" must be str, not int'):
        box.encrypt(b"x", context={"tenant": 7})
    with pytest.raises(TypeError, match="context keys must be str"):
        box.encrypt(b"x", context={1: "a"})
    with pytest.raises(TypeError, match="aad must be bytes or str"):
        box.encrypt(b"x", aad=3.5)
    with pytest.raises(TypeError, match="items must be a sequence of values"):
        box.encrypt_many(b"not a list")
    with pytest.raises(TypeError):
        box.encrypt(b"x", text="yes")


def test_configuration_errors():
    with pytest.raises(dekbox.ConfigError, match="unrecognised key URI"):
        dekbox.Box("ftp://nope")
    with pytest.raises(dekbox.ConfigError, match="local key file"):
        dekbox.Box("local:///definitely/missing.key")
    with pytest.raises(dekbox.ConfigError, match="not both"):
        dekbox.Box("insecure-test-key", keys={"v1": "insecure-test-key"})
    with pytest.raises(dekbox.ConfigError, match="needs a primary"):
        dekbox.Box(keys={"v1": "insecure-test-key", "v2": "insecure-test-key"})
    with pytest.raises(dekbox.ConfigError, match="max_messages"):
        dekbox.Box("insecure-test-key", cache=dekbox.CacheConfig(max_messages=0))


def test_batches():
    box = dekbox.Box("insecure-test-key")
    rows = [f"row {i}".encode() for i in range(100)]
    aads = [f"t/{i}".encode() for i in range(100)]
    sealed = box.encrypt_many(rows, context=CTX, aads=aads, text=True)
    assert all(isinstance(s, str) for s in sealed)
    assert box.decrypt_many(sealed, context=CTX, aads=aads) == rows
    bad = list(aads)
    bad[5] = b"wrong"
    with pytest.raises(dekbox.AuthenticationError):
        box.decrypt_many(sealed, context=CTX, aads=bad)
    mixed = box.decrypt_many(sealed, context=CTX, aads=bad, return_exceptions=True)
    assert isinstance(mixed[5], dekbox.AuthenticationError)
    assert mixed[4] == rows[4] and mixed[6] == rows[6]
    with pytest.raises(dekbox.InvalidArgumentError, match="aads has 2 entries for 100 values"):
        box.encrypt_many(rows, aads=aads[:2])
    stats = box.cache_stats()
    assert stats.data_keys_generated == 1 and stats.kms_calls == 2


def test_cache_counts_one_provider_call_for_many_rows():
    box = dekbox.Box("insecure-test-key")
    sealed = [box.encrypt(f"{i}".encode(), context=CTX) for i in range(1000)]
    reader = dekbox.Box("insecure-test-key")
    for i, s in enumerate(sealed):
        assert reader.decrypt(s, context=CTX) == f"{i}".encode()
    st = reader.cache_stats()
    assert (st.kms_calls, st.decrypt_misses, st.decrypt_hits) == (1, 1, 999)
    assert st._asdict()["kms_calls"] == 1
    cold = dekbox.Box("insecure-test-key", cache=dekbox.CacheConfig.disabled())
    for s in sealed[:10]:
        cold.decrypt(s, context=CTX)
    assert cold.cache_stats().kms_calls == 10


def test_rotation_and_rewrap(key_file):
    v1, v2 = key_file("v1.key"), key_file("v2.key")
    old = dekbox.Box(keys={"v1": v1})
    token = old.encrypt(b"rotate me", context=CTX, text=True)
    new = dekbox.Box(keys={"v1": v1, "v2": v2}, primary="v2")
    moved = new.rewrap(token, context=CTX)
    assert isinstance(moved, str) and moved != token
    assert dekbox.Box(keys={"v2": v2}).decrypt(moved, context=CTX) == b"rotate me"
    assert new.rewrap(moved, context=CTX) == moved  # already on the primary
    with pytest.raises(dekbox.UnknownKeyError, match="v1"):
        dekbox.Box(keys={"v2": v2}).decrypt(token, context=CTX)


def test_generate_and_unwrap_data_keys():
    box = dekbox.Box("insecure-test-key")
    dk = box.generate_data_key(context=CTX)
    assert len(dk.plaintext) == 32 and len(dk.wrapped) > 32
    assert "redacted" in repr(dk) and dk.plaintext.hex() not in repr(dk)
    assert box.unwrap(dk.wrapped, context=CTX) == dk.plaintext
    with pytest.raises(dekbox.AuthenticationError):
        box.unwrap(dk.wrapped, context={"tenant": "other"})


def test_json_compatibility_switch():
    box = dekbox.Box("insecure-test-key", accept_json=True)
    dk = box.generate_data_key()
    from base64 import b64encode
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = b"\x01" * 12
    ct = AESGCM(dk.plaintext).encrypt(nonce, b"hand-written", None)
    env = json.dumps({"encryptedDek": b64encode(dk.wrapped).decode(), "cipherText": b64encode(nonce + ct).decode()})
    assert box.decrypt(env) == b"hand-written"
    with pytest.raises(dekbox.MalformedError, match="JSON envelopes are not accepted"):
        dekbox.Box("insecure-test-key").decrypt(env)


def test_cache_config():
    c = dekbox.CacheConfig(max_age=60, max_messages=10, decrypt_ttl=5)
    assert (c.max_age, c.max_messages, c.decrypt_ttl) == (60.0, 10, 5.0)
    assert "max_messages=10" in repr(c)
    with pytest.raises(ValueError):
        dekbox.CacheConfig(max_age=-1)
    box = dekbox.Box("insecure-test-key", cache=c)
    fps = {box.encrypt(b"x")[5:37] for _ in range(25)}
    assert box.cache_stats().data_keys_generated == 3
    assert len(fps) == 3


def test_prepared_context_is_the_same_as_a_mapping():
    box = dekbox.Box("insecure-test-key")
    ctx = dekbox.Context({"tenant": "acme", "region": "eu"})
    assert len(ctx) == 2 and ctx.to_dict() == {"tenant": "acme", "region": "eu"}
    assert "tenant" in repr(ctx)
    sealed = box.encrypt(b"v", context=ctx, aad=b"r")
    assert box.decrypt(sealed, context={"region": "eu", "tenant": "acme"}, aad=b"r") == b"v"
    sealed2 = box.encrypt(b"w", context={"tenant": "acme", "region": "eu"})
    assert box.decrypt(sealed2, context=ctx) == b"w"
    with pytest.raises(dekbox.AuthenticationError):
        box.decrypt(sealed, context=dekbox.Context({"tenant": "acme"}), aad=b"r")
    with pytest.raises(TypeError, match="context value"):
        dekbox.Context({"tenant": 1})
    assert box.encrypt_many([b"a"], context=ctx)


def test_the_key_comes_from_dekbox_key_when_none_is_given(monkeypatch):
    """The same convention in every runtime: the CLI, Box(), Node, Ruby."""
    monkeypatch.delenv("DEKBOX_KEY", raising=False)
    with pytest.raises(dekbox.ConfigError, match="DEKBOX_KEY"):
        dekbox.Box()
    monkeypatch.setenv("DEKBOX_KEY", "insecure-test-key")
    box = dekbox.Box()
    assert "insecure-test-key" in repr(box)
    assert box.decrypt(dekbox.Box("insecure-test-key").encrypt(b"x")) == b"x"


def test_every_error_class_comes_from_one_table():
    assert issubclass(dekbox.UnknownKeyError, dekbox.ConfigError)
    for cls in (dekbox.ApiMisuseError, dekbox.InvalidArgumentError):
        assert issubclass(cls, dekbox.Error) and issubclass(cls, ValueError)
    for cls in (dekbox.AuthenticationError, dekbox.MalformedError, dekbox.KmsThrottled, dekbox.ConfigError):
        assert issubclass(cls, dekbox.Error) and not issubclass(cls, ValueError)
        assert cls.__module__ == "dekbox" and cls.__doc__
    with pytest.raises(dekbox.MalformedError) as e:
        dekbox.Box("insecure-test-key").decrypt(b"garbage")
    assert e.value.code == "MALFORMED"


def test_options_are_strictly_typed():
    """A string is not a bool: Box(legacy_fallback="false") must not turn it on."""
    for bad in ({"legacy_fallback": "false"}, {"accept_json": "no"}, {"fips": 0},
                {"grant_tokens": "tok"}, {"no_such_option": 1}):
        with pytest.raises(TypeError):
            dekbox.Box("insecure-test-key", **bad)
    with pytest.raises(ValueError, match="seconds"):
        dekbox.Box("insecure-test-key", cache={"max_age": -1})
    c = dekbox.CacheConfig(max_messages=7)
    assert hash(c) == hash(dekbox.CacheConfig(max_messages=7)) and c == dekbox.CacheConfig(max_messages=7)
    assert dekbox.Box("insecure-test-key", cache=c, compat_key=None)
