//! Plain-http requests (loopback KMS servers, instance metadata) never go
//! through a proxy, whatever the proxy variables say: a proxy would see
//! their tokens and data keys in clear. One test per binary, since it sets
//! the process's proxy variables.

mod common;

use common::*;
use dekbox_core::http::{HttpRequest, Method};
use dekbox_core::op::{Operation, Step};
use dekbox_core::{Error, Result, Timestamp};
use dekbox_transport::{RetryPolicy, Transport};

/// Sends one request and returns the status.
struct Get(Option<HttpRequest>, Option<u16>);

impl Operation for Get {
    type Output = u16;
    fn poll(&mut self, _now: Timestamp) -> Result<Step<u16>> {
        match (self.0.take(), self.1) {
            (_, Some(s)) => Ok(Step::Done(s)),
            (Some(r), None) => Ok(Step::Send(r)),
            (None, None) => Err(Error::ApiMisuse("no answer")),
        }
    }
    fn handle_response(&mut self, r: dekbox_core::http::HttpResponse) -> Result<()> {
        self.1 = Some(r.status);
        Ok(())
    }
}

#[test]
fn plain_http_goes_direct_even_with_a_proxy_configured() {
    let srv = FakeServer::start(|_| (200, "text/plain", b"ok".to_vec()));
    // A proxy that refuses every connection: anything sent to it fails.
    for var in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        // SAFETY: set before any thread of this test binary reads the
        // environment (one test in this binary).
        unsafe { std::env::set_var(var, "http://127.0.0.1:9") };
    }
    let t = Transport::new(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    });
    let status = t
        .run_blocking(&mut Get(
            Some(HttpRequest::new(Method::Get, format!("{}/x", srv.url))),
            None,
        ))
        .unwrap();
    assert_eq!(status, 200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt
        .block_on(t.run(&mut Get(
            Some(HttpRequest::new(Method::Get, format!("{}/y", srv.url))),
            None,
        )))
        .unwrap();
    assert_eq!(status, 200);
}
