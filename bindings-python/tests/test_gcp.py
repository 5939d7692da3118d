"""Google Cloud KMS from Python, against the loopback Cloud KMS that
./scripts/test.sh starts (tests/gcp/kms_server.py; there is no official
emulator).

The server is proven faithful here: Google's own `google-cloud-kms` client
(REST transport) runs against it and gets Cloud KMS's answers and errors,
and the requests dekbox sends match, field for field, what the official
client sends for the same call. Then dekbox's errors, integrity checks and
the three-vendor rewrap (Cloud KMS and Vault to AWS KMS) from Python.
"""

import json
import struct
import urllib.error
import urllib.request

import botocore.session
import google_crc32c
import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import kms
from google.oauth2.credentials import Credentials as OAuthCredentials

import dekbox
from conftest import require_env

RING = "projects/dekbox-test/locations/global/keyRings/ring"
CTX = {"tenant": "acme"}


def url():
    return require_env("DEKBOX_TEST_GCP_URL")


def control(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url() + path, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def official(token="test-token"):
    return kms.KeyManagementServiceClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=url()),
        credentials=OAuthCredentials(token),
    )


def canonical(context):
    """docs/FORMAT.md: u16 count, then per entry in key order u16 len || key || u16 len || value."""
    out = struct.pack(">H", len(context))
    for k in sorted(context, key=lambda k: k.encode()):
        kb, vb = k.encode(), context[k].encode()
        out += struct.pack(">H", len(kb)) + kb + struct.pack(">H", len(vb)) + vb
    return out


def crc(b):
    return google_crc32c.value(b)


@pytest.fixture
def gcp_env(monkeypatch):
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", url())
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "test-token")
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


@pytest.fixture
def fresh_key():
    """A new crypto key, created with the official client."""
    client = official()
    import secrets
    key_id = "py-" + secrets.token_hex(4)
    key = client.create_crypto_key(request={
        "parent": RING, "crypto_key_id": key_id,
        "crypto_key": {"purpose": kms.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT}})
    return key.name


# ---- the server, as Google's client sees it ----------------------------------

def test_the_official_client_gets_cloud_kms_answers(fresh_key):
    c = official()
    pt, aad = b"secret bytes", b"bound"
    r = c.encrypt(request={"name": fresh_key, "plaintext": pt, "additional_authenticated_data": aad,
                           "plaintext_crc32c": crc(pt), "additional_authenticated_data_crc32c": crc(aad)})
    assert r.name == f"{fresh_key}/cryptoKeyVersions/1"
    assert r.verified_plaintext_crc32c and r.verified_additional_authenticated_data_crc32c
    assert r.ciphertext_crc32c == crc(r.ciphertext)
    d = c.decrypt(request={"name": fresh_key, "ciphertext": r.ciphertext, "additional_authenticated_data": aad,
                           "ciphertext_crc32c": crc(r.ciphertext)})
    assert d.plaintext == pt and d.plaintext_crc32c == crc(pt) and d.used_primary
    # Without checksums the answer says nothing was verified.
    r2 = c.encrypt(request={"name": fresh_key, "plaintext": pt})
    assert not r2.verified_plaintext_crc32c
    # Errors arrive as the client's own exception classes (by HTTP status,
    # as its REST transport maps them), carrying google.rpc statuses.
    def status(e):
        return e.value.response.json()["error"]["status"]
    with pytest.raises(gexc.BadRequest, match="ciphertext is invalid") as e:
        c.decrypt(request={"name": fresh_key, "ciphertext": r.ciphertext, "additional_authenticated_data": b"other"})
    assert status(e) == "INVALID_ARGUMENT"
    with pytest.raises(gexc.BadRequest, match="checksum") as e:
        c.encrypt(request={"name": fresh_key, "plaintext": pt, "plaintext_crc32c": crc(pt) ^ 1})
    assert status(e) == "INVALID_ARGUMENT"
    with pytest.raises(gexc.NotFound) as e:
        c.encrypt(request={"name": f"{RING}/cryptoKeys/missing", "plaintext": pt})
    assert status(e) == "NOT_FOUND"
    # A refused token (the client's auth layer would try to refresh it, so
    # this one goes out by hand): 401 with UNAUTHENTICATED.
    req = urllib.request.Request(f"{url()}/v1/{fresh_key}:encrypt", data=b'{"plaintext": ""}', method="POST",
                                 headers={"Authorization": "Bearer bogus", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401 and json.load(e.value)["error"]["status"] == "UNAUTHENTICATED"
    # Rotation and states through the admin API.
    v2 = c.create_crypto_key_version(request={"parent": fresh_key, "crypto_key_version": {}})
    c.update_crypto_key_primary_version(request={"name": fresh_key, "crypto_key_version_id": "2"})
    assert c.encrypt(request={"name": fresh_key, "plaintext": pt}).name == v2.name
    c.update_crypto_key_version(request={
        "crypto_key_version": {"name": f"{fresh_key}/cryptoKeyVersions/1",
                               "state": kms.CryptoKeyVersion.CryptoKeyVersionState.DISABLED},
        "update_mask": {"paths": ["state"]}})
    with pytest.raises(gexc.BadRequest, match="DISABLED") as e:
        c.decrypt(request={"name": fresh_key, "ciphertext": r.ciphertext, "additional_authenticated_data": aad})
    assert status(e) == "FAILED_PRECONDITION"


def captured():
    return control("/_test/requests")


def test_dekbox_sends_what_the_official_client_sends(gcp_env, fresh_key):
    uri = f"gcp-kms://{fresh_key}"
    box = dekbox.Box(uri)
    token = box.encrypt(b"payload", context=CTX, text=True)
    ours = [r for r in captured() if r["path"] == f"/v1/{fresh_key}:encrypt"][-1]
    # The context reaches Cloud KMS as its canonical bytes (docs/FORMAT.md),
    # with dekbox's purpose entry.
    aad = canonical({**CTX, "dekbox:purpose": "data-key"})
    body = ours["body"]
    import base64
    assert base64.b64decode(body["additionalAuthenticatedData"]) == aad
    dek = base64.b64decode(body["plaintext"])
    assert len(dek) == 32
    # The official client, asked for the same call (the same 32-byte
    # plaintext, the same aad, with checksums), sends the same request.
    official().encrypt(request={"name": fresh_key, "plaintext": dek, "additional_authenticated_data": aad,
                                "plaintext_crc32c": crc(dek), "additional_authenticated_data_crc32c": crc(aad)})
    theirs = [r for r in captured() if r["path"] == f"/v1/{fresh_key}:encrypt"][-1]
    assert theirs is not ours and theirs["body"] == body
    for h in ("authorization", "content-type"):
        assert ours["headers"][h].split(";")[0] == theirs["headers"][h].split(";")[0], h
    # Decrypt: a fresh Box unwraps through Cloud KMS; the official client's
    # decrypt of the same ciphertext is the same request, byte for byte.
    assert dekbox.Box(uri).decrypt(token, context=CTX) == b"payload"
    ours = [r for r in captured() if r["path"] == f"/v1/{fresh_key}:decrypt"][-1]
    ct = base64.b64decode(ours["body"]["ciphertext"])
    back = official().decrypt(request={"name": fresh_key, "ciphertext": ct, "additional_authenticated_data": aad,
                                       "ciphertext_crc32c": crc(ct),
                                       "additional_authenticated_data_crc32c": crc(aad)})
    theirs = [r for r in captured() if r["path"] == f"/v1/{fresh_key}:decrypt"][-1]
    assert theirs["body"] == ours["body"]
    assert back.plaintext == dek


# ---- dekbox over Cloud KMS ---------------------------------------------------

def test_round_trips_and_typed_errors(gcp_env, fresh_key, monkeypatch):
    uri = f"gcp-kms://{fresh_key}"
    token = dekbox.Box(uri).encrypt("row", context=CTX, aad=b"r/1", text=True)
    assert dekbox.Box(uri).decrypt(token, context=CTX, aad=b"r/1") == b"row"
    with pytest.raises(dekbox.AuthenticationError):
        dekbox.Box(uri).decrypt(token, context={"tenant": "globex"}, aad=b"r/1")
    with pytest.raises(dekbox.KeyNotFound):
        dekbox.Box(f"gcp-kms://{RING}/cryptoKeys/absent").encrypt(b"x", context=CTX)
    with pytest.raises(dekbox.ConfigError):
        dekbox.Box("gcp-kms://projects/p/locations/l/keyRings/r")
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.not-valid-7c1d")
    with pytest.raises(dekbox.KmsAccessDenied) as e:
        dekbox.Box(uri).decrypt(token, context=CTX, aad=b"r/1")
    assert "not-valid" not in str(e.value)


def test_a_corrupted_checksum_is_an_integrity_error(gcp_env, fresh_key):
    uri = f"gcp-kms://{fresh_key}"
    token = dekbox.Box(uri).encrypt(b"x", context=CTX)
    control("/_test/faults", {"faults": [{"kind": "corrupt", "field": "plaintextCrc32c", "count": 10,
                                          "method": "decrypt", "resource": fresh_key + "/"}]})
    try:
        with pytest.raises(dekbox.KmsIntegrityError) as e:
            dekbox.Box(uri).decrypt(token, context=CTX)
        assert e.value.code == "KMS_INTEGRITY"
    finally:
        control("/_test/faults", {"faults": []})
    assert dekbox.Box(uri).decrypt(token, context=CTX) == b"x"


def test_rewrap_ten_thousand_records_from_gcp_and_vault_to_aws(gcp_env, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", require_env("DEKBOX_TEST_BAO_URL"))
    monkeypatch.setenv("VAULT_TOKEN", require_env("DEKBOX_TEST_BAO_TOKEN"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    moto = require_env("DEKBOX_TEST_MOTO_URL")
    arn = botocore.session.get_session().create_client(
        "kms", region_name="us-east-1", endpoint_url=moto,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).create_key(Description="three vendors")["KeyMetadata"]["Arn"]
    keys = {"v1": f"gcp-kms://{RING}/cryptoKeys/c", "v2": "vault://transit/keys/derived",
            "v3": f"aws-kms://{arn}"}
    rows = [f"record {i}" for i in range(10_000)]
    on_v1 = dekbox.Box(keys=keys, primary="v1", endpoint=moto)
    on_v2 = dekbox.Box(keys=keys, primary="v2", endpoint=moto)
    tokens = on_v1.encrypt_many(rows[:8000], context=CTX, text=True) + \
        on_v2.encrypt_many(rows[8000:], context=CTX, text=True)
    to_v3 = dekbox.Box(keys=keys, primary="v3", endpoint=moto)
    moved = [to_v3.rewrap(t, context=CTX) for t in tokens]
    assert all(m != t for m, t in zip(moved, tokens))
    # Two data keys moved: one Cloud KMS decrypt, one Vault decrypt, two AWS
    # encrypts; the bodies are untouched.
    assert to_v3.cache_stats().kms_calls == 4
    assert [to_v3.rewrap(m, context=CTX) for m in moved[:100]] == moved[:100]
    only_v3 = dekbox.Box(keys={"v3": keys["v3"]}, primary="v3", endpoint=moto)
    assert only_v3.decrypt_many(moved, context=CTX) == [r.encode() for r in rows]
    with pytest.raises(dekbox.UnknownKeyError):
        only_v3.decrypt(tokens[0], context=CTX)
