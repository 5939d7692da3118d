//! Key options shared by the commands, and `keygen`.

use crate::CliError;
use clap::Args;
use dekbox_core::keyring::Keyring;
use dekbox_core::provider::{self, INSECURE_TEST_KEY_URI, KeyProvider, encode_key_file};
use dekbox_core::random::os_random;
use dekbox_core::{DataKey, Engine, Error, Options};
use dekbox_transport::OsEnvironment;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

#[derive(Args, Clone)]
pub struct KeyArgs {
    /// Key URI for a single key (local:///path, local://env/VAR, insecure-test-key).
    #[arg(long, env = "DEKBOX_KEY", conflicts_with = "keyring")]
    key: Option<String>,
    /// A labelled keyring entry LABEL=URI, repeatable (new data uses --primary).
    #[arg(long = "keyring", value_name = "LABEL=URI", value_parser = crate::parse_pair)]
    keyring: Vec<(String, String)>,
    /// The keyring label new data is sealed under.
    #[arg(long, requires = "keyring")]
    primary: Option<String>,
    /// Read JSON envelopes {"encryptedDek","cipherText"} (no key commitment).
    #[arg(long)]
    accept_json: bool,
    /// Decrypt values in no dekbox form directly with the key (pre-envelope data).
    #[arg(long)]
    legacy_fallback: bool,
}

impl KeyArgs {
    pub fn engine(&self) -> Result<Engine, CliError> {
        let keyring = if !self.keyring.is_empty() {
            let mut b = Keyring::builder();
            for (label, uri) in &self.keyring {
                b = b.add(label.clone(), load(uri)?);
            }
            if let Some(p) = &self.primary {
                b = b.primary(p.clone());
            }
            b.build()?
        } else {
            let uri = self.key.as_deref().ok_or_else(|| {
                Error::Config(
                    "no key: pass --key URI (or set DEKBOX_KEY); `dekbox keygen` makes a local key"
                        .into(),
                )
            })?;
            Keyring::single(load(uri)?)
        };
        Ok(Engine::builder()
            .keyring(keyring)
            .options(Options {
                accept_json: self.accept_json,
                legacy_fallback: self.legacy_fallback,
                ..Options::default()
            })
            .build()?)
    }
}

fn load(uri: &str) -> Result<Arc<dyn KeyProvider>, CliError> {
    if uri == INSECURE_TEST_KEY_URI {
        eprintln!("dekbox: warning: insecure-test-key is public; never protect real data with it");
    }
    Ok(provider::from_uri(uri, &OsEnvironment)?)
}

/// Writes a fresh key file with mode 0600 and returns its `local://` URI.
pub fn keygen(path: &Path, force: bool) -> Result<String, CliError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    os_random(&mut bytes[..])?;
    let key = DataKey::from_slice(&bytes[..]).ok_or(Error::ApiMisuse("key length"))?;
    let text = encode_key_file(&key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        CliError::Io(if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} exists; pass --force to overwrite it", path.display())
        } else {
            format!("cannot write {}: {e}", path.display())
        })
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // An existing file overwritten with --force keeps its old mode otherwise.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::Io(format!("cannot chmod {}: {e}", path.display())))?;
    }
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
    let abs = std::fs::canonicalize(path)
        .map_err(|e| CliError::Io(format!("cannot resolve {}: {e}", path.display())))?;
    Ok(format!("local://{}", abs.display()))
}
