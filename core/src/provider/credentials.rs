//! Credential machinery every remote provider shares, sans-IO: a chain of
//! sources tried in turn ([`Chain`]), a cache that refreshes ahead of expiry
//! ([`CredentialCache`]), and the state a KMS call keeps while it waits for
//! credentials ([`Credentialed`]).
//!
//! AWS keys (access keys and session tokens) and Google Cloud keys (OAuth
//! access tokens) both go through it: the credential type `C` differs, the
//! caching, the once-under-concurrency refresh and the way a failure falls
//! back to still-valid credentials do not.
//!
//! Refreshing: credentials are refreshed [`REFRESH_BEFORE_EXPIRY`] before
//! they expire (or, for credentials that live less than four times that, at
//! three quarters of their life). One caller refreshes; while it does, the others keep using
//! the current credentials, or, when there are none that are still valid
//! (the first call, or after an expiry), wait ([`Step::Wait`]) for the
//! refresher's result instead of each asking the token service. A refresher
//! that fails or is dropped (a cancelled call) hands the job to the next
//! caller at once; one that hangs is replaced after [`REFRESH_TIMEOUT`].

use crate::http::{HttpRequest, HttpResponse};
use crate::op::{BoxOp, Operation, ProcessOutput, ProcessRequest, Step};
use crate::random::fork_generation;
use crate::{Error, Result, Timestamp};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// Refresh credentials this long before they expire.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// A refresh that has not finished after this long is presumed lost, and
/// the next caller starts another.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a caller with no valid credentials waits before looking again
/// while another caller refreshes them.
const WAIT: Duration = Duration::from_millis(20);

/// Credentials are not handed out in the last this-long of their life (or
/// its last eighth, if shorter), so a request signed with them does not
/// arrive after they expired.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// Credentials that may expire.
pub trait Expiring: Clone + Send + Sync + 'static {
    /// When they stop being valid (`None`: never, as far as dekbox knows).
    fn expires_at(&self) -> Option<Timestamp>;
}

/// What a source does next.
pub enum SourceStep<C> {
    /// Send this request and pass the answer to [`Source::on_response`].
    Send(HttpRequest),
    /// Run this command and pass its output to [`Source::on_process_output`].
    Run(ProcessRequest),
    /// Found.
    Done(C),
    /// An answer showed this source does not apply here (a metadata
    /// address answered by something else): try the next.
    NotHere,
}

/// One place credentials may come from.
pub trait Source<C>: Send {
    /// A name for "tried ..." messages (`environment`, `instance metadata`).
    fn name(&self) -> &'static str;
    /// `None`: this source does not apply here; try the next.
    fn start(&mut self, now: Timestamp) -> Result<Option<SourceStep<C>>>;
    /// The answer to the request this source asked to send.
    fn on_response(&mut self, resp: HttpResponse, now: Timestamp) -> Result<SourceStep<C>>;
    /// The output of the command this source asked to run.
    fn on_process_output(&mut self, output: ProcessOutput) -> Result<SourceStep<C>> {
        let _ = output;
        Err(Error::ApiMisuse("no process outstanding"))
    }
    /// The request could not be sent. `Ok(None)`: the source does not apply.
    fn on_failure(&mut self, error: Error) -> Result<Option<SourceStep<C>>> {
        Err(error)
    }
}

/// A source that is known up front (explicit credentials).
pub struct Fixed<C>(pub Option<C>, pub &'static str);

impl<C: Send> Source<C> for Fixed<C> {
    fn name(&self) -> &'static str {
        self.1
    }
    fn start(&mut self, _now: Timestamp) -> Result<Option<SourceStep<C>>> {
        Ok(self.0.take().map(SourceStep::Done))
    }
    fn on_response(&mut self, _r: HttpResponse, _now: Timestamp) -> Result<SourceStep<C>> {
        Err(Error::ApiMisuse("no request outstanding"))
    }
}

/// Resolves credentials by trying each source in turn. See [`crate::op`]
/// for how to drive it.
pub struct Chain<C> {
    sources: VecDeque<Box<dyn Source<C>>>,
    current: Option<Box<dyn Source<C>>>,
    pending: Option<HttpRequest>,
    run: Option<ProcessRequest>,
    /// A source's final error, reported by the next `poll` (so callers treat
    /// it like any other failure of the chain, e.g. fall back to credentials
    /// that are still valid).
    failed: Option<Error>,
    last: Option<HttpRequest>,
    result: Option<C>,
    tried: Vec<&'static str>,
    none_found: fn(&[&'static str]) -> Error,
    now: Timestamp,
}

impl<C> Chain<C> {
    /// A chain over `sources`; `none_found` makes the error for a chain where
    /// no source applied, from the names of those tried.
    pub fn new(
        sources: VecDeque<Box<dyn Source<C>>>,
        none_found: fn(&[&'static str]) -> Error,
    ) -> Self {
        Self {
            sources,
            current: None,
            pending: None,
            run: None,
            failed: None,
            last: None,
            result: None,
            tried: Vec::new(),
            none_found,
            now: Timestamp::default(),
        }
    }

    fn apply(&mut self, step: Option<SourceStep<C>>) {
        match step {
            Some(SourceStep::Send(r)) => self.pending = Some(r),
            Some(SourceStep::Run(p)) => self.run = Some(p),
            Some(SourceStep::Done(c)) => {
                self.result = Some(c);
                self.current = None;
            }
            None | Some(SourceStep::NotHere) => {
                if let Some(src) = self.current.take() {
                    self.tried.push(src.name());
                }
            }
        }
    }
}

impl<C: Send> Operation for Chain<C> {
    type Output = C;

    fn poll(&mut self, now: Timestamp) -> Result<Step<C>> {
        self.now = now;
        loop {
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if let Some(c) = self.result.take() {
                return Ok(Step::Done(c));
            }
            if let Some(req) = self.pending.take() {
                self.last = Some(req.clone());
                return Ok(Step::Send(req));
            }
            if let Some(p) = &self.run {
                // Kept until its output arrives: polling again re-issues it.
                return Ok(Step::Run(p.clone()));
            }
            if self.current.is_some() {
                // Polled again without an answer: the driver is retrying.
                return match self.last.clone() {
                    Some(req) => Ok(Step::Send(req)),
                    None => Err(Error::ApiMisuse(
                        "credential source is waiting for a response",
                    )),
                };
            }
            let Some(mut src) = self.sources.pop_front() else {
                return Err((self.none_found)(&self.tried));
            };
            let step = src.start(now)?;
            self.current = Some(src);
            self.apply(step);
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        crate::http::check_response_size(&response)?;
        let src = self
            .current
            .as_mut()
            .ok_or(Error::ApiMisuse("no request outstanding"))?;
        match src.on_response(response, self.now) {
            Ok(step) => {
                self.apply(Some(step));
                Ok(())
            }
            Err(e) => {
                if e.is_retryable() {
                    self.pending = self.last.clone();
                } else {
                    self.current = None;
                }
                Err(e)
            }
        }
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        if self.run.take().is_none() {
            return Err(Error::ApiMisuse("no process outstanding"));
        }
        let src = self
            .current
            .as_mut()
            .ok_or(Error::ApiMisuse("no process outstanding"))?;
        match src.on_process_output(output) {
            Ok(step) => self.apply(Some(step)),
            Err(e) => {
                self.current = None;
                self.failed = Some(e);
            }
        }
        Ok(())
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        let src = self
            .current
            .as_mut()
            .ok_or(Error::ApiMisuse("no request outstanding"))?;
        match src.on_failure(error) {
            Ok(step) => {
                self.apply(step);
                Ok(())
            }
            Err(e) => {
                self.current = None;
                Err(e)
            }
        }
    }
}

/// Something that starts a resolution of credentials (a chain of sources).
pub trait Resolver<C>: Send + Sync {
    /// A fresh resolution.
    fn resolve(&self) -> BoxOp<'static, C>;
}

/// Credentials cached for a provider, refreshed ahead of expiry, once.
pub struct CredentialCache<C> {
    resolver: Box<dyn Resolver<C>>,
    state: Mutex<CacheState<C>>,
}

struct CacheState<C> {
    creds: Option<C>,
    /// When the cached credentials are due for a refresh.
    refresh_at: Option<Timestamp>,
    /// When they stop being handed out (a little before they expire).
    usable_until: Option<Timestamp>,
    /// When the refresh in progress began, and in which process (a child
    /// forked while its parent refreshed has nobody refreshing for it).
    refreshing_since: Option<(Timestamp, u64)>,
    /// An early refresh failed: until then, credentials that are still
    /// valid are used without trying again.
    retry_after: Option<Timestamp>,
}

/// What a caller should do to get credentials.
pub enum Acquire<C> {
    /// Use these.
    Ready(C),
    /// Resolve anew (then [`CredentialCache::store`] the result, or
    /// [`CredentialCache::abandon`] the attempt); the current credentials,
    /// if still valid, are the fallback.
    Refresh(BoxOp<'static, C>, Option<C>),
    /// Another caller is resolving and nothing valid is cached: ask again
    /// after this long.
    Wait(Duration),
}

impl<C: Expiring> CredentialCache<C> {
    /// An empty cache over a resolver.
    pub fn new(resolver: impl Resolver<C> + 'static) -> Self {
        Self {
            resolver: Box::new(resolver),
            state: Mutex::new(CacheState {
                creds: None,
                refresh_at: None,
                usable_until: None,
                refreshing_since: None,
                retry_after: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<C>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current credentials, or an instruction to refresh or to wait.
    pub fn acquire(&self, now: Timestamp) -> Acquire<C> {
        let fallback = {
            let mut s = self.lock();
            // Handed out only with a margin left, so a request signed with
            // them does not arrive after they expired.
            let usable = s.usable_until.is_none_or(|t| now < t);
            let valid = s.creds.as_ref().filter(|_| usable).cloned();
            let expiring = s.refresh_at.is_some_and(|at| now >= at)
                && s.retry_after.is_none_or(|at| now >= at);
            let someone_refreshing = s
                .refreshing_since
                .is_some_and(|(t, g)| g == fork_generation() && now.since(t) < REFRESH_TIMEOUT);
            match valid {
                Some(c) if !expiring || someone_refreshing => return Acquire::Ready(c),
                None if someone_refreshing => return Acquire::Wait(WAIT),
                fallback => {
                    s.refreshing_since = Some((now, fork_generation()));
                    fallback
                }
            }
        };
        // Built outside the lock (a fork meanwhile must not inherit it held).
        Acquire::Refresh(self.resolver.resolve(), fallback)
    }

    /// Forgets the cached credentials if `used` says they are the ones a
    /// service just refused (a revoked token), so the next caller resolves
    /// anew rather than using them until they expire.
    pub fn invalidate(&self, used: impl Fn(&C) -> bool) {
        let mut s = self.lock();
        if s.creds.as_ref().is_some_and(used) {
            s.creds = None;
            s.refresh_at = None;
            s.usable_until = None;
        }
    }

    /// Stores credentials resolved at `now`.
    pub fn store(&self, creds: C, now: Timestamp) {
        let mut s = self.lock();
        let before = |exp: Timestamp, d: Duration| {
            Timestamp::from_unix_millis(exp.as_unix_millis().saturating_sub(d.as_millis() as u64))
        };
        let life = creds.expires_at().map(|exp| (exp, exp.since(now)));
        s.refresh_at = life.map(|(exp, life)| before(exp, REFRESH_BEFORE_EXPIRY.min(life / 4)));
        s.usable_until = life.map(|(exp, life)| before(exp, EXPIRY_MARGIN.min(life / 8)));
        s.creds = Some(creds);
        s.refreshing_since = None;
        s.retry_after = None;
    }

    /// Gives up the refresh begun by [`acquire`](Self::acquire) at `started`
    /// (it failed, or its caller went away), so that the next caller
    /// starts one at once. A later refresh is left alone.
    pub fn abandon(&self, started: Timestamp) {
        let mut s = self.lock();
        if s.refreshing_since.is_some_and(|(t, _)| t == started) {
            s.refreshing_since = None;
        }
    }

    /// Like [`abandon`](Self::abandon), for a refresh that failed at `now`:
    /// credentials still valid are used for [`REFRESH_TIMEOUT`] before
    /// another refresh is tried.
    pub fn failed(&self, started: Timestamp, now: Timestamp) {
        let mut s = self.lock();
        if s.refreshing_since.is_some_and(|(t, _)| t == started) {
            s.refreshing_since = None;
            s.retry_after = Some(now.plus(REFRESH_TIMEOUT));
        }
    }
}

/// A refresh in progress within one call: abandoned on drop unless it
/// finished, so a cancelled call never leaves others waiting.
pub struct Refreshing<'a, C: Expiring> {
    cache: &'a CredentialCache<C>,
    op: BoxOp<'static, C>,
    fallback: Option<C>,
    started: Timestamp,
    /// The last time the call was polled (when a failure is recorded).
    last_poll: Timestamp,
    open: bool,
}

impl<C: Expiring> Refreshing<'_, C> {
    fn finish(&mut self) {
        if self.open {
            self.open = false;
            self.cache.abandon(self.started);
        }
    }

    fn fail(&mut self) {
        if self.open {
            self.open = false;
            self.cache.failed(self.started, self.last_poll);
        }
    }
}

impl<C: Expiring> Drop for Refreshing<'_, C> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Where a call stands with its credentials.
pub enum Credentialed<'a, C: Expiring> {
    /// Not asked yet (or told to wait).
    Need,
    /// Resolving them through the chain.
    Resolving(Refreshing<'a, C>),
    /// Have them.
    Have(C),
}

impl<'a, C: Expiring> Credentialed<'a, C> {
    /// Gets credentials from the cache, or advances the chain.
    /// `Ok(None)`: they are ready ([`Credentialed::get`]); `Ok(Some(step))`:
    /// pass this step (a request, a command, a wait) to the driver.
    pub fn advance<U>(
        &mut self,
        cache: &'a CredentialCache<C>,
        now: Timestamp,
    ) -> Result<Option<Step<U>>> {
        loop {
            match self {
                Credentialed::Have(_) => return Ok(None),
                Credentialed::Need => match cache.acquire(now) {
                    Acquire::Ready(c) => *self = Credentialed::Have(c),
                    Acquire::Wait(d) => return Ok(Some(Step::Wait(d))),
                    Acquire::Refresh(op, fallback) => {
                        *self = Credentialed::Resolving(Refreshing {
                            cache,
                            op,
                            fallback,
                            started: now,
                            last_poll: now,
                            open: true,
                        })
                    }
                },
                Credentialed::Resolving(r) => {
                    r.last_poll = now;
                    let step = r.op.poll(now);
                    match step {
                        // With valid credentials to fall back on, a refresh is
                        // asked once, briefly (no retries, a short timeout):
                        // the call is not made to wait on a token service that
                        // does not answer.
                        Ok(Step::Send(mut req)) => {
                            req.probe |= r.fallback.is_some();
                            return Ok(Some(Step::Send(req)));
                        }
                        Ok(Step::Run(p)) => return Ok(Some(Step::Run(p))),
                        // A chain never shares work with other operations.
                        Ok(Step::Wait(_)) => {
                            return Err(Error::ApiMisuse("credential chain asked to wait"));
                        }
                        Ok(Step::Done(c)) => {
                            r.open = false;
                            r.cache.store(c.clone(), now);
                            *self = Credentialed::Have(c);
                        }
                        Err(e) => {
                            r.fail();
                            match r.fallback.take() {
                                // Refreshing early failed; the current credentials
                                // are still valid, so carry on with them.
                                Some(c) => *self = Credentialed::Have(c),
                                None => {
                                    *self = Credentialed::Need;
                                    return Err(e);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The credentials, once [`advance`](Self::advance) returned `Ok(None)`.
    pub fn get(&self) -> Result<&C> {
        match self {
            Credentialed::Have(c) => Ok(c),
            _ => Err(Error::ApiMisuse("credentials not resolved")),
        }
    }

    /// Whether the chain has a request (or command) outstanding.
    pub fn resolving(&self) -> bool {
        matches!(self, Credentialed::Resolving(_))
    }

    /// Passes an answer to the chain. Call only while [`resolving`](Self::resolving).
    pub fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        self.forward(|op| op.handle_response(response), |e| !e.is_retryable())
    }

    /// Passes a transport failure to the chain.
    pub fn handle_failure(&mut self, error: Error) -> Result<()> {
        self.forward(|op| op.handle_failure(error), |_| true)
    }

    /// Passes a command's output to the chain.
    pub fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        self.forward(|op| op.handle_process_output(output), |_| true)
    }

    fn forward(
        &mut self,
        f: impl FnOnce(&mut BoxOp<'static, C>) -> Result<()>,
        ends: impl Fn(&Error) -> bool,
    ) -> Result<()> {
        let Credentialed::Resolving(r) = self else {
            return Err(Error::ApiMisuse("no credential request outstanding"));
        };
        let out = f(&mut r.op);
        let Err(e) = out else { return Ok(()) };
        if let Some(c) = r.fallback.take() {
            // An early refresh failed (an answer, or no answer), and the
            // current credentials are still valid: carry on with them
            // rather than fail the call or retry the token service on its
            // time.
            r.fail();
            *self = Credentialed::Have(c);
            return Ok(());
        }
        if ends(&e) {
            // The refresh is over: let the next caller start one now.
            r.fail();
        }
        Err(e)
    }
}

/// Resolves a cache's credentials (if they need it) and finishes: what a
/// provider's [`warm_up`](crate::provider::KeyProvider::warm_up) runs.
pub struct WarmUp<'a, C: Expiring> {
    cache: &'a CredentialCache<C>,
    state: Credentialed<'a, C>,
}

impl<'a, C: Expiring> WarmUp<'a, C> {
    /// Warms `cache`.
    pub fn new(cache: &'a CredentialCache<C>) -> Self {
        Self {
            cache,
            state: Credentialed::Need,
        }
    }
}

impl<C: Expiring> Operation for WarmUp<'_, C> {
    type Output = ();

    fn poll(&mut self, now: Timestamp) -> Result<Step<()>> {
        match self.state.advance(self.cache, now)? {
            Some(step) => Ok(step),
            None => Ok(Step::Done(())),
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        crate::http::check_response_size(&response)?;
        self.state.handle_response(response)
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        if !self.state.resolving() {
            return Err(error);
        }
        self.state.handle_failure(error)
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        self.state.handle_process_output(output)
    }
}

/// Builds a call's request from its credentials.
type RequestFn<'a, C> = Box<dyn Fn(&C, Timestamp) -> Result<HttpRequest> + Send + 'a>;
/// Reads a call's answer: `Ok(None)` means "send again with fresh
/// credentials" (the service refused them).
type AnswerFn<'a, C, T> = Box<dyn FnMut(&HttpResponse, &C) -> Result<Option<T>> + Send + 'a>;

/// One request to a KMS that needs credentials (AWS KMS, Cloud KMS): the
/// credentials from the cache (or the chain), the request built from them,
/// the answer read. A retryable error leaves it ready to send again, with
/// credentials taken from the cache afresh.
pub struct Call<'a, C: Expiring, T> {
    cache: &'a CredentialCache<C>,
    creds: Credentialed<'a, C>,
    request: RequestFn<'a, C>,
    answer: AnswerFn<'a, C, T>,
    awaiting: bool,
    result: Option<T>,
}

impl<'a, C: Expiring, T> Call<'a, C, T> {
    /// A call whose request `request` builds and whose answer `answer` reads.
    pub fn new(
        cache: &'a CredentialCache<C>,
        request: impl Fn(&C, Timestamp) -> Result<HttpRequest> + Send + 'a,
        answer: impl FnMut(&HttpResponse, &C) -> Result<Option<T>> + Send + 'a,
    ) -> Self {
        Self {
            cache,
            creds: Credentialed::Need,
            request: Box::new(request),
            answer: Box::new(answer),
            awaiting: false,
            result: None,
        }
    }
}

impl<C: Expiring, T: Send> Operation for Call<'_, C, T> {
    type Output = T;

    fn poll(&mut self, now: Timestamp) -> Result<Step<T>> {
        if let Some(v) = self.result.take() {
            return Ok(Step::Done(v));
        }
        if let Some(step) = self.creds.advance(self.cache, now)? {
            return Ok(step);
        }
        let req = (self.request)(self.creds.get()?, now)?;
        self.awaiting = true;
        Ok(Step::Send(req))
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        crate::http::check_response_size(&response)?;
        if self.creds.resolving() {
            return self.creds.handle_response(response);
        }
        if !self.awaiting {
            return Err(Error::ApiMisuse("no request outstanding"));
        }
        self.awaiting = false;
        let used = self.creds.get()?.clone();
        match (self.answer)(&response, &used) {
            Ok(Some(v)) => {
                self.result = Some(v);
                Ok(())
            }
            // Refused credentials: no result yet; the driver polls again and
            // the call goes out with fresh ones.
            Ok(None) => {
                self.creds = Credentialed::Need;
                Ok(())
            }
            Err(e) => {
                if e.is_retryable() {
                    self.creds = Credentialed::Need;
                }
                Err(e)
            }
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        if self.creds.resolving() {
            return self.creds.handle_failure(error);
        }
        Err(error)
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        self.creds.handle_process_output(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Ready;

    #[derive(Clone, Debug, PartialEq)]
    struct Token(&'static str, Option<Timestamp>);

    impl Expiring for Token {
        fn expires_at(&self) -> Option<Timestamp> {
            self.1
        }
    }

    struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Resolver<Token> for Counting {
        fn resolve(&self) -> BoxOp<'static, Token> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ready::boxed(Ok(Token("fresh", None)))
        }
    }

    fn cache() -> (
        CredentialCache<Token>,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (CredentialCache::new(Counting(n.clone())), n)
    }

    const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

    #[test]
    fn callers_without_credentials_wait_for_the_one_refreshing() {
        let (cache, n) = cache();
        let mut first: Credentialed<'_, Token> = Credentialed::Need;
        // Begin a refresh but do not finish it yet.
        let Acquire::Refresh(_, None) = cache.acquire(T0) else {
            panic!("the first caller refreshes");
        };
        for _ in 0..16 {
            assert!(matches!(
                Credentialed::<Token>::Need.advance::<()>(&cache, T0),
                Ok(Some(Step::Wait(_)))
            ));
        }
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A refresh presumed lost is taken over.
        let later = T0.plus(REFRESH_TIMEOUT);
        assert!(matches!(first.advance::<()>(&cache, later), Ok(None)));
        assert_eq!(first.get().unwrap().0, "fresh");
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_dropped_refresh_hands_over_at_once() {
        let (cache, n) = cache();
        let mut s: Credentialed<'_, Token> = Credentialed::Need;
        s.advance::<()>(&cache, T0).unwrap();
        // Resolved at once (Ready): stored, nothing refreshing.
        assert!(matches!(cache.acquire(T0), Acquire::Ready(_)));
        // Expired now: one caller starts a refresh, then goes away.
        cache.store(Token("old", Some(T0)), T0);
        let refreshing = Credentialed::Resolving(Refreshing {
            cache: &cache,
            op: Ready::boxed(Ok(Token("x", None))),
            fallback: None,
            started: T0,
            last_poll: T0,
            open: true,
        });
        cache.lock().refreshing_since = Some((T0, fork_generation()));
        assert!(matches!(cache.acquire(T0), Acquire::Wait(_)));
        drop(refreshing);
        assert!(matches!(cache.acquire(T0), Acquire::Refresh(_, None)));
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn expiring_credentials_are_used_while_one_caller_refreshes() {
        let (cache, _) = cache();
        let s = Duration::from_secs;
        // An hour to live: due five minutes before it expires.
        cache.store(Token("old", Some(T0.plus(s(3600)))), T0);
        assert!(matches!(
            cache.acquire(T0.plus(s(3299))),
            Acquire::Ready(Token("old", _))
        ));
        let due = T0.plus(s(3300));
        assert!(matches!(
            cache.acquire(due),
            Acquire::Refresh(_, Some(Token("old", _)))
        ));
        for _ in 0..4 {
            assert!(matches!(
                cache.acquire(due),
                Acquire::Ready(Token("old", _))
            ));
        }
        cache.abandon(due);
        assert!(matches!(cache.acquire(due), Acquire::Refresh(_, Some(_))));
    }

    #[test]
    fn short_lived_credentials_refresh_at_three_quarters_of_their_life() {
        let (cache, _) = cache();
        let s = Duration::from_secs;
        cache.store(Token("short", Some(T0.plus(s(60)))), T0);
        assert!(matches!(cache.acquire(T0.plus(s(44))), Acquire::Ready(_)));
        assert!(matches!(
            cache.acquire(T0.plus(s(45))),
            Acquire::Refresh(_, Some(_))
        ));
        cache.abandon(T0.plus(s(45)));
        // Never handed out in the last eighth of its life (7.5 s here).
        assert!(matches!(
            cache.acquire(T0.plus(s(52))),
            Acquire::Refresh(_, Some(_))
        ));
        cache.abandon(T0.plus(s(52)));
        assert!(matches!(
            cache.acquire(T0.plus(s(53))),
            Acquire::Refresh(_, None)
        ));
    }

    /// A token service that answers with an error.
    struct Refusing;

    impl Operation for Refusing {
        type Output = Token;
        fn poll(&mut self, _now: Timestamp) -> Result<Step<Token>> {
            Ok(Step::Send(HttpRequest::new(
                crate::http::Method::Post,
                "https://token.example/",
            )))
        }
        fn handle_response(&mut self, _r: HttpResponse) -> Result<()> {
            Err(Error::KmsUnavailable("token service down".into()))
        }
    }

    struct RefusingResolver;

    impl Resolver<Token> for RefusingResolver {
        fn resolve(&self) -> BoxOp<'static, Token> {
            Box::new(Refusing)
        }
    }

    fn unavailable() -> HttpResponse {
        HttpResponse {
            status: 503,
            headers: vec![],
            body: vec![],
        }
    }

    #[test]
    fn a_failed_early_refresh_carries_on_with_the_current_credentials() {
        let cache = CredentialCache::new(RefusingResolver);
        let s = Duration::from_secs;
        cache.store(Token("old", Some(T0.plus(s(3600)))), T0);
        let due = T0.plus(s(3400));
        let mut call: Credentialed<'_, Token> = Credentialed::Need;
        // With a fallback, the refresh is asked once and briefly.
        assert!(matches!(
            call.advance::<()>(&cache, due),
            Ok(Some(Step::Send(ref r))) if r.probe
        ));
        // The token service's failure does not fail the call...
        call.handle_response(unavailable()).unwrap();
        assert!(matches!(call.advance::<()>(&cache, due), Ok(None)));
        assert_eq!(call.get().unwrap().0, "old");
        // ... and is not tried again by every call for a while.
        assert!(matches!(cache.acquire(due.plus(s(1))), Acquire::Ready(_)));
        assert!(matches!(
            cache.acquire(due.plus(REFRESH_TIMEOUT)),
            Acquire::Refresh(_, Some(_))
        ));
        // Without credentials to fall back on, the failure is the call's,
        // and the next caller starts again at once.
        let empty = CredentialCache::new(RefusingResolver);
        let mut call: Credentialed<'_, Token> = Credentialed::Need;
        call.advance::<()>(&empty, T0).unwrap();
        assert!(call.handle_response(unavailable()).is_err());
        drop(call);
        assert!(matches!(empty.acquire(T0), Acquire::Refresh(_, None)));
    }

    #[test]
    fn a_token_service_that_does_not_answer_does_not_fail_the_call() {
        let cache = CredentialCache::new(RefusingResolver);
        let s = Duration::from_secs;
        cache.store(Token("old", Some(T0.plus(s(3600)))), T0);
        let due = T0.plus(s(3400));
        let mut call: Credentialed<'_, Token> = Credentialed::Need;
        call.advance::<()>(&cache, due).unwrap();
        call.handle_failure(Error::KmsUnavailable("connect timed out".into()))
            .unwrap();
        assert!(matches!(call.advance::<()>(&cache, due), Ok(None)));
        assert_eq!(call.get().unwrap().0, "old");
        // Without a fallback the request is an ordinary one (retried).
        let empty = CredentialCache::new(RefusingResolver);
        let mut call: Credentialed<'_, Token> = Credentialed::Need;
        assert!(matches!(
            call.advance::<()>(&empty, T0),
            Ok(Some(Step::Send(ref r))) if !r.probe
        ));
    }

    #[test]
    fn refused_credentials_are_dropped() {
        let (cache, _) = cache();
        cache.store(Token("revoked", None), T0);
        cache.invalidate(|t| t.0 == "other");
        assert!(matches!(cache.acquire(T0), Acquire::Ready(_)));
        cache.invalidate(|t| t.0 == "revoked");
        assert!(matches!(cache.acquire(T0), Acquire::Refresh(_, None)));
    }
}
