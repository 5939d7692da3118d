"""Vault transit keys from Python, against the real OpenBao server that
./scripts/test.sh starts: the binding needs no Vault code of its own."""

import pytest

import dekbox
from conftest import require_env


@pytest.fixture
def vault_env(monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", require_env("DEKBOX_TEST_BAO_URL"))
    monkeypatch.setenv("VAULT_TOKEN", require_env("DEKBOX_TEST_BAO_TOKEN"))
    for name in ("VAULT_NAMESPACE", "BAO_ADDR", "BAO_TOKEN", "BAO_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("uri", ["vault://transit/keys/derived", "openbao://transit/keys/plain"])
def test_round_trip_bound_to_the_context(vault_env, uri):
    box = dekbox.Box(uri)
    token = box.encrypt("from python", context={"tenant": "acme"}, aad=b"r/1", text=True)
    assert dekbox.Box(uri).decrypt(token, context={"tenant": "acme"}, aad=b"r/1") == b"from python"
    with pytest.raises(dekbox.AuthenticationError):
        dekbox.Box(uri).decrypt(token, context={"tenant": "globex"}, aad=b"r/1")
    sealed = box.encrypt_many([b"a", b"b", b"c"], context={"tenant": "acme"})
    assert box.cache_stats().kms_calls == 1
    assert dekbox.Box(uri).decrypt_many(sealed, context={"tenant": "acme"}) == [b"a", b"b", b"c"]


def test_a_bad_token_is_access_denied(vault_env, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "hvs.not-a-real-token-9b1c")
    with pytest.raises(dekbox.KmsAccessDenied) as e:
        dekbox.Box("vault://transit/keys/plain").encrypt(b"x", context={"tenant": "acme"})
    assert "not-a-real-token" not in str(e.value) + repr(e.value)


def test_configuration_errors_name_what_is_missing(monkeypatch):
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("BAO_ADDR", raising=False)
    with pytest.raises(dekbox.ConfigError, match="VAULT_ADDR"):
        dekbox.Box("vault://transit/keys/plain")
    with pytest.raises(dekbox.ConfigError):
        dekbox.Box("vault://transit/../keys/x")
