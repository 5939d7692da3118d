//! Key options shared by the commands, and `keygen`.

use crate::CliError;
use clap::Args;
use dekbox_core::provider::{INSECURE_TEST_KEY_URI, encode_key_file};
use dekbox_core::random::os_random;
use dekbox_core::{DataKey, Error};
use dekbox_facade::{Config, Dekbox};
use std::path::Path;

#[derive(Args, Clone)]
pub struct KeyArgs {
    /// Key URI for a single key (local:///path, local://env/VAR, aws-kms://...,
    /// gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K, vault://MOUNT/keys/NAME,
    /// insecure-test-key); with neither --key nor --keyring, DEKBOX_KEY. Credentials come from
    /// the environment: AWS's default chain; Google's GOOGLE_APPLICATION_CREDENTIALS, gcloud's
    /// application-default login, GOOGLE_OAUTH_ACCESS_TOKEN or the metadata server; Vault's
    /// VAULT_ADDR with VAULT_TOKEN or ~/.vault-token.
    #[arg(long, conflicts_with = "keyring")]
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
    /// With --legacy-fallback, accept legacy values of exactly 32 bytes (refused
    /// by default: they may be another tool's wrapped data keys).
    #[arg(long, requires = "legacy_fallback")]
    legacy_allow_key_sized: bool,
    /// AWS KMS endpoint URL (VPC endpoints, local test servers).
    #[arg(long, value_name = "URL")]
    aws_endpoint: Option<String>,
    /// AWS region, when the key URI does not name one.
    #[arg(long, value_name = "REGION")]
    aws_region: Option<String>,
    /// AWS profile from the shared config files.
    #[arg(long, value_name = "NAME")]
    aws_profile: Option<String>,
    /// Use AWS KMS FIPS endpoints.
    #[arg(long)]
    aws_fips: bool,
    /// AWS KMS grant token, repeatable.
    #[arg(long = "grant-token", value_name = "TOKEN")]
    grant_tokens: Vec<String>,
    /// Cloud KMS endpoint URL (default: CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS, else Google's).
    #[arg(long, value_name = "URL")]
    gcp_endpoint: Option<String>,
    /// A root key LABEL=TOKEN (from `dekbox root create`), repeatable: for
    /// --mode compact/deterministic and blind-index.
    #[arg(long = "root", value_name = "LABEL=TOKEN", value_parser = crate::parse_pair)]
    roots: Vec<(String, String)>,
    /// The root new values and indexes use (with several --root).
    #[arg(long, value_name = "LABEL", requires = "roots")]
    primary_root: Option<String>,
}

impl KeyArgs {
    /// Opens the keys through the facade's `Config` (the same validation,
    /// defaults and `DEKBOX_KEY` convention as every binding).
    pub fn open(&self) -> Result<Dekbox, CliError> {
        let mut keys = std::collections::BTreeMap::new();
        for (label, uri) in &self.keyring {
            if keys.insert(label.clone(), uri.clone()).is_some() {
                return Err(
                    Error::Config(format!("keyring label {label:?} is given twice")).into(),
                );
            }
        }
        let keys = (!keys.is_empty()).then_some(keys);
        let mut roots = std::collections::BTreeMap::new();
        for (label, token) in &self.roots {
            if roots.insert(label.clone(), token.clone()).is_some() {
                return Err(Error::Config(format!("root label {label:?} is given twice")).into());
            }
        }
        let config = Config {
            roots: (!roots.is_empty()).then_some(roots),
            primary_root: self.primary_root.clone(),
            key: self.key.clone(),
            keys,
            primary: self.primary.clone(),
            endpoint: self.aws_endpoint.clone(),
            region: self.aws_region.clone(),
            profile: self.aws_profile.clone(),
            fips: self.aws_fips,
            grant_tokens: self.grant_tokens.clone(),
            gcp_endpoint: self.gcp_endpoint.clone(),
            accept_json: self.accept_json,
            legacy_fallback: self.legacy_fallback,
            legacy_allow_key_sized: self.legacy_allow_key_sized,
            ..Config::default()
        };
        let dekbox = config.open()?;
        // Wherever the key came from (--key, --keyring, DEKBOX_KEY).
        for e in dekbox.client().engine().keyring().entries() {
            warn_if_test_key(e.provider().uri());
        }
        Ok(dekbox)
    }
}

fn warn_if_test_key(uri: &str) {
    if uri == INSECURE_TEST_KEY_URI {
        eprintln!("dekbox: warning: insecure-test-key is public; never protect real data with it");
    }
}

/// Writes a fresh key file with mode 0600 and returns its `local://` URI.
pub fn keygen(path: &Path, force: bool) -> Result<String, CliError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    os_random(&mut bytes[..])?;
    let key = DataKey::from_slice(&bytes[..]).ok_or(Error::ApiMisuse("key length"))?;
    let text = encode_key_file(&key);
    // A new 0600 file renamed into place: --force replaces what is there (a
    // symlink included) instead of writing through it.
    crate::io::write_new_file(path, text.as_bytes(), force)?;
    let abs = std::fs::canonicalize(path)
        .map_err(|e| CliError::Io(format!("cannot resolve {}: {e}", path.display())))?;
    Ok(format!("local://{}", abs.display()))
}
