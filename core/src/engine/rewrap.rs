//! The rewrap operation: a new key section, the same body.

use super::input::*;
use super::*;

/// The result of a rewrap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrapped {
    /// The message, now naming the primary key (unchanged if it already did).
    pub message: Vec<u8>,
    /// Whether the message changed.
    pub changed: bool,
}

pub(super) enum RwState<'a> {
    Start,
    Unwrapping(BoxOp<'a, DataKey>, KeyDomain),
    Wrapping(BoxOp<'a, Vec<u8>>),
    Native(BoxOp<'a, Vec<u8>>),
    Finished,
}

/// Rewrap operation; see [`Engine::rewrap`].
pub struct RewrapOp<'a> {
    pub(super) engine: &'a Engine,
    pub(super) input: &'a [u8],
    pub(super) context: &'a EncryptionContext,
    pub(super) decoded: Option<Decoded>,
    pub(super) state: RwState<'a>,
    /// For a message already on the primary key whose provider versions its
    /// wrapped keys (Vault transit): the wrapped key and its version, so the
    /// result is kept only if a newer version wrapped it.
    pub(super) same_key: Option<(Vec<u8>, u32)>,
}

impl RewrapOp<'_> {
    /// The rewrap cache's key: source and destination keys, the wrapped key
    /// with the salt and commitment it is checked against, and the context.
    /// A cache hit therefore means this exact triple was checked before.
    pub(super) fn rewrap_cache_key(&mut self) -> Result<Vec<u8>> {
        let e = self.engine;
        let (from, wrapped, salt, commitment, domain) =
            match parse_input(e, self.input, &mut self.decoded)? {
                Some(Parsed::Message(m, _)) => (
                    e.keyring
                        .resolve_raw(m.key_ref_kind, m.key_ref_raw)?
                        .id()
                        .to_string(),
                    m.wrapped_dek.to_vec(),
                    m.salt.to_vec(),
                    m.commitment.to_vec(),
                    KeyDomain::Envelope,
                ),
                // JSON envelopes carry no commitment.
                Some(Parsed::Json(j)) => (
                    e.compat_entry().id().to_string(),
                    j.wrapped_dek.clone(),
                    Vec::new(),
                    Vec::new(),
                    KeyDomain::Compat,
                ),
                None => return Err(Malformed::NotDekbox.into()),
            };
        let mut k = Vec::new();
        for part in [
            from.as_bytes(),
            e.keyring.primary().id().as_bytes(),
            &wrapped,
            &salt,
            &commitment,
            &domain.cache_context(self.context),
        ] {
            k.extend_from_slice(&(part.len() as u32).to_be_bytes());
            k.extend_from_slice(part);
        }
        Ok(k)
    }

    /// Rebuilds the input with the primary's key reference and `new_wrapped`.
    pub(super) fn finish(&mut self, new_wrapped: &[u8]) -> Result<Rewrapped> {
        let e = self.engine;
        let message = match parse_input(e, self.input, &mut self.decoded)? {
            Some(Parsed::Message(m, form)) => {
                let section = format::key_section(e.keyring.primary().key_ref(), new_wrapped)?;
                let bin = format::with_key_section(&m, &section);
                if form == Form::Text {
                    format::text::encode(&bin)
                } else {
                    bin
                }
            }
            Some(Parsed::Json(j)) => {
                compat::encode_json(new_wrapped, &j.nonce, &j.ciphertext_and_tag)
            }
            None => return Err(Malformed::NotDekbox.into()),
        };
        Ok(Rewrapped {
            message,
            changed: true,
        })
    }

    /// The input, unchanged.
    fn unchanged(&self) -> Rewrapped {
        Rewrapped {
            message: self.input.to_vec(),
            changed: false,
        }
    }

    /// Checks an unwrapped key against the message's commitment.
    pub(super) fn check_commitment(&mut self, dek: &DataKey) -> Result<()> {
        match parse_input(self.engine, self.input, &mut self.decoded)? {
            Some(Parsed::Message(m, _)) => {
                let d = crate::crypto::kdf::DerivedKeys::derive(dek.dangerous_bytes(), m.salt);
                if d.commitment_matches(m.commitment) {
                    Ok(())
                } else {
                    Err(Error::Authentication)
                }
            }
            // JSON envelopes carry no commitment.
            _ => Ok(()),
        }
    }
}

impl<'a> Operation for RewrapOp<'a> {
    type Output = Rewrapped;

    fn poll(&mut self, now: Timestamp) -> Result<Step<Rewrapped>> {
        let e = self.engine;
        loop {
            match &mut self.state {
                RwState::Start => {
                    self.state = RwState::Finished;
                    caller_context(self.context)?;
                    let primary = e.keyring.primary();
                    let (from, wrapped, domain): (&KeyringEntry, Vec<u8>, KeyDomain) =
                        match parse_input(e, self.input, &mut self.decoded)? {
                            Some(Parsed::Message(m, _)) => (
                                e.keyring.resolve_raw(m.key_ref_kind, m.key_ref_raw)?,
                                m.wrapped_dek.to_vec(),
                                KeyDomain::Envelope,
                            ),
                            // Reached only with accept_json, which an engine
                            // with legacy_fallback refuses.
                            Some(Parsed::Json(j)) => {
                                (e.compat_entry(), j.wrapped_dek.clone(), KeyDomain::Compat)
                            }
                            None => {
                                return Err(Malformed::NotDekbox.into());
                            }
                        };
                    let already_current = match parse_input(e, self.input, &mut self.decoded)? {
                        Some(Parsed::Message(m, _)) => {
                            let p = primary.key_ref();
                            m.key_ref_kind == p.kind && m.key_ref_raw == p.name.as_bytes()
                        }
                        _ => false,
                    };
                    if already_current {
                        // A key whose wrapped keys name a version (Vault
                        // transit) is re-wrapped after a rotation: the
                        // unwrap-and-wrap below, kept only if the newest
                        // version differs.
                        match from.provider().wrapped_version(&wrapped) {
                            Some(v) if e.newest_version(from.id(), now).is_none_or(|n| v < n) => {
                                self.same_key = Some((wrapped.clone(), v));
                            }
                            _ => return Ok(Step::Done(self.unchanged())),
                        }
                    }
                    let rk = self.rewrap_cache_key()?;
                    if let Some(w) = e.rewrap_cache.get(&rk) {
                        return self.finish(&w).map(Step::Done);
                    }
                    let provider_ctx = domain.provider_context(self.context)?;
                    // A cached unwrapped key is checked against the commitment
                    // before anything is re-wrapped, natively or not.
                    let cached = e.dec_cache.get(
                        from.id(),
                        &wrapped,
                        &domain.cache_context(self.context),
                        now,
                    );
                    if let Some(opener) = &cached {
                        self.check_commitment(&opener.dek)?;
                    }
                    Counters::bump(&e.counters.provider_calls);
                    // Native re-wrap (AWS ReEncrypt): the data key never leaves
                    // the KMS, so without a cached key the commitment cannot be
                    // checked here; the next decrypt checks it (docs/FORMAT.md).
                    if let Some(op) = self
                        .same_key
                        .is_none()
                        .then(|| {
                            from.provider().rewrap_native(
                                &wrapped,
                                &provider_ctx,
                                primary.provider().as_ref(),
                            )
                        })
                        .flatten()
                    {
                        self.state = RwState::Native(op);
                        continue;
                    }
                    if let Some(opener) = cached {
                        self.state = RwState::Wrapping(primary.provider().wrap(
                            &opener.dek,
                            &provider_ctx,
                            &*e.rng,
                        ));
                        continue;
                    }
                    self.state = RwState::Unwrapping(
                        from.provider().unwrap(&wrapped, &provider_ctx),
                        domain,
                    );
                }
                RwState::Unwrapping(op, domain) => match op.poll(now)?.into_done() {
                    Err(pass) => return Ok(pass),
                    Ok(dek) => {
                        let domain = *domain;
                        self.state = RwState::Finished;
                        self.check_commitment(&dek)?;
                        Counters::bump(&e.counters.provider_calls);
                        self.state = RwState::Wrapping(e.keyring.primary().provider().wrap(
                            &dek,
                            &*domain.provider_context(self.context)?,
                            &*e.rng,
                        ));
                    }
                },
                RwState::Wrapping(op) | RwState::Native(op) => match op.poll(now)?.into_done() {
                    Err(pass) => return Ok(pass),
                    Ok(new_wrapped) => {
                        self.state = RwState::Finished;
                        let rk = self.rewrap_cache_key()?;
                        if let Some((_, version)) = self.same_key.take() {
                            let primary = e.keyring.primary();
                            let newest = primary.provider().wrapped_version(&new_wrapped);
                            if let Some(n) = newest {
                                e.note_version(primary.id(), n, now);
                            }
                            if newest.is_none_or(|n| n <= version) {
                                // Already on the newest version: the message
                                // stays as it is (and, for a while, so do
                                // others on that version, without a call).
                                return Ok(Step::Done(self.unchanged()));
                            }
                        }
                        let out = self.finish(&new_wrapped)?;
                        e.rewrap_cache.put(rk, new_wrapped);
                        return Ok(Step::Done(out));
                    }
                },
                RwState::Finished => {
                    return Err(Error::ApiMisuse("operation polled after completion"));
                }
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            RwState::Unwrapping(op, _) => op.handle_response(response),
            RwState::Wrapping(op) | RwState::Native(op) => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            RwState::Unwrapping(op, _) => op.handle_failure(error),
            RwState::Wrapping(op) | RwState::Native(op) => op.handle_failure(error),
            _ => Err(error),
        }
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        match &mut self.state {
            RwState::Unwrapping(op, _) => op.handle_process_output(output),
            RwState::Wrapping(op) | RwState::Native(op) => op.handle_process_output(output),
            _ => Err(Error::ApiMisuse("no process outstanding")),
        }
    }
}

/// How long the newest version a key wrapped with is trusted to be the
/// newest: a key rotated meanwhile is noticed by a running engine within
/// this time (a new process at once).
pub const NEWEST_VERSION_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl Engine {
    /// The newest version `key_id` wrapped with in the last
    /// [`NEWEST_VERSION_TTL`].
    fn newest_version(&self, key_id: &str, now: Timestamp) -> Option<u32> {
        let list = self
            .newest_versions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        list.iter()
            .find(|(id, _, at)| id == key_id && now.since(*at) < NEWEST_VERSION_TTL)
            .map(|(_, v, _)| *v)
    }

    /// Records that `key_id` wrapped with `version` at `now`.
    fn note_version(&self, key_id: &str, version: u32, now: Timestamp) {
        let mut list = self
            .newest_versions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match list.iter_mut().find(|(id, _, _)| id == key_id) {
            Some(entry) => *entry = (key_id.to_string(), version, now),
            None => list.push((key_id.to_string(), version, now)),
        }
    }
}
