#!/usr/bin/env python3
"""dekbox for Python against the native alternatives, measured in one run.

    python bindings-python/bench.py            # needs dekbox, cryptography, aws-encryption-sdk[MPL]
    ./scripts/bench.sh --python                # builds the wheel and a venv, then runs this

Per-call latency (medians of interleaved batches) and throughput for 64 B, 1 KiB
and 64 KiB, against:
  (a) cryptography's AESGCM with a fixed key and a fresh random nonce per call:
      the native baseline (no envelope, no header, no key commitment);
  (b) the AWS Encryption SDK 4.x with a raw AES keyring and the non-signing
      committing suite AES_256_GCM_HKDF_SHA512_COMMIT_KEY, at 1 KiB.
dekbox uses a local key with its data-key cache (the steady state of an
application), binary form, a tenant context and a row aad.

With DEKBOX_BENCH_MOTO_URL set (./scripts/bench.sh --python starts moto on
127.0.0.1), it also compares a cached 1 KiB encrypt/decrypt on an AWS KMS key
with the same on a local key: a cache hit must cost the same whatever the key
(no GIL hand-off, no network).
"""

import os
import statistics
import time

import dekbox
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIZES = [64, 1024, 64 * 1024]
CTX = {"tenant": "acme"}
AAD = b"customers/42/email"


def _batch_size(fn, target):
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t > target:
            return n
        n *= 2


def compare(*fns, budget=1.0, rounds=21):
    """Median seconds per call of each function, measured in interleaved
    rounds (a, b, a, b, ...) so that drift on a noisy host hits all alike."""
    sizes = [_batch_size(f, budget / rounds / len(fns) / 2) for f in fns]
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for i, f in enumerate(fns):
            n = sizes[i]
            t = time.perf_counter()
            for _ in range(n):
                f()
            samples[i].append((time.perf_counter() - t) / n)
    return [statistics.median(s) for s in samples]


def fmt(sec, size):
    return f"{sec * 1e6:9.2f} µs {size / sec / 1e9:7.3f} GB/s"


def main():
    box = dekbox.Box("insecure-test-key")
    aesgcm = AESGCM(os.urandom(32))
    print("dekbox (local key, cached data key) vs cryptography AESGCM, same run, one thread")
    print(f"{'size':>8} {'op':>5} {'dekbox':>26} {'cryptography':>26} {'dekbox/crypto time':>20}")
    for size in SIZES:
        pt = os.urandom(size)
        sealed = box.encrypt(pt, context=CTX, aad=AAD)
        nonce = os.urandom(12)
        ct = aesgcm.encrypt(nonce, pt, AAD)
        d_seal, c_seal = compare(lambda: box.encrypt(pt, context=CTX, aad=AAD),
                                 lambda: aesgcm.encrypt(os.urandom(12), pt, AAD))
        d_open, c_open = compare(lambda: box.decrypt(sealed, context=CTX, aad=AAD),
                                 lambda: aesgcm.decrypt(nonce, ct, AAD))
        for op, d, c in (("seal", d_seal, c_seal), ("open", d_open, c_open)):
            print(f"{size:>8} {op:>5} {fmt(d, size):>26} {fmt(c, size):>26} {d / c:>19.2f}x")
            print(f"RATIO lang=python size={size} op={op} dekbox_us={d*1e6:.3f} cryptography_us={c*1e6:.3f} ratio={d / c:.3f}")

    # The context as a dict is converted on every call; a prepared
    # dekbox.Context is converted once.
    pt = os.urandom(64)
    prepared = dekbox.Context(CTX)
    sealed = box.encrypt(pt, context=CTX, aad=AAD)
    n64 = os.urandom(12)
    ct64 = aesgcm.encrypt(n64, pt, AAD)
    d_dict, d_prep, c_open = compare(lambda: box.decrypt(sealed, context=CTX, aad=AAD),
                                     lambda: box.decrypt(sealed, context=prepared, aad=AAD),
                                     lambda: aesgcm.decrypt(n64, ct64, AAD))
    print(f"\n64 B open: dict context {d_dict * 1e6:.2f} µs, prepared dekbox.Context {d_prep * 1e6:.2f} µs, "
          f"cryptography {c_open * 1e6:.2f} µs -> {d_dict / c_open:.2f}x / {d_prep / c_open:.2f}x")
    print(f"RATIO lang=python size=64 op=open-prepared-context dekbox_us={d_prep*1e6:.3f} cryptography_us={c_open*1e6:.3f} ratio={d_prep / c_open:.3f}")

    moto = os.environ.get("DEKBOX_BENCH_MOTO_URL")
    if moto:
        aws_vs_local(moto)

    try:
        import aws_encryption_sdk
        from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
        from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
        from aws_cryptographic_material_providers.mpl.models import AesWrappingAlg, CreateRawAesKeyringInput
    except ImportError as e:
        print(f"\naws-encryption-sdk[MPL] not installed ({e}); pip install 'aws-encryption-sdk[MPL]' for the comparison")
        return
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    keyring = mpl.create_raw_aes_keyring(input=CreateRawAesKeyringInput(
        key_namespace="bench", key_name="k1", wrapping_key=os.urandom(32),
        wrapping_alg=AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16))
    suite = aws_encryption_sdk.Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    pt = os.urandom(1024)
    esdk_ct, _ = client.encrypt(source=pt, keyring=keyring, algorithm=suite, encryption_context=CTX)
    sealed = box.encrypt(pt, context=CTX, aad=AAD)
    d_seal, e_seal = compare(lambda: box.encrypt(pt, context=CTX, aad=AAD),
                             lambda: client.encrypt(source=pt, keyring=keyring, algorithm=suite, encryption_context=CTX),
                             budget=4.0, rounds=9)
    d_open, e_open = compare(lambda: box.decrypt(sealed, context=CTX, aad=AAD),
                             lambda: client.decrypt(source=esdk_ct, keyring=keyring, encryption_context=CTX),
                             budget=4.0, rounds=9)
    print("\n1 KiB vs AWS Encryption SDK 4.x (raw AES keyring, AES_256_GCM_HKDF_SHA512_COMMIT_KEY)")
    for op, d, e in (("seal", d_seal, e_seal), ("open", d_open, e_open)):
        print(f"{op:>6}: dekbox {d*1e6:8.2f} µs   ESDK {e*1e6:10.2f} µs   dekbox is {e / d:7.0f}x faster")
        print(f"RATIO lang=python size=1024 op={op} dekbox_us={d*1e6:.3f} esdk_us={e*1e6:.3f} speedup={e / d:.1f}")

    # Value sizes for the same fields: ESDK messages (raw AES keyring, a
    # committing suite, the context stored in the header) against dekbox v1
    # (local key) and compact values (a root).
    rooted = dekbox.Box("insecure-test-key", roots={"r1": dekbox.Box("insecure-test-key").create_root("r1")})
    print("\nValue sizes, bytes (binary; text characters for dekbox)")
    print(f"{'field':>7} {'ESDK':>8} {'dekbox v1':>16} {'dekbox compact':>16}")
    for n in (16, 64, 1024):
        v = b"a" * n
        esdk, _ = client.encrypt(source=v, keyring=keyring, algorithm=suite, encryption_context=CTX)
        v1 = (len(box.encrypt(v, context=CTX)), len(box.encrypt(v, context=CTX, text=True)))
        c = (len(rooted.encrypt_compact(v, column="c", context=CTX)),
             len(rooted.encrypt_compact(v, column="c", context=CTX, text=True)))
        print(f"{n:>5} B {len(esdk):>8} {v1[0]:>7} / {v1[1]:>6} {c[0]:>7} / {c[1]:>6}")
        print(f"SIZE lang=python field={n} esdk={len(esdk)} v1_bin={v1[0]} v1_text={v1[1]} compact_bin={c[0]} compact_text={c[1]}")


def aws_vs_local(url):
    import botocore.session

    kms = botocore.session.get_session().create_client(
        "kms", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    local = dekbox.Box("insecure-test-key")
    aws = dekbox.Box(f"aws-kms://{arn}", endpoint=url)
    pt = os.urandom(1024)
    sealed = {b: b.encrypt(pt, context=CTX, aad=AAD) for b in (local, aws)}  # data keys now cached
    for b in (local, aws):
        assert b.decrypt(sealed[b], context=CTX, aad=AAD) == pt
    l_seal, a_seal = compare(lambda: local.encrypt(pt, context=CTX, aad=AAD),
                             lambda: aws.encrypt(pt, context=CTX, aad=AAD))
    l_open, a_open = compare(lambda: local.decrypt(sealed[local], context=CTX, aad=AAD),
                             lambda: aws.decrypt(sealed[aws], context=CTX, aad=AAD))
    print("\n1 KiB, cached data key: AWS KMS key (moto) vs local key, same run")
    for op, a, l in (("seal", a_seal, l_seal), ("open", a_open, l_open)):
        print(f"{op:>6}: AWS key {a*1e6:6.2f} µs   local key {l*1e6:6.2f} µs   AWS/local {a / l:5.2f}x")
        print(f"RATIO lang=python size=1024 op={op}-aws-vs-local aws_us={a*1e6:.3f} local_us={l*1e6:.3f} ratio={a / l:.3f}")
    st = aws.cache_stats()
    print(f"AWS key KMS calls during the measurement: {st.kms_calls} (1 GenerateDataKey + 1 Decrypt expected)")


if __name__ == "__main__":
    main()
