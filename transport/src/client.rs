//! `Client`: envelope encryption with keys that may live in a KMS.

use crate::driver::{RetryPolicy, Transport};
use crate::os::{OsEnvironment, system_now};
use dekbox_core::cache::{CacheConfig, CacheStats};
use dekbox_core::env::Environment;
use dekbox_core::keyring::Keyring;
use dekbox_core::provider::aws::AwsOptions;
use dekbox_core::provider::{self, KeyProvider, ProviderOptions};
use dekbox_core::root::blind::IndexOptions;
use dekbox_core::root::value::Mode;
use dekbox_core::{
    DataKey, EncryptionContext, Engine, Error, Form, GeneratedKey, MessageKey, Options, Result,
    Rewrapped,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Envelope encryption over a keyring, with the network I/O done for you.
///
/// Build one per application and share it (`Send + Sync`): it holds the data
/// key caches and the HTTP connection pools. Every method has a blocking form
/// and an `_async` form (which needs a Tokio runtime).
///
/// ```no_run
/// use dekbox_transport::Client;
/// use dekbox_core::{EncryptionContext, Form};
///
/// let client = Client::builder()
///     .key("aws-kms://arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
///     .build()?;
/// let tenant = EncryptionContext::from_pairs([("tenant", "acme")])?;
/// let sealed = client.encrypt(b"card 4242", &tenant, b"cards/7", Form::Text)?;
/// assert_eq!(client.decrypt(&sealed, &tenant, b"cards/7")?, b"card 4242");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    engine: Engine,
    transport: Transport,
    warm_up: WarmUp,
}

/// The one-time credential warm-up, coordinated without holding a lock across
/// its network I/O: a caller records a claim (fork generation and start time)
/// under a short lock, releases it, resolves, and marks the warm-up done.
/// Others wait for a live claim a bounded time; a claim from another fork
/// generation was made by a thread that does not exist in this process, and a
/// forked child ignores it (it would otherwise block for good).
#[derive(Default)]
struct WarmUp {
    done: AtomicBool,
    claim: std::sync::Mutex<Option<(u64, web_time::Instant)>>,
}

/// What a caller of [`WarmUp::claim`] should do.
enum Warm {
    Done,
    Mine,
    Wait,
}

/// How long callers wait for another caller's warm-up before doing their own
/// (the warm-up is best effort; each operation resolves credentials anyway).
const WARM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often a waiting caller looks again.
const WARM_POLL: std::time::Duration = std::time::Duration::from_millis(5);

impl WarmUp {
    fn claim(&self) -> Warm {
        if self.done.load(Ordering::Acquire) {
            return Warm::Done;
        }
        let generation = dekbox_core::random::fork_generation();
        let mut claim = self.claim.lock().unwrap_or_else(|p| p.into_inner());
        if self.done.load(Ordering::Acquire) {
            return Warm::Done;
        }
        match *claim {
            Some((g, since)) if g == generation && since.elapsed() < WARM_WAIT => Warm::Wait,
            _ => {
                *claim = Some((generation, web_time::Instant::now()));
                Warm::Mine
            }
        }
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Release);
        *self.claim.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("engine", &self.engine)
            .field("retry", self.transport.policy())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    keys: Vec<(Option<String>, KeySpec)>,
    primary: Option<String>,
    provider_options: ProviderOptions,
    options: Options,
    policy: RetryPolicy,
    env: Arc<dyn Environment>,
    roots: std::collections::BTreeMap<String, String>,
    primary_root: Option<String>,
}

enum KeySpec {
    Uri(String),
    Provider(Arc<dyn KeyProvider>),
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            primary: None,
            provider_options: ProviderOptions::default(),
            options: Options::default(),
            policy: RetryPolicy::default(),
            env: Arc::new(OsEnvironment),
            roots: Default::default(),
            primary_root: None,
        }
    }
}

impl ClientBuilder {
    /// Uses one key, named in headers by its URI.
    pub fn key(mut self, uri: impl Into<String>) -> Self {
        self.keys.push((None, KeySpec::Uri(uri.into())));
        self
    }

    /// Adds a labelled keyring entry.
    pub fn labeled_key(mut self, label: impl Into<String>, uri: impl Into<String>) -> Self {
        self.keys
            .push((Some(label.into()), KeySpec::Uri(uri.into())));
        self
    }

    /// Adds an already-built provider (labelled, or the single unlabelled key).
    pub fn provider(mut self, label: Option<String>, provider: Arc<dyn KeyProvider>) -> Self {
        self.keys.push((label, KeySpec::Provider(provider)));
        self
    }

    /// The label new data is sealed under.
    pub fn primary(mut self, label: impl Into<String>) -> Self {
        self.primary = Some(label.into());
        self
    }

    /// Options for `aws-kms://` keys (endpoint, region, credentials, ...).
    pub fn aws(mut self, aws: AwsOptions) -> Self {
        self.provider_options.aws = aws;
        self
    }

    /// Options for `gcp-kms://` keys (endpoint, an access token).
    pub fn gcp(mut self, gcp: dekbox_core::provider::gcp::GcpOptions) -> Self {
        self.provider_options.gcp = gcp;
        self
    }

    /// Cache limits.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.options.cache = cache;
        self
    }

    /// Engine options (compatibility forms, size limit, cache).
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Timeouts and retries.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where environment variables and files come from (tests).
    pub fn environment(mut self, env: Arc<dyn Environment>) -> Self {
        self.env = env;
        self
    }

    /// Root keys: label → token, and the primary root (see
    /// [`dekbox_core::root`]). Each is unwrapped on first use.
    pub fn roots(
        mut self,
        tokens: std::collections::BTreeMap<String, String>,
        primary: Option<String>,
    ) -> Self {
        self.roots = tokens;
        self.primary_root = primary;
        self
    }

    /// Resolves the keys (no network I/O) and builds the client.
    pub fn build(self) -> Result<Client> {
        let mut resolved = Vec::with_capacity(self.keys.len());
        for (label, spec) in self.keys {
            let p = match spec {
                KeySpec::Uri(uri) => {
                    provider::from_uri(&uri, self.env.clone(), &self.provider_options)?
                }
                KeySpec::Provider(p) => p,
            };
            resolved.push((label, p));
        }
        let keyring = match resolved.len() {
            0 => return Err(Error::Config("a client needs at least one key".into())),
            1 if resolved[0].0.is_none() => {
                if self.primary.is_some() {
                    return Err(Error::Config(
                        "primary names a label, but the key is unlabelled".into(),
                    ));
                }
                Keyring::single(resolved.remove(0).1)
            }
            _ => {
                let mut b = Keyring::builder();
                for (label, p) in resolved {
                    let label = label.ok_or_else(|| {
                        Error::Config("with several keys, every key needs a label".into())
                    })?;
                    b = b.add(label, p);
                }
                if let Some(p) = self.primary {
                    b = b.primary(p);
                }
                b.build()?
            }
        };
        let engine = Engine::builder()
            .keyring(keyring)
            .options(self.options)
            .roots(self.roots, self.primary_root)
            .build()?;
        Ok(Client {
            engine,
            transport: Transport::new(self.policy),
            warm_up: WarmUp::default(),
        })
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The underlying sans-IO engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The transport (retry policy).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Cache and provider counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.engine.cache_stats()
    }

    /// Resolves credentials for every AWS key once, so that concurrent first
    /// calls do not each walk the credential chain (see [`WarmUp`]: no lock
    /// is held while it runs). Later refreshes happen ahead of expiry inside
    /// the operations.
    ///
    /// Best effort: a failure here fails nothing. An operation that really
    /// needs the key resolves (and reports) credentials itself, so a keyring
    /// holding an AWS key this machine cannot reach still serves its other keys.
    #[cfg(not(target_arch = "wasm32"))]
    fn warm_blocking(&self) -> Result<()> {
        loop {
            match self.warm_up.claim() {
                Warm::Done => return Ok(()),
                Warm::Wait => std::thread::sleep(WARM_POLL),
                Warm::Mine => {
                    for e in self.engine.keyring().entries() {
                        if let Some(mut op) = e.provider().warm_up() {
                            let _ = self.transport.run_blocking(&mut *op);
                        }
                    }
                    self.warm_up.finish();
                    return Ok(());
                }
            }
        }
    }

    async fn warm(&self) -> Result<()> {
        loop {
            match self.warm_up.claim() {
                Warm::Done => return Ok(()),
                Warm::Wait => crate::driver::sleep(WARM_POLL).await,
                Warm::Mine => {
                    for e in self.engine.keyring().entries() {
                        if let Some(mut op) = e.provider().warm_up() {
                            let _ = self.transport.run(&mut *op).await;
                        }
                    }
                    self.warm_up.finish();
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Client {
    /// Seals `plaintext` under the primary key, bound to `context` and `aad`.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
    ) -> Result<Vec<u8>> {
        if let Some(r) = self
            .engine
            .encrypt_cached(plaintext, context, aad, form, system_now())
        {
            return r;
        }
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut self.engine.encrypt(plaintext, context, aad, form))
    }

    /// Opens a sealed value (binary, text, or an enabled compatibility form).
    pub fn decrypt(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        if let Some(r) = self
            .engine
            .decrypt_cached(sealed, context, aad, system_now())
        {
            return r;
        }
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut self.engine.decrypt(sealed, context, aad))
    }

    /// Moves a sealed value to the primary key without re-encrypting its data.
    pub fn rewrap(&self, sealed: &[u8], context: &EncryptionContext) -> Result<Rewrapped> {
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut self.engine.rewrap(sealed, context))
    }

    /// A message's data key, to hand to a client without KMS access; see
    /// [`Engine::message_data_key`].
    pub fn message_data_key(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
    ) -> Result<MessageKey> {
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut self.engine.message_data_key(sealed, context))
    }

    /// A fresh message data key for a client to seal with; see
    /// [`Engine::new_message_data_key`].
    pub fn new_message_data_key(&self, context: &EncryptionContext) -> Result<MessageKey> {
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut *self.engine.new_message_data_key(context))
    }

    /// A fresh data key under the primary key (not cached).
    pub fn generate_data_key(&self, context: &EncryptionContext) -> Result<GeneratedKey> {
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut *self.engine.generate_data_key(context))
    }

    /// A cached data key for another cipher, and its token; see
    /// [`Engine::raw_data_key`].
    pub fn raw_data_key(&self, context: &EncryptionContext) -> Result<dekbox_core::RawDataKey> {
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut self.engine.raw_data_key(context))
    }

    /// The data key of a token from [`raw_data_key`](Self::raw_data_key).
    pub fn open_raw_data_key(&self, token: &[u8], context: &EncryptionContext) -> Result<DataKey> {
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut self.engine.open_raw_data_key(token, context))
    }

    /// Unwraps a data key wrapped by keyring key `label` (or the primary).
    pub fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        label: Option<&str>,
    ) -> Result<DataKey> {
        self.warm_blocking()?;
        let mut op = self.engine.unwrap_data_key(wrapped, context, label);
        self.transport.run_blocking(&mut *op)
    }

    /// Seals many values under one context: after the first, each reuses the
    /// cached data key, so a batch costs at most one KMS call. `aads`, if
    /// given, has one entry per plaintext.
    pub fn encrypt_many<P: AsRef<[u8]>>(
        &self,
        plaintexts: &[P],
        context: &EncryptionContext,
        aads: Option<&[&[u8]]>,
        form: Form,
    ) -> Result<Vec<Vec<u8>>> {
        check_batch(plaintexts.len(), aads)?;
        check_sizes(plaintexts, self.engine.options().max_plaintext)?;
        plaintexts
            .iter()
            .enumerate()
            .map(|(i, p)| self.encrypt(p.as_ref(), context, aad_at(aads, i), form))
            .collect()
    }

    /// Opens many values; one result per value, so a bad row does not hide
    /// the good ones. Data keys not cached yet are first unwrapped in batch
    /// requests where the KMS has a batch API (Vault transit), so values
    /// under many data keys cost one request per 128 keys, not one each.
    pub fn decrypt_many<S: AsRef<[u8]>>(
        &self,
        sealed: &[S],
        context: &EncryptionContext,
        aads: Option<&[&[u8]]>,
    ) -> Result<Vec<Result<Vec<u8>>>> {
        check_batch(sealed.len(), aads)?;
        let prefetch = self.engine.prefetch_unwraps(sealed, context, system_now());
        // An optimisation only: what it could not unwrap, the values below
        // unwrap (and report) one by one.
        if !prefetch.is_empty() && self.warm_blocking().is_ok() {
            for mut op in prefetch {
                let _ = self.transport.run_blocking(&mut op);
            }
        }
        Ok(sealed
            .iter()
            .enumerate()
            .map(|(i, s)| self.decrypt(s.as_ref(), context, aad_at(aads, i)))
            .collect())
    }
    /// A new root key wrapped by keyring key `key` (a label; `None`: the
    /// primary), as a `dekbox:root:v1:` token; see [`Engine::create_root`].
    pub fn create_root(&self, label: &str, key: Option<&str>) -> Result<String> {
        self.warm_blocking()?;
        self.transport
            .run_blocking(&mut *self.engine.create_root(label, key))
    }

    /// Seals a compact or deterministic value under the primary root for
    /// (`context`, `column`, `aad`); see [`dekbox_core::root::value`].
    pub fn encrypt_compact(
        &self,
        mode: Mode,
        plaintext: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
        form: Form,
    ) -> Result<Vec<u8>> {
        self.warm_blocking()?;
        let mut op = self
            .engine
            .encrypt_root_value(mode, plaintext, context, column, aad, form);
        self.transport.run_blocking(&mut *op)
    }

    /// Opens a compact or deterministic value with the root it names.
    pub fn decrypt_compact(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        self.warm_blocking()?;
        let mut op = self.engine.decrypt_root_value(sealed, context, column, aad);
        self.transport.run_blocking(&mut *op)
    }

    /// A key derived from root `root` (`None`: the primary) for another
    /// cipher, with the root's label; see [`Engine::external_key`].
    pub fn external_key(
        &self,
        context: &EncryptionContext,
        column: &str,
        root: Option<&str>,
    ) -> Result<(String, zeroize::Zeroizing<[u8; 32]>)> {
        self.warm_blocking()?;
        let mut op = self.engine.external_key(context, column, root);
        self.transport.run_blocking(&mut *op)
    }

    /// The blind index of `value` under root `root` (`None`: the primary).
    pub fn blind_index(
        &self,
        value: &[u8],
        context: &EncryptionContext,
        column: &str,
        options: IndexOptions,
        root: Option<&str>,
    ) -> Result<Vec<u8>> {
        self.warm_blocking()?;
        let mut op = self
            .engine
            .blind_index(value, context, column, options, root);
        self.transport.run_blocking(&mut *op)
    }
}

impl Client {
    /// Async [`encrypt`](Client::encrypt).
    pub async fn encrypt_async(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
    ) -> Result<Vec<u8>> {
        if let Some(r) = self
            .engine
            .encrypt_cached(plaintext, context, aad, form, system_now())
        {
            return r;
        }
        self.warm().await?;
        self.transport
            .run(&mut self.engine.encrypt(plaintext, context, aad, form))
            .await
    }

    /// Async [`decrypt`](Client::decrypt).
    pub async fn decrypt_async(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        if let Some(r) = self
            .engine
            .decrypt_cached(sealed, context, aad, system_now())
        {
            return r;
        }
        self.warm().await?;
        self.transport
            .run(&mut self.engine.decrypt(sealed, context, aad))
            .await
    }

    /// Async [`rewrap`](Client::rewrap).
    pub async fn rewrap_async(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
    ) -> Result<Rewrapped> {
        self.warm().await?;
        self.transport
            .run(&mut self.engine.rewrap(sealed, context))
            .await
    }

    /// Async [`message_data_key`](Self::message_data_key).
    pub async fn message_data_key_async(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
    ) -> Result<MessageKey> {
        self.warm().await?;
        self.transport
            .run(&mut self.engine.message_data_key(sealed, context))
            .await
    }

    /// Async [`new_message_data_key`](Self::new_message_data_key).
    pub async fn new_message_data_key_async(
        &self,
        context: &EncryptionContext,
    ) -> Result<MessageKey> {
        self.warm().await?;
        let mut op = self.engine.new_message_data_key(context);
        self.transport.run(&mut *op).await
    }

    /// Async [`generate_data_key`](Client::generate_data_key).
    pub async fn generate_data_key_async(
        &self,
        context: &EncryptionContext,
    ) -> Result<GeneratedKey> {
        self.warm().await?;
        let mut op = self.engine.generate_data_key(context);
        self.transport.run(&mut *op).await
    }

    /// Async [`encrypt_many`](Client::encrypt_many).
    pub async fn encrypt_many_async<P: AsRef<[u8]>>(
        &self,
        plaintexts: &[P],
        context: &EncryptionContext,
        aads: Option<&[&[u8]]>,
        form: Form,
    ) -> Result<Vec<Vec<u8>>> {
        check_batch(plaintexts.len(), aads)?;
        check_sizes(plaintexts, self.engine.options().max_plaintext)?;
        let mut out = Vec::with_capacity(plaintexts.len());
        for (i, p) in plaintexts.iter().enumerate() {
            let aad = aad_at(aads, i);
            out.push(self.encrypt_async(p.as_ref(), context, aad, form).await?);
        }
        Ok(out)
    }

    /// Async [`decrypt_many`](Client::decrypt_many).
    pub async fn decrypt_many_async<S: AsRef<[u8]>>(
        &self,
        sealed: &[S],
        context: &EncryptionContext,
        aads: Option<&[&[u8]]>,
    ) -> Result<Vec<Result<Vec<u8>>>> {
        check_batch(sealed.len(), aads)?;
        let prefetch = self.engine.prefetch_unwraps(sealed, context, system_now());
        if !prefetch.is_empty() && self.warm().await.is_ok() {
            for mut op in prefetch {
                let _ = self.transport.run(&mut op).await;
            }
        }
        let mut out = Vec::with_capacity(sealed.len());
        for (i, s) in sealed.iter().enumerate() {
            let aad = aad_at(aads, i);
            out.push(self.decrypt_async(s.as_ref(), context, aad).await);
        }
        Ok(out)
    }

    /// Async [`unwrap_data_key`](Client::unwrap_data_key).
    pub async fn unwrap_data_key_async(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        label: Option<&str>,
    ) -> Result<DataKey> {
        self.warm().await?;
        let mut op = self.engine.unwrap_data_key(wrapped, context, label);
        self.transport.run(&mut *op).await
    }
    /// Async [`create_root`](Client::create_root).
    pub async fn create_root_async(&self, label: &str, key: Option<&str>) -> Result<String> {
        self.warm().await?;
        let mut op = self.engine.create_root(label, key);
        self.transport.run(&mut *op).await
    }

    /// Async [`encrypt_compact`](Client::encrypt_compact).
    pub async fn encrypt_compact_async(
        &self,
        mode: Mode,
        plaintext: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
        form: Form,
    ) -> Result<Vec<u8>> {
        self.warm().await?;
        let mut op = self
            .engine
            .encrypt_root_value(mode, plaintext, context, column, aad, form);
        self.transport.run(&mut *op).await
    }

    /// Async [`decrypt_compact`](Client::decrypt_compact).
    pub async fn decrypt_compact_async(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        self.warm().await?;
        let mut op = self.engine.decrypt_root_value(sealed, context, column, aad);
        self.transport.run(&mut *op).await
    }

    /// Async [`blind_index`](Client::blind_index).
    pub async fn blind_index_async(
        &self,
        value: &[u8],
        context: &EncryptionContext,
        column: &str,
        options: IndexOptions,
        root: Option<&str>,
    ) -> Result<Vec<u8>> {
        self.warm().await?;
        let mut op = self
            .engine
            .blind_index(value, context, column, options, root);
        self.transport.run(&mut *op).await
    }
}

// One client is shared across threads (Python's Box, Node's, Ruby's).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Client>();
};

/// Refuses a batch holding a value too large to seal before any of it is
/// sealed (or a data key is made for it).
fn check_sizes<P: AsRef<[u8]>>(plaintexts: &[P], max: usize) -> Result<()> {
    match plaintexts
        .iter()
        .map(|p| p.as_ref().len())
        .find(|&len| len > max)
    {
        Some(len) => Err(dekbox_core::Malformed::TooLarge { len, max }.into()),
        None => Ok(()),
    }
}

/// A batch's aads, if given, have one entry per value: validated here, once,
/// for every binding.
fn check_batch<A>(n: usize, aads: Option<&[A]>) -> Result<()> {
    match aads {
        Some(a) if a.len() != n => Err(Error::InvalidArgument(format!(
            "aads has {} entries for {n} values",
            a.len()
        ))),
        _ => Ok(()),
    }
}

fn aad_at<'a>(aads: Option<&[&'a [u8]]>, i: usize) -> &'a [u8] {
    aads.and_then(|a| a.get(i).copied()).unwrap_or_default()
}
