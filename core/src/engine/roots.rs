//! Root keys in the engine: creating a root token, unwrapping each root at
//! most once per process, and the root-keyed operations (compact and
//! deterministic values, blind indexes). See [`crate::root`].

use super::encrypt::WAIT_FOR_OTHERS;
use super::*;
use crate::op::Map;
use crate::random::fork_generation;
use crate::root::blind::{self, IndexOptions};
use crate::root::value::{self, Mode};
use crate::root::{Purpose, RootKey, RootToken, wrap_context};

/// How long a caller waits for another one's unwrap of a root before taking
/// over (a dropped or hung operation).
const UNWRAP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Unwraps a root (or finds it unwrapped); see [`Engine::root_key`].
pub struct RootKeyOp<'a> {
    engine: &'a Engine,
    label: Option<String>,
    /// This operation's id in a slot's single-flight marker.
    owner: u64,
    state: RootState<'a>,
}

enum RootState<'a> {
    Start,
    Unwrapping {
        op: BoxOp<'a, DataKey>,
        label: String,
    },
    Finished,
}

impl Drop for RootKeyOp<'_> {
    fn drop(&mut self) {
        // A dropped unwrap hands over at once instead of after the timeout.
        if let RootState::Unwrapping { label, .. } = &self.state {
            if let Ok(slot) = self.engine.roots.slot(Some(label)) {
                release(slot, self.owner);
            }
        }
    }
}

/// Clears a slot's single-flight marker if `owner` still holds it (after a
/// timeout another operation may have taken it over).
fn release(slot: &crate::root::Slot, owner: u64) {
    let mut s = slot.state.lock().unwrap_or_else(|e| e.into_inner());
    if s.unwrapping_since.is_some_and(|(_, _, o)| o == owner) {
        s.unwrapping_since = None;
    }
}

impl Operation for RootKeyOp<'_> {
    type Output = Arc<RootKey>;

    fn poll(&mut self, now: Timestamp) -> Result<Step<Arc<RootKey>>> {
        let e = self.engine;
        loop {
            match &mut self.state {
                RootState::Start => {
                    let slot = e.roots.slot(self.label.as_deref())?;
                    let mut s = slot.state.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(k) = &s.key {
                        self.state = RootState::Finished;
                        return Ok(Step::Done(k.clone()));
                    }
                    let busy = s.unwrapping_since.is_some_and(|(t, g, _)| {
                        g == fork_generation() && now.since(t) < UNWRAP_TIMEOUT
                    });
                    if busy {
                        return Ok(Step::Wait(WAIT_FOR_OTHERS));
                    }
                    s.unwrapping_since = Some((now, fork_generation(), self.owner));
                    drop(s);
                    let token = &slot.token;
                    let started = (|| {
                        let kr = token.key_ref();
                        let entry = e.keyring.resolve_raw(kr.kind, kr.name.as_bytes())?;
                        let ctx = wrap_context(token.label())?;
                        Counters::bump(&e.counters.provider_calls);
                        Ok::<_, Error>(entry.provider().unwrap(token.wrapped(), &ctx))
                    })();
                    match started {
                        Ok(op) => {
                            self.state = RootState::Unwrapping {
                                op,
                                label: token.label().to_string(),
                            }
                        }
                        Err(err) => {
                            release(slot, self.owner);
                            self.state = RootState::Finished;
                            return Err(err);
                        }
                    }
                }
                RootState::Unwrapping { op, label } => {
                    let step = op.poll(now);
                    let slot = e.roots.slot(Some(label))?;
                    let dek = match step.map(Step::into_done) {
                        Ok(Ok(dek)) => dek,
                        Ok(Err(pass)) => return Ok(pass),
                        Err(err) => {
                            release(slot, self.owner);
                            self.state = RootState::Finished;
                            return Err(err);
                        }
                    };
                    let key = Arc::new(RootKey::new(label, dek.dangerous_bytes()));
                    drop(dek);
                    let key = {
                        let mut s = slot.state.lock().unwrap_or_else(|e| e.into_inner());
                        // After a takeover another operation may have finished
                        // first: keep its key (derived keys are cached by it).
                        s.key.get_or_insert(key).clone()
                    };
                    release(slot, self.owner);
                    self.state = RootState::Finished;
                    return Ok(Step::Done(key));
                }
                RootState::Finished => {
                    return Err(Error::ApiMisuse("operation polled after completion"));
                }
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            RootState::Unwrapping { op, .. } => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            RootState::Unwrapping { op, .. } => op.handle_failure(error),
            _ => Err(error),
        }
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        match &mut self.state {
            RootState::Unwrapping { op, .. } => op.handle_process_output(output),
            _ => Err(Error::ApiMisuse("no process outstanding")),
        }
    }
}

impl Engine {
    /// A new root key: 32 random bytes wrapped by the keyring key `key` (a
    /// label; `None` for the primary) under the context `dekbox:purpose =
    /// root-key, dekbox:root = <label>`, as a token
    /// `dekbox:root:v1:<label>:<base64url>` to keep in configuration.
    pub fn create_root(&self, label: &str, key: Option<&str>) -> BoxOp<'_, String> {
        let started = (|| {
            crate::root::check_label(label)?;
            let entry = match key {
                Some(l) => self
                    .keyring
                    .by_label(l)
                    .ok_or_else(|| Error::UnknownKey(l.to_string()))?,
                None => self.keyring.primary(),
            };
            let root = DataKey::generate(&*self.rng)?;
            let ctx = wrap_context(label)?;
            Counters::bump(&self.counters.provider_calls);
            Ok::<_, Error>((entry, entry.provider().wrap(&root, &ctx, &*self.rng)))
        })();
        let (entry, op) = match started {
            Ok(v) => v,
            Err(e) => return Ready::boxed(Err(e)),
        };
        let label = label.to_string();
        Box::new(Map::new(op, move |wrapped| {
            Ok(RootToken::new(&label, entry.key_ref(), wrapped)?.encode())
        }))
    }

    /// The root `label` (`None`: the primary root), unwrapped by its keyring
    /// key on first use and then kept for the life of the engine: one
    /// provider call per root per process. Concurrent first callers wait for
    /// the one unwrapping.
    pub fn root_key(&self, label: Option<&str>) -> RootKeyOp<'_> {
        RootKeyOp {
            engine: self,
            label: label.map(String::from),
            owner: crate::root::next_id(),
            state: RootState::Start,
        }
    }

    /// The root `label` if it is already unwrapped.
    pub fn cached_root(&self, label: Option<&str>) -> Result<Option<Arc<RootKey>>> {
        let slot = self.roots.slot(label)?;
        let s = slot.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(s.key.clone())
    }

    /// The root labels and the primary root's.
    pub fn root_labels(&self) -> (Vec<String>, Option<&str>) {
        self.roots.labels()
    }

    /// The root label a root-keyed value names (binary or text form).
    pub fn root_label_of(&self, sealed: &[u8]) -> Result<String> {
        let bin = value::binary_form(sealed, self.options.max_plaintext)?;
        Ok(value::parse(&bin, self.options.max_plaintext)?
            .label
            .to_string())
    }

    /// Seals `plaintext` under `root` as a compact or deterministic value,
    /// for (`context`, `column`, `aad`). Binary or text form.
    #[allow(clippy::too_many_arguments)]
    pub fn seal_root_value(
        &self,
        root: &RootKey,
        mode: Mode,
        plaintext: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
        form: Form,
    ) -> Result<Vec<u8>> {
        caller_context(context)?;
        if plaintext.len() > self.options.max_plaintext {
            return Err(Malformed::TooLarge {
                len: plaintext.len(),
                max: self.options.max_plaintext,
            }
            .into());
        }
        let text = match form {
            Form::Binary => false,
            Form::Text => true,
            Form::Json => {
                return Err(Error::ApiMisuse(
                    "root-keyed values are binary or text, not JSON envelopes",
                ));
            }
        };
        let keys = self
            .roots
            .column_keys(root, value::purpose_for(mode), context, column)?;
        value::seal(&keys, root.label(), mode, plaintext, aad, text, &*self.rng)
    }

    /// Opens a root-keyed value with `root` (which must be the root it
    /// names) for (`context`, `column`, `aad`).
    pub fn open_root_value(
        &self,
        root: &RootKey,
        sealed: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        caller_context(context)?;
        let bin = value::binary_form(sealed, self.options.max_plaintext)?;
        let v = value::parse(&bin, self.options.max_plaintext)?;
        if v.label != root.label() {
            return Err(Error::ApiMisuse("the value names another root"));
        }
        let keys = self
            .roots
            .column_keys(root, value::purpose_of(&v), context, column)?;
        value::open(&keys, &v, aad)
    }

    /// The blind index of `value` under `root` for (`context`, `column`).
    pub fn blind_index_with(
        &self,
        root: &RootKey,
        value: &[u8],
        context: &EncryptionContext,
        column: &str,
        options: &IndexOptions,
    ) -> Result<Vec<u8>> {
        caller_context(context)?;
        let keys = self
            .roots
            .column_keys(root, Purpose::BlindIndex, context, column)?;
        blind::compute(&keys, value, options)
    }

    /// A 32-byte key derived from `root` for (`context`, `column`), for
    /// another cipher that needs the same key in every process: Active
    /// Record's deterministic encryption. Purpose `external`; it never seals
    /// a dekbox value.
    pub fn external_key_with(
        &self,
        root: &RootKey,
        context: &EncryptionContext,
        column: &str,
    ) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        caller_context(context)?;
        let keys = self
            .roots
            .column_keys(root, Purpose::External, context, column)?;
        Ok(zeroize::Zeroizing::new(*keys.mac))
    }

    /// [`external_key_with`](Self::external_key_with) under the root `root`
    /// (`None`: the primary), unwrapping it first if needed; with the
    /// root's label.
    pub fn external_key<'a>(
        &'a self,
        context: &'a EncryptionContext,
        column: &'a str,
        root: Option<&str>,
    ) -> BoxOp<'a, (String, zeroize::Zeroizing<[u8; 32]>)> {
        Box::new(Map::new(Box::new(self.root_key(root)), move |r| {
            Ok((
                r.label().to_string(),
                self.external_key_with(&r, context, column)?,
            ))
        }))
    }

    /// [`seal_root_value`](Self::seal_root_value) under the primary root,
    /// unwrapping it first if needed.
    #[allow(clippy::too_many_arguments)]
    pub fn encrypt_root_value<'a>(
        &'a self,
        mode: Mode,
        plaintext: &'a [u8],
        context: &'a EncryptionContext,
        column: &'a str,
        aad: &'a [u8],
        form: Form,
    ) -> BoxOp<'a, Vec<u8>> {
        Box::new(Map::new(Box::new(self.root_key(None)), move |root| {
            self.seal_root_value(&root, mode, plaintext, context, column, aad, form)
        }))
    }

    /// [`open_root_value`](Self::open_root_value) with the root the value
    /// names (a root of this engine's only), unwrapping it first if needed.
    pub fn decrypt_root_value<'a>(
        &'a self,
        sealed: &'a [u8],
        context: &'a EncryptionContext,
        column: &'a str,
        aad: &'a [u8],
    ) -> BoxOp<'a, Vec<u8>> {
        let label = match self.root_label_of(sealed) {
            Ok(l) => l,
            Err(e) => return Ready::boxed(Err(e)),
        };
        Box::new(Map::new(
            Box::new(self.root_key(Some(&label))),
            move |root| self.open_root_value(&root, sealed, context, column, aad),
        ))
    }

    /// [`blind_index_with`](Self::blind_index_with) under the root `root`
    /// (`None`: the primary), unwrapping it first if needed.
    pub fn blind_index<'a>(
        &'a self,
        value: &'a [u8],
        context: &'a EncryptionContext,
        column: &'a str,
        options: IndexOptions,
        root: Option<&str>,
    ) -> BoxOp<'a, Vec<u8>> {
        Box::new(Map::new(Box::new(self.root_key(root)), move |r| {
            self.blind_index_with(&r, value, context, column, &options)
        }))
    }
}
