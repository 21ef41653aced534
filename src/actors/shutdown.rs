//! Shutdown state shared by every actor: `stop` (start no new extraction) and `abort` (the grace period is over:
//! cut in-flight requests and spool what is left). Set from the signal handler, read anywhere.

use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::sync::Arc;

use tokio::sync::watch;

#[derive(Debug)]
pub struct Shutdown {
    stop: watch::Sender<bool>,
    abort: watch::Sender<bool>,
    signal: AtomicI32,
}

impl Shutdown {
    pub fn new() -> Arc<Self> {
        Arc::new(Shutdown {
            stop: watch::Sender::new(false),
            abort: watch::Sender::new(false),
            signal: AtomicI32::new(0),
        })
    }

    /// Start no new extraction; `signal` is the signal number that asked for it, if any.
    pub fn stop(&self, signal: Option<i32>) {
        if let Some(sig) = signal {
            let _ = self.signal.compare_exchange(0, sig, SeqCst, SeqCst);
        }
        self.stop.send_replace(true);
    }

    /// The grace period is over: stop and cut everything still in flight.
    pub fn abort(&self) {
        self.stop.send_replace(true);
        self.abort.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    pub fn is_aborted(&self) -> bool {
        *self.abort.borrow()
    }

    /// The signal that stopped the run, if one did.
    pub fn signal(&self) -> Option<i32> {
        Some(self.signal.load(SeqCst)).filter(|s| *s != 0)
    }

    /// Resolves once `stop` (or `abort`) was called.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Resolves once `abort` was called.
    pub async fn aborted(&self) {
        let mut rx = self.abort.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// Calls `each` with the number and name of every SIGINT or SIGTERM from now on. The handlers are installed before
/// this returns (also over a SIGINT the parent ignored, as `app etl &` in a script leaves it), so a signal that
/// comes while the caller is still busy is not lost. Call inside an actix `System`.
pub fn on_signals(mut each: impl FnMut(i32, &'static str) + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        log::error!("cannot install signal handlers");
        return;
    };
    actix_rt::spawn(async move {
        loop {
            let (sig, name) = tokio::select! {
                _ = int.recv() => (2, "SIGINT"),
                _ = term.recv() => (15, "SIGTERM"),
            };
            each(sig, name);
        }
    });
}
