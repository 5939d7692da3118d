//! Amazon's SigV4 test suite (../shared/vectors/sigv4, as botocore carries it).
//!
//! Every case signs with AKIDEXAMPLE at 20150830T123600Z in us-east-1 for
//! service `service`. Cases run: every `post-*`, `get-vanilla*`,
//! `get-header-*` (including all `get-vanilla-query-order-*`), `get-utf8`,
//! `get-unreserved`, and both `post-sts-token` cases. Excluded:
//! `normalize-path/*`: path normalisation is S3-style behaviour KMS never
//! needs (its path is always `/`), and `get-space` assumes a request line
//! HTTP/1.1 cannot carry; botocore skips it too.

use dekbox_core::Timestamp;
use dekbox_core::http::{HttpRequest, Method};
use dekbox_core::provider::aws::sigv4::{self, Credentials, Scope};
use std::path::{Path, PathBuf};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
const SCOPE: Scope<'static> = Scope {
    region: "us-east-1",
    service: "service",
};
const WHEN: Timestamp = Timestamp::from_unix_millis(1_440_938_160_000); // 2015-08-30T12:36:00Z

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/sigv4")
}

/// Parses a raw `.req` file: request line, headers (continuation lines fold
/// into the previous value), blank line, body.
fn parse_req(raw: &str) -> HttpRequest {
    let (head, body) = match raw.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (raw, ""),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    let mut headers: Vec<(String, String)> = vec![];
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().unwrap();
            last.1.push('\n');
            last.1.push_str(line);
        } else {
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.to_string(), v.to_string()));
        }
    }
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .unwrap()
        .1
        .clone();
    HttpRequest {
        method: match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            m => panic!("unexpected method {m}"),
        },
        url: format!("https://{}{target}", host.trim()),
        headers,
        body: body.as_bytes().to_vec(),
        probe: false,
    }
}

fn cases() -> Vec<(String, PathBuf)> {
    let mut out = vec![];
    let root = suite();
    for entry in std::fs::read_dir(&root).expect("../shared/vectors/sigv4 beside the repository") {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let wanted = name.starts_with("post-")
            || name.starts_with("get-vanilla")
            || name.starts_with("get-header-")
            || name == "get-utf8"
            || name == "get-unreserved";
        if !entry.path().is_dir() || !wanted {
            continue;
        }
        if name == "post-sts-token" {
            // "after" is checked separately: its token is added post-signing.
            out.push((
                "post-sts-header-before".to_string(),
                entry.path().join("post-sts-header-before"),
            ));
        } else {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    out
}

fn read(dir: &Path, name: &str, ext: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap()
}

#[test]
fn sigv4_test_suite() {
    let cases = cases();
    assert!(cases.len() >= 25, "found only {} cases", cases.len());
    let mut failures = vec![];
    for (name, dir) in &cases {
        let req = parse_req(&read(dir, name, "req"));
        // Sign the request as given; the signer adds the session token header
        // where the case uses temporary credentials.
        let token = match name.as_str() {
            "post-sts-header-before" => Some(TOKEN.to_string()),
            "get-vanilla-with-session-token" => {
                Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267".to_string())
            }
            _ => None,
        };
        let creds = Credentials::new("AKIDEXAMPLE", SECRET, token, None, "suite");
        let mut signed = req.clone();
        sigv4::sign(&mut signed, &creds, SCOPE, WHEN).unwrap();
        // `authorization` is never part of the canonical request.
        let creq = sigv4::canonical_request(&signed).unwrap();
        let expected_creq = read(dir, name, "creq");
        if creq.text != expected_creq {
            failures.push(format!(
                "{name}: canonical request\n--- got\n{}\n--- expected\n{expected_creq}",
                creq.text
            ));
            continue;
        }
        let sts = sigv4::string_to_sign(&creq.text, "20150830T123600Z", SCOPE);
        assert_eq!(sts, read(dir, name, "sts"), "{name}: string to sign");

        let authz = signed.header("authorization").unwrap().to_string();
        if authz != read(dir, name, "authz") {
            failures.push(format!(
                "{name}: authorization\n got {authz}\nwant {}",
                read(dir, name, "authz")
            ));
        }
    }
    // post-sts-header-after: the token is added after signing and is not signed.
    let dir = suite().join("post-sts-token/post-sts-header-after");
    let mut req = parse_req(&read(&dir, "post-sts-header-after", "req"));
    let creds = Credentials::new("AKIDEXAMPLE", SECRET, None, None, "suite");
    sigv4::sign(&mut req, &creds, SCOPE, WHEN).unwrap();
    req.headers
        .push(("X-Amz-Security-Token".into(), TOKEN.into()));
    assert_eq!(
        req.header("authorization").unwrap(),
        read(&dir, "post-sts-header-after", "authz")
    );

    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
