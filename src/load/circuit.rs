//! A loader's view of the API's health, shared by all its in-flight batches: the shared backoff and the circuit
//! (closed → open → probing → closed), with every transition in this file.
//!
//! - **Closed**: every batch gets `load.retry.max_attempts` attempts. Each failed attempt backs the whole loader
//!   off (exponential with full jitter, or the server's `Retry-After` when longer), so a sick API is backed off
//!   once per loader, not once per request.
//! - **Open**: a batch used up all its attempts on anything but 429 (a rate limit says the API is alive). New
//!   batches go to the spool at once, except one probe per backoff interval.
//! - **Probing**: one batch has the single attempt that decides; its success closes the circuit, its failure
//!   opens it again (with a longer backoff).
//!
//! A success of any batch closes the circuit: a batch formed while the circuit was closed keeps all its attempts
//! whatever happens to the circuit meanwhile. Pure apart from reading the clock the caller passes in.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::RetrySettings;
use crate::load::retry::{backoff, RetryReason};

/// The circuit's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    /// Open, with the one probe under way.
    Probing,
}

/// What a new batch may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The circuit is closed: all attempts.
    Attempts(u32),
    /// The circuit was open and this batch is its probe: one attempt (end it with `success`, `exhausted` or `probe_ended`).
    Probe,
    /// The circuit is open and a probe is under way or the backoff has not passed: spool it at once.
    Spool { failures: u32 },
}

/// The shared backoff and circuit of one loader.
#[derive(Debug)]
pub struct Circuit {
    state: State,
    /// Failed attempts since the last success.
    failures: u32,
    /// No attempt starts before this instant.
    blocked_until: Instant,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl Circuit {
    pub fn new(retry: &RetrySettings, now: Instant) -> Self {
        Circuit {
            state: State::Closed,
            failures: 0,
            blocked_until: now,
            max_attempts: retry.max_attempts,
            initial_backoff: retry.initial_backoff(),
            max_backoff: retry.max_backoff(),
            max_retry_after: retry.max_retry_after(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Failed attempts since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// No attempt of this loader starts before this instant.
    pub fn blocked_until(&self) -> Instant {
        self.blocked_until
    }

    /// A new batch asks to be sent.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed => Admission::Attempts(self.max_attempts),
            State::Open if self.blocked_until <= now => {
                self.state = State::Probing;
                Admission::Probe
            }
            State::Open | State::Probing => Admission::Spool {
                failures: self.failures,
            },
        }
    }

    /// An attempt failed: back the whole loader off, exponentially with full jitter, or for the server's
    /// `Retry-After` (capped by `max_retry_after_ms`) when that is longer.
    pub fn attempt_failed(
        &mut self,
        retry_after: Option<Duration>,
        now: Instant,
        rng: &mut impl Rng,
    ) {
        self.failures = self.failures.saturating_add(1);
        let computed = backoff(self.failures, self.initial_backoff, self.max_backoff, rng);
        let wait = match retry_after {
            Some(after) => after.min(self.max_retry_after).max(computed),
            None => computed,
        };
        self.blocked_until = self.blocked_until.max(now + wait);
    }

    /// An attempt was acknowledged: the circuit closes and the backoff ends. True when it was open.
    pub fn success(&mut self, now: Instant) -> bool {
        let was_open = self.state != State::Closed;
        self.state = State::Closed;
        self.failures = 0;
        self.blocked_until = now;
        was_open
    }

    /// A batch used up its attempts (`probe`: it was the circuit's probe); `last` is why its last attempt failed.
    /// The circuit opens unless that was a rate limit (429: the API is alive). True when this opened it.
    pub fn exhausted(&mut self, last: RetryReason, probe: bool) -> bool {
        let opened = last != RetryReason::Status(429) && self.state == State::Closed;
        if opened || (probe && self.state == State::Probing) {
            self.state = State::Open;
        }
        opened
    }

    /// The probe ended without a success and without using up its attempt (rejected, or cut by shutdown): the
    /// circuit stays open and the next probe may start after the backoff.
    pub fn probe_ended(&mut self) {
        if self.state == State::Probing {
            self.state = State::Open;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn circuit(now: Instant) -> Circuit {
        let retry = RetrySettings {
            max_attempts: 3,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            max_retry_after_ms: 5_000,
        };
        Circuit::new(&retry, now)
    }

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(7)
    }

    #[test]
    fn a_closed_circuit_gives_every_batch_all_its_attempts() {
        let now = Instant::now();
        let mut c = circuit(now);
        assert_eq!(c.admit(now), Admission::Attempts(3));
        c.attempt_failed(None, now, &mut rng());
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.admit(now), Admission::Attempts(3));
    }

    #[test]
    fn failures_back_the_loader_off_and_retry_after_wins_when_longer() {
        let now = Instant::now();
        let mut c = circuit(now);
        c.attempt_failed(None, now, &mut rng());
        assert!(c.blocked_until() <= now + Duration::from_millis(100));
        c.attempt_failed(Some(Duration::from_secs(3)), now, &mut rng());
        assert_eq!(c.blocked_until(), now + Duration::from_secs(3));
        // Capped at max_retry_after.
        c.attempt_failed(Some(Duration::from_secs(60)), now, &mut rng());
        assert_eq!(c.blocked_until(), now + Duration::from_secs(5));
        // Never shortened by a later, shorter backoff.
        c.attempt_failed(None, now, &mut rng());
        assert_eq!(c.blocked_until(), now + Duration::from_secs(5));
        assert_eq!(c.failures(), 4);
    }

    #[test]
    fn exhausting_the_attempts_opens_the_circuit_once() {
        let now = Instant::now();
        let mut c = circuit(now);
        assert!(c.exhausted(RetryReason::Connect, false));
        assert_eq!(c.state(), State::Open);
        assert!(!c.exhausted(RetryReason::Timeout, false), "already open");
    }

    #[test]
    fn a_rate_limit_never_opens_the_circuit() {
        let now = Instant::now();
        let mut c = circuit(now);
        assert!(!c.exhausted(RetryReason::Status(429), false));
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn an_open_circuit_spools_until_the_backoff_passed_then_admits_one_probe() {
        let now = Instant::now();
        let mut c = circuit(now);
        c.attempt_failed(None, now, &mut rng());
        c.exhausted(RetryReason::Status(503), false);
        let blocked = c.blocked_until();
        if blocked > now {
            assert_eq!(c.admit(now), Admission::Spool { failures: 1 });
        }
        assert_eq!(c.admit(blocked), Admission::Probe);
        assert_eq!(c.state(), State::Probing);
        // Only one probe at a time.
        assert_eq!(c.admit(blocked), Admission::Spool { failures: 1 });
    }

    #[test]
    fn a_successful_probe_closes_the_circuit_and_ends_the_backoff() {
        let now = Instant::now();
        let mut c = circuit(now);
        c.exhausted(RetryReason::Connect, false);
        assert_eq!(c.admit(now), Admission::Probe);
        let later = now + Duration::from_secs(1);
        assert!(c.success(later));
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.failures(), 0);
        assert_eq!(c.blocked_until(), later);
        assert!(!c.success(later), "was closed already");
    }

    #[test]
    fn a_failed_probe_reopens_the_circuit_for_the_next_probe() {
        let now = Instant::now();
        let mut c = circuit(now);
        c.exhausted(RetryReason::Connect, false);
        assert_eq!(c.admit(now), Admission::Probe);
        c.attempt_failed(None, now, &mut rng());
        assert!(!c.exhausted(RetryReason::Connect, true));
        assert_eq!(c.state(), State::Open);
        let after = c.blocked_until();
        assert_eq!(c.admit(after), Admission::Probe);
        c.probe_ended();
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn a_probe_that_hits_a_rate_limit_leaves_the_circuit_open() {
        let now = Instant::now();
        let mut c = circuit(now);
        c.exhausted(RetryReason::Connect, false);
        assert_eq!(c.admit(now), Admission::Probe);
        assert!(!c.exhausted(RetryReason::Status(429), true));
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn another_batch_giving_up_while_a_probe_is_under_way_keeps_the_probe_alone() {
        let now = Instant::now();
        let mut c = circuit(now);
        c.exhausted(RetryReason::Connect, false);
        assert_eq!(c.admit(now), Admission::Probe);
        assert!(!c.exhausted(RetryReason::Status(503), false));
        assert!(!c.exhausted(RetryReason::Status(429), false));
        assert_eq!(c.state(), State::Probing);
        assert!(matches!(c.admit(now), Admission::Spool { .. }));
    }

    #[test]
    fn a_probe_that_ends_on_a_closed_circuit_changes_nothing() {
        let now = Instant::now();
        let mut c = circuit(now);
        c.probe_ended();
        assert_eq!(c.state(), State::Closed);
    }
}
