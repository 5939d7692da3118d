#!/usr/bin/env python3
"""Writes the committed seed corpus (fuzz/corpus/<target>/seed-*) from the
format vectors (tests/vectors/format-v1.json), real moto answers captured
once (fuzz/moto/), and small hand-written samples. Re-run after the vectors
change; libFuzzer's own finds stay out of git (.gitignore)."""

import json
import pathlib

root = pathlib.Path(__file__).resolve().parent
vectors = json.loads((root.parent / "tests/vectors/format-v1.json").read_text())
roots = json.loads((root.parent / "tests/vectors/root-v1.json").read_text())
moto = {p.name: p.read_bytes() for p in (root / "moto").iterdir()}


def put(target, name, data):
    d = root / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


for i, v in enumerate(vectors["vectors"] + vectors["invalid"]):
    if v.get("binary"):
        put("message", f"v{i}-binary", bytes.fromhex(v["binary"]))
    if v.get("text"):
        put("message", f"v{i}-text", v["text"])
    if v.get("json"):
        put("message", f"v{i}-json", v["json"] if isinstance(v["json"], str) else json.dumps(v["json"]))
        put("compat", f"v{i}-json", v["json"] if isinstance(v["json"], str) else json.dumps(v["json"]))
    if v.get("wrapped_dek"):
        put("local_wrapped", f"v{i}", bytes.fromhex(v["wrapped_dek"]))
put("compat", "kms-encrypted", "v1:AQIDBAUGBwgJCgsMDQ4PEA==")

# root_values: the root token and every root-keyed value of root-v1.json.
put("root_values", "token", roots["root_token"])
for i, v in enumerate(roots["values"]):
    put("root_values", f"r{i}", v["sealed"] if v["form"] == "text" else bytes.fromhex(v["sealed"]))

# kms_answers: first byte picks the status (0: 200, 1: 400, ...).
for name, data in moto.items():
    if name.startswith("kms-"):
        status = 1 if name in ("kms-notfound", "kms-badblob") else 0
        put("kms_answers", name, bytes([status]) + data)
put("kms_answers", "gcp-encrypt", b"\x00" + json.dumps({
    "name": "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
    "ciphertext": "AAECAw==", "ciphertextCrc32c": "1684467085",
    "verifiedPlaintextCrc32c": True, "verifiedAdditionalAuthenticatedDataCrc32c": True}).encode())
put("kms_answers", "gcp-error", b"\x01" + json.dumps({"error": {
    "code": 400, "message": "Decryption failed: the ciphertext is invalid.", "status": "INVALID_ARGUMENT"}}).encode())
put("kms_answers", "vault-batch", b"\x01" + json.dumps({"data": {"batch_results": [
    {"plaintext": "AAAA"}, {"error": "cipher: message authentication failed"}]}}).encode())

put("credential_answers", "sts-web-identity", moto["sts-web-identity"])
put("credential_answers", "container", json.dumps({
    "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s", "Token": "t",
    "Expiration": "2099-01-01T00:00:00Z"}))
# Found by this target (an empty AccessKeyId was accepted): kept as a seed.
put("credential_answers", "empty-access-key-id",
    '{"AccessKeyId": "", "SecretAccessKey": "s: #s:;-01-01T00:00:00Z"}')
put("credential_answers", "google-token", json.dumps({
    "access_token": "ya29.x", "expires_in": 3599, "token_type": "Bearer"}))

put("config_file", "profiles", """[default]
region = eu-west-1
[profile dev]
role_arn = arn:aws:iam::111122223333:role/r
source_profile = default
credential_process = /bin/echo x
[sso-session s]
sso_region = us-east-1
""")

for i, uri in enumerate([
    "insecure-test-key", "local://env/DEKBOX_KEY_B64", "local:///etc/dekbox/app.key",
    "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "aws-kms://alias/app?region=us-east-2",
    "aws-kms://arn:aws-cn:kms:cn-north-1:111122223333:alias/app",
    "gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
    "gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/2",
    "vault://transit/keys/app", "openbao://team/transit/keys/app",
    "aws-kms://alias/x?region=us-iso-east-1", "aws-kms://arn:aws-iso-b:kms:us-isob-east-1:1:key/k",
    "aws-kms://arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/k",
]):
    put("key_uri", f"u{i}", uri)
