//! Drivers for `dekbox-core` operations over HTTP.

use crate::os::system_now;
use crate::per_process::PerProcess;
use bytes::Bytes;
use dekbox_core::http::{HttpRequest, HttpResponse, Method, SecretWriter};
use dekbox_core::op::{Operation, ProcessOutput, ProcessRequest, Step};
use dekbox_core::random::{SecureRandom, SystemRandom};
use dekbox_core::{Error, Result};
use std::time::Duration;
use web_time::Instant;
use zeroize::{Zeroize, Zeroizing};

/// Timeouts and retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry (doubles each time, with full jitter).
    pub base_delay: Duration,
    /// Longest single backoff.
    pub max_delay: Duration,
    /// Timeout for one HTTP exchange.
    pub request_timeout: Duration,
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
    /// Longest one operation may take, retries included.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            deadline: Duration::from_secs(30),
        }
    }
}

/// Timeout for discovery probes (instance metadata), which are never retried.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest answer accepted from a KMS or credential endpoint.
const MAX_RESPONSE: usize = dekbox_core::http::MAX_RESPONSE_BODY;

/// Sends operations' requests with retries, and runs the commands they ask
/// for (`credential_process`) where blocking is allowed: the caller's thread,
/// or Tokio's blocking pool. Cheap to share;
/// clients are created on first use and reuse their connections.
pub struct Transport {
    policy: RetryPolicy,
    #[cfg(not(target_arch = "wasm32"))]
    blocking: PerProcess<reqwest::blocking::Client>,
    nonblocking: PerProcess<reqwest::Client>,
    /// The same, never through a proxy: for plain-http requests (loopback
    /// servers, instance metadata), whose tokens and keys a proxy would
    /// see in clear, whatever the proxy settings say.
    #[cfg(not(target_arch = "wasm32"))]
    blocking_direct: PerProcess<reqwest::blocking::Client>,
    nonblocking_direct: PerProcess<reqwest::Client>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What to do after a failed exchange.
enum Next {
    RetryAfter(Duration),
    GiveUp(Error),
}

/// Retry bookkeeping for one operation, shared by both drivers.
struct Attempts {
    policy: RetryPolicy,
    started: Instant,
    attempt: u32,
}

impl Attempts {
    fn new(policy: &RetryPolicy) -> Self {
        Self {
            policy: policy.clone(),
            started: Instant::now(),
            attempt: 0,
        }
    }

    fn succeeded(&mut self) {
        self.attempt = 0;
    }

    /// Full jitter: a uniform delay in [0, min(max, base * 2^attempt)].
    fn after(&mut self, error: Error, probe: bool) -> Next {
        if probe || !error.is_retryable() {
            return Next::GiveUp(error);
        }
        self.attempt += 1;
        if self.attempt >= self.policy.max_attempts {
            return Next::GiveUp(error);
        }
        let cap = self
            .policy
            .base_delay
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.policy.max_delay);
        let mut r = [0u8; 8];
        let jitter = match SystemRandom.fill(&mut r) {
            Ok(()) => u64::from_le_bytes(r) % (cap.as_millis() as u64 + 1),
            Err(_) => cap.as_millis() as u64,
        };
        let delay = Duration::from_millis(jitter);
        if self.started.elapsed() + delay >= self.policy.deadline {
            return Next::GiveUp(error);
        }
        Next::RetryAfter(delay)
    }

    /// How long to wait while another operation fetches a shared data key;
    /// an error once the deadline has passed.
    fn wait(&self, asked: Duration) -> Result<Duration> {
        if self.started.elapsed() >= self.policy.deadline {
            return Err(Error::KmsUnavailable(
                "timed out waiting for another request for the same data key".into(),
            ));
        }
        Ok(asked.min(Duration::from_millis(50)))
    }

    fn timeout(&self, probe: bool) -> Duration {
        if probe {
            return PROBE_TIMEOUT;
        }
        let left = self.policy.deadline.saturating_sub(self.started.elapsed());
        self.policy
            .request_timeout
            .min(left)
            .max(Duration::from_millis(1))
    }
}

/// What a driver does next for an operation.
enum Action<T> {
    /// Send this request with this timeout, then report with [`Driving::sent`].
    Send(HttpRequest, Duration),
    /// Sleep, then ask again.
    Sleep(Duration),
    /// Run this command, then report with [`Driving::ran`].
    Run(ProcessRequest),
    /// Finished.
    Done(T),
}

/// The one retry state machine both drivers follow: they only do the I/O
/// (send, sleep, run) it asks for.
struct Driving<'o, O: ?Sized> {
    op: &'o mut O,
    attempts: Attempts,
    probe: bool,
}

impl<'o, T, O: Operation<Output = T> + ?Sized> Driving<'o, O> {
    fn new(op: &'o mut O, policy: &RetryPolicy) -> Self {
        Self {
            op,
            attempts: Attempts::new(policy),
            probe: false,
        }
    }

    fn next(&mut self) -> Result<Action<T>> {
        Ok(match self.op.poll(system_now())? {
            Step::Done(v) => Action::Done(v),
            Step::Wait(d) => Action::Sleep(self.attempts.wait(d)?),
            Step::Run(p) => Action::Run(p),
            Step::Send(req) => {
                self.probe = req.probe;
                let timeout = self.attempts.timeout(self.probe);
                Action::Send(req, timeout)
            }
        })
    }

    /// Reports an exchange; `Some(delay)` means back off that long first.
    fn sent(&mut self, outcome: Result<HttpResponse>) -> Result<Option<Duration>> {
        let (error, unsent) = match outcome {
            Ok(resp) => match self.op.handle_response(resp) {
                Ok(()) => {
                    self.attempts.succeeded();
                    return Ok(None);
                }
                Err(e) => (e, false),
            },
            Err(e) => (e, true),
        };
        match self.attempts.after(error, self.probe) {
            Next::RetryAfter(d) => Ok(Some(d)),
            // A request that could not be sent at all: the operation may carry
            // on without it (an instance-metadata probe).
            Next::GiveUp(e) if unsent => {
                self.op.handle_failure(e)?;
                self.attempts.succeeded();
                Ok(None)
            }
            Next::GiveUp(e) => Err(e),
        }
    }

    fn ran(&mut self, output: ProcessOutput) -> Result<()> {
        self.op.handle_process_output(output)
    }
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
    }
}

fn transport_error(e: &reqwest::Error, url: &str) -> Error {
    if e.is_builder() {
        return Error::Config(format!("cannot build a request for {url}: {e}"));
    }
    #[cfg(not(target_arch = "wasm32"))]
    let connect = e.is_connect();
    #[cfg(target_arch = "wasm32")]
    let connect = false;
    let what = if e.is_timeout() {
        "timed out"
    } else if connect {
        "connection failed"
    } else {
        "transport error"
    };
    Error::KmsUnavailable(format!("{what} for {url}"))
}

fn too_large(url: &str) -> Error {
    Error::KmsUnavailable(format!(
        "answer from {url} is larger than {MAX_RESPONSE} bytes"
    ))
}

/// Redirects are never followed: a KMS or credential endpoint has no reason
/// to send one, and following it would resend a body that may hold a data key
/// (and the session token) to another host, possibly over plain http.
fn redirect_refused(status: u16, url: &str) -> Error {
    Error::Kms {
        code: format!("HTTP {status}"),
        message: format!("{url} answered with a redirect, which dekbox does not follow"),
    }
}

/// A request body that is wiped when the HTTP stack lets go of it: request
/// bodies can hold a plaintext data key (a KMS `Encrypt` of a data key) or a
/// web identity token.
fn secret_body(body: &mut Vec<u8>) -> Bytes {
    Bytes::from_owner(Zeroizing::new(std::mem::take(body)))
}

/// A buffer for an answer body: it wipes every allocation it outgrows (a KMS
/// `Decrypt` answer holds a plaintext data key). Callers stop it at
/// [`MAX_RESPONSE`] with [`append`].
fn body_buffer(announced: Option<u64>) -> SecretWriter {
    SecretWriter::with_capacity(announced.map_or(0, |n| n.min(MAX_RESPONSE as u64) as usize))
}

/// Appends received bytes to `body`, refusing to grow past [`MAX_RESPONSE`].
fn append(body: &mut SecretWriter, bytes: &[u8], url: &str) -> Result<()> {
    use std::io::Write as _;
    if body.len() + bytes.len() > MAX_RESPONSE {
        return Err(too_large(url));
    }
    // Writing to memory cannot fail.
    let _ = body.write_all(bytes);
    Ok(())
}

/// Appends a received chunk and wipes it if nothing else holds it. (Chunks
/// that still share the HTTP stack's read buffer cannot be wiped from here.)
fn append_chunk(body: &mut SecretWriter, chunk: Bytes, url: &str) -> Result<()> {
    let r = append(body, &chunk, url);
    if let Ok(mut owned) = chunk.try_into_mut() {
        owned.zeroize();
    }
    r
}

impl Transport {
    /// A transport with this policy.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            #[cfg(not(target_arch = "wasm32"))]
            blocking: PerProcess::default(),
            nonblocking: PerProcess::default(),
            #[cfg(not(target_arch = "wasm32"))]
            blocking_direct: PerProcess::default(),
            nonblocking_direct: PerProcess::default(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Runs an operation to completion on this thread.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_blocking<T>(&self, op: &mut dyn Operation<Output = T>) -> Result<T> {
        let mut d = Driving::new(op, &self.policy);
        loop {
            match d.next()? {
                Action::Done(v) => return Ok(v),
                Action::Sleep(t) => std::thread::sleep(t),
                Action::Send(req, timeout) => {
                    let outcome = self.send_blocking(req, timeout);
                    if let Some(t) = d.sent(outcome)? {
                        std::thread::sleep(t);
                    }
                }
                Action::Run(p) => d.ran(p.run())?,
            }
        }
    }

    /// Runs an operation to completion asynchronously (needs a Tokio runtime;
    /// commands run on its blocking pool).
    pub async fn run<T>(&self, op: &mut (dyn Operation<Output = T> + Send)) -> Result<T> {
        let mut d = Driving::new(op, &self.policy);
        loop {
            match d.next()? {
                Action::Done(v) => return Ok(v),
                Action::Sleep(t) => sleep(t).await,
                Action::Send(req, timeout) => {
                    let outcome = self.send(req, timeout).await;
                    if let Some(t) = d.sent(outcome)? {
                        sleep(t).await;
                    }
                }
                Action::Run(p) => d.ran(run_process(p).await)?,
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn send_blocking(&self, mut req: HttpRequest, timeout: Duration) -> Result<HttpResponse> {
        use std::io::Read as _;
        let direct = plain_http(&req.url);
        let cell = if direct {
            &self.blocking_direct
        } else {
            &self.blocking
        };
        let client = cell.get(|| {
            let builder = reqwest::blocking::Client::builder()
                .connect_timeout(self.policy.connect_timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none());
            let builder = if direct { builder.no_proxy() } else { builder };
            builder
                .build()
                .map_err(|e| Error::Config(format!("cannot start the HTTP client: {e}")))
        })?;
        let url = req.url.clone();
        let mut b = client
            .request(method(req.method), &req.url)
            .timeout(timeout);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        let mut resp = b
            .body(reqwest::blocking::Body::from(secret_body(&mut req.body)))
            .send()
            .map_err(|e| transport_error(&e, &url))?;
        let (status, headers) =
            check_head(resp.status(), resp.content_length(), resp.headers(), &url)?;
        // Through a fixed, wiped buffer into one that wipes what it outgrows,
        // stopping at the cap whatever the peer announced.
        let mut body = body_buffer(resp.content_length());
        let mut buf = Zeroizing::new([0u8; 8192]);
        loop {
            let n = match resp.read(&mut buf[..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(&e, &url)),
            };
            append(&mut body, &buf[..n], &url)?;
        }
        Ok(response(status, headers, body.into_inner()))
    }

    async fn send(&self, mut req: HttpRequest, timeout: Duration) -> Result<HttpResponse> {
        let direct = plain_http(&req.url);
        let cell = if direct {
            &self.nonblocking_direct
        } else {
            &self.nonblocking
        };
        let client = cell.get(|| {
            let builder = reqwest::Client::builder();
            #[cfg(not(target_arch = "wasm32"))]
            let builder = builder
                .connect_timeout(self.policy.connect_timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none());
            #[cfg(not(target_arch = "wasm32"))]
            let builder = if direct { builder.no_proxy() } else { builder };
            builder
                .build()
                .map_err(|e| Error::Config(format!("cannot start the HTTP client: {e}")))
        })?;
        let url = req.url.clone();
        let mut b = client
            .request(method(req.method), &req.url)
            .timeout(timeout);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        let resp = b
            .body(secret_body(&mut req.body))
            .send()
            .await
            .map_err(|e| transport_error(&e, &url))?;
        let (status, headers) =
            check_head(resp.status(), resp.content_length(), resp.headers(), &url)?;
        let body = read_body(resp, &url).await?;
        Ok(response(status, headers, body.into_inner()))
    }
}

/// Whether a request goes out as plain http (never sent through a proxy).
fn plain_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// Runs a command on Tokio's blocking pool, off the executor's workers.
#[cfg(not(target_arch = "wasm32"))]
async fn run_process(p: ProcessRequest) -> ProcessOutput {
    tokio::task::spawn_blocking(move || p.run())
        .await
        .unwrap_or_else(|e| Err(format!("the command's thread failed: {e}")))
}

#[cfg(target_arch = "wasm32")]
async fn run_process(_: ProcessRequest) -> ProcessOutput {
    Err("a browser cannot run credential_process".into())
}

pub(crate) async fn sleep(d: Duration) {
    #[cfg(not(target_arch = "wasm32"))]
    tokio::time::sleep(d).await;
    #[cfg(target_arch = "wasm32")]
    gloo_timers::future::sleep(d).await;
}

fn header_pairs(h: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Status and headers of an answer, refusing redirects and answers that
/// announce more than [`MAX_RESPONSE`] bytes before reading any body.
fn check_head(
    status: reqwest::StatusCode,
    announced: Option<u64>,
    headers: &reqwest::header::HeaderMap,
    url: &str,
) -> Result<(u16, Vec<(String, String)>)> {
    if status.is_redirection() {
        return Err(redirect_refused(status.as_u16(), url));
    }
    if announced.is_some_and(|n| n > MAX_RESPONSE as u64) {
        return Err(too_large(url));
    }
    Ok((status.as_u16(), header_pairs(headers)))
}

/// Reads an answer chunk by chunk, stopping at the cap: a peer that announces
/// no length (chunked) cannot make us buffer more than [`MAX_RESPONSE`].
#[cfg(not(target_arch = "wasm32"))]
async fn read_body(mut resp: reqwest::Response, url: &str) -> Result<SecretWriter> {
    let mut body = body_buffer(resp.content_length());
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&e, url))? {
        append_chunk(&mut body, chunk, url)?;
    }
    Ok(body)
}

/// In the browser, `fetch` hands over the whole answer; it is checked
/// against the cap all the same.
#[cfg(target_arch = "wasm32")]
async fn read_body(resp: reqwest::Response, url: &str) -> Result<SecretWriter> {
    let bytes = resp.bytes().await.map_err(|e| transport_error(&e, url))?;
    let mut body = body_buffer(Some(bytes.len() as u64));
    append_chunk(&mut body, bytes, url)?;
    Ok(body)
}

#[cfg(not(target_arch = "wasm32"))]
fn read_error(e: &std::io::Error, url: &str) -> Error {
    let what = if e.kind() == std::io::ErrorKind::TimedOut {
        "timed out"
    } else {
        "transport error"
    };
    Error::KmsUnavailable(format!("{what} reading the answer from {url}"))
}

/// The response, its body moved (not copied) out of the zeroizing buffer;
/// `HttpResponse` wipes it on drop.
fn response(
    status: u16,
    headers: Vec<(String, String)>,
    mut body: Zeroizing<Vec<u8>>,
) -> HttpResponse {
    HttpResponse {
        status,
        headers,
        body: std::mem::take(&mut *body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bodies_leave_no_copy_in_the_request() {
        let mut body = b"{\"Plaintext\":\"c2VjcmV0\"}".to_vec();
        let sent = secret_body(&mut body);
        assert!(
            body.is_empty() && body.capacity() == 0,
            "the request kept the body"
        );
        assert_eq!(&sent[..], b"{\"Plaintext\":\"c2VjcmV0\"}");
    }

    #[test]
    fn answers_stop_at_the_cap() {
        let mut body = body_buffer(None);
        append_chunk(&mut body, Bytes::from(vec![1u8; MAX_RESPONSE - 1]), "u").unwrap();
        append_chunk(&mut body, Bytes::from(vec![2u8; 1]), "u").unwrap();
        assert!(append_chunk(&mut body, Bytes::from(vec![3u8; 1]), "u").is_err());
        assert_eq!(body.len(), MAX_RESPONSE);
    }
}
