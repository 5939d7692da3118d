//! Leaving one cloud for another without downtime: a keyring with
//! v1 = Google Cloud KMS, v2 = Vault (OpenBao), v3 = AWS KMS, and
//! `dekbox rewrap --lines` moving a file of 10,000 text-form records from v1
//! (and v2) to v3 without re-encrypting them; afterwards a keyring holding
//! only v3 opens every record. Against the three loopback servers
//! ./scripts/test.sh starts (the test Cloud KMS, OpenBao, moto); ignored by
//! a plain `cargo test`.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{create_key, moto};
use dekbox_core::format::parse;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name}: run ./scripts/test.sh"))
}

const GCP_KEY: &str = "gcp-kms://projects/dekbox-test/locations/global/keyRings/ring/cryptoKeys/c";
const VAULT_KEY: &str = "vault://transit/keys/plain";

fn dekbox(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dekbox"))
        .args(args)
        .env_clear()
        .env("HOME", "/nonexistent")
        // AWS (moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_KMS", moto())
        // Google Cloud (the test Cloud KMS)
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS",
            var("DEKBOX_TEST_GCP_URL"),
        )
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "test-token")
        // Vault (OpenBao)
        .env("VAULT_ADDR", var("DEKBOX_TEST_BAO_URL"))
        .env("VAULT_TOKEN", var("DEKBOX_TEST_BAO_TOKEN"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin_pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin_pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn ok(o: &Output) -> &Output {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
#[ignore = "needs the test Cloud KMS, OpenBao and moto: ./scripts/test.sh starts them"]
fn rewrap_moves_ten_thousand_records_from_gcp_and_vault_to_aws() {
    let aws_key = format!("aws-kms://{}", create_key(&moto()));
    let v1 = format!("v1={GCP_KEY}");
    let v2 = format!("v2={VAULT_KEY}");
    let v3 = format!("v3={aws_key}");
    let ring = |primary: &str| -> Vec<String> {
        [
            "--keyring",
            &v1,
            "--keyring",
            &v2,
            "--keyring",
            &v3,
            "--primary",
            primary,
            "--context",
            "tenant=acme",
        ]
        .map(String::from)
        .to_vec()
    };
    let args = |cmd: &str, extra: &[String]| -> Vec<String> {
        let mut a = vec![cmd.to_string(), "--lines".into()];
        a.extend_from_slice(extra);
        a
    };
    let run = |a: &[String], stdin: &[u8]| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        dekbox(&refs, stdin)
    };

    // 10,000 records, written in ten runs (ten data keys): 8,000 under v1
    // (Cloud KMS), 2,000 under v2 (Vault).
    let mut sealed = Vec::new();
    let mut plain = Vec::new();
    for batch in 0..10 {
        let lines: String = (0..1000)
            .map(|i| format!("record {batch}-{i}: card 4111-1111-1111-{i:04}\n"))
            .collect();
        let primary = if batch < 8 { "v1" } else { "v2" };
        let o = run(&args("encrypt", &ring(primary)), lines.as_bytes());
        sealed.extend_from_slice(&ok(&o).stdout);
        plain.extend_from_slice(lines.as_bytes());
    }
    assert_eq!(sealed.iter().filter(|&&b| b == b'\n').count(), 10_000);

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("records.txt");
    let output = dir.path().join("moved.txt");
    std::fs::write(&input, &sealed).unwrap();
    let mut a = args("rewrap", &ring("v3"));
    a.extend([
        "-i".into(),
        input.to_str().unwrap().into(),
        "-o".into(),
        output.to_str().unwrap().into(),
    ]);
    let o = run(&a, b"");
    let stderr = String::from_utf8_lossy(&ok(&o).stderr).to_string();
    assert!(
        stderr.contains("rewrapped 10000, already on the primary key 0"),
        "{stderr}"
    );
    let moved = std::fs::read(&output).unwrap();
    assert_eq!(moved.iter().filter(|&&b| b == b'\n').count(), 10_000);

    // Not re-encrypted: every record keeps its authenticated header (salt,
    // commitment, nonce) and its ciphertext byte for byte; only the key
    // section changed, to name v3 (keyring messages name labels).
    let binary = |line: &[u8]| {
        let b64 = line.strip_prefix(b"dekbox:v1:").expect("text form");
        URL_SAFE_NO_PAD.decode(b64).unwrap()
    };
    for (old, new) in sealed
        .split(|&b| b == b'\n')
        .zip(moved.split(|&b| b == b'\n'))
    {
        if old.is_empty() {
            continue;
        }
        let (old, new) = (binary(old), binary(new));
        let (o, n) = (parse(&old, 1 << 20).unwrap(), parse(&new, 1 << 20).unwrap());
        assert_eq!((o.fixed_header, o.body), (n.fixed_header, n.body));
        assert!(["v1", "v2"].contains(&o.key_ref().unwrap().name));
        assert_eq!(n.key_ref().unwrap().name, "v3");
    }

    // A keyring with only v3 opens all 10,000.
    let only_v3 = [
        "decrypt".to_string(),
        "--lines".into(),
        "--keyring".into(),
        v3.clone(),
        "--primary".into(),
        "v3".into(),
        "--context".into(),
        "tenant=acme".into(),
    ];
    let o = run(&only_v3, &moved);
    assert_eq!(ok(&o).stdout, plain);
    // ... and refuses the records before the move: their keys are not in it.
    let o = run(&only_v3, &sealed);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not in this keyring"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Rewrapping again changes nothing.
    let again = dir.path().join("again.txt");
    let mut a = args("rewrap", &ring("v3"));
    a.extend([
        "-i".into(),
        output.to_str().unwrap().into(),
        "-o".into(),
        again.to_str().unwrap().into(),
    ]);
    let o = run(&a, b"");
    let stderr = String::from_utf8_lossy(&ok(&o).stderr).to_string();
    assert!(
        stderr.contains("rewrapped 0, already on the primary key 10000"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&again).unwrap(), moved);
}
