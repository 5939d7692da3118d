//! `dekbox-transport`: the I/O side of dekbox.
//!
//! `dekbox-core` never touches the network, files, environment variables or
//! the clock. This crate supplies them: [`OsEnvironment`] reads environment
//! variables and key files, [`system_now`] reads the clock, and (as KMS
//! providers arrive) drivers send `dekbox-core` operations' HTTP requests.

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

    fn read_file(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let path = expand_home(path);
        std::fs::read(&path)
            .map(Zeroizing::new)
            .map_err(|e| e.to_string())
    }
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// The current wall-clock time.
pub fn system_now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_and_vars() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, b"abc").unwrap();
        let env = OsEnvironment;
        assert_eq!(&env.read_file(p.to_str().unwrap()).unwrap()[..], b"abc");
        assert!(env.read_file("/definitely/not/here").is_err());
        assert!(env.var("PATH").is_some());
        assert!(system_now().as_unix_millis() > 1_600_000_000_000);
    }
}
