//! Servers that misbehave on purpose: an answer that never ends, a redirect
//! to another host. (Security review findings 3 and 4.)

#![cfg(unix)]

mod common;

use common::*;
use dekbox_core::env::MapEnvironment;
use dekbox_core::provider::aws::AwsOptions;
use dekbox_core::provider::aws::sigv4::Credentials;
use dekbox_core::{EncryptionContext, Error, Form};
use dekbox_transport::{Client, RetryPolicy};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Most bytes the endless server sends on one connection before giving up
/// (it stops by itself; a client that buffers all of it has failed the test).
const ENDLESS_CAP: usize = 256 << 20;

/// A server whose every answer is a chunked body with no end (until
/// [`ENDLESS_CAP`] or the client hangs up). Returns its URL.
fn endless_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().take(64) {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    line.clear();
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = [b'A'; 64 * 1024];
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                let mut sent = 0;
                while sent < ENDLESS_CAP && conn.write_all(&framed).is_ok() {
                    sent += chunk.len();
                }
            });
        }
    });
    url
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn aws_client(endpoint: &str) -> Client {
    Client::builder()
        .key("aws-kms://arn:aws:kms:us-east-1:111122223333:key/k")
        .aws(AwsOptions {
            endpoint: Some(endpoint.into()),
            credentials: Some(Credentials::new("AKIDTEST", "secret", None, None, "test")),
            ..AwsOptions::default()
        })
        .environment(Arc::new(MapEnvironment::default()))
        .retry(RetryPolicy {
            max_attempts: 2,
            deadline: Duration::from_secs(20),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

fn too_large(r: dekbox_core::Result<Vec<u8>>) -> bool {
    matches!(r, Err(Error::KmsUnavailable(m)) if m.contains("larger than"))
}

#[test]
fn an_endless_chunked_answer_is_cut_off_at_the_cap() {
    let url = endless_server();
    let client = aws_client(&url);
    let ctx = EncryptionContext::empty();
    let before = peak_rss_kib();
    let started = Instant::now();
    let blocking = client.encrypt(b"x", &ctx, b"", Form::Binary);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nonblocking = rt.block_on(client.encrypt_async(b"x", &ctx, b"", Form::Binary));
    let took = started.elapsed();
    let grew_mib = (peak_rss_kib() - before) / 1024;
    assert!(too_large(blocking), "blocking driver");
    assert!(too_large(nonblocking), "async driver");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // Two attempts per driver, each stopped at 4 MiB (plus the HTTP stack's
    // buffers); buffering the whole stream would be 256 MiB per attempt.
    assert!(grew_mib < 64, "peak memory grew by {grew_mib} MiB");
}

#[test]
fn redirects_are_not_followed() {
    let target = FakeServer::start(|_| (200, "application/json", b"{}".to_vec()));
    let location = format!("{}/elsewhere", target.url);
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let redirector = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming().take(16) {
                let Ok(mut conn) = conn else { continue };
                h.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    line.clear();
                }
                let reply = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        url
    };
    let client = aws_client(&redirector);
    let ctx = EncryptionContext::empty();
    let redirect_error = |r: dekbox_core::Result<Vec<u8>>| matches!(r, Err(Error::Kms { code, .. }) if code == "HTTP 307");
    assert!(redirect_error(client.encrypt(
        b"x",
        &ctx,
        b"",
        Form::Binary
    )));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(redirect_error(rt.block_on(client.encrypt_async(
        b"x",
        &ctx,
        b"",
        Form::Binary
    ))));
    assert!(hits.load(Ordering::SeqCst) >= 2);
    assert!(
        target.recorded().is_empty(),
        "the redirect target was called: the body and token went to it"
    );
}
