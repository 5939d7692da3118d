//! The process environment, injected: environment variables and files.
//!
//! The core never reads either itself. `dekbox-transport` supplies the real
//! operating-system implementation; tests supply [`MapEnvironment`].

use std::collections::HashMap;
use zeroize::Zeroizing;

/// Where providers look up configuration such as local key files and
/// environment variables.
pub trait Environment: Send + Sync {
    /// The value of an environment variable, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;

    /// The contents of a file; the error is a human-readable reason. A
    /// leading `~/` means the user's home directory.
    fn read_file(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, String>;

    /// The contents of a file that holds a secret (a local key), at most
    /// `max_len` bytes. Implementations backed by a real file system also
    /// refuse anything but a regular file, and a file that other users can
    /// read or that belongs to another user; the error says how to fix it.
    fn read_secret_file(&self, path: &str, max_len: usize) -> Result<Zeroizing<Vec<u8>>, String> {
        let data = self.read_file(path)?;
        if data.len() > max_len {
            return Err(format!("larger than {max_len} bytes: not a key file"));
        }
        Ok(data)
    }

    /// Runs a shell command and returns its standard output (AWS
    /// `credential_process`). Environments that cannot run processes say so.
    fn run_process(&self, command: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let _ = command;
        Err("this environment cannot run processes".into())
    }
}

/// An in-memory environment for tests and embedded use.
#[derive(Default, Clone, Debug)]
pub struct MapEnvironment {
    /// Environment variables.
    pub vars: HashMap<String, String>,
    /// Files, by path.
    pub files: HashMap<String, Vec<u8>>,
    /// Output of commands, by command line.
    pub processes: HashMap<String, Vec<u8>>,
}

impl MapEnvironment {
    /// An environment holding these variables and nothing else.
    pub fn with_vars<'a>(vars: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> Self {
        let mut e = Self::default();
        for (k, v) in vars {
            e.vars.insert((*k).to_string(), (*v).to_string());
        }
        e
    }
}

impl Environment for MapEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn read_file(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        self.files
            .get(path)
            .map(|b| Zeroizing::new(b.clone()))
            .ok_or_else(|| "no such file".to_string())
    }

    fn run_process(&self, command: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        self.processes
            .get(command)
            .map(|b| Zeroizing::new(b.clone()))
            .ok_or_else(|| "command failed".to_string())
    }
}
