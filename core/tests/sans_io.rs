//! The sans-IO flow end to end, with a toy remote provider whose "KMS" is a
//! closure: requests leave the engine as values, responses come back, retryable
//! errors leave the operation where it was.

mod common;

use base64::Engine as _;
use common::*;
use dekbox_core::context::EncryptionContext;
use dekbox_core::format::Form;
use dekbox_core::http::{HttpRequest, HttpResponse, Method};
use dekbox_core::key::{DataKey, GeneratedKey};
use dekbox_core::op::{BoxOp, Operation, Step, drive};
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::random::SecureRandom;
use dekbox_core::{Engine, Error, Result, Timestamp};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// A remote provider speaking a made-up JSON protocol; all crypto happens "at
/// the server", which the test plays.
#[derive(Debug)]
struct Remote;

struct RemoteOp<T> {
    path: &'static str,
    body: Vec<u8>,
    parse: fn(&[u8]) -> Result<T>,
    sent: bool,
    result: Option<T>,
}

impl<T: Send> Operation for RemoteOp<T> {
    type Output = T;
    fn poll(&mut self, now: Timestamp) -> Result<Step<T>> {
        if let Some(v) = self.result.take() {
            return Ok(Step::Done(v));
        }
        self.sent = true;
        let mut req = HttpRequest::new(Method::Post, format!("https://kms.test/{}", self.path));
        req.headers = vec![("x-date".into(), now.as_unix_millis().to_string())];
        req.body = self.body.clone();
        Ok(Step::Send(req))
    }
    fn handle_response(&mut self, r: HttpResponse) -> Result<()> {
        if !self.sent {
            return Err(Error::ApiMisuse("no request outstanding"));
        }
        match r.status {
            200 => {
                self.result = Some((self.parse)(&r.body)?);
                Ok(())
            }
            429 => Err(Error::KmsThrottled("slow down".into())),
            403 => Err(Error::KmsAccessDenied("no".into())),
            _ => Err(Error::KmsUnavailable(format!("status {}", r.status))),
        }
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn body(wrapped: &[u8], ctx: &EncryptionContext) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"blob": b64().encode(wrapped), "ctx": ctx.as_map()}))
        .unwrap()
}

fn parse_gen(b: &[u8]) -> Result<GeneratedKey> {
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|_| Error::ApiMisuse("json"))?;
    let pt = b64().decode(v["plaintext"].as_str().unwrap()).unwrap();
    Ok(GeneratedKey {
        plaintext: DataKey::from_slice(&pt).unwrap(),
        wrapped: b64().decode(v["blob"].as_str().unwrap()).unwrap(),
    })
}

fn parse_key(b: &[u8]) -> Result<DataKey> {
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|_| Error::ApiMisuse("json"))?;
    Ok(DataKey::from_slice(&b64().decode(v["plaintext"].as_str().unwrap()).unwrap()).unwrap())
}

fn parse_blob(b: &[u8]) -> Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|_| Error::ApiMisuse("json"))?;
    Ok(b64().decode(v["blob"].as_str().unwrap()).unwrap())
}

fn parse_pt(b: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    Ok(Zeroizing::new(parse_blob(b)?))
}

fn op<T: Send + 'static>(
    path: &'static str,
    body: Vec<u8>,
    parse: fn(&[u8]) -> Result<T>,
) -> BoxOp<'static, T> {
    Box::new(RemoteOp {
        path,
        body,
        parse,
        sent: false,
        result: None,
    })
}

impl KeyProvider for Remote {
    fn uri(&self) -> &str {
        "remote://test"
    }
    fn generate_data_key(
        &self,
        c: &EncryptionContext,
        _: &dyn SecureRandom,
    ) -> BoxOp<'_, GeneratedKey> {
        op("generate", body(b"", c), parse_gen)
    }
    fn wrap(
        &self,
        dek: &DataKey,
        c: &EncryptionContext,
        _: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        op("encrypt", body(dek.dangerous_bytes(), c), parse_blob)
    }
    fn unwrap(&self, w: &[u8], c: &EncryptionContext) -> BoxOp<'_, DataKey> {
        op("decrypt", body(w, c), parse_key)
    }
    fn encrypt_direct(
        &self,
        p: &[u8],
        c: &EncryptionContext,
        _: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        op("encrypt", body(p, c), parse_blob)
    }
    fn decrypt_direct(&self, w: &[u8], c: &EncryptionContext) -> BoxOp<'_, Zeroizing<Vec<u8>>> {
        op("decrypt", body(w, c), parse_pt)
    }
}

/// The "KMS": a local key behind a request log and a failure script.
struct Server {
    kek: LocalProvider,
    log: Mutex<Vec<String>>,
    fail_next: Mutex<Vec<u16>>,
}

impl Server {
    fn handle(&self, req: HttpRequest) -> Result<HttpResponse> {
        let path = req.url.rsplit('/').next().unwrap().to_string();
        self.log.lock().unwrap().push(path.clone());
        if let Some(status) = self.fail_next.lock().unwrap().pop() {
            return Ok(HttpResponse {
                status,
                headers: vec![],
                body: vec![],
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        // The "KMS" binds whatever context it is sent, dekbox's reserved
        // `dekbox:purpose` entry included (renamed: callers cannot build it).
        let sent: std::collections::BTreeMap<String, String> =
            serde_json::from_value(v["ctx"].clone()).unwrap();
        let c = EncryptionContext::from_pairs(
            sent.into_iter()
                .map(|(k, v)| (k.replace("dekbox:", "reserved/"), v)),
        )
        .unwrap();
        let input = b64().decode(v["blob"].as_str().unwrap()).unwrap();
        let run = |mut o: BoxOp<'_, Vec<u8>>| drive(&mut *o, || T0, dekbox_core::op::no_network);
        let reply = match path.as_str() {
            "generate" => {
                let dek = DataKey::generate(&dekbox_core::random::SystemRandom)?;
                let w = run(self.kek.encrypt_direct(
                    dek.dangerous_bytes(),
                    &c,
                    &dekbox_core::random::SystemRandom,
                ))?;
                serde_json::json!({"plaintext": b64().encode(dek.dangerous_bytes()), "blob": b64().encode(w)})
            }
            "encrypt" => {
                let w =
                    run(self
                        .kek
                        .encrypt_direct(&input, &c, &dekbox_core::random::SystemRandom))?;
                serde_json::json!({"blob": b64().encode(w)})
            }
            _ => match drive(
                &mut *self.kek.decrypt_direct(&input, &c),
                || T0,
                dekbox_core::op::no_network,
            ) {
                Ok(pt) => {
                    serde_json::json!({"plaintext": b64().encode(&pt[..]), "blob": b64().encode(&pt[..])})
                }
                Err(_) => {
                    return Ok(HttpResponse {
                        status: 403,
                        headers: vec![],
                        body: vec![],
                    });
                }
            },
        };
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: serde_json::to_vec(&reply).unwrap(),
        })
    }
}

fn server() -> Arc<Server> {
    Arc::new(Server {
        kek: LocalProvider::from_key_bytes("server", &[42; 32]).unwrap(),
        log: Mutex::new(vec![]),
        fail_next: Mutex::new(vec![]),
    })
}

#[test]
fn engine_yields_requests_and_caches_their_results() {
    let s = server();
    let e = Engine::builder().key(Remote).build().unwrap();
    let c = ctx(&[("tenant", "a")]);
    let send = |r| s.handle(r);

    let mut first = e.encrypt(b"one", &c, b"", Form::Binary);
    let step = first.poll(T0).unwrap();
    let Step::Send(req) = step else {
        panic!("a cache miss must ask for a request")
    };
    assert_eq!(req.url, "https://kms.test/generate");
    first.handle_response(s.handle(req).unwrap()).unwrap();
    let Step::Done(m1) = first.poll(T0).unwrap() else {
        panic!("expected Done")
    };

    // A cache hit completes without any request.
    let mut second = e.encrypt(b"two", &c, b"", Form::Binary);
    let Step::Done(m2) = second.poll(T0).unwrap() else {
        panic!("cache hit must not send")
    };
    assert!(matches!(second.poll(T0), Err(Error::ApiMisuse(_))));

    assert_eq!(
        drive(&mut e.decrypt(&m1, &c, b""), || T0, send).unwrap(),
        b"one"
    );
    assert_eq!(
        drive(&mut e.decrypt(&m2, &c, b""), || T0, send).unwrap(),
        b"two"
    );
    assert_eq!(*s.log.lock().unwrap(), vec!["generate", "decrypt"]);
}

#[test]
fn retryable_errors_leave_the_operation_ready_to_resend() {
    let s = server();
    let e = Engine::builder().key(Remote).build().unwrap();
    let c = ctx(&[]);
    *s.fail_next.lock().unwrap() = vec![503, 429];
    let mut op = e.encrypt(b"x", &c, b"", Form::Binary);
    let mut attempts = 0;
    let mut now = T0;
    let out = loop {
        match op.poll(now).unwrap() {
            Step::Done(v) => break v,
            Step::Wait(_) | Step::Run(_) => panic!("nothing else is fetching, nothing to run"),
            Step::Send(req) => {
                attempts += 1;
                // Re-built at the new time on every attempt.
                assert_eq!(
                    req.header("x-date").unwrap(),
                    now.as_unix_millis().to_string()
                );
                match op.handle_response(s.handle(req).unwrap()) {
                    Ok(()) => {}
                    Err(err) => {
                        assert!(err.is_retryable(), "{err:?}");
                        now = now.plus(std::time::Duration::from_millis(100));
                    }
                }
            }
        }
    };
    assert_eq!(attempts, 3);
    assert_eq!(
        drive(&mut e.decrypt(&out, &c, b""), || now, |r| s.handle(r)).unwrap(),
        b"x"
    );
}

#[test]
fn final_errors_stop_the_operation_and_kms_refusal_is_authentication() {
    let s = server();
    let e = Engine::builder().key(Remote).build().unwrap();
    let a = ctx(&[("tenant", "a")]);
    let b = ctx(&[("tenant", "b")]);
    let m = drive(
        &mut e.encrypt(b"x", &a, b"", Form::Binary),
        || T0,
        |r| s.handle(r),
    )
    .unwrap();
    // The server refuses tenant b's context: access denied, not retryable.
    let err = drive(&mut e.decrypt(&m, &b, b""), || T0, |r| s.handle(r)).unwrap_err();
    assert_eq!(err, Error::KmsAccessDenied("no".into()));
    assert!(!err.is_retryable());
}

#[test]
fn rewrap_across_providers_goes_through_both() {
    let s = server();
    let c = ctx(&[]);
    let keyring = |primary: &str| {
        dekbox_core::keyring::Keyring::builder()
            .add(
                "local",
                Arc::new(LocalProvider::insecure_test_key()) as Arc<dyn KeyProvider>,
            )
            .add("remote", Arc::new(Remote))
            .primary(primary)
            .build()
            .unwrap()
    };
    let old = Engine::builder().keyring(keyring("local")).build().unwrap();
    let m = old
        .encrypt_local(b"move me", &c, b"", Form::Text, T0)
        .unwrap();
    let new = Engine::builder()
        .keyring(keyring("remote"))
        .build()
        .unwrap();
    let r = drive(&mut new.rewrap(&m, &c), || T0, |r| s.handle(r)).unwrap();
    assert!(r.changed);
    assert_eq!(
        *s.log.lock().unwrap(),
        vec!["encrypt"],
        "local unwrap, remote wrap"
    );
    assert_eq!(
        drive(
            &mut new.decrypt(&r.message, &c, b""),
            || T0,
            |r| s.handle(r)
        )
        .unwrap(),
        b"move me"
    );
}

#[test]
fn local_keys_never_touch_the_network() {
    let e = engine();
    let c = ctx(&[]);
    let m = drive(
        &mut e.encrypt(b"x", &c, b"", Form::Binary),
        || T0,
        |_| panic!("no request expected"),
    )
    .unwrap();
    drive(
        &mut e.decrypt(&m, &c, b""),
        || T0,
        |_| panic!("no request expected"),
    )
    .unwrap();
}

#[test]
fn refresh_ahead_sends_one_caller_to_generate_while_others_continue() {
    use dekbox_core::cache::CacheConfig;
    let s = server();
    let send = |r| s.handle(r);
    let e = Engine::builder()
        .key(Remote)
        .cache(CacheConfig {
            max_messages: 32, // soft limit 30
            ..CacheConfig::default()
        })
        .build()
        .unwrap();
    let c = ctx(&[]);
    let fp = |m: &[u8]| e.inspect(m).unwrap().wrapped_dek_fingerprint;
    let first: Vec<_> = (0..30)
        .map(|_| drive(&mut e.encrypt(b"x", &c, b"", Form::Binary), || T0, send).unwrap())
        .collect();
    assert!(first.iter().all(|m| fp(m) == fp(&first[0])));
    assert_eq!(s.log.lock().unwrap().len(), 1);

    // The 31st caller is sent to generate the successor; its request is in flight.
    let mut refresher = e.encrypt(b"x", &c, b"", Form::Binary);
    let Step::Send(req) = refresher.poll(T0).unwrap() else {
        panic!("refresher must generate")
    };
    // Meanwhile the others carry on with the current key, without a request.
    let during = drive(
        &mut e.encrypt(b"x", &c, b"", Form::Binary),
        || T0,
        |_| panic!("no KMS call"),
    )
    .unwrap();
    assert_eq!(fp(&during), fp(&first[0]));
    refresher.handle_response(s.handle(req).unwrap()).unwrap();
    let Step::Done(fresh) = refresher.poll(T0).unwrap() else {
        panic!("expected Done")
    };
    assert_ne!(fp(&fresh), fp(&first[0]));
    // From now on the successor is used.
    let after = drive(
        &mut e.encrypt(b"x", &c, b"", Form::Binary),
        || T0,
        |_| panic!("no KMS call"),
    )
    .unwrap();
    assert_eq!(fp(&after), fp(&fresh));
    assert_eq!(e.cache_stats().data_keys_generated, 2);
}

#[test]
fn concurrent_misses_make_one_kms_call_and_others_wait() {
    let s = server();
    let e = Engine::builder().key(Remote).build().unwrap();
    let c = ctx(&[("tenant", "a")]);
    // The first writer claims the generation; the second is told to wait.
    let mut first = e.encrypt(b"one", &c, b"", Form::Binary);
    let Step::Send(req) = first.poll(T0).unwrap() else {
        panic!("first must generate")
    };
    let mut second = e.encrypt(b"two", &c, b"", Form::Binary);
    assert!(matches!(second.poll(T0).unwrap(), Step::Wait(_)));
    assert!(
        matches!(second.poll(T0).unwrap(), Step::Wait(_)),
        "still waiting"
    );
    first.handle_response(s.handle(req).unwrap()).unwrap();
    let Step::Done(m1) = first.poll(T0).unwrap() else {
        panic!()
    };
    // Now the second finds the key cached.
    let Step::Done(m2) = second.poll(T0).unwrap() else {
        panic!("second must reuse the key")
    };
    assert_eq!(e.cache_stats().data_keys_generated, 1);

    // Readers: one unwrap for both.
    let mut r1 = e.decrypt(&m1, &c, b"");
    let Step::Send(req) = r1.poll(T0).unwrap() else {
        panic!("first reader unwraps")
    };
    let mut r2 = e.decrypt(&m2, &c, b"");
    assert!(matches!(r2.poll(T0).unwrap(), Step::Wait(_)));
    r1.handle_response(s.handle(req).unwrap()).unwrap();
    assert!(matches!(r1.poll(T0).unwrap(), Step::Done(ref v) if v == b"one"));
    assert!(matches!(r2.poll(T0).unwrap(), Step::Done(ref v) if v == b"two"));
    assert_eq!(*s.log.lock().unwrap(), vec!["generate", "decrypt"]);
}

#[test]
fn an_abandoned_fetch_hands_over_to_a_waiter() {
    let s = server();
    let e = Engine::builder().key(Remote).build().unwrap();
    let c = ctx(&[]);
    let mut first = e.encrypt(b"one", &c, b"", Form::Binary);
    assert!(matches!(first.poll(T0).unwrap(), Step::Send(_)));
    let mut second = e.encrypt(b"two", &c, b"", Form::Binary);
    assert!(matches!(second.poll(T0).unwrap(), Step::Wait(_)));
    drop(first); // cancelled (a dropped future, a failed call)
    let out = drive(&mut second, || T0, |r| s.handle(r)).unwrap();
    assert!(e.inspect(&out).is_ok());
    // A KMS failure releases the claim too.
    let failing = Engine::builder().key(Remote).build().unwrap();
    *s.fail_next.lock().unwrap() = vec![403];
    assert!(
        drive(
            &mut failing.encrypt(b"x", &c, b"", Form::Binary),
            || T0,
            |r| s.handle(r)
        )
        .is_err()
    );
    assert!(
        drive(
            &mut failing.encrypt(b"x", &c, b"", Form::Binary),
            || T0,
            |r| s.handle(r)
        )
        .is_ok()
    );
}

/// Security review finding 1 with a KMS that, like AWS, wraps data keys and
/// direct values the same way: only the `dekbox:purpose` context entry keeps
/// the legacy fallback from decrypting a message's wrapped key.
#[test]
fn the_kms_refuses_a_message_data_key_on_the_legacy_path() {
    let s = server();
    let e = Engine::builder()
        .key(Remote)
        .options(dekbox_core::Options {
            legacy_fallback: true,
            ..Default::default()
        })
        .build()
        .unwrap();
    let c = ctx(&[("tenant", "a")]);
    let send = |r| s.handle(r);
    let sealed = drive(
        &mut e.encrypt(b"row", &c, b"r/1", Form::Binary),
        || T0,
        send,
    )
    .unwrap();
    let wrapped = dekbox_core::format::parse(&sealed, 1 << 20)
        .unwrap()
        .wrapped_dek
        .to_vec();
    // The "KMS" decrypts the blob only under the context plus the purpose entry.
    let r = drive(&mut e.decrypt(&wrapped, &c, b""), || T0, send);
    assert!(matches!(r, Err(Error::KmsAccessDenied(_))), "{r:?}");
    assert_eq!(
        s.log.lock().unwrap().last().map(String::as_str),
        Some("decrypt"),
        "refused by the KMS"
    );
    // A genuine legacy value still falls back; one of exactly 32 bytes (a data
    // key's size, possibly another tool's key) only when allowed.
    let legacy = |pt: &[u8]| {
        let mut op = Remote.encrypt_direct(pt, &c, &dekbox_core::random::SystemRandom);
        drive(&mut *op, || T0, send).unwrap()
    };
    assert_eq!(
        drive(
            &mut e.decrypt(&legacy(b"before dekbox"), &c, b""),
            || T0,
            send
        )
        .unwrap(),
        b"before dekbox"
    );
    let key_sized = legacy(&[7u8; 32]);
    let r = drive(&mut e.decrypt(&key_sized, &c, b""), || T0, send);
    assert!(matches!(r, Err(Error::Config(m)) if m.contains("32 bytes")));
    let allowing = Engine::builder()
        .key(Remote)
        .options(dekbox_core::Options {
            legacy_fallback: true,
            legacy_allow_key_sized: true,
            ..Default::default()
        })
        .build()
        .unwrap();
    assert_eq!(
        drive(&mut allowing.decrypt(&key_sized, &c, b""), || T0, send).unwrap(),
        [7u8; 32]
    );
}
