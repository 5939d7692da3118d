//! Data keys handed to another cipher (Active Record's), and their tokens.

use super::*;

/// A data key for another cipher, and the token to store beside its data.
pub struct RawDataKey {
    /// The data key (secret).
    pub key: DataKey,
    /// The key section: key reference and wrapped key. Not secret.
    pub token: Vec<u8>,
}

enum RawState<'a> {
    Start,
    Generating(BoxOp<'a, GeneratedKey>),
    Finished,
}

/// See [`Engine::raw_data_key`].
pub struct RawKeyOp<'a> {
    engine: &'a Engine,
    context: &'a EncryptionContext,
    state: RawState<'a>,
    ticket: Option<Ticket>,
}

impl<'a> RawKeyOp<'a> {
    pub(super) fn new(engine: &'a Engine, context: &'a EncryptionContext) -> Self {
        Self {
            engine,
            context,
            state: RawState::Start,
            ticket: None,
        }
    }
}

impl Drop for RawKeyOp<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.engine.enc_cache.release(t);
        }
    }
}

fn raw_key(sealer: &Sealer) -> RawDataKey {
    RawDataKey {
        key: sealer.dek.duplicate(),
        token: sealer.key_section.clone(),
    }
}

impl Operation for RawKeyOp<'_> {
    type Output = RawDataKey;

    fn poll(&mut self, now: Timestamp) -> Result<Step<RawDataKey>> {
        let e = self.engine;
        let domain = KeyDomain::Raw;
        match &mut self.state {
            RawState::Start => {
                self.state = RawState::Finished;
                caller_context(self.context)?;
                let key = domain.cache_context(self.context);
                match e.enc_cache.reserve(&key, 0, now, &*e.rng)? {
                    Reservation::Hit(sealer) => {
                        Counters::bump(&e.counters.encrypt_hits);
                        return Ok(Step::Done(raw_key(&sealer)));
                    }
                    Reservation::Wait => {
                        self.state = RawState::Start;
                        return Ok(Step::Wait(encrypt::WAIT_FOR_OTHERS));
                    }
                    Reservation::Generate(ticket) => self.ticket = ticket,
                }
                self.state = RawState::Generating(e.start_generating(domain, self.context)?);
                self.poll(now)
            }
            RawState::Generating(op) => {
                let gk = match op.poll(now)?.into_done() {
                    Ok(gk) => gk,
                    Err(pass) => return Ok(pass),
                };
                self.state = RawState::Finished;
                let sealer = e.new_sealer(domain, gk)?;
                // Reading back what this process just wrote (Active Record
                // compares attributes after a save) needs no provider call.
                let opener = Arc::new(Opener::new(
                    sealer.dek.duplicate(),
                    e.writer(domain).id(),
                    &domain.cache_context(self.context),
                    now,
                ));
                e.dec_cache.insert(&sealer.wrapped, Some(opener), None);
                let out = raw_key(&sealer);
                e.enc_cache.insert(
                    &domain.cache_context(self.context),
                    sealer,
                    0,
                    now,
                    self.ticket.take(),
                );
                Ok(Step::Done(out))
            }
            RawState::Finished => Err(Error::ApiMisuse("operation polled after completion")),
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            RawState::Generating(op) => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            RawState::Generating(op) => op.handle_failure(error),
            _ => Err(error),
        }
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        match &mut self.state {
            RawState::Generating(op) => op.handle_process_output(output),
            _ => Err(Error::ApiMisuse("no process outstanding")),
        }
    }
}

enum OpenRawState<'a> {
    Start,
    Unwrapping {
        op: BoxOp<'a, DataKey>,
        key_id: &'a str,
        wrapped: &'a [u8],
    },
    Finished,
}

/// See [`Engine::open_raw_data_key`].
pub struct OpenRawKeyOp<'a> {
    engine: &'a Engine,
    token: &'a [u8],
    context: &'a EncryptionContext,
    state: OpenRawState<'a>,
    ticket: Option<Ticket>,
}

impl<'a> OpenRawKeyOp<'a> {
    pub(super) fn new(engine: &'a Engine, token: &'a [u8], context: &'a EncryptionContext) -> Self {
        Self {
            engine,
            token,
            context,
            state: OpenRawState::Start,
            ticket: None,
        }
    }
}

impl Drop for OpenRawKeyOp<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.engine.dec_cache.release(t);
        }
    }
}

impl<'a> Operation for OpenRawKeyOp<'a> {
    type Output = DataKey;

    fn poll(&mut self, now: Timestamp) -> Result<Step<DataKey>> {
        let e: &'a Engine = self.engine;
        let domain = KeyDomain::Raw;
        match &mut self.state {
            OpenRawState::Start => {
                self.state = OpenRawState::Finished;
                caller_context(self.context)?;
                let (kind, key_ref, wrapped) = format::parse_key_section(self.token)?;
                let entry = e.keyring.resolve_raw(kind, key_ref)?;
                let cache_ctx = domain.cache_context(self.context);
                match e.dec_cache.lookup(entry.id(), wrapped, &cache_ctx, now) {
                    Lookup::Hit(opener) => {
                        Counters::bump(&e.counters.decrypt_hits);
                        Ok(Step::Done(opener.dek.duplicate()))
                    }
                    Lookup::Wait => {
                        self.state = OpenRawState::Start;
                        Ok(Step::Wait(encrypt::WAIT_FOR_OTHERS))
                    }
                    Lookup::Fetch(ticket) => {
                        self.ticket = ticket;
                        Counters::bump(&e.counters.decrypt_misses);
                        Counters::bump(&e.counters.provider_calls);
                        let op = entry
                            .provider()
                            .unwrap(wrapped, &*domain.provider_context(self.context)?);
                        self.state = OpenRawState::Unwrapping {
                            op,
                            key_id: entry.id(),
                            wrapped,
                        };
                        self.poll(now)
                    }
                }
            }
            OpenRawState::Unwrapping {
                op,
                key_id,
                wrapped,
            } => {
                let dek = match op.poll(now)?.into_done() {
                    Ok(dek) => dek,
                    Err(pass) => return Ok(pass),
                };
                let (key_id, wrapped) = (*key_id, *wrapped);
                self.state = OpenRawState::Finished;
                let out = dek.duplicate();
                // The provider authenticated the wrapped key and its context:
                // the key is genuine and may serve the next rows.
                let opener = Arc::new(Opener::new(
                    dek,
                    key_id,
                    &domain.cache_context(self.context),
                    now,
                ));
                e.dec_cache
                    .insert(wrapped, Some(opener), self.ticket.take());
                Ok(Step::Done(out))
            }
            OpenRawState::Finished => Err(Error::ApiMisuse("operation polled after completion")),
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            OpenRawState::Unwrapping { op, .. } => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            OpenRawState::Unwrapping { op, .. } => op.handle_failure(error),
            _ => Err(error),
        }
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        match &mut self.state {
            OpenRawState::Unwrapping { op, .. } => op.handle_process_output(output),
            _ => Err(Error::ApiMisuse("no process outstanding")),
        }
    }
}
