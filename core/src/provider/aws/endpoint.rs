//! Where AWS requests go: regions, partitions and endpoint URLs, validated.
//!
//! A region, a partition and an endpoint reach dekbox from key URIs, options,
//! environment variables and profile files, and every one of them ends up in
//! the host that signed requests (with session tokens, and during a rewrap
//! plaintext data keys) are sent to. So a region is a DNS label and nothing
//! else, a partition is one AWS knows, and every URL is built with a URL type
//! and its host checked, never pasted together from strings.

use crate::{Error, Result};
use url::{Host, Url};

/// Longest region name accepted (`ap-southeast-5` is 14; leave room).
const MAX_REGION_LEN: usize = 32;

/// Partitions with their DNS suffix.
const PARTITIONS: &[(&str, &str)] = &[
    ("aws", "amazonaws.com"),
    ("aws-us-gov", "amazonaws.com"),
    ("aws-cn", "amazonaws.com.cn"),
    ("aws-iso", "c2s.ic.gov"),
    ("aws-iso-b", "sc2s.sgov.gov"),
];

/// A region name: 1 to 32 of `a-z`, `0-9` and `-`.
pub fn region(region: &str) -> Result<&str> {
    let ok = !region.is_empty()
        && region.len() <= MAX_REGION_LEN
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(region)
    } else {
        Err(Error::Config(format!(
            "{region:?} is not an AWS region name (expected 1-{MAX_REGION_LEN} of a-z, 0-9, -)"
        )))
    }
}

/// The DNS suffix of a partition named in an ARN.
pub fn partition_suffix(partition: &str) -> Result<&'static str> {
    PARTITIONS
        .iter()
        .find(|(p, _)| *p == partition)
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown AWS partition {partition:?} (known: aws, aws-us-gov, aws-cn, aws-iso, \
                 aws-iso-b; for others set the endpoint explicitly)"
            ))
        })
}

/// The DNS suffix for a region named without an ARN (an alias URI, the STS
/// endpoint), from its prefix: `cn-` is China, `us-iso-`/`us-isob-` the
/// isolated partitions, anything else `amazonaws.com`.
pub fn region_suffix(region: &str) -> &'static str {
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    };
    partition_suffix(partition).unwrap_or("amazonaws.com")
}

/// `https://{service}.{region}.{suffix}/`, with the host checked.
pub fn service_url(service: &str, region_name: &str, suffix: &str) -> Result<String> {
    let host = format!("{service}.{}.{suffix}", region(region_name)?);
    let url = Url::parse(&format!("https://{host}/"))
        .map_err(|e| Error::Config(format!("cannot build an endpoint for {host}: {e}")))?;
    match url.host() {
        Some(Host::Domain(h)) if h == host && url.path() == "/" => Ok(url.into()),
        _ => Err(Error::Config(format!(
            "endpoint for region {region_name:?} does not have the expected host"
        ))),
    }
}

/// An endpoint given explicitly (an option or `AWS_ENDPOINT_URL*`): a
/// [`checked_url`], returned with one trailing slash.
pub fn explicit_url(what: &str, given: &str) -> Result<String> {
    let s: String = checked_url(what, given)?.into();
    Ok(format!("{}/", s.trim_end_matches('/')))
}

/// A URL given in configuration (an endpoint, a key file's `token_uri`): an
/// absolute `http`/`https` URL with a host, no user name or password, no
/// query or fragment. `what` names the setting in the error.
pub fn checked_url(what: &str, given: &str) -> Result<Url> {
    // The URL is quoted without any user name or password it may carry.
    let bad = |why: &str| {
        Error::Config(format!(
            "{what} {:?} is not usable: {why}",
            without_userinfo(given)
        ))
    };
    let url = Url::parse(given.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host().is_none() {
        return Err(bad("it names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(url)
}

/// `given` with anything between `://` and an `@` in its authority replaced,
/// so an error message never repeats a password.
fn without_userinfo(given: &str) -> String {
    let Some((scheme, rest)) = given.split_once("://") else {
        return given.chars().take(200).collect();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => authority.to_string(),
    };
    format!("{scheme}://{host}{path}")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_dns_labels() {
        for ok in ["us-east-1", "cn-north-1", "us-gov-west-1", "eu-central-2"] {
            assert_eq!(region(ok).unwrap(), ok);
        }
        for bad in [
            "",
            "x@evil.example/",
            "evil.example#",
            "us-east-1.evil.example",
            "US-EAST-1",
            "us east 1",
            "a/b",
            "x:1",
            "\u{1b}[2J",
            &"a".repeat(33),
        ] {
            assert!(matches!(region(bad), Err(Error::Config(_))), "{bad:?}");
        }
    }

    #[test]
    fn service_urls_have_the_expected_host() {
        assert_eq!(
            service_url("kms", "eu-west-1", "amazonaws.com").unwrap(),
            "https://kms.eu-west-1.amazonaws.com/"
        );
        assert!(service_url("kms", "x@evil.example/", "amazonaws.com").is_err());
    }

    #[test]
    fn explicit_urls_are_plain_http_urls() {
        assert_eq!(
            explicit_url("endpoint", "http://127.0.0.1:4566").unwrap(),
            "http://127.0.0.1:4566/"
        );
        assert_eq!(
            explicit_url(
                "endpoint",
                "https://vpce-1.kms.eu-west-1.vpce.amazonaws.com/"
            )
            .unwrap(),
            "https://vpce-1.kms.eu-west-1.vpce.amazonaws.com/"
        );
        let e = explicit_url("AWS_ENDPOINT_URL", "https://user:hunter2@kms.example/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = explicit_url("AWS_ENDPOINT_URL", "https://user:hunter2@[bad/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(region_suffix("cn-north-1"), "amazonaws.com.cn");
        assert_eq!(region_suffix("us-iso-east-1"), "c2s.ic.gov");
        assert_eq!(region_suffix("us-isob-east-1"), "sc2s.sgov.gov");
        assert_eq!(region_suffix("eu-west-1"), "amazonaws.com");
        for bad in [
            "kms.example",
            "file:///etc/passwd",
            "https://user:pw@kms.example",
            "https://kms.example/?x=1",
            "https://kms.example/#frag",
            "https://",
        ] {
            assert!(explicit_url("endpoint", bad).is_err(), "{bad}");
        }
    }
}
