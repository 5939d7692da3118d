//! The async runtime every binding's `*_async` methods run on: one per
//! process, rebuilt in a forked child (Tokio's worker threads do not survive
//! `fork()`; gunicorn, multiprocessing, Puma and Unicorn fork after loading
//! the app).

use dekbox_core::{Error, Result};
use dekbox_transport::PerProcess;
use std::future::Future;
use std::sync::Arc;

pub use tokio::task::AbortHandle;

static RUNTIME: PerProcess<Arc<tokio::runtime::Runtime>> = PerProcess::new();

/// This process's runtime, started on first use.
pub fn handle() -> Result<tokio::runtime::Handle> {
    RUNTIME
        .get_with(
            || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("dekbox-async")
                    .enable_all()
                    .build()
                    .map(Arc::new)
                    .map_err(|e| Error::Config(format!("cannot start dekbox's async runtime: {e}")))
            },
            // Lost a race to build it: dropping a runtime inside an async
            // context panics, shutting it down in the background does not.
            |rt| {
                if let Ok(rt) = Arc::try_unwrap(rt) {
                    rt.shutdown_background();
                }
            },
        )
        .map(|rt| rt.handle().clone())
}

/// Runs `fut` on this process's runtime and hands its outcome to `done`: how
/// a binding turns a facade future into a host promise.
///
/// `done` always runs exactly once, on the runtime's blocking pool (so a host
/// that must take a lock, such as the GIL, never stalls the workers that drive
/// other requests): with the future's result, or with an error if the task
/// panicked or was aborted. The returned handle aborts the task (a host
/// promise that was cancelled).
pub fn spawn<T, F>(fut: F, done: impl FnOnce(Result<T>) + Send + 'static) -> Result<AbortHandle>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let rt = handle()?;
    let task = rt.spawn(fut);
    let abort = task.abort_handle();
    let deliver = rt.clone();
    rt.spawn(async move {
        let outcome = match task.await {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => Err(Error::ApiMisuse("the operation was cancelled")),
            Err(_) => Err(Error::ApiMisuse("the operation panicked")),
        };
        let _ = deliver.spawn_blocking(move || done(outcome)).await;
    });
    Ok(abort)
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

    #[test]
    fn panics_and_aborts_are_reported_not_lost() {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx2 = tx.clone();
        spawn(
            async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                Ok(())
            },
            move |r| tx.send(r).unwrap(),
        )
        .unwrap();
        assert_eq!(
            rx.recv().unwrap(),
            Err(Error::ApiMisuse("the operation panicked"))
        );
        let abort = spawn(
            async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                Ok(())
            },
            move |r| tx2.send(r).unwrap(),
        )
        .unwrap();
        abort.abort();
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap(),
            Err(Error::ApiMisuse("the operation was cancelled"))
        );
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
