"""dekbox's SigV4 for KMS requests, compared with botocore's SigV4Auth.

Both sign the same request (same URL, headers, body, credentials and a frozen
clock); the Authorization headers must be identical. dekbox's side comes from
core/examples/sigv4_sign.rs, which calls the provider's real request builder.
"""

import datetime
import json
import os
import pathlib
import subprocess
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "target" / "debug" / "examples" / "sigv4_sign"
FROZEN = datetime.datetime(2026, 11, 23, 4, 5, 6)
UNIX_MS = int(FROZEN.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)

CASES = [
    ("aws-kms://arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
     "https://kms.us-east-1.amazonaws.com", "GenerateDataKey",
     '{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd","KeySpec":"AES_256","EncryptionContext":{"tenant":"acme"}}',
     None),
    ("aws-kms://alias/app?region=eu-west-1", "https://kms.eu-west-1.amazonaws.com", "Decrypt",
     '{"KeyId":"alias/app","CiphertextBlob":"AQIDBAUGBwg="}', "FwoGZXIvYXdzEJr//////////wEaDH session token +/="),
    ("aws-kms://arn:aws:kms:us-west-2:111122223333:key/k", "http://127.0.0.1:4566", "Encrypt",
     '{"KeyId":"k","Plaintext":"AAAA"}', None),
    ("aws-kms://arn:aws:kms:us-west-2:111122223333:key/k", "http://localhost:8080/", "ReEncrypt",
     '{"CiphertextBlob":"AA==","SourceKeyId":"a","DestinationKeyId":"b"}', "token"),
]


def dekbox_signed(uri, endpoint, action, body, token):
    args = {
        "uri": uri, "endpoint": endpoint, "action": action, "body": body,
        "access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "unix_ms": UNIX_MS,
    }
    if token:
        args["session_token"] = token
    out = subprocess.run([str(EXAMPLE)], input=json.dumps(args), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("uri,endpoint,action,body,token", CASES)
def test_authorization_matches_botocore(uri, endpoint, action, body, token):
    ours = dekbox_signed(uri, endpoint, action, body, token)
    headers = {k.lower(): v for k, v in ours["headers"]}
    region = headers["authorization"].split("/")[2]
    assert headers["authorization"].split("/")[3] == "kms"

    req = AWSRequest(
        method="POST",
        url=ours["url"],
        data=body.encode(),
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{action}"},
    )
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    with mock.patch("botocore.auth.get_current_datetime", return_value=FROZEN):
        SigV4Auth(creds, "kms", region).add_auth(req)

    assert headers["x-amz-date"] == req.headers["X-Amz-Date"]
    assert "x-amz-content-sha256" not in headers
    if token:
        assert headers["x-amz-security-token"] == req.headers["X-Amz-Security-Token"]
    assert headers["authorization"] == req.headers["Authorization"]


def test_example_is_built():
    assert EXAMPLE.exists(), "cargo build -p dekbox-core --example sigv4_sign"
