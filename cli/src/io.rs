//! Input and output: bounded reads, atomic writes, line-by-line batches.

use crate::CliError;
use crate::progress::Progress;
use clap::Args;
use dekbox_core::Rewrapped;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct IoArgs {
    /// Input file (default: standard input).
    #[arg(short = 'i', long = "in", id = "input")]
    input: Option<PathBuf>,
    /// Output file, written atomically (default: standard output).
    #[arg(short = 'o', long = "out", id = "output")]
    output: Option<PathBuf>,
    /// Treat each input line as a separate value (text forms only).
    #[arg(long, id = "lines")]
    lines: bool,
}

impl IoArgs {
    /// Reads all input, applies `f` (per line with --lines), and writes the
    /// result only if every value succeeded: nothing is half-written.
    pub fn transform(
        &self,
        max_in: usize,
        mut f: impl FnMut(&[u8]) -> Result<Vec<u8>, CliError>,
        binary_output: bool,
    ) -> Result<(), CliError> {
        let input = read_input(self.input.as_deref(), max_in)?;
        let output = if self.lines {
            let lines: Vec<&[u8]> = input
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .collect();
            // A trailing newline does not make an extra empty record.
            let n = if input.ends_with(b"\n") {
                lines.len() - 1
            } else {
                lines.len()
            };
            let mut progress = Progress::new(n as u64, "records");
            let mut out = Vec::with_capacity(input.len() * 2);
            for (i, line) in lines[..n].iter().enumerate() {
                let v = f(line).map_err(|e| CliError::Io(format!("line {}: {e}", i + 1)))?;
                if v.contains(&b'\n') {
                    return Err(CliError::Io(format!(
                        "line {}: result contains a newline; --lines needs text forms and single-line plaintexts",
                        i + 1
                    )));
                }
                out.extend_from_slice(&v);
                out.push(b'\n');
                progress.inc();
            }
            progress.finish();
            out
        } else {
            let mut v = f(&input)?;
            if !binary_output && self.output.is_none() {
                v.push(b'\n');
            }
            v
        };
        write_output(
            self.output.as_deref(),
            &output,
            binary_output && !self.lines,
        )
    }
}

impl IoArgs {
    /// Writes one text value (with a newline on standard output).
    pub fn write_text(&self, text: &[u8]) -> Result<(), CliError> {
        let mut out = zeroize::Zeroizing::new(text.to_vec());
        if self.output.is_none() {
            out.push(b'\n');
        }
        write_output(self.output.as_deref(), &out, false)
    }
}

/// Reads a file or standard input, refusing more than `max` bytes.
pub fn read_input(path: Option<&Path>, max: usize) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let limit = (max as u64).saturating_add(1);
    let n = match path {
        Some(p) => std::fs::File::open(p)
            .and_then(|f| f.take(limit).read_to_end(&mut buf))
            .map_err(|e| CliError::Io(format!("cannot read {}: {e}", p.display())))?,
        None => std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::Io(format!("cannot read standard input: {e}")))?,
    };
    if n > max {
        return Err(CliError::Io(format!(
            "input is larger than the {max}-byte limit"
        )));
    }
    Ok(buf)
}

/// Writes to a file atomically (temporary file in the same directory, then
/// rename), or to standard output in one write.
pub fn write_output(path: Option<&Path>, data: &[u8], binary: bool) -> Result<(), CliError> {
    match path {
        Some(p) => write_atomic(p, data),
        None => {
            let mut out = std::io::stdout().lock();
            if binary && out.is_terminal() {
                return Err(CliError::Io(
                    "refusing to write binary data to a terminal; use -o FILE or --format text"
                        .into(),
                ));
            }
            out.write_all(data)
                .and_then(|_| out.flush())
                .map_err(|e| CliError::Io(format!("cannot write standard output: {e}")))
        }
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), CliError> {
    write_new_file(path, data, true)
}

/// Writes `data` to a new mode-0600 temporary file beside `path`, syncs it,
/// renames it over `path` (or, with `replace` false, links it there only if
/// nothing exists at `path`), and syncs the directory so the rename survives
/// a crash. Nothing is written through an existing file or symlink: a symlink
/// at `path` is replaced, never followed, and whoever had the old file open
/// never sees the new contents.
pub fn write_new_file(path: &Path, data: &[u8], replace: bool) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let err = |e: std::io::Error| CliError::Io(format!("cannot write {}: {e}", path.display()));
    // tempfile creates with O_EXCL and mode 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(err)?;
    if replace {
        tmp.persist(path).map_err(|e| err(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::Io(format!(
                    "{} exists; pass --force to overwrite it",
                    path.display()
                ))
            } else {
                err(e.error)
            }
        })?;
    }
    sync_dir(dir).map_err(err)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Rewraps each file in place, with progress and a summary. Files that fail
/// are left untouched; the exit code is 1 if any failed.
pub fn rewrap_files(
    paths: &[PathBuf],
    max_in: usize,
    mut rewrap: impl FnMut(&[u8]) -> Result<Rewrapped, CliError>,
) -> Result<ExitCode, CliError> {
    let mut progress = Progress::new(paths.len() as u64, "rewrap");
    let (mut changed, mut current, mut failed) = (0usize, 0usize, 0usize);
    for p in paths {
        let result = read_input(Some(p), max_in).and_then(|data| {
            let r = rewrap(&data)?;
            if r.changed {
                write_atomic(p, &r.message)?;
            }
            Ok(r.changed)
        });
        match result {
            Ok(true) => changed += 1,
            Ok(false) => current += 1,
            Err(e) => {
                failed += 1;
                eprintln!("dekbox: {}: {e}", p.display());
            }
        }
        progress.inc();
    }
    progress.finish();
    eprintln!("rewrapped {changed}, already on the primary key {current}, failed {failed}");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
