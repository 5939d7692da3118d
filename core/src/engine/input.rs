//! Inputs of any accepted form, parsed once per operation.

use super::*;

/// A decoded non-binary input, owned by the operation that decoded it.
pub(super) enum Decoded {
    /// Text form decoded to binary.
    Binary(Vec<u8>),
    /// JSON envelope.
    Json(compat::JsonEnvelope),
}

/// What a dekbox input turned out to be.
pub(super) enum Parsed<'m> {
    Message(Message<'m>, Form),
    Json(&'m compat::JsonEnvelope),
}

/// Parses `input` (decoding text/JSON into `decoded` the first time).
pub(super) fn parse_input<'m>(
    engine: &Engine,
    input: &'m [u8],
    decoded: &'m mut Option<Decoded>,
) -> Result<Option<Parsed<'m>>> {
    let max = engine.options.max_plaintext;
    if crate::root::value::is_root_value(input) {
        return Err(Malformed::RootKeyed.into());
    }
    if decoded.is_none() {
        match format::detect(input) {
            Detected::Binary => {
                return Ok(Some(Parsed::Message(
                    format::parse(input, max)?,
                    Form::Binary,
                )));
            }
            Detected::Text => *decoded = Some(Decoded::Binary(format::text::decode(input, max)?)),
            Detected::Json => {
                if !engine.options.accept_json {
                    return Err(Malformed::Json(
                        "JSON envelopes are not accepted (enable accept_json to migrate them)",
                    )
                    .into());
                }
                *decoded = Some(Decoded::Json(compat::parse_json(input, max)?));
            }
            Detected::Unknown => return Ok(None),
        }
    }
    match decoded.as_ref() {
        Some(Decoded::Binary(b)) => Ok(Some(Parsed::Message(format::parse(b, max)?, Form::Text))),
        Some(Decoded::Json(j)) => Ok(Some(Parsed::Json(j))),
        None => Ok(None),
    }
}
