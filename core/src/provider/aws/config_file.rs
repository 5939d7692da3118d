//! `~/.aws/config` and `~/.aws/credentials`, as the AWS SDKs read them.
//!
//! Sections are `[name]` in the credentials file and `[profile name]` (or
//! `[default]`) in the config file; keys are `key = value`; `#` and `;` start
//! comments; indented lines are sub-properties of the previous key (ignored).
//! Values from the credentials file win over the config file's.

use crate::env::Environment;
use std::collections::HashMap;

/// One profile's settings, merged from both files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Key/value settings, keys lower-cased.
    pub settings: HashMap<String, String>,
}

impl Profile {
    /// A setting.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// All profiles from both files.
#[derive(Debug, Default, Clone)]
pub struct ProfileSet {
    profiles: HashMap<String, Profile>,
}

impl ProfileSet {
    /// Reads the files the environment points at (`AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and
    /// `~/.aws/credentials`). Missing files are empty.
    pub fn load(env: &dyn Environment) -> Self {
        let mut set = ProfileSet::default();
        let config = env
            .var("AWS_CONFIG_FILE")
            .unwrap_or_else(|| "~/.aws/config".into());
        let creds = env
            .var("AWS_SHARED_CREDENTIALS_FILE")
            .unwrap_or_else(|| "~/.aws/credentials".into());
        if let Ok(text) = env.read_file(&config) {
            set.merge(&String::from_utf8_lossy(&text), true);
        }
        if let Ok(text) = env.read_file(&creds) {
            set.merge(&String::from_utf8_lossy(&text), false);
        }
        set
    }

    /// Parses file text; `config_file` selects the `[profile name]` rule.
    pub fn merge(&mut self, text: &str, config_file: bool) {
        let mut current: Option<String> = None;
        for raw in text.lines() {
            if raw.starts_with([' ', '\t']) {
                continue; // sub-property of the previous key
            }
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                let section = section.trim();
                current = if config_file {
                    match section.strip_prefix("profile ") {
                        Some(name) => Some(name.trim().to_string()),
                        None if section == "default" => Some("default".into()),
                        None => None, // sso-session, services: not profiles
                    }
                } else {
                    Some(section.to_string())
                };
                continue;
            }
            let (Some(name), Some((k, v))) = (current.as_ref(), line.split_once('=')) else {
                continue;
            };
            let v = v
                .split(" #")
                .next()
                .unwrap_or(v)
                .split(" ;")
                .next()
                .unwrap_or(v);
            let entry = self.profiles.entry(name.clone()).or_default();
            // The credentials file is merged last, so its values win.
            entry
                .settings
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }

    /// A profile by name.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_files() {
        let mut s = ProfileSet::default();
        s.merge(
            "[default]\nregion = eu-west-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\ns3 =\n  max_concurrent_requests = 10\n[sso-session x]\nsso_region = us-east-1\n",
            true,
        );
        s.merge(
            "[base]\naws_access_key_id = AK # comment\naws_secret_access_key = SK\n; note\n",
            false,
        );
        assert_eq!(s.get("default").unwrap().get("region"), Some("eu-west-1"));
        assert_eq!(s.get("dev").unwrap().get("source_profile"), Some("base"));
        assert_eq!(s.get("base").unwrap().get("aws_access_key_id"), Some("AK"));
        assert!(s.get("x").is_none());
        assert!(
            s.get("dev")
                .unwrap()
                .get("max_concurrent_requests")
                .is_none()
        );
    }
}
