//! The sans-IO operation model.
//!
//! Anything that may need a KMS is an [`Operation`]. The caller drives it:
//!
//! 1. call [`Operation::poll`] with the current time;
//! 2. on [`Step::Send`], send the request with any HTTP client and pass the
//!    answer to [`Operation::handle_response`];
//! 3. on [`Step::Wait`], wait about that long (another operation is fetching
//!    the same data key) and poll again;
//! 4. on [`Step::Run`], run the command (AWS `credential_process`) off any
//!    async executor's threads and pass its output to
//!    [`Operation::handle_process_output`];
//! 5. repeat until `poll` returns [`Step::Done`] or an error.
//!
//! If `handle_response` returns an error for which [`Error::is_retryable`] is
//! true (throttling, 5xx), the operation has not advanced: the next `poll`
//! builds the same request again (re-signed at the new `now`), so the driver
//! can back off and retry. Any other error is final. Likewise, polling again
//! without handing over a response (the driver retrying after a connection
//! error) re-issues the outstanding request. When the driver gives up on a
//! request, it calls [`Operation::handle_failure`].
//!
//! Operations that need no network (the local provider, a cache hit) return
//! `Done` from their first `poll`.

use crate::env::Environment;
use crate::http::{HttpRequest, HttpResponse};
use crate::{Error, Result, Timestamp};
use std::time::Duration;
use zeroize::Zeroizing;

/// A command an operation needs run (AWS `credential_process`), with its
/// standard output handed back through [`Operation::handle_process_output`].
/// It runs in the [`Environment`] the operation was configured with (the one
/// its credentials come from), never one the driver picks.
#[derive(Clone)]
pub struct ProcessRequest {
    /// The command line, run by `/bin/sh -c`.
    pub command: String,
    env: std::sync::Arc<dyn Environment>,
}

impl ProcessRequest {
    /// A command to run in `env`.
    pub fn new(command: impl Into<String>, env: std::sync::Arc<dyn Environment>) -> Self {
        Self {
            command: command.into(),
            env,
        }
    }

    /// Runs the command (blocking) and returns its standard output.
    pub fn run(&self) -> ProcessOutput {
        self.env.run_process(&self.command)
    }
}

impl std::fmt::Debug for ProcessRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A command line may carry secrets in its arguments.
        f.write_str("ProcessRequest { .. }")
    }
}

/// The output of a [`ProcessRequest`]: standard output, or why it failed.
pub type ProcessOutput = std::result::Result<Zeroizing<Vec<u8>>, String>;

/// What an operation needs next.
#[derive(Debug)]
pub enum Step<T> {
    /// Send this request and hand the response to [`Operation::handle_response`].
    Send(HttpRequest),
    /// Another operation is fetching the data key this one needs (so that
    /// concurrent cache misses make one KMS call): poll again after about this
    /// long. Nothing is outstanding.
    Wait(Duration),
    /// Run this command and hand its output to
    /// [`Operation::handle_process_output`]. Drivers run it where blocking
    /// is allowed (dekbox-transport: the caller's thread, or Tokio's blocking
    /// pool), never inside an async executor's worker.
    Run(ProcessRequest),
    /// Finished with this value.
    Done(T),
}

impl<T> Step<T> {
    /// `Ok(value)` for [`Step::Done`]; any other step, retyped, for an
    /// operation that wraps another one to pass on.
    pub fn into_done<U>(self) -> std::result::Result<T, Step<U>> {
        match self {
            Step::Done(v) => Ok(v),
            Step::Send(r) => Err(Step::Send(r)),
            Step::Wait(d) => Err(Step::Wait(d)),
            Step::Run(p) => Err(Step::Run(p)),
        }
    }
}

/// A state machine that yields HTTP requests and accepts their responses.
pub trait Operation: Send {
    /// What the operation produces.
    type Output;

    /// Advances the operation: the next request to send, or the result.
    ///
    /// After `Done` has been returned, further calls return
    /// [`Error::ApiMisuse`].
    fn poll(&mut self, now: Timestamp) -> Result<Step<Self::Output>>;

    /// Feeds the response to the request last returned by [`poll`](Self::poll).
    fn handle_response(&mut self, response: HttpResponse) -> Result<()>;

    /// Tells the operation that the request last returned by
    /// [`poll`](Self::poll) could not be sent or answered (connection refused,
    /// timeout), after the driver's own retries. The default gives up with the
    /// error; an operation for which that request was optional (an
    /// instance-metadata probe) may instead carry on, and then returns `Ok`.
    fn handle_failure(&mut self, error: Error) -> Result<()> {
        Err(error)
    }

    /// Feeds the output of the command last returned as [`Step::Run`].
    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        let _ = output;
        Err(Error::ApiMisuse("no process outstanding"))
    }
}

/// A boxed operation borrowing from `'a`.
pub type BoxOp<'a, T> = Box<dyn Operation<Output = T> + 'a>;

/// An operation that is already finished (used by providers that need no I/O).
pub struct Ready<T>(Option<Result<T>>);

impl<T> Ready<T> {
    /// Wraps a result.
    pub fn new(result: Result<T>) -> Self {
        Ready(Some(result))
    }

    /// Wraps a result and boxes it.
    pub fn boxed<'a>(result: Result<T>) -> BoxOp<'a, T>
    where
        T: Send + 'a,
    {
        Box::new(Ready::new(result))
    }
}

impl<T: Send> Operation for Ready<T> {
    type Output = T;

    fn poll(&mut self, _now: Timestamp) -> Result<Step<T>> {
        match self.0.take() {
            Some(r) => r.map(Step::Done),
            None => Err(Error::ApiMisuse("operation polled after completion")),
        }
    }

    fn handle_response(&mut self, _response: HttpResponse) -> Result<()> {
        Err(Error::ApiMisuse(
            "response given to an operation that sent no request",
        ))
    }
}

/// An operation whose result is passed through a function.
pub(crate) struct Map<'a, T, U> {
    inner: BoxOp<'a, T>,
    f: Option<Box<dyn FnOnce(T) -> Result<U> + Send + 'a>>,
}

impl<'a, T, U> Map<'a, T, U> {
    pub(crate) fn new(inner: BoxOp<'a, T>, f: impl FnOnce(T) -> Result<U> + Send + 'a) -> Self {
        Self {
            inner,
            f: Some(Box::new(f)),
        }
    }
}

impl<T, U: Send> Operation for Map<'_, T, U> {
    type Output = U;

    fn poll(&mut self, now: Timestamp) -> Result<Step<U>> {
        match self.inner.poll(now)?.into_done() {
            Ok(v) => match self.f.take() {
                Some(f) => f(v).map(Step::Done),
                None => Err(Error::ApiMisuse("operation polled after completion")),
            },
            Err(pass) => Ok(pass),
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        self.inner.handle_response(response)
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        self.inner.handle_failure(error)
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        self.inner.handle_process_output(output)
    }
}

/// Runs an operation to completion with a caller-supplied clock and sender.
///
/// This is the simplest possible driver: no retries, no timeouts, and a
/// [`Step::Wait`] just yields the thread before polling again. The
/// `dekbox-transport` crate has the production drivers; this one serves tests
/// and callers whose keys need no network.
pub fn drive<T>(
    op: &mut dyn Operation<Output = T>,
    mut now: impl FnMut() -> Timestamp,
    mut send: impl FnMut(HttpRequest) -> Result<HttpResponse>,
) -> Result<T> {
    loop {
        match op.poll(now())? {
            Step::Done(v) => return Ok(v),
            Step::Wait(_) => std::thread::yield_now(),
            Step::Send(req) => match send(req) {
                Ok(resp) => op.handle_response(resp)?,
                Err(e) => op.handle_failure(e)?,
            },
            Step::Run(_) => {
                return Err(Error::Config(
                    "this key runs a credential_process; drive it with dekbox-transport".into(),
                ));
            }
        }
    }
}

/// A sender for [`drive`] that refuses every request: for keys that never need
/// the network (local keys). A provider that does need it reports a
/// configuration error instead of hanging.
pub fn no_network(_req: HttpRequest) -> Result<HttpResponse> {
    Err(Error::Config(
        "this key needs a network transport; use dekbox-transport to drive it".into(),
    ))
}
