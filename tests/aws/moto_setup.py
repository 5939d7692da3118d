#!/usr/bin/env python3
"""Spends a moto server's INITIAL_NO_AUTH_ACTION_COUNT=3 unauthenticated calls on
creating an IAM user with a kms:* policy and an access key, and prints
"ACCESS_KEY_ID SECRET_ACCESS_KEY" for the signed-request tests."""

import json
import sys

import botocore.session

url = sys.argv[1]
session = botocore.session.get_session()
iam = session.create_client(
    "iam",
    region_name="us-east-1",
    endpoint_url=url,
    aws_access_key_id="bootstrap",
    aws_secret_access_key="bootstrap",
)
iam.create_user(UserName="dekbox-test")
iam.put_user_policy(
    UserName="dekbox-test",
    PolicyName="kms-all",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    ),
)
key = iam.create_access_key(UserName="dekbox-test")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
