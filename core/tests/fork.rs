//! A forked child never reuses its parent's (data key, salt) nonce space.

#![cfg(unix)]

mod common;

use common::*;
use dekbox_core::format::Form;
use dekbox_core::http::{HttpRequest, HttpResponse, Method};
use dekbox_core::op::{BoxOp, Operation, Step, drive, no_network};
use dekbox_core::provider::KeyProvider;
use dekbox_core::random::SecureRandom;
use dekbox_core::{DataKey, EncryptionContext, GeneratedKey, Timestamp};
use zeroize::Zeroizing;

#[test]
fn child_resalts_cached_data_key_after_fork() {
    let e = engine();
    let c = ctx(&[("tenant", "a")]);
    let parent_msg = e
        .encrypt_local(b"parent", &c, b"", Form::Binary, T0)
        .unwrap();

    let mut pipe = [0i32; 2];
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let child_msg = e
            .encrypt_local(b"child", &c, b"", Form::Binary, T0)
            .unwrap_or_default();
        let len = child_msg.len() as u32;
        unsafe {
            libc::write(pipe[1], len.to_le_bytes().as_ptr().cast(), 4);
            libc::write(pipe[1], child_msg.as_ptr().cast(), child_msg.len());
            libc::_exit(0);
        }
    }
    let mut len = [0u8; 4];
    let mut buf = vec![0u8; 4096];
    unsafe {
        libc::read(pipe[0], len.as_mut_ptr().cast(), 4);
    }
    let len = u32::from_le_bytes(len) as usize;
    let mut got = 0;
    while got < len {
        let n = unsafe { libc::read(pipe[0], buf[got..].as_mut_ptr().cast(), len - got) };
        assert!(n > 0);
        got += n as usize;
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let child_msg = &buf[..len];
    assert!(len > 0, "child failed to encrypt");

    // Same data key (no KMS call in the child)...
    assert_eq!(
        e.inspect(&parent_msg).unwrap().wrapped_dek_fingerprint,
        e.inspect(child_msg).unwrap().wrapped_dek_fingerprint
    );
    // ...but a different salt, hence a different AEAD key and nonce space.
    assert_ne!(&parent_msg[5..37], &child_msg[5..37]);
    // The parent keeps its own salt.
    let parent_again = e
        .encrypt_local(b"parent", &c, b"", Form::Binary, T0)
        .unwrap();
    assert_eq!(&parent_msg[5..37], &parent_again[5..37]);
    // And the parent can read the child's message.
    assert_eq!(e.decrypt_local(child_msg, &c, b"", T0).unwrap(), b"child");
}

/// Runs `f` in a forked child and returns what it wrote, or `None` if the
/// child failed, crashed or hung (it is killed after 20 s).
fn in_child(f: impl FnOnce() -> Vec<u8>) -> Option<Vec<u8>> {
    let mut pipe = [0i32; 2];
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe { libc::alarm(20) };
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_default();
        unsafe {
            libc::write(pipe[1], out.as_ptr().cast(), out.len());
            libc::_exit(if out.is_empty() { 1 } else { 0 });
        }
    }
    unsafe { libc::close(pipe[1]) };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = unsafe { libc::read(pipe[0], buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    unsafe { libc::close(pipe[0]) };
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0).then_some(out)
}

/// Security review finding 9: JSON envelopes seal with the raw data key, which
/// re-salting cannot change, so every forked worker kept writing under the
/// parent's key (and its message count).
#[test]
fn child_writes_json_under_its_own_data_key() {
    let e = engine();
    let c = ctx(&[("tenant", "a")]);
    let dek_of = |json: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        v["encryptedDek"].as_str().unwrap().to_string()
    };
    let parent = e.encrypt_local(b"parent", &c, b"", Form::Json, T0).unwrap();
    let child = in_child(|| {
        e.encrypt_local(b"child", &c, b"", Form::Json, T0)
            .unwrap_or_default()
    })
    .expect("child failed");
    assert_ne!(
        dek_of(&parent),
        dek_of(&child),
        "the child reused the parent's raw key"
    );
    // The parent carries on with its own key and reads the child's value.
    let again = e.encrypt_local(b"parent", &c, b"", Form::Json, T0).unwrap();
    assert_eq!(dek_of(&parent), dek_of(&again));
    let reader = dekbox_core::Engine::builder()
        .key(dekbox_core::provider::LocalProvider::insecure_test_key())
        .options(dekbox_core::Options {
            accept_json: true,
            ..Default::default()
        })
        .build()
        .unwrap();
    assert_eq!(reader.decrypt_local(&child, &c, b"", T0).unwrap(), b"child");
}

/// A provider whose every operation first sends one (never answered) request:
/// a KMS call in flight.
#[derive(Debug)]
struct Slow(dekbox_core::provider::LocalProvider);

struct SendOnce<T>(Option<dekbox_core::Result<T>>, bool);

impl<T: Send> Operation for SendOnce<T> {
    type Output = T;
    fn poll(&mut self, _: Timestamp) -> dekbox_core::Result<Step<T>> {
        if !self.1 {
            self.1 = true;
            return Ok(Step::Send(HttpRequest::new(
                Method::Post,
                "https://kms.test/",
            )));
        }
        match self.0.take() {
            Some(r) => r.map(Step::Done),
            None => Err(dekbox_core::Error::ApiMisuse("polled after completion")),
        }
    }
    fn handle_response(&mut self, _: HttpResponse) -> dekbox_core::Result<()> {
        Ok(())
    }
}

fn send_once<'a, T: Send + 'a>(mut inner: BoxOp<'a, T>) -> BoxOp<'a, T> {
    let r = drive(&mut *inner, || T0, no_network);
    Box::new(SendOnce(Some(r), false))
}

impl KeyProvider for Slow {
    fn uri(&self) -> &str {
        self.0.uri()
    }
    fn generate_data_key(
        &self,
        c: &EncryptionContext,
        r: &dyn SecureRandom,
    ) -> BoxOp<'_, GeneratedKey> {
        send_once(self.0.generate_data_key(c, r))
    }
    fn wrap(&self, d: &DataKey, c: &EncryptionContext, r: &dyn SecureRandom) -> BoxOp<'_, Vec<u8>> {
        send_once(self.0.wrap(d, c, r))
    }
    fn unwrap(&self, w: &[u8], c: &EncryptionContext) -> BoxOp<'_, DataKey> {
        send_once(self.0.unwrap(w, c))
    }
    fn encrypt_direct(
        &self,
        p: &[u8],
        c: &EncryptionContext,
        r: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        send_once(self.0.encrypt_direct(p, c, r))
    }
    fn decrypt_direct(&self, w: &[u8], c: &EncryptionContext) -> BoxOp<'_, Zeroizing<Vec<u8>>> {
        send_once(self.0.decrypt_direct(w, c))
    }
}

/// Review of issue 16, finding 2: a fetch a parent thread had in flight at
/// the fork was still listed in the child's caches, so the child's callers for
/// that data key waited for a request nobody would ever answer (up to the
/// 30 s flight timeout).
#[test]
fn child_ignores_fetches_in_flight_in_its_parent() {
    let e = dekbox_core::Engine::builder()
        .key(Slow(
            dekbox_core::provider::LocalProvider::insecure_test_key(),
        ))
        .build()
        .unwrap();
    let c = ctx(&[("tenant", "in-flight")]);
    // A sealed value whose data key is not cached here, to decrypt.
    let sealed = {
        let writer = dekbox_core::Engine::builder()
            .key(Slow(
                dekbox_core::provider::LocalProvider::insecure_test_key(),
            ))
            .build()
            .unwrap();
        let mut op = writer.encrypt(b"x", &c, b"", Form::Binary);
        assert!(matches!(op.poll(T0).unwrap(), Step::Send(_)));
        op.handle_response(HttpResponse {
            status: 200,
            headers: vec![],
            body: vec![],
        })
        .unwrap();
        match op.poll(T0).unwrap() {
            Step::Done(v) => v,
            _ => panic!("expected a sealed value"),
        }
    };
    // The parent's "threads" start a generate and an unwrap and are mid-request.
    let mut enc = e.encrypt(b"parent", &c, b"", Form::Binary);
    assert!(matches!(enc.poll(T0).unwrap(), Step::Send(_)));
    let mut dec = e.decrypt(&sealed, &c, b"");
    assert!(matches!(dec.poll(T0).unwrap(), Step::Send(_)));
    // In the parent, another caller waits for them: one KMS call per key.
    assert!(matches!(
        e.encrypt(b"p2", &c, b"", Form::Binary).poll(T0).unwrap(),
        Step::Wait(_)
    ));
    assert!(matches!(
        e.decrypt(&sealed, &c, b"").poll(T0).unwrap(),
        Step::Wait(_)
    ));
    let child = in_child(|| {
        // The child's first operations send their own requests at once.
        let enc = matches!(
            e.encrypt(b"child", &c, b"", Form::Binary).poll(T0),
            Ok(Step::Send(_))
        );
        let dec = matches!(e.decrypt(&sealed, &c, b"").poll(T0), Ok(Step::Send(_)));
        vec![u8::from(enc), u8::from(dec)]
    })
    .expect("child failed");
    assert_eq!(
        child,
        [1, 1],
        "the child waited for its parent's fetches (encrypt, decrypt)"
    );
    drop((enc, dec));
}
