"""Hardening from Python: no secret in any repr or str, and a soak through
the fault-injecting proxy (4 threads, 100 tenants, 10% faults; every record
opens to what was sealed, memory flat after warm-up)."""

import base64
import json
import os
import statistics
import threading
import time
import urllib.request

import botocore.session
import pytest

import dekbox
from conftest import require_env

LOCAL_KEY = bytes([0x5A]) * 32
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
GCP_TOKEN = "ya29.a0AfH6SMBexamplePythonAccessToken0123456789"
VAULT_TOKEN = "hvs.CAESIexamplePythonVaultToken0123456789abcd"


def needles(*raw_secrets: bytes):
    for raw in raw_secrets:
        yield raw.hex()
        yield base64.b64encode(raw).decode()
        yield base64.urlsafe_b64encode(raw).decode().rstrip("=")
        yield repr(raw)[2:-1][:40]


def assert_clean(what, shown, secrets):
    for n in needles(*secrets):
        assert n not in shown, f"{what} shows a secret ({n}): {shown}"


def test_no_repr_or_str_shows_a_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("DEKBOX_KEY_B64", base64.b64encode(LOCAL_KEY).decode())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", GCP_TOKEN)
    monkeypatch.setenv("VAULT_ADDR", "https://vault.example:8200")
    monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN)
    ctx = {"tenant": "acme"}
    box = dekbox.Box("local://env/DEKBOX_KEY_B64")
    plaintext_key, wrapped = box.generate_data_key(context=ctx)
    secrets = [LOCAL_KEY, plaintext_key, AWS_SECRET.encode(), GCP_TOKEN.encode(), VAULT_TOKEN.encode()]
    sealed = box.encrypt(b"x", context=ctx)
    shown = []
    for obj in [box, dekbox.Context(ctx), dekbox.CacheConfig(), box.cache_stats(), dekbox.Box(
            "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k"), dekbox.Box(
            "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"), dekbox.Box("vault://transit/keys/app")]:
        shown += [repr(obj), str(obj)]
    errors = []
    for call in [
        lambda: box.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), context=ctx),
        lambda: box.decrypt(sealed[:40], context=ctx),
        lambda: box.decrypt(sealed, context={"tenant": "x"}),
        lambda: box.unwrap(wrapped, context={"tenant": "x"}),
        lambda: dekbox.Box(base64.b64encode(LOCAL_KEY).decode()),
        lambda: dekbox.Box("aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k",
                           endpoint="http://127.0.0.1:9").encrypt(b"x", context=ctx),
    ]:
        with pytest.raises(dekbox.Error) as e:
            call()
        errors.append(e.value)
        shown += [repr(e.value), str(e.value)]
    assert len(errors) == 6
    for s in shown:
        assert_clean("a formatted value", s, secrets)
    # The search finds what it looks for.
    with pytest.raises(AssertionError):
        assert_clean("canary", f"key={LOCAL_KEY.hex()}", secrets)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proxy(path, body=None):
    url = require_env("DEKBOX_TEST_FAULT_PROXY_URL") + path
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST" if data else "GET")) as r:
        return json.loads(r.read())


def test_soak_through_faults(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    ops = int(os.environ.get("DEKBOX_SOAK_OPS_PY", "8000"))
    moto = require_env("DEKBOX_TEST_MOTO_URL")
    purl = require_env("DEKBOX_TEST_FAULT_PROXY_URL")
    arn = botocore.session.get_session().create_client(
        "kms", region_name="us-east-1", endpoint_url=moto,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).create_key(Description="soak")["KeyMetadata"]["Arn"]
    proxy("/__reset", {})
    proxy("/__fault", {"throttle": 0.05, "error500": 0.03, "drop": 0.02, "seed": 5})
    box = dekbox.Box(f"aws-kms://{arn}", endpoint=purl, cache=dekbox.CacheConfig(max_messages=20))
    threads, per = 4, ops // 4
    results = [None] * threads
    warm = [0]

    def worker(t):
        lat, lost, corrupted = [], 0, 0
        for i in range(per):
            if t == 0 and i == per // 10:
                warm[0] = rss_kib()
            tenant = {"tenant": f"t{(i * 7 + t) % 100}"}
            record = f"{tenant['tenant']}/{t}/{i}:" + "x" * (i % 64)
            aad = f"rows/{t}/{i}"
            start = time.perf_counter()
            try:
                sealed = box.encrypt(record, context=tenant, aad=aad)
                back = box.decrypt(sealed, context=tenant, aad=aad)
            except dekbox.Error:
                lost += 1
                continue
            if back != record.encode():
                corrupted += 1
            lat.append(time.perf_counter() - start)
        results[t] = (lat, lost, corrupted)

    started = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - started
    stats = proxy("/__stats")
    proxy("/__reset", {})
    lat = sorted(x for r in results for x in r[0])
    lost = sum(r[1] for r in results)
    corrupted = sum(r[2] for r in results)
    end = rss_kib()
    with capsys.disabled():
        print(f"\nsoak (Python): {len(lat)} encrypt+decrypt pairs, 4 threads, 100 tenants, 10% faults: "
              f"{len(lat) / elapsed:.0f} pairs/s, p50 {statistics.median(lat) * 1e6:.0f} us, "
              f"p99 {lat[int(len(lat) * 0.99)] * 1e6:.0f} us, {box.cache_stats().kms_calls} KMS calls, "
              f"faults {stats['faults']}, RSS {warm[0]} KiB after warm-up, {end} KiB at the end, "
              f"lost {lost}, corrupted {corrupted}")
    assert lost == 0 and corrupted == 0
    # Data keys retire every 20 messages: KMS is called, and faults met,
    # throughout the run.
    assert box.cache_stats().kms_calls >= ops // 40
    assert sum(stats["faults"].values()) >= ops // 400, stats
    assert len(lat) == threads * per
    assert end < warm[0] + 16 * 1024, (warm[0], end)
