//! The sealing operation.

use super::*;

pub(super) enum EncState<'a> {
    Start,
    Generating(BoxOp<'a, GeneratedKey>),
    Finished,
}

/// Sealing operation; see [`Engine::encrypt`].
pub struct EncryptOp<'a> {
    pub(super) engine: &'a Engine,
    pub(super) plaintext: &'a [u8],
    pub(super) context: &'a EncryptionContext,
    pub(super) aad: &'a [u8],
    pub(super) form: Form,
    pub(super) state: EncState<'a>,
    pub(super) ticket: Option<Ticket>,
}

impl Drop for EncryptOp<'_> {
    fn drop(&mut self) {
        // Failed or abandoned: let a waiting operation generate instead.
        if let Some(t) = self.ticket.take() {
            self.engine.enc_cache.release(t);
        }
    }
}

/// How long an operation asks to be left alone while another one fetches the
/// data key it needs.
pub(super) const WAIT_FOR_OTHERS: std::time::Duration = std::time::Duration::from_millis(2);

impl<'a> Operation for EncryptOp<'a> {
    type Output = Vec<u8>;

    fn poll(&mut self, now: Timestamp) -> Result<Step<Vec<u8>>> {
        let e = self.engine;
        loop {
            match &mut self.state {
                EncState::Start => {
                    if let Err(err) = caller_context(self.context) {
                        self.state = EncState::Finished;
                        return Err(err);
                    }
                    if self.plaintext.len() > e.options.max_plaintext {
                        self.state = EncState::Finished;
                        return Err(Malformed::TooLarge {
                            len: self.plaintext.len(),
                            max: e.options.max_plaintext,
                        }
                        .into());
                    }
                    let domain = KeyDomain::of_form(self.form);
                    if domain == KeyDomain::Compat && e.options.legacy_fallback {
                        self.state = EncState::Finished;
                        return Err(Error::Config(LEGACY_WITH_COMPAT_KEYS.into()));
                    }
                    let key = domain.cache_context(self.context);
                    match e
                        .enc_cache
                        .reserve(&key, self.plaintext.len(), now, &*e.rng)?
                    {
                        Reservation::Hit(sealer) => {
                            Counters::bump(&e.counters.encrypt_hits);
                            self.state = EncState::Finished;
                            return e
                                .seal_with(
                                    &sealer,
                                    self.plaintext,
                                    self.context,
                                    self.aad,
                                    self.form,
                                )
                                .map(Step::Done);
                        }
                        // Another operation is generating this context's key.
                        Reservation::Wait => return Ok(Step::Wait(WAIT_FOR_OTHERS)),
                        Reservation::Generate(ticket) => self.ticket = ticket,
                    }
                    self.state = EncState::Generating(e.start_generating(domain, self.context)?);
                }
                EncState::Generating(op) => match op.poll(now)?.into_done() {
                    Err(pass) => return Ok(pass),
                    Ok(gk) => {
                        self.state = EncState::Finished;
                        let domain = KeyDomain::of_form(self.form);
                        let sealer = e.new_sealer(domain, gk)?;
                        let out = e.seal_with(
                            &sealer,
                            self.plaintext,
                            self.context,
                            self.aad,
                            self.form,
                        )?;
                        e.enc_cache.insert(
                            &domain.cache_context(self.context),
                            sealer,
                            self.plaintext.len(),
                            now,
                            self.ticket.take(),
                        );
                        return Ok(Step::Done(out));
                    }
                },
                EncState::Finished => {
                    return Err(Error::ApiMisuse("operation polled after completion"));
                }
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            EncState::Generating(op) => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            EncState::Generating(op) => op.handle_failure(error),
            _ => Err(error),
        }
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        match &mut self.state {
            EncState::Generating(op) => op.handle_process_output(output),
            _ => Err(Error::ApiMisuse("no process outstanding")),
        }
    }
}
