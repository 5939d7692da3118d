//! The opening operation.

use super::encrypt::WAIT_FOR_OTHERS;
use super::input::*;
use super::*;

pub(super) enum DecState<'a> {
    Start,
    Unwrapping {
        op: BoxOp<'a, DataKey>,
        wrapped: Vec<u8>,
        key_id: &'a str,
        domain: KeyDomain,
    },
    Direct(BoxOp<'a, zeroize::Zeroizing<Vec<u8>>>),
    Finished,
}

/// Opening operation; see [`Engine::decrypt`].
pub struct DecryptOp<'a> {
    pub(super) engine: &'a Engine,
    pub(super) input: &'a [u8],
    pub(super) context: &'a EncryptionContext,
    pub(super) aad: &'a [u8],
    pub(super) decoded: Option<Decoded>,
    pub(super) state: DecState<'a>,
    pub(super) ticket: Option<Ticket>,
    /// Hand out the message's data key (as a binary token) instead of
    /// opening it; see [`Engine::message_data_key`].
    pub(super) export: bool,
}

impl Drop for DecryptOp<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.engine.dec_cache.release(t);
        }
    }
}

impl DecryptOp<'_> {
    pub(super) fn open_with(&mut self, opener: &Opener) -> Result<Vec<u8>> {
        let e = self.engine;
        match parse_input(e, self.input, &mut self.decoded)? {
            Some(parsed) if self.export => export_parsed(e, opener, &parsed, self.context),
            Some(parsed) => open_parsed(e, opener, &parsed, self.context, self.aad),
            None => Err(Malformed::NotDekbox.into()),
        }
    }
}

/// The binary message-key token of a message whose data key `opener` holds,
/// after checking the key against the message's commitment. The encrypt
/// cache stops sealing with that key, so a handed-out key never covers
/// messages this engine seals after it left.
fn export_parsed(
    e: &Engine,
    opener: &Opener,
    parsed: &Parsed<'_>,
    context: &EncryptionContext,
) -> Result<Vec<u8>> {
    let Parsed::Message(msg, _) = parsed else {
        return Err(NOT_A_MESSAGE);
    };
    let committed = opener.with_derived(msg.salt, |d| d.commitment_matches(msg.commitment));
    if !committed {
        return Err(Error::Authentication);
    }
    let key = MessageKey::new(opener.dek.duplicate(), crate::message_key::section_of(msg)?);
    let token = key.token(Form::Binary)?;
    e.enc_cache
        .retire(context.canonical_bytes(), msg.wrapped_dek);
    Ok(token.to_vec())
}

pub(super) const NO_CONTEXT: Error = Error::ApiMisuse(
    "message keys need a context naming whose data they open (e.g. {\"user\": \"42\"}): \
     with none, a key would open every context-less message sealed under it",
);

const NOT_A_MESSAGE: Error = Error::ApiMisuse(
    "message keys exist for dekbox messages (binary or text form) only: a JSON envelope has no key commitment",
);

/// Unwraps the data key of a message and hands it out; see
/// [`Engine::message_data_key`].
pub struct MessageKeyOp<'a>(pub(super) DecryptOp<'a>);

impl Operation for MessageKeyOp<'_> {
    type Output = MessageKey;

    fn poll(&mut self, now: Timestamp) -> Result<Step<MessageKey>> {
        match self.0.poll(now)?.into_done() {
            Ok(token) => {
                let token = zeroize::Zeroizing::new(token);
                MessageKey::from_token(&token).map(Step::Done)
            }
            Err(pass) => Ok(pass),
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        self.0.handle_response(response)
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        self.0.handle_failure(error)
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        self.0.handle_process_output(output)
    }
}

pub(super) fn open_parsed(
    e: &Engine,
    opener: &Opener,
    parsed: &Parsed<'_>,
    context: &EncryptionContext,
    aad: &[u8],
) -> Result<Vec<u8>> {
    match parsed {
        Parsed::Message(msg, _) => e.open_message(opener, msg, context, aad),
        Parsed::Json(j) => envelope::open_json(opener.raw_key(), j, aad),
    }
}

impl<'a> Operation for DecryptOp<'a> {
    type Output = Vec<u8>;

    fn poll(&mut self, now: Timestamp) -> Result<Step<Vec<u8>>> {
        let e = self.engine;
        loop {
            match &mut self.state {
                DecState::Start => {
                    self.state = DecState::Finished;
                    caller_context(self.context)?;
                    if self.export && self.context.is_empty() {
                        return Err(NO_CONTEXT);
                    }
                    enum Next<'a> {
                        Unwrap(BoxOp<'a, DataKey>, Vec<u8>, &'a str, KeyDomain),
                        Wait,
                        Direct,
                    }
                    let (context, aad) = (self.context, self.aad);
                    let next = match parse_input(e, self.input, &mut self.decoded)? {
                        None if self.export => return Err(Malformed::NotDekbox.into()),
                        None => Next::Direct,
                        Some(Parsed::Json(_)) if self.export => return Err(NOT_A_MESSAGE),
                        Some(parsed) => {
                            let (entry, wrapped) = match &parsed {
                                Parsed::Message(msg, _) => (
                                    e.keyring.resolve_raw(msg.key_ref_kind, msg.key_ref_raw)?,
                                    msg.wrapped_dek,
                                ),
                                Parsed::Json(j) => (e.compat_entry(), j.wrapped_dek.as_slice()),
                            };
                            let domain = KeyDomain::of(&parsed);
                            match e.dec_cache.lookup(
                                entry.id(),
                                wrapped,
                                &domain.cache_context(context),
                                now,
                            ) {
                                // The common case: open with the message parsed once.
                                Lookup::Hit(opener) => {
                                    Counters::bump(&e.counters.decrypt_hits);
                                    if self.export {
                                        return export_parsed(e, &opener, &parsed, context)
                                            .map(Step::Done);
                                    }
                                    return open_parsed(e, &opener, &parsed, context, aad)
                                        .map(Step::Done);
                                }
                                Lookup::Wait => Next::Wait,
                                Lookup::Fetch(ticket) => {
                                    // A ticket now held is released by Drop on error.
                                    self.ticket = ticket;
                                    Next::Unwrap(
                                        entry
                                            .provider()
                                            .unwrap(wrapped, &*domain.provider_context(context)?),
                                        wrapped.to_vec(),
                                        entry.id(),
                                        domain,
                                    )
                                }
                            }
                        }
                    };
                    match next {
                        Next::Wait => {
                            // Another operation is unwrapping this key.
                            self.state = DecState::Start;
                            return Ok(Step::Wait(WAIT_FOR_OTHERS));
                        }
                        Next::Unwrap(op, wrapped, key_id, domain) => {
                            Counters::bump(&e.counters.decrypt_misses);
                            Counters::bump(&e.counters.provider_calls);
                            self.state = DecState::Unwrapping {
                                op,
                                wrapped,
                                key_id,
                                domain,
                            };
                        }
                        Next::Direct => {
                            if !e.options.legacy_fallback {
                                return Err(Malformed::NotDekbox.into());
                            }
                            Counters::bump(&e.counters.provider_calls);
                            self.state = DecState::Direct(
                                e.compat_entry()
                                    .provider()
                                    .decrypt_direct(self.input, self.context),
                            );
                        }
                    }
                }
                DecState::Unwrapping {
                    op,
                    wrapped,
                    key_id,
                    domain,
                } => match op.poll(now)?.into_done() {
                    Err(pass) => return Ok(pass),
                    Ok(dek) => {
                        let wrapped = std::mem::take(wrapped);
                        let opener = Arc::new(Opener::new(
                            dek,
                            key_id,
                            &domain.cache_context(self.context),
                            now,
                        ));
                        self.state = DecState::Finished;
                        let out = self.open_with(&opener);
                        // Only keys that opened (or, exporting, matched the
                        // commitment of) a message are cached for reuse; a key
                        // that fails the commitment stays out.
                        e.dec_cache.insert(
                            &wrapped,
                            out.is_ok().then_some(opener),
                            self.ticket.take(),
                        );
                        return out.map(Step::Done);
                    }
                },
                DecState::Direct(op) => match op.poll(now)?.into_done() {
                    Err(pass) => return Ok(pass),
                    Ok(pt) => {
                        self.state = DecState::Finished;
                        if pt.len() == crate::key::DATA_KEY_LEN && !e.options.legacy_allow_key_sized
                        {
                            return Err(Error::Config(LEGACY_KEY_SIZED.into()));
                        }
                        return Ok(Step::Done(pt.to_vec()));
                    }
                },
                DecState::Finished => {
                    return Err(Error::ApiMisuse("operation polled after completion"));
                }
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            DecState::Unwrapping { op, .. } => op.handle_response(response),
            DecState::Direct(op) => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            DecState::Unwrapping { op, .. } => op.handle_failure(error),
            DecState::Direct(op) => op.handle_failure(error),
            _ => Err(error),
        }
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        match &mut self.state {
            DecState::Unwrapping { op, .. } => op.handle_process_output(output),
            DecState::Direct(op) => op.handle_process_output(output),
            _ => Err(Error::ApiMisuse("no process outstanding")),
        }
    }
}
