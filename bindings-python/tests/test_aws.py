"""AWS KMS through moto on 127.0.0.1 (started by ./scripts/test.sh)."""

import json
import urllib.request

import botocore.session
import pytest

import dekbox
from conftest import require_env

CTX = {"tenant": "acme"}


@pytest.fixture(autouse=True)
def creds(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def kms_key(url):
    kms = botocore.session.get_session().create_client(
        "kms", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    return kms.create_key(Description="python")["KeyMetadata"]["Arn"]


def proxy(path, body=None):
    url = require_env("DEKBOX_TEST_FAULT_PROXY_URL") + path
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST" if data else "GET")) as r:
        return json.loads(r.read())


def test_generate_data_key_and_decrypt_through_kms():
    url = require_env("DEKBOX_TEST_MOTO_URL")
    arn = kms_key(url)
    box = dekbox.Box(f"aws-kms://{arn}", endpoint=url)
    token = box.encrypt("kms-backed", context=CTX, text=True)
    reader = dekbox.Box(f"aws-kms://{arn}", endpoint=url)
    assert reader.decrypt(token, context=CTX) == b"kms-backed"
    assert reader.cache_stats().kms_calls == 1
    with pytest.raises(dekbox.AuthenticationError):
        dekbox.Box(f"aws-kms://{arn}", endpoint=url).decrypt(token, context={"tenant": "other"})
    with pytest.raises(dekbox.KeyNotFound):
        dekbox.Box("aws-kms://arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
                   endpoint=url).encrypt(b"x")


def test_ten_thousand_rows_cost_one_kms_decrypt():
    moto = require_env("DEKBOX_TEST_MOTO_URL")
    purl = require_env("DEKBOX_TEST_FAULT_PROXY_URL")
    arn = kms_key(moto)
    proxy("/__reset", {})
    writer = dekbox.Box(f"aws-kms://{arn}", endpoint=purl)
    rows = writer.encrypt_many([f"row {i}".encode() for i in range(10_000)], context=CTX)
    reader = dekbox.Box(f"aws-kms://{arn}", endpoint=purl)
    assert reader.decrypt_many(rows, context=CTX) == [f"row {i}".encode() for i in range(10_000)]
    stats = proxy("/__stats")
    assert stats["forwarded"].get("TrentService.Decrypt") == 1, stats
    assert stats["forwarded"].get("TrentService.GenerateDataKey") == 1, stats
    assert reader.cache_stats().kms_calls == 1


def test_throttling_and_errors_are_retried():
    moto = require_env("DEKBOX_TEST_MOTO_URL")
    purl = require_env("DEKBOX_TEST_FAULT_PROXY_URL")
    arn = kms_key(moto)
    proxy("/__reset", {})
    box = dekbox.Box(f"aws-kms://{arn}", endpoint=purl, cache=dekbox.CacheConfig.disabled())
    proxy("/__fault", {"throttle": 0.3, "error500": 0.1, "seed": 3})
    try:
        for i in range(30):
            s = box.encrypt(f"v{i}", context=CTX)
            assert box.decrypt(s, context=CTX) == f"v{i}".encode()
        stats = proxy("/__stats")
        assert sum(stats["faults"].values()) > 5, stats
        proxy("/__reset", {})
        proxy("/__fault", {"respond": "DisabledException"})
        with pytest.raises(dekbox.KeyDisabled):
            box.encrypt(b"x")
    finally:
        proxy("/__reset", {})


def test_legacy_values_encrypted_directly_by_kms_fall_back_and_upgrade():
    url = require_env("DEKBOX_TEST_MOTO_URL")
    arn = kms_key(url)
    kms = botocore.session.get_session().create_client(
        "kms", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    legacy = kms.encrypt(KeyId=arn, Plaintext=b"written before dekbox", EncryptionContext=CTX)["CiphertextBlob"]
    with pytest.raises(dekbox.MalformedError):
        dekbox.Box(f"aws-kms://{arn}", endpoint=url).decrypt(legacy, context=CTX)
    box = dekbox.Box(f"aws-kms://{arn}", endpoint=url, legacy_fallback=True)
    assert box.decrypt(legacy, context=CTX) == b"written before dekbox"
    with pytest.raises(dekbox.AuthenticationError):
        box.decrypt(legacy, context={"tenant": "other"})
    # Upgrade on write: re-encrypting gives a committed v1 value.
    upgraded = box.encrypt(box.decrypt(legacy, context=CTX), context=CTX, text=True)
    assert upgraded.startswith("dekbox:v1:")


def test_kms_calls_work_in_a_child_forked_after_the_parent_used_kms():
    import os
    import signal

    url = require_env("DEKBOX_TEST_MOTO_URL")
    arn = kms_key(url)
    box = dekbox.Box(f"aws-kms://{arn}", endpoint=url)
    box.encrypt(b"parent", context=CTX)  # the parent's HTTP client now exists
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        try:
            # A new context needs a fresh GenerateDataKey: a KMS call in the child.
            token = box.encrypt(b"child", context={"tenant": "forked"})
            assert dekbox.Box(f"aws-kms://{arn}", endpoint=url).decrypt(token, context={"tenant": "forked"}) == b"child"
            del box  # dropping the inherited client must not hang either
            os._exit(0)
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert not os.WIFSIGNALED(status), "the child hung"
    assert os.waitstatus_to_exitcode(status) == 0
