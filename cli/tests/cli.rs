//! The `dekbox` binary, run as a user runs it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn dekbox(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dekbox"));
    cmd.args(args)
        .env_remove("DEKBOX_KEY")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run dekbox");
    if let Some(data) = stdin {
        use std::io::Write;
        // The command may exit before reading its input (a usage error).
        let _ = child.stdin.take().unwrap().write_all(data);
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn keygen(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let o = dekbox(&["keygen", "-o", path.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
}

#[test]
fn demo_runs_the_main_job() {
    let o = dekbox(&["demo"], None);
    assert!(o.status.success(), "demo failed: {}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "sealed 1000 records",
        "opened 1000/1000 records",
        "tenant globex opening tenant acme's record: refused (authentication failed",
        "pasted into row 2 (aad customers/2/email): refused",
        "rewrapped 1000 records to v2",
        "a keyring holding only v2 opens 1000/1000",
        "writes: 1000 records -> 2 data keys (2 provider calls; 998 hits, 2 misses)",
        "reads:  1000 records -> 2 unwraps (998 hits, 2 misses)",
        "done: every record round-tripped",
    ] {
        assert!(
            out.contains(expected),
            "demo output lacks {expected:?}:\n{out}"
        );
    }
    let small = dekbox(&["demo", "--records", "10"], None);
    assert!(stdout(&small).contains("writes: 10 records -> 2 data keys"));
}

#[test]
fn keygen_writes_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let uri = keygen(dir.path(), "k");
    assert!(uri.starts_with("local:///"), "{uri}");
    let path = dir.path().join("k");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let before = std::fs::read(&path).unwrap();
    let o = dekbox(&["keygen", "-o", path.to_str().unwrap()], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "existing key untouched"
    );
    let o = dekbox(&["keygen", "-o", path.to_str().unwrap(), "--force"], None);
    assert!(o.status.success());
    assert_ne!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn encrypt_decrypt_files_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k");
    let pt = dir.path().join("pt.bin");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&pt, &data).unwrap();
    for format in ["binary", "text"] {
        let ct = dir.path().join(format!("ct.{format}"));
        let o = dekbox(
            &[
                "encrypt",
                "--key",
                &key,
                "--context",
                "tenant=a",
                "--aad",
                "row-1",
                "--format",
                format,
                "-i",
                pt.to_str().unwrap(),
                "-o",
                ct.to_str().unwrap(),
            ],
            None,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let back = dir.path().join(format!("back.{format}"));
        let o = dekbox(
            &[
                "decrypt",
                "--key",
                &key,
                "--context",
                "tenant=a",
                "--aad",
                "row-1",
                "-i",
                ct.to_str().unwrap(),
                "-o",
                back.to_str().unwrap(),
            ],
            None,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(std::fs::read(&back).unwrap(), data);
    }
    // Through pipes, text form by default.
    let o = dekbox(&["encrypt", "--key", &key], Some(b"piped secret"));
    let sealed = stdout(&o);
    assert!(sealed.starts_with("dekbox:v1:"));
    let o = dekbox(&["decrypt", "--key", &key], Some(sealed.as_bytes()));
    assert_eq!(o.stdout, b"piped secret");
}

#[test]
fn failures_write_nothing_and_exit_with_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k");
    let o = dekbox(
        &["encrypt", "--key", &key, "--context", "tenant=a"],
        Some(b"x"),
    );
    let sealed = o.stdout;
    let out = dir.path().join("out");

    // Wrong context: exit 3, no output file.
    let o = dekbox(
        &[
            "decrypt",
            "--key",
            &key,
            "--context",
            "tenant=b",
            "-o",
            out.to_str().unwrap(),
        ],
        Some(&sealed),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("authentication failed"));
    assert!(!out.exists());

    // Truncated: exit 4.
    let o = dekbox(
        &["decrypt", "--key", &key, "--context", "tenant=a"],
        Some(&sealed[..30]),
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(o.stdout.is_empty());

    // An existing output file is untouched when decryption fails.
    std::fs::write(&out, b"precious").unwrap();
    let o = dekbox(
        &["decrypt", "--key", &key, "-o", out.to_str().unwrap()],
        Some(&sealed),
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");

    // No key: exit 6 with a hint.
    let o = dekbox(&["encrypt"], Some(b"x"));
    assert_eq!(o.status.code(), Some(6));
    assert!(stderr(&o).contains("dekbox keygen"));

    // A different key file is a different URI: the message names a key this
    // configuration does not have.
    let other = keygen(dir.path(), "other");
    let o = dekbox(
        &["decrypt", "--key", &other, "--context", "tenant=a"],
        Some(&sealed),
    );
    assert_eq!(o.status.code(), Some(6));
    assert!(stderr(&o).contains("not in this keyring"), "{}", stderr(&o));

    // The same URI holding different key material: authentication failure.
    let path = key.strip_prefix("local://").unwrap();
    assert!(
        dekbox(&["keygen", "-o", path, "--force"], None)
            .status
            .success()
    );
    let o = dekbox(
        &["decrypt", "--key", &key, "--context", "tenant=a"],
        Some(&sealed),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn lines_mode_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k");
    let input = b"alice@example.com\nbob@example.com\ncarol@example.com\n";
    let o = dekbox(
        &["encrypt", "--key", &key, "--lines", "--context", "t=1"],
        Some(input),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let sealed = stdout(&o);
    assert_eq!(sealed.lines().count(), 3);
    assert!(sealed.lines().all(|l| l.starts_with("dekbox:v1:")));
    let o = dekbox(
        &["decrypt", "--key", &key, "--lines", "--context", "t=1"],
        Some(sealed.as_bytes()),
    );
    assert_eq!(o.stdout, input);
    // One bad line: nothing is written, the line is named.
    let mut bad = sealed.clone();
    bad.insert_str(sealed.find('\n').unwrap() + 1, "garbage\n");
    let out = dir.path().join("plain.txt");
    let o = dekbox(
        &[
            "decrypt",
            "--key",
            &key,
            "--lines",
            "--context",
            "t=1",
            "-o",
            out.to_str().unwrap(),
        ],
        Some(bad.as_bytes()),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn rewrap_in_place_moves_files_to_the_primary() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = keygen(dir.path(), "v1.key");
    let v2 = keygen(dir.path(), "v2.key");
    let kr1 = format!("v1={v1}");
    let kr2 = format!("v2={v2}");
    let mut files = vec![];
    for i in 0..5 {
        let f = dir.path().join(format!("secret{i}.dbx"));
        let o = dekbox(
            &[
                "encrypt",
                "--keyring",
                &kr1,
                "--context",
                "env=prod",
                "--format",
                "binary",
                "-o",
                f.to_str().unwrap(),
            ],
            Some(format!("secret {i}").as_bytes()),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        files.push(f);
    }
    let corrupt = dir.path().join("corrupt.dbx");
    std::fs::write(&corrupt, b"not sealed").unwrap();
    let mut args = vec![
        "rewrap",
        "--keyring",
        &kr1,
        "--keyring",
        &kr2,
        "--primary",
        "v2",
        "--context",
        "env=prod",
        "--in-place",
    ];
    let names: Vec<String> = files
        .iter()
        .map(|f| f.to_str().unwrap().to_string())
        .collect();
    args.extend(names.iter().map(String::as_str));
    args.push(corrupt.to_str().unwrap());
    let o = dekbox(&args, None);
    assert_eq!(o.status.code(), Some(1), "one file failed");
    assert!(
        stderr(&o).contains("rewrapped 5, already on the primary key 0, failed 1"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&corrupt).unwrap(), b"not sealed");
    for (i, f) in files.iter().enumerate() {
        let o = dekbox(&["inspect", "-i", f.to_str().unwrap()], None);
        assert!(stdout(&o).contains("key (label):"), "{}", stdout(&o));
        assert!(stdout(&o).contains(" v2"), "{}", stdout(&o));
        let o = dekbox(
            &[
                "decrypt",
                "--keyring",
                &kr2,
                "--context",
                "env=prod",
                "-i",
                f.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.stdout, format!("secret {i}").as_bytes());
    }
    // Second run: nothing to do.
    let o = dekbox(&args[..args.len() - 1], None);
    assert!(o.status.success());
    assert!(stderr(&o).contains("rewrapped 0, already on the primary key 5, failed 0"));
}

#[test]
fn inspect_shows_no_secrets() {
    let o = dekbox(
        &[
            "encrypt",
            "--key",
            "insecure-test-key",
            "--context",
            "tenant=a",
        ],
        Some(b"top secret value"),
    );
    assert!(stderr(&o).contains("insecure-test-key is public"));
    let sealed = o.stdout;
    let o = dekbox(&["inspect"], Some(&sealed));
    let out = stdout(&o);
    assert!(out.contains("version:         1"));
    assert!(out.contains("plaintext:       16 bytes"));
    assert!(out.contains("key commitment:  yes"));
    assert!(!out.contains("top secret"));
}

/// Security review finding 6: a key reference holding terminal escapes was
/// printed raw by `dekbox inspect`.
#[test]
fn inspect_never_prints_terminal_controls() {
    let o = dekbox(
        &[
            "encrypt",
            "--key",
            "insecure-test-key",
            "--format",
            "binary",
        ],
        Some(b"x"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let sealed = o.stdout;
    // Replace the key reference (kind, u16 length, name) after the 81-byte
    // fixed header with a label of the attacker's choosing.
    let name_len = u16::from_be_bytes([sealed[82], sealed[83]]) as usize;
    let rest = &sealed[84 + name_len..];
    let with_label = |label: &[u8]| {
        let mut m = sealed[..81].to_vec();
        m.push(0x01);
        m.extend_from_slice(&(label.len() as u16).to_be_bytes());
        m.extend_from_slice(label);
        m.extend_from_slice(rest);
        m
    };
    let controls = |out: &[u8]| {
        out.iter().any(|&b| b == 0x1b || b == 0x07) || out.windows(2).any(|w| w == [0xc2, 0x9b])
    };

    // ASCII controls: the message is malformed, and nothing of it is echoed.
    let o = dekbox(&["inspect"], Some(&with_label(b"\x1b]0;pwned\x07\x1b[2J")));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("control character"), "{}", stderr(&o));
    assert!(!controls(&o.stdout) && !controls(&o.stderr));

    // A C1 control (U+009B, CSI) is valid UTF-8 and parses; it is shown escaped.
    let o = dekbox(&["inspect"], Some(&with_label("v\u{9b}2J".as_bytes())));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!controls(&o.stdout), "{:?}", stdout(&o));
    assert!(stdout(&o).contains("v\\u{9b}2J"), "{}", stdout(&o));
}

/// Issue 16, finding 4: `keygen --force` truncated the existing path in place,
/// writing the new key into a symlink's target (readable by anyone who had
/// opened it before the chmod).
#[cfg(unix)]
#[test]
fn keygen_force_replaces_a_symlink_instead_of_writing_through_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("world-readable");
    std::fs::write(&target, b"someone else's file\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("dekbox.key");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    // Without --force an existing symlink (even a dangling one) is refused.
    let o = dekbox(&["keygen", "-o", link.to_str().unwrap()], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));

    let o = dekbox(&["keygen", "-o", link.to_str().unwrap(), "--force"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&target).unwrap(), b"someone else's file\n");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_file(), "the symlink was not replaced");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        stdout(&o).trim(),
        format!(
            "local://{}",
            std::fs::canonicalize(&link).unwrap().display()
        )
    );
}

/// Issue 16, finding 5: a key file other users can read is refused with a
/// configuration error that says how to fix it.
#[cfg(unix)]
#[test]
fn shared_key_files_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let uri = keygen(dir.path(), "k");
    std::fs::set_permissions(dir.path().join("k"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = dekbox(&["encrypt", "--key", &uri], Some(b"x"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    assert!(stderr(&o).contains("configuration error"), "{}", stderr(&o));
    let o = dekbox(&["encrypt", "--key", "local:///dev/zero"], Some(b"x"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
}

/// The key comes from DEKBOX_KEY when --key is not given (as in every binding),
/// with the same warning for the public test key; a label given twice is an error.
#[test]
fn key_from_the_environment_and_duplicate_labels() {
    let o = Command::new(env!("CARGO_BIN_EXE_dekbox"))
        .args(["encrypt"])
        .env("DEKBOX_KEY", "insecure-test-key")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("insecure-test-key is public"),
        "{}",
        stderr(&o)
    );
    let o = dekbox(
        &[
            "encrypt",
            "--keyring",
            "v1=insecure-test-key",
            "--keyring",
            "v1=insecure-test-key",
        ],
        Some(b"x"),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("given twice"), "{}", stderr(&o));
    let o = dekbox(&["encrypt"], Some(b"x"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("DEKBOX_KEY"), "{}", stderr(&o));
}

/// Root keys from the command line: `root create`, compact and
/// deterministic values, blind indexes, byte for byte the vectors of
/// tests/vectors/root-v1.json (whose root is wrapped by insecure-test-key).
#[test]
fn root_keys_compact_deterministic_and_blind_indexes() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/root-v1.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let token = vectors["root_token"].as_str().unwrap();
    let root = format!("r1={token}");
    let base = ["--key", "insecure-test-key", "--root", root.as_str()];
    let run = |extra: &[&str], input: &[u8]| {
        let args: Vec<&str> = extra.iter().copied().chain(base).collect();
        dekbox(&args, Some(input))
    };
    let unhex = |s: &str| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    let ctx_args = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .unwrap()
            .iter()
            .flat_map(|(k, v)| {
                [
                    "--context".to_string(),
                    format!("{k}={}", v.as_str().unwrap()),
                ]
            })
            .collect()
    };
    let mut checked = 0;
    for v in vectors["values"].as_array().unwrap() {
        let pt = unhex(v["plaintext"].as_str().unwrap());
        let aad = v["aad"].as_str().unwrap();
        let column = v["column"].as_str().unwrap();
        let mut args = vec![
            "encrypt".to_string(),
            "--column".into(),
            column.into(),
            "--aad-hex".into(),
            aad.into(),
        ];
        args.extend(ctx_args(&v["context"]));
        let binary = v["form"] == "binary";
        if binary {
            args.extend(["--format".into(), "binary".into()]);
        }
        let sealed = if binary {
            unhex(v["sealed"].as_str().unwrap())
        } else {
            v["sealed"].as_str().unwrap().as_bytes().to_vec()
        };
        // Every value opens; deterministic ones are reproduced exactly.
        let mut dargs = vec![
            "decrypt".to_string(),
            "--column".into(),
            column.into(),
            "--aad-hex".into(),
            aad.into(),
        ];
        dargs.extend(ctx_args(&v["context"]));
        let o = run(
            &dargs.iter().map(String::as_str).collect::<Vec<_>>(),
            &sealed,
        );
        assert!(o.status.success(), "{}: {}", v["name"], stderr(&o));
        assert_eq!(o.stdout, pt, "{}", v["name"]);
        if v["mode"] == "deterministic" {
            args.extend(["--mode".into(), "deterministic".into()]);
            let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &pt);
            assert!(o.status.success(), "{}", stderr(&o));
            assert_eq!(o.stdout.trim_ascii_end(), &sealed[..], "{}", v["name"]);
            checked += 1;
        }
        // The wrong column is the authentication error (exit 3).
        let mut wrong = dargs.clone();
        wrong[2] = format!("{column}x");
        let o = run(
            &wrong.iter().map(String::as_str).collect::<Vec<_>>(),
            &sealed,
        );
        assert_eq!(o.status.code(), Some(3), "{}", v["name"]);
    }
    assert_eq!(checked, 3);
    for v in vectors["blind_indexes"].as_array().unwrap() {
        let bits = v["bits"].to_string();
        let mut args = vec![
            "blind-index".to_string(),
            "--column".into(),
            v["column"].as_str().unwrap().into(),
            "--bits".into(),
            bits,
        ];
        args.extend(ctx_args(&v["context"]));
        if v["trim"] == true {
            args.push("--trim".into());
        }
        if v["casefold"] == true {
            args.push("--casefold".into());
        }
        if let Some(a) = v["argon2id"].as_object() {
            args.extend([
                "--argon2id".into(),
                format!("{},{}", a["t_cost"], a["m_cost"]),
            ]);
        }
        let o = run(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &unhex(v["value"].as_str().unwrap()),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            stdout(&o).trim(),
            v["index"].as_str().unwrap(),
            "{}",
            v["name"]
        );
    }
    // A new root, a compact value of 97 characters, and inspect.
    let o = dekbox(
        &[
            "root",
            "create",
            "--key",
            "insecure-test-key",
            "--label",
            "k2",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let t2 = stdout(&o).trim().to_string();
    assert!(t2.starts_with("dekbox:root:v1:k2:"));
    let root2 = format!("k2={t2}");
    let o = dekbox(
        &[
            "encrypt",
            "--key",
            "insecure-test-key",
            "--root",
            &root2,
            "--mode",
            "compact",
            "--column",
            "users.email",
        ],
        Some(b"ada@example.com!!"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim().len(), 97);
    let o2 = dekbox(&["inspect"], Some(stdout(&o).trim().as_bytes()));
    assert!(
        stdout(&o2).contains("root-keyed (compact)") && stdout(&o2).contains("root:            k2"),
        "{}",
        stdout(&o2)
    );
    // Without the root configured: a clear error.
    let o3 = dekbox(
        &[
            "decrypt",
            "--key",
            "insecure-test-key",
            "--column",
            "users.email",
        ],
        Some(stdout(&o).trim().as_bytes()),
    );
    assert_eq!(o3.status.code(), Some(6), "{}", stderr(&o3));
    assert!(
        stderr(&o3).contains("no root keys configured"),
        "{}",
        stderr(&o3)
    );
}
