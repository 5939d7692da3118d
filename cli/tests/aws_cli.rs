//! `dekbox --key aws-kms://...` against moto's server (started by
//! ./scripts/test.sh; ignored by a plain `cargo test`). Credentials come from
//! the environment, as a user's would.

mod common;

use common::{create_key, moto};
use std::process::{Command, Output, Stdio};

fn dekbox(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dekbox"))
        .args(args)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

#[test]
#[ignore = "needs moto: ./scripts/test.sh starts it"]
fn encrypt_and_decrypt_with_an_aws_kms_key() {
    let url = moto();
    let key = format!("aws-kms://{}", create_key(&url));
    let common = [
        "--key",
        key.as_str(),
        "--aws-endpoint",
        url.as_str(),
        "--context",
        "tenant=a",
    ];
    let mut enc = vec!["encrypt"];
    enc.extend(common);
    let o = dekbox(&enc, b"from the command line");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.starts_with(b"dekbox:v1:"));
    let sealed = o.stdout;

    let mut dec = vec!["decrypt"];
    dec.extend(common);
    let o = dekbox(&dec, &sealed);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, b"from the command line");

    // The KMS refuses another tenant's context: exit code 3.
    let o = dekbox(
        &[
            "decrypt",
            "--key",
            &key,
            "--aws-endpoint",
            &url,
            "--context",
            "tenant=b",
        ],
        &sealed,
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Unknown key: a KMS error, exit code 5.
    let missing =
        "aws-kms://arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let o = dekbox(&["encrypt", "--key", missing, "--aws-endpoint", &url], b"x");
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("key not found"));
}
