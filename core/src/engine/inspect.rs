//! What a sealed value's header says, without any key.

use super::*;

/// What a sealed value's header says. Contains nothing secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Binary, text or JSON.
    pub form: Form,
    /// Format version (0 for JSON envelopes, which have none).
    pub version: u8,
    /// Algorithm suite (0 for JSON envelopes).
    pub suite: u8,
    /// The key named in the header (`None` for JSON envelopes).
    pub key_ref: Option<(KeyRefKind, String)>,
    /// Length of the wrapped data key.
    pub wrapped_dek_len: usize,
    /// First 8 bytes of SHA-256 of the wrapped data key, hex: identifies
    /// messages sharing a data key without revealing anything.
    pub wrapped_dek_fingerprint: String,
    /// The version of the key that wrapped the data key, when the wrapped key
    /// names it (Vault transit: `vault:v3`).
    pub key_version: Option<String>,
    /// Plaintext length.
    pub plaintext_len: usize,
    /// Whether the format carries a key commitment.
    pub committing: bool,
    /// For a root-keyed value (version 2): compact or deterministic. Its
    /// `key_ref` is the root's label; it has no wrapped data key.
    pub root_mode: Option<crate::root::value::Mode>,
}

/// Reads a sealed value's header without any key.
pub fn inspect(sealed: &[u8], max_plaintext: usize) -> Result<Inspection> {
    let fingerprint = |w: &[u8]| {
        Sha256::digest(w)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let from_msg = |m: &Message<'_>, form| Inspection {
        form,
        version: format::VERSION_1,
        suite: m.suite,
        key_ref: Some((
            m.key_ref_kind,
            String::from_utf8_lossy(m.key_ref_raw).into_owned(),
        )),
        wrapped_dek_len: m.wrapped_dek.len(),
        wrapped_dek_fingerprint: fingerprint(m.wrapped_dek),
        key_version: crate::provider::vault::key_version(m.wrapped_dek)
            .map(|v| format!("vault:v{v}")),
        plaintext_len: m.plaintext_len(),
        committing: true,
        root_mode: None,
    };
    if crate::root::value::is_root_value(sealed) {
        let bin = crate::root::value::binary_form(sealed, max_plaintext)?;
        let v = crate::root::value::parse(&bin, max_plaintext)?;
        return Ok(Inspection {
            form: if sealed.starts_with(&format::MAGIC) {
                Form::Binary
            } else {
                Form::Text
            },
            version: crate::root::value::VERSION_ROOT,
            suite: bin[4],
            key_ref: Some((KeyRefKind::Label, v.label.to_string())),
            wrapped_dek_len: 0,
            wrapped_dek_fingerprint: String::new(),
            key_version: None,
            plaintext_len: v.plaintext_len(),
            committing: true,
            root_mode: Some(v.mode),
        });
    }
    match format::detect(sealed) {
        Detected::Binary => Ok(from_msg(
            &format::parse(sealed, max_plaintext)?,
            Form::Binary,
        )),
        Detected::Text => {
            let bin = format::text::decode(sealed, max_plaintext)?;
            Ok(from_msg(&format::parse(&bin, max_plaintext)?, Form::Text))
        }
        Detected::Json => {
            let j = compat::parse_json(sealed, max_plaintext)?;
            Ok(Inspection {
                form: Form::Json,
                version: 0,
                suite: 0,
                key_ref: None,
                wrapped_dek_len: j.wrapped_dek.len(),
                wrapped_dek_fingerprint: fingerprint(&j.wrapped_dek),
                key_version: crate::provider::vault::key_version(&j.wrapped_dek)
                    .map(|v| format!("vault:v{v}")),
                plaintext_len: j.ciphertext_and_tag.len().saturating_sub(16),
                committing: false,
                root_mode: None,
            })
        }
        Detected::Unknown => Err(Malformed::NotDekbox.into()),
    }
}
