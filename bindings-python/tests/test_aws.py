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


def wrapped_key_of(sealed: bytes) -> bytes:
    """The wrapped data key of a binary message (docs/FORMAT.md, key section)."""
    n = int.from_bytes(sealed[82:84], "big")
    at = 84 + n
    m = int.from_bytes(sealed[at:at + 2], "big")
    return sealed[at + 2:at + 2 + m]


def test_legacy_fallback_cannot_return_a_message_data_key():
    """Security review finding 1: the fallback used to hand out data keys."""
    url = require_env("DEKBOX_TEST_MOTO_URL")
    arn = kms_key(url)
    box = dekbox.Box(f"aws-kms://{arn}", endpoint=url, legacy_fallback=True)
    sealed = box.encrypt(b"row", context=CTX, aad="users/1")
    fresh = dekbox.Box(f"aws-kms://{arn}", endpoint=url, legacy_fallback=True)
    for b in (box, fresh):
        with pytest.raises(dekbox.AuthenticationError):
            b.decrypt(wrapped_key_of(sealed), context=CTX)
    assert fresh.decrypt(sealed, context=CTX, aad="users/1") == b"row"
    with pytest.raises(dekbox.ConfigError, match="legacy_fallback"):
        dekbox.Box(f"aws-kms://{arn}", endpoint=url, legacy_fallback=True, accept_json=True)
    with pytest.raises(dekbox.ConfigError):
        box.generate_data_key(context=CTX)
    with pytest.raises(dekbox.MalformedError, match="reserved"):
        box.encrypt(b"x", context={"dekbox:purpose": "data-key"})


class _SlowCredentials:
    """A container-credentials endpoint on 127.0.0.1 that answers after `delay` s."""

    def __init__(self, delay):
        import http.server
        import threading

        body = json.dumps({"AccessKeyId": "testing", "SecretAccessKey": "testing",
                           "Token": "t", "Expiration": "2099-01-01T00:00:00Z"}).encode()

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_GET(self):
                import time
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/creds"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_fork_while_a_thread_is_in_the_first_kms_call(monkeypatch):
    """Issue 16: a child forked while a parent thread resolves credentials (slow
    endpoint) and makes the first KMS call (delaying proxy) used to hang on a lock
    held across the I/O, or wait 30 s for the parent's in-flight fetch."""
    import os
    import signal
    import threading
    import time

    url = require_env("DEKBOX_TEST_MOTO_URL")
    proxy_url = require_env("DEKBOX_TEST_FAULT_PROXY_URL")
    arn = kms_key(url)
    slow = _SlowCredentials(delay=1.5)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", slow.url)
    proxy("/__reset", {})
    proxy("/__fault", {"delay": 1.0})
    try:
        box = dekbox.Box(f"aws-kms://{arn}", endpoint=proxy_url)
        parent = {}
        t = threading.Thread(target=lambda: parent.setdefault("token", box.encrypt(b"parent", context=CTX)))
        t.start()
        time.sleep(0.5)  # thread A is resolving credentials
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            signal.alarm(25)
            try:
                os.close(r)
                started = time.monotonic()
                token = box.encrypt(b"child", context=CTX)
                took = time.monotonic() - started
                os.write(w, json.dumps({"token": token.hex(), "took": took}).encode())
                os._exit(0)
            except BaseException:
                import traceback
                traceback.print_exc()
                os._exit(1)
        os.close(w)
        _, status = os.waitpid(pid, 0)
        out = json.loads(os.read(r, 1 << 16) or b"{}")
        os.close(r)
        assert not os.WIFSIGNALED(status), "the child hung"
        assert os.waitstatus_to_exitcode(status) == 0
        # Its own credentials (1.5 s) and data key (1 s), not the parent's 30 s flight.
        assert out["took"] < 10, out
        t.join(20)
        assert not t.is_alive(), "the parent thread hung"
        reader = dekbox.Box(f"aws-kms://{arn}", endpoint=url)
        assert reader.decrypt(parent["token"], context=CTX) == b"parent"
        assert reader.decrypt(bytes.fromhex(out["token"]), context=CTX) == b"child"
    finally:
        proxy("/__reset", {})
        slow.close()


_MP_BOX = None


def _mp_encrypt(n):
    import os
    return os.getpid(), [_MP_BOX.encrypt(f"{n}:{i}".encode(), context=CTX, aad=str(i)) for i in range(100)]


def test_multiprocessing_fork_workers_share_a_box_safely():
    """gunicorn --preload / multiprocessing: 4 forked workers x 100 encrypts with a
    Box the parent already used; every value opens, and no worker reuses the
    parent's (or another worker's) nonce space."""
    import multiprocessing

    global _MP_BOX
    url = require_env("DEKBOX_TEST_MOTO_URL")
    arn = kms_key(url)
    _MP_BOX = dekbox.Box(f"aws-kms://{arn}", endpoint=url)
    first = _MP_BOX.encrypt(b"parent", context=CTX)
    try:
        with multiprocessing.get_context("fork").Pool(4) as pool:
            done = pool.map_async(_mp_encrypt, range(4), chunksize=1).get(timeout=60)
    finally:
        box, _MP_BOX = _MP_BOX, None
    pids = {pid for pid, _ in done}
    results = [tokens for _, tokens in done]
    assert [len(r) for r in results] == [100] * 4
    for n, tokens in enumerate(results):
        for i, token in enumerate(tokens):
            assert box.decrypt(token, context=CTX, aad=str(i)) == f"{n}:{i}".encode()
    # Same data key everywhere (no KMS call in the workers), a salt per process.
    salts = {token[5:37] for tokens in results for token in tokens}
    assert len(salts) == len(pids) and first[5:37] not in salts
    assert len({wrapped_key_of(t) for tokens in results for t in tokens} | {wrapped_key_of(first)}) == 1
