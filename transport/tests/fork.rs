//! A forked child (Puma, gunicorn, multiprocessing) can keep using a Transport
//! its parent already used, and can drop it, without hanging: the parent's
//! HTTP client depends on a runtime thread that does not exist in the child.

#![cfg(unix)]

mod common;

use common::*;
use dekbox_core::env::MapEnvironment;
use dekbox_core::provider::aws::credentials::CredentialChain;
use dekbox_transport::{RetryPolicy, Transport};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn resolve(t: &Transport, url: &str) -> dekbox_core::Result<String> {
    let mut e = MapEnvironment::default();
    e.vars.insert(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
        format!("{url}/creds"),
    );
    e.vars
        .insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    let chain = CredentialChain::new(Arc::new(e), None, None);
    t.run_blocking(&mut chain.resolve())
        .map(|c| c.access_key_id)
}

#[test]
fn child_uses_and_drops_an_inherited_transport() {
    let srv = FakeServer::start(|_| {
        (
            200,
            "application/json",
            creds_json("ASIAFORK", "2099-01-01T00:00:00Z"),
        )
    });
    let t = Transport::new(RetryPolicy::default());
    assert_eq!(resolve(&t, &srv.url).unwrap(), "ASIAFORK"); // the parent's client now exists

    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = resolve(&t, &srv.url)
            .map(|k| k == "ASIAFORK")
            .unwrap_or(false);
        drop(t);
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let started = Instant::now();
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    // The parent's transport is unaffected.
    assert_eq!(resolve(&t, &srv.url).unwrap(), "ASIAFORK");
}

/// Waits for a forked child, killing it after `limit`; true if it exited 0.
fn child_succeeds_within(pid: libc::pid_t, limit: Duration) -> bool {
    let started = Instant::now();
    let mut status = 0;
    loop {
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        }
        if started.elapsed() > limit {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue 16, finding 1: the client's credential warm-up held a mutex across
/// the credential chain; a fork while another thread was in it left the
/// child a mutex nobody would ever unlock, and every call in the child hung.
#[test]
fn fork_during_credential_warm_up_does_not_hang_the_child() {
    use dekbox_core::{EncryptionContext, Form};
    use dekbox_transport::Client;
    // A credentials endpoint that takes 3 s to answer.
    let srv = FakeServer::start(|_| {
        std::thread::sleep(Duration::from_secs(3));
        (
            200,
            "application/json",
            creds_json("ASIASLOW", "2099-01-01T00:00:00Z"),
        )
    });
    let mut e = MapEnvironment::default();
    e.vars.insert(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
        format!("{}/creds", srv.url),
    );
    e.vars
        .insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    // A local primary key, and an AWS key being migrated from: every call
    // warms the AWS key's credentials first.
    let client = Arc::new(
        Client::builder()
            .labeled_key("new", "insecure-test-key")
            .labeled_key("old", "aws-kms://arn:aws:kms:us-east-1:111122223333:key/k")
            .primary("new")
            .environment(Arc::new(e))
            .build()
            .unwrap(),
    );
    let ctx = EncryptionContext::empty();
    let c = client.clone();
    let warming = std::thread::spawn(move || {
        c.encrypt(b"thread", &EncryptionContext::empty(), b"", Form::Binary)
            .is_ok()
    });
    std::thread::sleep(Duration::from_millis(500)); // thread A is inside the warm-up
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = client.encrypt(b"child", &ctx, b"", Form::Binary).is_ok();
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(
        child_succeeds_within(pid, Duration::from_secs(15)),
        "the forked child hung (or failed) in the credential warm-up"
    );
    assert!(warming.join().unwrap());
    assert!(client.encrypt(b"parent", &ctx, b"", Form::Binary).is_ok());
}
