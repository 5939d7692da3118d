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

    fn read_file(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let path = expand_home(path);
        std::fs::read(&path)
            .map(Zeroizing::new)
            .map_err(|e| e.to_string())
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

    #[test]
    fn reads_files_vars_and_processes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, b"abc").unwrap();
        let env = OsEnvironment;
        assert_eq!(&env.read_file(p.to_str().unwrap()).unwrap()[..], b"abc");
        assert!(env.read_file("/definitely/not/here").is_err());
        assert!(env.var("PATH").is_some());
        assert!(system_now().as_unix_millis() > 1_600_000_000_000);
        assert_eq!(&env.run_process("printf hi").unwrap()[..], b"hi");
        assert!(env.run_process("exit 3").is_err());
    }
}
