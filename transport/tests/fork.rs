//! A forked child (Puma, gunicorn, multiprocessing) can keep using a Transport
//! its parent already used, and can drop it, without hanging: the parent's
//! HTTP client depends on a runtime thread that does not exist in the child.

#![cfg(unix)]

mod common;

use common::*;
use dekbox_core::env::MapEnvironment;
use dekbox_core::kms::aws::credentials::CredentialChain;
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
