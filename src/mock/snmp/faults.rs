//! Fault injection of the mock SNMP fleet: what happens to each answer (dropped, delayed, duplicated), decided by
//! a generator seeded from `mock.seed`, and the timer queue that holds delayed replies so that the socket loop
//! never waits for one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::MockSettings;

/// Most replies the timer queue holds; past it a reply is sent at once (memory stays bounded whatever the rate).
pub const MAX_DELAYED: usize = 1 << 16;

/// Mixed into `mock.seed` so the fleet's draws differ from the HTTP mock's.
const SEED_SALT: u64 = 0x736e_6d70; // "snmp"

/// What becomes of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Never sent.
    Drop,
    /// Sent `copies` times (1 or 2), `after` the request.
    Send { after: Duration, copies: u8 },
}

/// The fault knobs and their generator.
#[derive(Debug)]
pub struct Faults {
    rng: StdRng,
    drop_rate: f64,
    duplicate_rate: f64,
    delay_ms: u64,
    jitter_ms: u64,
}

impl Faults {
    pub fn new(s: &MockSettings) -> Faults {
        let rng = if s.seed == 0 {
            StdRng::from_os_rng()
        } else {
            StdRng::seed_from_u64(s.seed ^ SEED_SALT)
        };
        Faults {
            rng,
            drop_rate: s.snmp_drop_rate,
            duplicate_rate: s.snmp_duplicate_rate,
            delay_ms: s.snmp_delay_ms,
            jitter_ms: s.snmp_jitter_ms.min(s.snmp_delay_ms),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    /// The fate of the next answer.
    pub fn decide(&mut self) -> Fate {
        if self.chance(self.drop_rate) {
            return Fate::Drop;
        }
        let ms = if self.jitter_ms == 0 {
            self.delay_ms
        } else {
            let j = self.rng.random_range(0..=2 * self.jitter_ms);
            (self.delay_ms + j).saturating_sub(self.jitter_ms)
        };
        let copies = if self.chance(self.duplicate_rate) {
            2
        } else {
            1
        };
        Fate::Send {
            after: Duration::from_millis(ms),
            copies,
        }
    }
}

/// A reply waiting for its time.
#[derive(Debug, PartialEq, Eq)]
pub struct Pending {
    /// The requester.
    pub to: SocketAddrV4,
    /// The device address it is sent from.
    pub from: Ipv4Addr,
    pub bytes: Vec<u8>,
    pub copies: u8,
}

/// Delayed replies by due time (ties in arrival order), at most [`MAX_DELAYED`].
#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u64, PendingBox)>>,
    seq: u64,
}

/// [`Pending`] ordered by nothing (the heap orders by due time and sequence only).
#[derive(Debug, PartialEq, Eq)]
struct PendingBox(Pending);

impl PartialOrd for PendingBox {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PendingBox {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl TimerQueue {
    /// Queues `p` for `due`; gives it back when the queue is full.
    pub fn push(&mut self, due: Instant, p: Pending) -> Result<(), Pending> {
        if self.heap.len() >= MAX_DELAYED {
            return Err(p);
        }
        self.seq += 1;
        self.heap.push(Reverse((due, self.seq, PendingBox(p))));
        Ok(())
    }

    /// When the next reply is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((due, _, _))| *due)
    }

    /// The next reply due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Pending> {
        if self.next_due()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, _, PendingBox(p)))| p)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(drop: f64, dup: f64, delay: u64, jitter: u64) -> MockSettings {
        MockSettings {
            seed: 11,
            snmp_drop_rate: drop,
            snmp_duplicate_rate: dup,
            snmp_delay_ms: delay,
            snmp_jitter_ms: jitter,
            ..MockSettings::default()
        }
    }

    #[test]
    fn no_faults_means_one_immediate_copy() {
        let mut f = Faults::new(&settings(0.0, 0.0, 0, 0));
        for _ in 0..1000 {
            assert_eq!(
                f.decide(),
                Fate::Send {
                    after: Duration::ZERO,
                    copies: 1
                }
            );
        }
    }

    #[test]
    fn rates_and_delays_are_as_configured_and_reproducible() {
        let run = || {
            let mut f = Faults::new(&settings(0.2, 0.1, 50, 20));
            (0..10_000).map(|_| f.decide()).collect::<Vec<_>>()
        };
        let fates = run();
        assert_eq!(fates, run(), "seeded");
        let drops = fates.iter().filter(|f| **f == Fate::Drop).count();
        assert!((1_700..2_300).contains(&drops), "{drops}");
        let mut dups = 0;
        for f in &fates {
            if let Fate::Send { after, copies } = f {
                assert!((30..=70).contains(&after.as_millis()), "{after:?}");
                dups += usize::from(*copies == 2);
            }
        }
        assert!((600..1_000).contains(&dups), "{dups}");
    }

    #[test]
    fn the_timer_queue_releases_in_due_order_and_is_bounded() {
        let mut q = TimerQueue::default();
        let t0 = Instant::now();
        let p = |n: u8| Pending {
            to: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1000),
            from: Ipv4Addr::new(127, 0, 0, n),
            bytes: vec![n],
            copies: 1,
        };
        q.push(t0 + Duration::from_millis(30), p(3)).unwrap();
        q.push(t0 + Duration::from_millis(10), p(1)).unwrap();
        q.push(t0 + Duration::from_millis(10), p(2)).unwrap();
        assert_eq!(q.next_due(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(q.pop_due(t0), None);
        let now = t0 + Duration::from_millis(20);
        assert_eq!(q.pop_due(now).unwrap().bytes, vec![1]);
        assert_eq!(q.pop_due(now).unwrap().bytes, vec![2]);
        assert_eq!(q.pop_due(now), None);
        assert_eq!(q.len(), 1);
        for _ in 1..MAX_DELAYED {
            q.push(t0, p(9)).unwrap();
        }
        assert!(q.push(t0, p(9)).is_err(), "full");
    }
}
