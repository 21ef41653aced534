//! Shared state of the mock API: counters, the set of acknowledged idempotency keys and the fault injector.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::config::MockSettings;

/// Counters shown by `GET /stats`.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub loads_accepted: AtomicU64,
    pub records_accepted: AtomicU64,
    pub bytes: AtomicU64,
    pub duplicate_batches: AtomicU64,
    pub duplicate_records: AtomicU64,
    pub injected_failures: AtomicU64,
    pub device_requests: AtomicU64,
    pub largest_batch_records: AtomicU64,
    /// The mock SNMP fleet's counters (zero when it is off).
    pub snmp: std::sync::Arc<super::snmp::SnmpCounters>,
    refused: Mutex<BTreeMap<u16, u64>>,
}

/// A point-in-time copy of the counters (the `/stats` body).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub loads_accepted: u64,
    /// `/load` answers other than 200, by status code.
    pub loads_refused: BTreeMap<u16, u64>,
    /// Records acknowledged for the first time (a duplicate batch is not counted again).
    pub records_accepted: u64,
    /// Request body bytes received on `/load`, as sent (compressed when compressed).
    pub bytes: u64,
    pub duplicate_batches: u64,
    pub duplicate_records: u64,
    pub injected_failures: u64,
    /// Distinct idempotency keys acknowledged.
    pub unique_batches: u64,
    pub device_requests: u64,
    /// Records in the largest batch acknowledged.
    pub largest_batch_records: u64,
    /// The mock SNMP fleet (`mock.snmp_port`).
    #[serde(default)]
    pub snmp: super::snmp::SnmpStats,
}

/// Keys already acknowledged, oldest forgotten first once `capacity` is reached (bounded memory).
#[derive(Debug)]
struct KeySet {
    keys: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
    total: u64,
}

impl KeySet {
    /// Records `key`; false when it was already there.
    fn insert(&mut self, key: &str) -> bool {
        if self.keys.contains(key) {
            return false;
        }
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        self.keys.insert(key.to_string());
        self.order.push_back(key.to_string());
        self.total += 1;
        true
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct MockState {
    pub settings: MockSettings,
    pub counters: Counters,
    keys: Mutex<KeySet>,
    rng: Mutex<StdRng>,
    loads_seen: AtomicU64,
    /// Requests being answered now (what a shutdown drains).
    pub in_flight: AtomicI64,
}

impl MockState {
    pub fn new(settings: MockSettings) -> Self {
        let rng = if settings.seed == 0 {
            StdRng::from_os_rng()
        } else {
            StdRng::seed_from_u64(settings.seed)
        };
        MockState {
            keys: Mutex::new(KeySet {
                keys: HashSet::new(),
                order: VecDeque::new(),
                capacity: settings.max_idempotency_keys,
                total: 0,
            }),
            rng: Mutex::new(rng),
            counters: Counters::default(),
            loads_seen: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            settings,
        }
    }

    /// Counts a `/load` answered with `status` (not 200).
    pub fn refused(&self, status: u16) {
        let mut map = self
            .counters
            .refused
            .lock()
            .expect("counter lock is never poisoned");
        *map.entry(status).or_default() += 1;
    }

    /// Acknowledges a batch; returns false (and counts a duplicate) when its key was acknowledged before.
    pub fn acknowledge(&self, key: Option<&str>, records: u64) -> bool {
        let fresh = match key {
            Some(k) => self
                .keys
                .lock()
                .expect("key lock is never poisoned")
                .insert(k),
            None => true,
        };
        let c = &self.counters;
        c.loads_accepted.fetch_add(1, Relaxed);
        c.largest_batch_records.fetch_max(records, Relaxed);
        if fresh {
            c.records_accepted.fetch_add(records, Relaxed);
        } else {
            c.duplicate_batches.fetch_add(1, Relaxed);
            c.duplicate_records.fetch_add(records, Relaxed);
        }
        fresh
    }

    /// Whether this `/load` should fail by injection (`fail_first`, then `fail_rate`).
    pub fn inject_failure(&self) -> bool {
        let n = self.loads_seen.fetch_add(1, Relaxed);
        let fail = n < self.settings.fail_first
            || (self.settings.fail_rate > 0.0 && self.chance(self.settings.fail_rate));
        if fail {
            self.counters.injected_failures.fetch_add(1, Relaxed);
        }
        fail
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0
            && self
                .rng
                .lock()
                .expect("rng lock is never poisoned")
                .random_bool(p.min(1.0))
    }

    /// The processing delay of one `/load`: `delay_ms` ± `jitter_ms`.
    pub fn load_delay(&self) -> Duration {
        let (base, jitter) = (self.settings.delay_ms, self.settings.jitter_ms);
        if jitter == 0 {
            return Duration::from_millis(base);
        }
        let j = self
            .rng
            .lock()
            .expect("rng lock is never poisoned")
            .random_range(0..=2 * jitter);
        Duration::from_millis((base + j).saturating_sub(jitter))
    }

    /// The idempotency keys still remembered, in the order their batches were first acknowledged.
    pub fn keys_in_order(&self) -> Vec<String> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.order.iter().cloned().collect()
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.counters;
        StatsSnapshot {
            requests: c.requests.load(Relaxed),
            loads_accepted: c.loads_accepted.load(Relaxed),
            loads_refused: c
                .refused
                .lock()
                .expect("counter lock is never poisoned")
                .clone(),
            records_accepted: c.records_accepted.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            duplicate_batches: c.duplicate_batches.load(Relaxed),
            duplicate_records: c.duplicate_records.load(Relaxed),
            injected_failures: c.injected_failures.load(Relaxed),
            unique_batches: self.keys.lock().expect("key lock is never poisoned").total,
            device_requests: c.device_requests.load(Relaxed),
            largest_batch_records: c.largest_batch_records.load(Relaxed),
            snmp: c.snmp.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_acknowledged_once() {
        let s = MockState::new(MockSettings::default());
        assert!(s.acknowledge(Some("k1"), 10));
        assert!(!s.acknowledge(Some("k1"), 10));
        assert!(s.acknowledge(None, 5));
        let snap = s.snapshot();
        assert_eq!(snap.records_accepted, 15);
        assert_eq!(snap.duplicate_batches, 1);
        assert_eq!(snap.duplicate_records, 10);
        assert_eq!(snap.loads_accepted, 3);
    }

    #[test]
    fn key_memory_is_bounded() {
        let s = MockState::new(MockSettings {
            max_idempotency_keys: 2,
            ..MockSettings::default()
        });
        for k in ["a", "b", "c"] {
            assert!(s.acknowledge(Some(k), 1));
        }
        assert_eq!(s.keys.lock().unwrap().keys.len(), 2);
    }

    #[test]
    fn fail_first_then_succeed() {
        let s = MockState::new(MockSettings {
            fail_first: 2,
            ..MockSettings::default()
        });
        assert!(s.inject_failure());
        assert!(s.inject_failure());
        assert!(!s.inject_failure());
        assert_eq!(s.snapshot().injected_failures, 2);
    }

    #[test]
    fn seeded_injection_is_reproducible() {
        let run = || {
            let s = MockState::new(MockSettings {
                fail_rate: 0.5,
                seed: 7,
                ..MockSettings::default()
            });
            (0..64).map(|_| s.inject_failure()).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
