#!/usr/bin/env python3
"""Creates the key ring and keys the tests use on the loopback Cloud KMS
(tests/gcp/kms_server.py), through its real admin API with the bearer token
`test-token`: projects/dekbox-test/locations/global/keyRings/ring with keys
`a`, `b` (the conformance suite's second key) and `c`."""

import json
import sys
import urllib.request

base = sys.argv[1].rstrip("/")
parent = "projects/dekbox-test/locations/global"


def post(path, body):
    req = urllib.request.Request(
        f"{base}/v1/{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer test-token", "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=10))


post(f"{parent}/keyRings?keyRingId=ring", {})
for key in ("a", "b", "c"):
    post(f"{parent}/keyRings/ring/cryptoKeys?cryptoKeyId={key}", {"purpose": "ENCRYPT_DECRYPT"})
