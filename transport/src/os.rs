//! The real process environment and clock.

use dekbox_core::Timestamp;
use dekbox_core::env::Environment;
use zeroize::Zeroizing;

/// The real process environment and file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEnvironment;

impl Environment for OsEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// Configuration and credential files (AWS config, token files, Google
    /// key files): regular files of at most [`MAX_CONFIG_FILE`] bytes, so a
    /// variable pointing at `/dev/zero` or a FIFO fails instead of
    /// exhausting memory or blocking.
    fn read_file(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let path = expand_home(path);
        let (f, meta) = open_regular(&path)?;
        read_bounded(f, meta.len(), MAX_CONFIG_FILE, "not a configuration file")
    }

    fn read_secret_file(&self, path: &str, max_len: usize) -> Result<Zeroizing<Vec<u8>>, String> {
        let path = expand_home(path);
        let (f, meta) = open_regular(&path)?;
        #[cfg(unix)]
        check_private(
            &path,
            &meta,
            std::env::var_os(ALLOW_SHARED_KEY_FILE).is_some_and(|v| v == "1"),
        )?;
        read_bounded(f, meta.len(), max_len, "not a key file")
    }

    #[cfg(unix)]
    fn run_process(&self, command: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("exited with {}", out.status));
        }
        Ok(Zeroizing::new(out.stdout))
    }
}

/// Largest configuration or credential file read.
pub const MAX_CONFIG_FILE: usize = 1 << 20;

/// Opens a regular file. Symlinks are followed (secret stores mount keys
/// through them); what is checked is the file actually opened. Opening does
/// not block (a FIFO would wait for a writer) and never takes a controlling
/// terminal.
fn open_regular(path: &str) -> Result<(std::fs::File, std::fs::Metadata), String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let f = options.open(path).map_err(|e| e.to_string())?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    Ok((f, meta))
}

/// Reads at most `max_len` bytes into a wiping buffer sized up front from
/// the file's length (so no copy is left behind by growing); more is an
/// error.
fn read_bounded(
    f: std::fs::File,
    len: u64,
    max_len: usize,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read as _;
    let room = usize::try_from(len).unwrap_or(max_len).min(max_len) + 1;
    let mut data = Zeroizing::new(Vec::with_capacity(room));
    f.take(max_len as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() > max_len {
        return Err(format!("larger than {max_len} bytes: {what}"));
    }
    Ok(data)
}

/// Set to `1` to accept key files that other users can read or that belong
/// to another user (a secret store that mounts them so). Off by default.
#[cfg_attr(not(unix), allow(dead_code))]
pub const ALLOW_SHARED_KEY_FILE: &str = "DEKBOX_ALLOW_SHARED_KEY_FILE";

/// A key file must be readable by its owner only, and owned by this user or
/// root (as OpenSSH requires of private keys).
#[cfg(unix)]
fn check_private(path: &str, meta: &std::fs::Metadata, allow_shared: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    if allow_shared {
        return Ok(());
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "it is readable or writable by other users (mode {mode:03o}); run `chmod 600 {path}` \
             (or set {ALLOW_SHARED_KEY_FILE}=1 if a secret store mounts it this way)"
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let owner = meta.uid();
    if owner != me && owner != 0 {
        return Err(format!(
            "it belongs to user id {owner}, not to this user ({me}) or root; \
             run `chown {me} {path}` (or set {ALLOW_SHARED_KEY_FILE}=1)"
        ));
    }
    Ok(())
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// The current wall-clock time (the browser's clock on wasm32).
pub fn system_now() -> Timestamp {
    let ms = web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
        .unwrap_or(0);
    Timestamp::from_unix_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16, finding 5: key files were loaded whatever their mode, owner
    /// or kind; `/dev/zero` read until memory ran out.
    #[cfg(unix)]
    #[test]
    fn key_files_must_be_private_regular_and_small() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
        let path = key.to_str().unwrap();
        let env = OsEnvironment;
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = env.read_secret_file(path, 4096).unwrap_err();
            assert!(e.contains(&format!("chmod 600 {path}")), "{mode:o}: {e}");
        }
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(env.read_secret_file(path, 4096).is_ok());
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(env.read_secret_file(path, 4096).is_ok());
        // Not regular files: a device that never ends, a directory, a FIFO
        // (which must not block the open waiting for a writer).
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(
            env.read_secret_file(fifo.to_str().unwrap(), 4096)
                .unwrap_err(),
            "not a regular file"
        );
        assert_eq!(
            env.read_secret_file("/dev/zero", 4096).unwrap_err(),
            "not a regular file"
        );
        assert!(
            env.read_secret_file(dir.path().to_str().unwrap(), 4096)
                .is_err()
        );
        // Only a few KiB are ever read.
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'A'; 1 << 20]).unwrap();
        std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            env.read_secret_file(big.to_str().unwrap(), 4096)
                .unwrap_err()
                .contains("larger than 4096")
        );
        // The explicit opt-out for secret stores that mount keys shared.
        let meta = std::fs::metadata(&key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let meta644 = std::fs::metadata(&key).unwrap();
        assert!(check_private(path, &meta644, true).is_ok());
        assert!(check_private(path, &meta, false).is_ok());
        // A file of another user (root can make one; CI runs as root).
        if unsafe { libc::geteuid() } == 0 {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(&key, Some(1234), None).unwrap();
            let e = env.read_secret_file(path, 4096).unwrap_err();
            assert!(e.contains("belongs to user id 1234"), "{e}");
        }
    }

    #[test]
    fn reads_files_vars_and_processes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, b"abc").unwrap();
        let env = OsEnvironment;
        assert_eq!(&env.read_file(p.to_str().unwrap()).unwrap()[..], b"abc");
        assert!(env.read_file("/definitely/not/here").is_err());
        // A device or a FIFO named where a file belongs fails at once.
        #[cfg(unix)]
        assert_eq!(
            env.read_file("/dev/zero").unwrap_err(),
            "not a regular file"
        );
        assert!(env.var("PATH").is_some());
        assert!(system_now().as_unix_millis() > 1_600_000_000_000);
        assert_eq!(&env.run_process("printf hi").unwrap()[..], b"hi");
        assert!(env.run_process("exit 3").is_err());
    }
}
