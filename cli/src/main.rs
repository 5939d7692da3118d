//! `dekbox`: envelope encryption from the command line.

mod demo;
mod io;
mod keys;
mod progress;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dekbox_core::root::blind::{IndexOptions, Normalize, Slowness};
use dekbox_core::root::value::{Mode, is_root_value};
use dekbox_core::{EncryptionContext, Error, Form, Rewrapped};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dekbox",
    version,
    about = "Envelope encryption: data sealed locally under cached data keys, data keys wrapped by your KMS",
    after_help = "Keys are named by URI: local:///path/to/key, local://env/VAR, insecure-test-key.\n\
                  Start with `dekbox demo`, or `dekbox keygen -o dev.key` then `--key local://./dev.key`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new random 256-bit local key (mode 0600) and print its URI.
    Keygen {
        /// Where to write the key.
        #[arg(short, long, default_value = "dekbox.key")]
        out: PathBuf,
        /// Replace an existing file (a new 0600 file is renamed over it; a
        /// symlink there is replaced, not followed).
        #[arg(long)]
        force: bool,
    },
    /// Seal data.
    Encrypt {
        #[command(flatten)]
        keys: keys::KeyArgs,
        #[command(flatten)]
        bind: BindArgs,
        #[command(flatten)]
        io: io::IoArgs,
        /// Output form.
        #[arg(long, value_enum, default_value_t = OutForm::Text)]
        format: OutForm,
        /// What to seal: a message with its own wrapped data key, or a
        /// value that names a root (--root): compact (random) or
        /// deterministic (equal input, equal output: queryable).
        #[arg(long, value_enum, default_value_t = SealMode::Message)]
        mode: SealMode,
        /// Column label of a compact or deterministic value (bound into its
        /// key; give the same one to decrypt).
        #[arg(long, default_value = "")]
        column: String,
    },
    /// Open sealed data (binary, text, or JSON envelopes with --accept-json;
    /// compact and deterministic values with --root and --column).
    Decrypt {
        #[command(flatten)]
        keys: keys::KeyArgs,
        #[command(flatten)]
        bind: BindArgs,
        #[command(flatten)]
        io: io::IoArgs,
        /// Column label of compact or deterministic values.
        #[arg(long, default_value = "")]
        column: String,
    },
    /// Root keys: one secret wrapped once, for compact and deterministic
    /// values and blind indexes.
    Root {
        #[command(subcommand)]
        action: RootAction,
    },
    /// Print the blind index (hex) of each input value under a root
    /// (--root): a keyed, truncated digest for equality search.
    BlindIndex {
        #[command(flatten)]
        keys: keys::KeyArgs,
        /// Encryption context entry, repeatable.
        #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        #[command(flatten)]
        io: io::IoArgs,
        /// Column label.
        #[arg(long)]
        column: String,
        /// Index length in bits (1..=256).
        #[arg(long, default_value_t = 256)]
        bits: u16,
        /// Remove surrounding whitespace first.
        #[arg(long)]
        trim: bool,
        /// Compare case-insensitively (Unicode lowercase first).
        #[arg(long)]
        casefold: bool,
        /// Argon2id instead of HMAC, as T_COST,M_COST_KIB (e.g. 3,4096), for
        /// low-entropy values.
        #[arg(long, value_name = "T,M")]
        argon2id: Option<String>,
        /// The root to use (default: the primary root).
        #[arg(long = "use-root", value_name = "LABEL")]
        use_root: Option<String>,
    },
    /// Move sealed data to the keyring's primary key without re-encrypting it.
    Rewrap {
        #[command(flatten)]
        keys: keys::KeyArgs,
        /// Encryption context entries the data was sealed with.
        #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        #[command(flatten)]
        io: io::IoArgs,
        /// Rewrap these files in place (each holds one sealed value),
        /// atomically: each is replaced by a new file of mode 0600 (a symlink
        /// is replaced by a regular file, not followed), and the directory is
        /// synced after the rename.
        #[arg(long = "in-place", value_name = "FILE", num_args = 1.., conflicts_with_all = ["input", "output", "lines"])]
        in_place: Vec<PathBuf>,
    },
    /// Print a message key (`dekbox:key:v1:…`) for a client without KMS
    /// access (a browser page): the data key of a sealed value read from the
    /// input, or with --new a fresh one to seal uploads with. SECRET: it opens
    /// every message sealed under that data key (all of that context's
    /// messages sealed while it was cached) and seals messages this keyring
    /// opens; see docs/FORMAT.md, "Message keys".
    MessageKey {
        #[command(flatten)]
        keys: keys::KeyArgs,
        /// Encryption context entries the data was (or will be) sealed with.
        #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        #[command(flatten)]
        io: io::IoArgs,
        /// A fresh data key under the primary key (reads no input).
        #[arg(long = "new", conflicts_with_all = ["input", "lines"])]
        new: bool,
    },
    /// Show a sealed value's header: form, version, key, sizes. Never secrets.
    Inspect {
        /// Input file (default: standard input).
        #[arg(short = 'i', long = "in")]
        input: Option<PathBuf>,
    },
    /// Run the main job on a throwaway local key: two tenants, a rotation, cache counters.
    Demo {
        /// How many records to seal.
        #[arg(long, default_value_t = 1000)]
        records: usize,
    },
}

#[derive(Subcommand)]
enum RootAction {
    /// Generate a root key, wrap it with the key (--key, or the keyring's
    /// primary) and print its token `dekbox:root:v1:<label>:...` to keep in
    /// configuration (roots={label: token}, DEKBOX_ROOT, --root LABEL=TOKEN).
    Create {
        #[command(flatten)]
        keys: keys::KeyArgs,
        /// The root's label (1-32 of A-Z a-z 0-9 _ -), named by every value
        /// it seals.
        #[arg(long, default_value = "r1")]
        label: String,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SealMode {
    /// A dekbox message (its own wrapped data key).
    Message,
    /// A compact value naming a root.
    Compact,
    /// A deterministic value naming a root.
    Deterministic,
}

#[derive(Args)]
struct BindArgs {
    /// Encryption context entry, repeatable. Bound into the key wrap and the data.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Associated data (UTF-8), bound into the data only (e.g. table/row id).
    #[arg(long, conflicts_with = "aad_hex")]
    aad: Option<String>,
    /// Associated data as hex.
    #[arg(long)]
    aad_hex: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutForm {
    /// `dekbox:v1:` + base64url: safe for text columns, shells and JSON.
    Text,
    /// The compact binary message.
    Binary,
    /// The compatibility JSON envelope (no key commitment; for old readers only).
    Json,
}

impl From<OutForm> for Form {
    fn from(f: OutForm) -> Form {
        match f {
            OutForm::Text => Form::Text,
            OutForm::Binary => Form::Binary,
            OutForm::Json => Form::Json,
        }
    }
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

impl BindArgs {
    fn context(&self) -> Result<EncryptionContext, Error> {
        context_of(&self.context)
    }

    fn aad(&self) -> Result<Vec<u8>, Error> {
        match (&self.aad, &self.aad_hex) {
            (Some(s), _) => Ok(s.as_bytes().to_vec()),
            (None, Some(h)) => {
                decode_hex(h).ok_or_else(|| Error::Config("--aad-hex is not valid hex".into()))
            }
            (None, None) => Ok(Vec::new()),
        }
    }
}

fn context_of(pairs: &[(String, String)]) -> Result<EncryptionContext, Error> {
    Ok(EncryptionContext::from_pairs(pairs.iter().cloned())?)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dekbox: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Exit codes from dekbox-core's error table: 1 other, 2 usage, 3
/// authentication, 4 malformed, 5 KMS, 6 configuration.
fn exit_code(e: &CliError) -> u8 {
    match e {
        CliError::Dekbox(e) => e.info().exit_code,
        CliError::Io(_) => 1,
    }
}

/// Errors the CLI reports.
#[derive(Debug)]
pub enum CliError {
    /// From dekbox.
    Dekbox(Error),
    /// From the file system.
    Io(String),
}

impl std::error::Error for CliError {}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Dekbox(e) => write!(f, "{e}"),
            CliError::Io(e) => f.write_str(e),
        }
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::Dekbox(e)
    }
}

impl From<dekbox_core::Malformed> for CliError {
    fn from(e: dekbox_core::Malformed) -> Self {
        CliError::Dekbox(e.into())
    }
}

/// Largest sealed input read: the text form of the largest message.
fn max_sealed(client: &dekbox_transport::Client) -> usize {
    client
        .engine()
        .options()
        .max_plaintext
        .saturating_mul(4)
        .div_ceil(3)
        .saturating_add(1 << 16)
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Keygen { out, force } => {
            let uri = keys::keygen(&out, force)?;
            eprintln!("wrote a new 256-bit key to {} (mode 0600)", out.display());
            println!("{uri}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Encrypt {
            keys,
            bind,
            io,
            format,
            mode,
            column,
        } => {
            let dekbox = keys.open()?;
            let client = dekbox.client();
            let (context, aad, form) = (bind.context()?, bind.aad()?, Form::from(format));
            let max_in = client.engine().options().max_plaintext;
            let mode = match mode {
                SealMode::Message => None,
                SealMode::Compact => Some(Mode::Compact),
                SealMode::Deterministic => Some(Mode::Deterministic),
            };
            io.transform(
                max_in,
                |input| match mode {
                    None => Ok(client.encrypt(input, &context, &aad, form)?),
                    Some(m) => Ok(client.encrypt_compact(m, input, &context, &column, &aad, form)?),
                },
                matches!(format, OutForm::Binary),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Decrypt {
            keys,
            bind,
            io,
            column,
        } => {
            let dekbox = keys.open()?;
            let client = dekbox.client();
            let (context, aad) = (bind.context()?, bind.aad()?);
            let max_in = max_sealed(client);
            io.transform(
                max_in,
                |input| {
                    if is_root_value(input) {
                        Ok(client.decrypt_compact(input, &context, &column, &aad)?)
                    } else {
                        Ok(client.decrypt(input, &context, &aad)?)
                    }
                },
                true,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Root {
            action: RootAction::Create { keys, label },
        } => {
            let dekbox = keys.open()?;
            let token = dekbox.client().create_root(&label, None)?;
            eprintln!(
                "a new root key {label:?}, wrapped by {}: keep the token in configuration \
                 (roots={{{label}: token}}, or --root {label}=TOKEN); it is not secret without that key",
                dekbox.primary_key_name()
            );
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::BlindIndex {
            keys,
            context,
            io,
            column,
            bits,
            trim,
            casefold,
            argon2id,
            use_root,
        } => {
            let dekbox = keys.open()?;
            let client = dekbox.client();
            let context = context_of(&context)?;
            let slowness = match argon2id.as_deref().map(|s| s.split_once(',')) {
                None => Slowness::Hmac,
                Some(Some((t, m))) => Slowness::Argon2id {
                    t_cost: t
                        .trim()
                        .parse()
                        .map_err(|_| Error::Config("--argon2id T,M: T is a number".into()))?,
                    m_cost: m
                        .trim()
                        .parse()
                        .map_err(|_| Error::Config("--argon2id T,M: M is a number (KiB)".into()))?,
                },
                Some(None) => {
                    return Err(Error::Config("--argon2id takes T_COST,M_COST_KIB".into()).into());
                }
            };
            let options = IndexOptions {
                bits,
                normalize: Normalize { trim, casefold },
                slowness,
            };
            io.transform(
                client.engine().options().max_plaintext,
                |input| {
                    let index = client.blind_index(
                        input,
                        &context,
                        &column,
                        options,
                        use_root.as_deref(),
                    )?;
                    Ok(index
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                        .into_bytes())
                },
                false,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::MessageKey {
            keys,
            context,
            io,
            new,
        } => {
            let dekbox = keys.open()?;
            let client = dekbox.client();
            let context = context_of(&context)?;
            if new {
                let key = client.new_message_data_key(&context)?;
                io.write_text(&key.token(Form::Text)?)?;
            } else {
                io.transform(
                    max_sealed(client),
                    |input| {
                        let key = client.message_data_key(input, &context)?;
                        Ok(key.token(Form::Text)?.to_vec())
                    },
                    false,
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rewrap {
            keys,
            context,
            io,
            in_place,
        } => {
            let dekbox = keys.open()?;
            let client = dekbox.client();
            let context = context_of(&context)?;
            let max_in = max_sealed(client);
            let rewrap = |input: &[u8]| -> Result<Rewrapped, CliError> {
                Ok(client.rewrap(input, &context)?)
            };
            if !in_place.is_empty() {
                return io::rewrap_files(&in_place, max_in, rewrap);
            }
            let (mut changed, mut current) = (0usize, 0usize);
            io.transform(
                max_in,
                |input| {
                    let r = rewrap(input)?;
                    if r.changed {
                        changed += 1;
                    } else {
                        current += 1;
                    }
                    Ok(r.message)
                },
                true,
            )?;
            eprintln!("rewrapped {changed}, already on the primary key {current}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { input } => {
            let data = io::read_input(input.as_deref(), 1 << 30)?;
            let i = dekbox_core::Engine::builder()
                .key(dekbox_core::provider::LocalProvider::insecure_test_key())
                .build()?
                .inspect(&data)?;
            if let (Some(mode), Some((_, root))) = (i.root_mode, &i.key_ref) {
                println!(
                    "form:            {:?}, root-keyed ({})",
                    i.form,
                    format!("{mode:?}").to_lowercase()
                );
                println!("version:         {}", i.version);
                println!("root:            {}", printable(root));
                println!("plaintext:       {} bytes", i.plaintext_len);
                println!("key commitment:  yes (128-bit)");
                return Ok(ExitCode::SUCCESS);
            }
            let (kind, name) = match &i.key_ref {
                Some((k, n)) => (format!("{k:?}").to_lowercase(), printable(n)),
                None => ("none".into(), "(JSON envelopes name no key)".into()),
            };
            println!("form:            {:?}", i.form);
            println!("version:         {}", i.version);
            println!("suite:           {:#04x}", i.suite);
            println!(
                "key ({kind}):{:pad$}{name}",
                "",
                pad = 12usize.saturating_sub(kind.len())
            );
            println!(
                "wrapped DEK:     {} bytes, fingerprint {}",
                i.wrapped_dek_len, i.wrapped_dek_fingerprint
            );
            if let Some(v) = &i.key_version {
                println!("key version:     {v}");
            }
            println!("plaintext:       {} bytes", i.plaintext_len);
            println!(
                "key commitment:  {}",
                if i.committing {
                    "yes"
                } else {
                    "no (compatibility form)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { records } => demo::run(records),
    }
}

/// `s` with control characters (C0, DEL and C1) escaped, for text from an
/// input that is shown on a terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
