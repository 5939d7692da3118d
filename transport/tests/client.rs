//! Client behaviour that needs no KMS server.

use dekbox_core::env::MapEnvironment;
use dekbox_core::{EncryptionContext, Error, Form};
use dekbox_transport::Client;
use std::sync::Arc;

#[test]
fn aws_keys_without_credentials_do_not_break_local_operations() {
    // Mid-migration: the old key is in AWS KMS, the new primary is local, and
    // this machine has no AWS credentials at all.
    let mut env = MapEnvironment::default();
    env.vars
        .insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    env.vars.insert("AWS_CONFIG_FILE".into(), "/none".into());
    env.vars
        .insert("AWS_SHARED_CREDENTIALS_FILE".into(), "/none".into());
    let client = Client::builder()
        .labeled_key("old", "aws-kms://arn:aws:kms:us-east-1:111122223333:key/k")
        .labeled_key("new", "insecure-test-key")
        .primary("new")
        .environment(Arc::new(env))
        .build()
        .unwrap();
    let ctx = EncryptionContext::from_pairs([("t", "1")]).unwrap();
    let sealed = client
        .encrypt(b"local work", &ctx, b"", Form::Binary)
        .unwrap();
    assert_eq!(client.decrypt(&sealed, &ctx, b"").unwrap(), b"local work");

    // Only an operation that needs AWS reports the missing credentials.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(client.generate_data_key_async(&ctx))
        .map(|_| ())
        .err();
    assert!(err.is_none(), "the primary is local: {err:?}");
    let aws_only = Client::builder()
        .key("aws-kms://arn:aws:kms:us-east-1:111122223333:key/k")
        .environment(Arc::new({
            let mut e = MapEnvironment::default();
            e.vars
                .insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
            e.vars.insert("AWS_CONFIG_FILE".into(), "/none".into());
            e.vars
                .insert("AWS_SHARED_CREDENTIALS_FILE".into(), "/none".into());
            e
        }))
        .build()
        .unwrap();
    let err = aws_only.encrypt(b"x", &ctx, b"", Form::Binary).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("no AWS credentials found")),
        "{err:?}"
    );
}
