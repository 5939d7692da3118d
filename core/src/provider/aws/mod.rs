//! `aws-kms://` keys: AWS KMS over its JSON 1.1 API, signed with SigV4,
//! credentials from the AWS SDKs' default chain.
//!
//! Key URIs:
//!
//! - `aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID` (region from the ARN);
//! - `aws-kms://arn:aws:kms:REGION:ACCOUNT:alias/NAME`;
//! - `aws-kms://alias/NAME?region=R` or `aws-kms://KEY-ID?region=R` (region
//!   may also come from [`AwsOptions::region`], `AWS_REGION`,
//!   `AWS_DEFAULT_REGION` or the profile).
//!
//! The endpoint is [`AwsOptions::endpoint`], else `AWS_ENDPOINT_URL_KMS`, else
//! `AWS_ENDPOINT_URL`, else `https://kms[-fips].<region>.amazonaws.com`
//! (`.amazonaws.com.cn` in the `aws-cn` partition).

pub mod api;
pub mod config_file;
pub mod credentials;
pub mod endpoint;
pub mod sigv4;
mod xml;

use self::sigv4::{Credentials, Scope};
use crate::context::EncryptionContext;
use crate::env::Environment;
use crate::http::{HttpRequest, Method};
use crate::key::{DataKey, GeneratedKey};
use crate::op::BoxOp;
use crate::provider::KeyProvider;
use crate::provider::credentials::{Call, WarmUp};
use crate::random::SecureRandom;
use crate::{Error, Result, Timestamp};
use api::{Action, Answer};
use credentials::{CachedCredentials, CredentialChain};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Options for `aws-kms://` keys.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// Endpoint URL override (loopback test servers, VPC endpoints).
    pub endpoint: Option<String>,
    /// Region, when the key URI does not name one.
    pub region: Option<String>,
    /// Use the FIPS endpoints (`kms-fips.<region>.amazonaws.com`).
    pub fips: bool,
    /// Grant tokens sent with every request.
    pub grant_tokens: Vec<String>,
    /// Use these credentials instead of the default chain.
    pub credentials: Option<Credentials>,
    /// Profile to use instead of `AWS_PROFILE`.
    pub profile: Option<String>,
}

/// An AWS KMS key.
pub struct AwsKmsProvider {
    uri: String,
    key_id: String,
    region: String,
    endpoint: String,
    grant_tokens: Vec<String>,
    credentials: Arc<CachedCredentials>,
}

impl std::fmt::Debug for AwsKmsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsProvider")
            .field("uri", &self.uri)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl AwsKmsProvider {
    /// Builds a provider from an `aws-kms://` URI.
    pub fn from_uri(uri: &str, env: Arc<dyn Environment>, options: &AwsOptions) -> Result<Self> {
        let rest = uri
            .strip_prefix("aws-kms://")
            .ok_or_else(|| Error::Config(format!("{uri:?} is not an aws-kms:// URI")))?;
        let (key, query) = rest.split_once('?').unwrap_or((rest, ""));
        if key.is_empty() {
            return Err(Error::Config(format!("{uri:?} names no key")));
        }
        let mut uri_region = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("region", r)) if !r.is_empty() => uri_region = Some(r.to_string()),
                _ => {
                    return Err(Error::Config(format!(
                        "{uri:?}: unknown parameter {pair:?} (only region=)"
                    )));
                }
            }
        }
        let (arn_region, suffix) = if let Some(arn) = key.strip_prefix("arn:") {
            let parts: Vec<&str> = arn.splitn(5, ':').collect();
            if parts.len() != 5 || parts[1] != "kms" || parts[2].is_empty() {
                return Err(Error::Config(format!(
                    "{uri:?}: expected arn:PARTITION:kms:REGION:ACCOUNT:key/ID"
                )));
            }
            let suffix = endpoint::partition_suffix(parts[0])?;
            (Some(endpoint::region(parts[2])?.to_string()), Some(suffix))
        } else {
            (None, None)
        };
        let profile_region = || {
            let set = config_file::ProfileSet::load(env.as_ref());
            let name = options
                .profile
                .clone()
                .or_else(|| env.var("AWS_PROFILE"))
                .unwrap_or_else(|| "default".into());
            set.get(&name)
                .and_then(|p| p.get("region").map(String::from))
        };
        let region = arn_region
            .or(uri_region)
            .or_else(|| options.region.clone())
            .or_else(|| env.var("AWS_REGION").filter(|r| !r.is_empty()))
            .or_else(|| env.var("AWS_DEFAULT_REGION").filter(|r| !r.is_empty()))
            .or_else(profile_region)
            .ok_or_else(|| {
                Error::Config(format!(
                    "{uri:?}: no region (use an ARN, ?region=, the region option or AWS_REGION)"
                ))
            })?;
        // Wherever it came from, the region becomes part of a host name and of
        // the signature scope.
        endpoint::region(&region)?;
        let explicit = [
            ("the endpoint option", options.endpoint.clone()),
            ("AWS_ENDPOINT_URL_KMS", env.var("AWS_ENDPOINT_URL_KMS")),
            ("AWS_ENDPOINT_URL", env.var("AWS_ENDPOINT_URL")),
        ]
        .into_iter()
        .find_map(|(what, v)| v.filter(|e| !e.is_empty()).map(|v| (what, v)));
        let endpoint = match explicit {
            Some((what, url)) => endpoint::explicit_url(what, &url)?,
            None => endpoint::service_url(
                if options.fips { "kms-fips" } else { "kms" },
                &region,
                suffix.unwrap_or_else(|| endpoint::region_suffix(&region)),
            )?,
        };
        let mut chain = CredentialChain::new(env, options.profile.clone(), Some(region.clone()));
        if let Some(c) = &options.credentials {
            chain = chain.explicit(c.clone());
        }
        Ok(Self {
            uri: uri.to_string(),
            key_id: key.to_string(),
            region,
            endpoint,
            grant_tokens: options.grant_tokens.clone(),
            credentials: Arc::new(CachedCredentials::new(chain)),
        })
    }

    /// The `KeyId` sent to KMS.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An operation resolving (and caching) this provider's credentials, for
    /// transports that warm them up before concurrent use.
    pub fn warm_credentials(&self) -> WarmUp<'_, Credentials> {
        WarmUp::new(&self.credentials)
    }

    fn call<T: Send + 'static>(
        &self,
        action: Action,
        body: Zeroizing<Vec<u8>>,
        parse: fn(Answer) -> Result<T>,
    ) -> BoxOp<'_, T> {
        self.call_made_by(action, body, parse, self)
    }

    /// A call whose answer must come from `made_by`'s key (when it carries
    /// a ciphertext: GenerateDataKey, Encrypt, ReEncrypt).
    fn call_made_by<'a, T: Send + 'static>(
        &'a self,
        action: Action,
        body: Zeroizing<Vec<u8>>,
        parse: fn(Answer) -> Result<T>,
        made_by: &'a AwsKmsProvider,
    ) -> BoxOp<'a, T> {
        Box::new(Call::new(
            &self.credentials,
            move |creds, now| self.build_request(action, &body, creds, now),
            move |response, _| {
                let answer = api::parse(response)?;
                // A wrapped key made by another key (a misrouted or tampered
                // answer) would never unwrap here: refuse it now, not at
                // read time.
                if matches!(
                    action,
                    Action::GenerateDataKey | Action::Encrypt | Action::ReEncrypt
                ) && !made_by.made_by_this_key(answer.key_id.as_deref())
                {
                    return Err(Error::Kms {
                        code: "InvalidAnswer".into(),
                        message: "KMS answered with a ciphertext of another key".into(),
                    });
                }
                parse(answer).map(Some)
            },
        ))
    }

    /// Whether an answer's `KeyId` (always a key ARN) names this key: the
    /// same ARN, or for a bare key id an ARN ending `:key/ID`, or for an
    /// alias (which AWS resolves to whatever key it points at) a key of the
    /// same region.
    fn made_by_this_key(&self, answer: Option<&str>) -> bool {
        let Some(a) = answer else {
            return false;
        };
        let id = self.key_id.as_str();
        if id.starts_with("arn:") && id.contains(":key/") {
            a == id
        } else if id.starts_with("alias/") || id.contains(":alias/") {
            a.starts_with("arn:")
                && a.split(':').nth(3) == Some(self.region.as_str())
                && a.contains(":key/")
        } else {
            a.starts_with("arn:") && a.ends_with(&format!(":key/{id}"))
        }
    }

    /// The exact signed request dekbox sends for `action` with this body
    /// (exposed so it can be checked against other signers).
    pub fn build_request(
        &self,
        action: Action,
        body: &[u8],
        creds: &Credentials,
        now: Timestamp,
    ) -> Result<HttpRequest> {
        let mut req = HttpRequest::new(Method::Post, self.endpoint.clone());
        req.headers = vec![
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), action.target().into()),
        ];
        req.body = body.to_vec();
        sigv4::sign(
            &mut req,
            creds,
            Scope {
                region: &self.region,
                service: "kms",
            },
            now,
        )?;
        Ok(req)
    }
}

fn blob(a: Answer) -> Result<Vec<u8>> {
    a.ciphertext_blob
        .ok_or_else(|| Error::KmsUnavailable("KMS answer lacks CiphertextBlob".into()))
}

fn data_key(a: Answer) -> Result<DataKey> {
    let pt = a
        .plaintext
        .ok_or_else(|| Error::KmsUnavailable("KMS answer lacks Plaintext".into()))?;
    // A blob that decrypts to something other than a 32-byte key is not one
    // of our wrapped data keys.
    DataKey::from_slice(&pt).ok_or(Error::Authentication)
}

fn generated(a: Answer) -> Result<GeneratedKey> {
    let wrapped = a
        .ciphertext_blob
        .clone()
        .ok_or_else(|| Error::KmsUnavailable("KMS answer lacks CiphertextBlob".into()))?;
    let plaintext = data_key(a)
        .map_err(|_| Error::KmsUnavailable("KMS generated a data key of the wrong size".into()))?;
    Ok(GeneratedKey { plaintext, wrapped })
}

fn plaintext(a: Answer) -> Result<Zeroizing<Vec<u8>>> {
    a.plaintext
        .ok_or_else(|| Error::KmsUnavailable("KMS answer lacks Plaintext".into()))
}

impl KeyProvider for AwsKmsProvider {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn generate_data_key(
        &self,
        context: &EncryptionContext,
        _rng: &dyn SecureRandom,
    ) -> BoxOp<'_, GeneratedKey> {
        self.call(
            Action::GenerateDataKey,
            api::generate_data_key(&self.key_id, context, &self.grant_tokens),
            generated,
        )
    }

    fn wrap(
        &self,
        dek: &DataKey,
        context: &EncryptionContext,
        _rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        self.call(
            Action::Encrypt,
            api::encrypt(
                &self.key_id,
                dek.dangerous_bytes(),
                context,
                &self.grant_tokens,
            ),
            blob,
        )
    }

    fn unwrap(&self, wrapped: &[u8], context: &EncryptionContext) -> BoxOp<'_, DataKey> {
        self.call(
            Action::Decrypt,
            api::decrypt(&self.key_id, wrapped, context, &self.grant_tokens),
            data_key,
        )
    }

    fn encrypt_direct(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        _rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        self.call(
            Action::Encrypt,
            api::encrypt(&self.key_id, plaintext, context, &self.grant_tokens),
            blob,
        )
    }

    fn decrypt_direct(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> BoxOp<'_, Zeroizing<Vec<u8>>> {
        self.call(
            Action::Decrypt,
            api::decrypt(&self.key_id, ciphertext, context, &self.grant_tokens),
            plaintext,
        )
    }

    fn rewrap_native<'a>(
        &'a self,
        wrapped: &[u8],
        context: &EncryptionContext,
        destination: &'a dyn KeyProvider,
    ) -> Option<BoxOp<'a, Vec<u8>>> {
        let dest = destination.as_any()?.downcast_ref::<AwsKmsProvider>()?;
        // ReEncrypt runs in one region and account endpoint.
        if dest.endpoint != self.endpoint || dest.region != self.region {
            return None;
        }
        Some(self.call_made_by(
            Action::ReEncrypt,
            api::re_encrypt(
                &self.key_id,
                &dest.key_id,
                wrapped,
                context,
                &self.grant_tokens,
            ),
            blob,
            dest,
        ))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn warm_up(&self) -> Option<BoxOp<'_, ()>> {
        Some(Box::new(self.warm_credentials()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;
    use crate::http::HttpResponse;
    use crate::op::Step;

    fn provider(uri: &str, vars: &[(&str, &str)], opts: AwsOptions) -> Result<AwsKmsProvider> {
        let mut env = MapEnvironment::with_vars(vars);
        env.files
            .insert("/cfg".into(), b"[default]\nregion = ap-south-1\n".to_vec());
        env.vars
            .entry("AWS_CONFIG_FILE".into())
            .or_insert("/cfg".into());
        AwsKmsProvider::from_uri(uri, Arc::new(env), &opts)
    }

    #[test]
    fn region_and_endpoint_resolution() {
        let arn = "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/abc";
        let p = provider(arn, &[("AWS_REGION", "us-east-2")], AwsOptions::default()).unwrap();
        assert_eq!(
            (p.region(), p.endpoint()),
            ("eu-west-1", "https://kms.eu-west-1.amazonaws.com/")
        );
        assert_eq!(p.key_id(), "arn:aws:kms:eu-west-1:111122223333:key/abc");

        let fips = provider(
            arn,
            &[],
            AwsOptions {
                fips: true,
                ..AwsOptions::default()
            },
        )
        .unwrap();
        assert_eq!(fips.endpoint(), "https://kms-fips.eu-west-1.amazonaws.com/");

        let cn = provider(
            "aws-kms://arn:aws-cn:kms:cn-north-1:1:key/k",
            &[],
            AwsOptions::default(),
        )
        .unwrap();
        assert_eq!(cn.endpoint(), "https://kms.cn-north-1.amazonaws.com.cn/");

        let alias = provider(
            "aws-kms://alias/app?region=us-west-2",
            &[("AWS_REGION", "us-east-2")],
            AwsOptions::default(),
        )
        .unwrap();
        assert_eq!((alias.key_id(), alias.region()), ("alias/app", "us-west-2"));

        // Precedence after the URI: option, AWS_REGION, AWS_DEFAULT_REGION, profile.
        let opt = AwsOptions {
            region: Some("sa-east-1".into()),
            ..AwsOptions::default()
        };
        assert_eq!(
            provider("aws-kms://alias/a", &[("AWS_REGION", "us-east-2")], opt)
                .unwrap()
                .region(),
            "sa-east-1"
        );
        assert_eq!(
            provider(
                "aws-kms://alias/a",
                &[("AWS_REGION", "us-east-2")],
                AwsOptions::default()
            )
            .unwrap()
            .region(),
            "us-east-2"
        );
        assert_eq!(
            provider(
                "aws-kms://alias/a",
                &[("AWS_DEFAULT_REGION", "ca-central-1")],
                AwsOptions::default()
            )
            .unwrap()
            .region(),
            "ca-central-1"
        );
        assert_eq!(
            provider("aws-kms://alias/a", &[], AwsOptions::default())
                .unwrap()
                .region(),
            "ap-south-1"
        );

        // Endpoint overrides: option, then AWS_ENDPOINT_URL_KMS, then AWS_ENDPOINT_URL.
        let e = provider(
            arn,
            &[("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4566")],
            AwsOptions::default(),
        )
        .unwrap();
        assert_eq!(e.endpoint(), "http://127.0.0.1:4566/");
        let o = AwsOptions {
            endpoint: Some("https://vpce-1.kms.eu-west-1.vpce.amazonaws.com".into()),
            ..AwsOptions::default()
        };
        assert_eq!(
            provider(arn, &[("AWS_ENDPOINT_URL_KMS", "http://x")], o)
                .unwrap()
                .endpoint(),
            "https://vpce-1.kms.eu-west-1.vpce.amazonaws.com/"
        );
    }

    /// Security review finding 2: a region from the ARN, `?region=`, the
    /// options, the environment or a profile became part of the endpoint's
    /// host, so `x@evil.example/` sent signed requests to evil.example.
    #[test]
    fn hostile_regions_and_endpoints_are_refused() {
        let hostile = [
            "x@evil.example/",
            "evil.example#",
            "evil.example?",
            "a.b",
            "A",
        ];
        let refused = |what: &str, r: Result<AwsKmsProvider>| match r {
            Err(Error::Config(m)) => assert!(!m.contains('\u{1b}'), "{what}: {m}"),
            Ok(p) => panic!("{what} accepted: endpoint {}", p.endpoint()),
            Err(e) => panic!("{what}: {e}"),
        };
        for h in hostile {
            refused(
                "ARN region",
                provider(
                    &format!("aws-kms://arn:aws:kms:{h}:1:key/k"),
                    &[],
                    AwsOptions::default(),
                ),
            );
            refused(
                "?region=",
                provider(
                    &format!("aws-kms://alias/a?region={h}"),
                    &[],
                    AwsOptions::default(),
                ),
            );
            let opts = AwsOptions {
                region: Some(h.into()),
                ..AwsOptions::default()
            };
            refused("region option", provider("aws-kms://alias/a", &[], opts));
            for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
                refused(
                    var,
                    provider("aws-kms://alias/a", &[(var, h)], AwsOptions::default()),
                );
            }
            let mut env = MapEnvironment::default();
            env.files.insert(
                "/cfg".into(),
                format!("[default]\nregion = {h}\n").into_bytes(),
            );
            env.vars.insert("AWS_CONFIG_FILE".into(), "/cfg".into());
            refused(
                "profile region",
                AwsKmsProvider::from_uri(
                    "aws-kms://alias/a",
                    Arc::new(env),
                    &AwsOptions::default(),
                ),
            );
        }
        refused(
            "the review's ARN",
            provider(
                "aws-kms://arn:aws:kms:x@evil.example/:1:key/k",
                &[],
                AwsOptions::default(),
            ),
        );
        refused(
            "escape sequences",
            provider(
                "aws-kms://arn:aws:kms:\u{1b}[2J:1:key/k",
                &[],
                AwsOptions::default(),
            ),
        );
        for partition in ["evil", "aws.evil.example", "aws-cn@x"] {
            refused(
                "partition",
                provider(
                    &format!("aws-kms://arn:{partition}:kms:us-east-1:1:key/k"),
                    &[],
                    AwsOptions::default(),
                ),
            );
        }
        for url in [
            "file:///etc/passwd",
            "https://u:p@kms.example",
            "kms.example",
            "https://h/?a=1",
        ] {
            for var in ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"] {
                refused(
                    var,
                    provider(
                        "aws-kms://alias/a?region=us-east-1",
                        &[(var, url)],
                        AwsOptions::default(),
                    ),
                );
            }
        }
        // Every accepted endpoint has exactly the expected host.
        let ok = provider(
            "aws-kms://arn:aws-us-gov:kms:us-gov-west-1:1:key/k",
            &[],
            AwsOptions::default(),
        )
        .unwrap();
        assert_eq!(ok.endpoint(), "https://kms.us-gov-west-1.amazonaws.com/");
    }

    /// The 4 MiB answer bound holds in core, whatever driver sends requests.
    #[test]
    fn oversized_answers_are_refused_by_the_provider() {
        let opts = AwsOptions {
            endpoint: Some("http://127.0.0.1:9".into()),
            credentials: Some(Credentials::new("AKID", "secret", None, None, "test")),
            ..AwsOptions::default()
        };
        let p = provider("aws-kms://arn:aws:kms:us-east-1:1:key/k", &[], opts).unwrap();
        let mut op = p.unwrap(&[1, 2, 3], &EncryptionContext::empty());
        assert!(matches!(
            op.poll(Timestamp::from_unix_millis(0)),
            Ok(Step::Send(_))
        ));
        let big = HttpResponse {
            status: 200,
            headers: vec![],
            body: vec![b' '; crate::http::MAX_RESPONSE_BODY + 1],
        };
        assert!(
            matches!(op.handle_response(big), Err(Error::KmsUnavailable(m)) if m.contains("larger than"))
        );
    }

    #[test]
    fn answers_must_come_from_this_key() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd";
        let vars = [("AWS_REGION", "eu-west-1")];
        let by_arn = provider(&format!("aws-kms://{arn}"), &vars, AwsOptions::default()).unwrap();
        assert!(by_arn.made_by_this_key(Some(arn)));
        assert!(!by_arn.made_by_this_key(Some("arn:aws:kms:eu-west-1:111122223333:key/other")));
        assert!(!by_arn.made_by_this_key(None));
        let by_id = provider("aws-kms://1234abcd", &vars, AwsOptions::default()).unwrap();
        assert!(by_id.made_by_this_key(Some(arn)));
        assert!(!by_id.made_by_this_key(Some("arn:aws:kms:eu-west-1:111122223333:key/x1234abcd")));
        let by_alias = provider("aws-kms://alias/app", &vars, AwsOptions::default()).unwrap();
        assert!(by_alias.made_by_this_key(Some(arn)));
        assert!(
            !by_alias.made_by_this_key(Some("arn:aws:kms:us-east-1:111122223333:key/1234abcd"))
        );
    }

    #[test]
    fn bad_uris_are_configuration_errors() {
        for uri in [
            "aws-kms://",
            "aws-kms://arn:aws:s3:::bucket",
            "aws-kms://alias/a?color=blue",
            "aws-kms://arn:aws:kms::1:key/k",
        ] {
            assert!(
                matches!(
                    provider(uri, &[], AwsOptions::default()),
                    Err(Error::Config(_))
                ),
                "{uri}"
            );
        }
        let mut env = MapEnvironment::default();
        env.vars.insert("AWS_CONFIG_FILE".into(), "/none".into());
        let r =
            AwsKmsProvider::from_uri("aws-kms://alias/a", Arc::new(env), &AwsOptions::default());
        assert!(matches!(r, Err(Error::Config(m)) if m.contains("no region")));
    }
}
