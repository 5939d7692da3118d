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
            None => {
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
    /// When the refresh in progress began, and in which process (a child
    /// forked while its parent refreshed has nobody refreshing for it).
    refreshing_since: Option<(Timestamp, u64)>,
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
                refreshing_since: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<C>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current credentials, or an instruction to refresh or to wait.
    pub fn acquire(&self, now: Timestamp) -> Acquire<C> {
        let mut s = self.lock();
        let valid = s
            .creds
            .as_ref()
            .filter(|c| c.expires_at().is_none_or(|exp| now < exp))
            .cloned();
        let expiring = s.refresh_at.is_some_and(|at| now >= at);
        let someone_refreshing = s
            .refreshing_since
            .is_some_and(|(t, g)| g == fork_generation() && now.since(t) < REFRESH_TIMEOUT);
        match valid {
            Some(c) if !expiring || someone_refreshing => Acquire::Ready(c),
            None if someone_refreshing => Acquire::Wait(WAIT),
            fallback => {
                s.refreshing_since = Some((now, fork_generation()));
                Acquire::Refresh(self.resolver.resolve(), fallback)
            }
        }
    }

    /// Stores credentials resolved at `now`.
    pub fn store(&self, creds: C, now: Timestamp) {
        let mut s = self.lock();
        s.refresh_at = creds.expires_at().map(|exp| {
            let life = exp.since(now);
            let early = REFRESH_BEFORE_EXPIRY.min(life / 4);
            Timestamp::from_unix_millis(
                exp.as_unix_millis()
                    .saturating_sub(early.as_millis() as u64),
            )
        });
        s.creds = Some(creds);
        s.refreshing_since = None;
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
}

/// A refresh in progress within one call: abandoned on drop unless it
/// finished, so a cancelled call never leaves others waiting.
pub struct Refreshing<'a, C: Expiring> {
    cache: &'a CredentialCache<C>,
    op: BoxOp<'static, C>,
    fallback: Option<C>,
    started: Timestamp,
    open: bool,
}

impl<C: Expiring> Refreshing<'_, C> {
    fn finish(&mut self) {
        if self.open {
            self.open = false;
            self.cache.abandon(self.started);
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
                            open: true,
                        })
                    }
                },
                Credentialed::Resolving(r) => match r.op.poll(now) {
                    Ok(Step::Send(req)) => return Ok(Some(Step::Send(req))),
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
                        r.finish();
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
                },
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
        if out.as_ref().is_err_and(ends) {
            // The refresh is over: let the next caller start one now.
            r.finish();
        }
        out
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
        cache.store(Token("short", Some(T0.plus(Duration::from_secs(4)))), T0);
        assert!(matches!(
            cache.acquire(T0.plus(Duration::from_millis(2999))),
            Acquire::Ready(_)
        ));
        assert!(matches!(
            cache.acquire(T0.plus(Duration::from_secs(3))),
            Acquire::Refresh(_, Some(_))
        ));
        // Never handed out once expired.
        cache.abandon(T0.plus(Duration::from_secs(3)));
        assert!(matches!(
            cache.acquire(T0.plus(Duration::from_secs(4))),
            Acquire::Refresh(_, None)
        ));
    }
}
