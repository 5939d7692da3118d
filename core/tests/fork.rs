//! A forked child never reuses its parent's (data key, salt) nonce space.

#![cfg(unix)]

mod common;

use common::*;
use dekbox_core::format::Form;

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
