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
