//! The async runtime every binding's `*_async` methods run on: one per
//! process, rebuilt in a forked child (Tokio's worker threads do not survive
//! `fork()`; gunicorn, multiprocessing, Puma and Unicorn fork after loading
//! the app).

use dekbox_core::{Error, Result};
use dekbox_transport::PerProcess;
use std::future::Future;
use std::sync::Arc;

static RUNTIME: PerProcess<Arc<tokio::runtime::Runtime>> = PerProcess::new();

/// This process's runtime, started on first use.
pub fn handle() -> Result<tokio::runtime::Handle> {
    RUNTIME
        .get(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("dekbox-async")
                .enable_all()
                .build()
                .map(Arc::new)
                .map_err(|e| Error::Config(format!("cannot start dekbox's async runtime: {e}")))
        })
        .map(|rt| rt.handle().clone())
}

/// Runs `fut` on this process's runtime and hands its output to `done` (on a
/// runtime thread): how a binding turns a facade future into a host promise.
pub fn spawn<T, F>(fut: F, done: impl FnOnce(Result<T>) + Send + 'static) -> Result<()>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    handle()?.spawn(async move { done(fut.await) });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawned_futures_report_their_result() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(async { Ok(21 * 2) }, move |r| tx.send(r).unwrap()).unwrap();
        assert_eq!(rx.recv().unwrap(), Ok(42));
    }

    #[cfg(unix)]
    #[test]
    fn a_forked_child_gets_its_own_runtime() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(async { Ok(1) }, move |r| tx.send(r).unwrap()).unwrap();
        assert_eq!(rx.recv().unwrap(), Ok(1)); // the parent's runtime runs
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            unsafe { libc::alarm(10) };
            let (tx, rx) = std::sync::mpsc::channel();
            let ok = spawn(async { Ok(2) }, move |r| {
                let _ = tx.send(r);
            })
            .is_ok()
                && rx.recv_timeout(std::time::Duration::from_secs(5)) == Ok(Ok(2));
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
    }
}
