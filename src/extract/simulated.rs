//! The simulated source: deterministic stats per device name after `latency_ms` ± `jitter_ms`.
//!
//! `device_stats` is also what the mock server's `/device/{name}/cpu` answers, so both sources agree.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::LazyLock;
use std::time::Duration;

use rand::Rng;

use super::{unix_now, ExtractError};
use crate::config::{ExtractSettings, SimulatedSettings};
use crate::inventory::Device;
use crate::model::{stable_hash, CpuStats, StatText};

/// `v` hundredths as a decimal string with two places (`1234` → `"12.34"`), without float formatting.
fn hundredths(v: u64) -> String {
    let mut out = String::with_capacity(8);
    let whole = v / 100;
    if whole >= 100 {
        out.push(char::from(b'0' + (whole / 100 % 10) as u8));
    }
    if whole >= 10 {
        out.push(char::from(b'0' + (whole / 10 % 10) as u8));
    }
    out.push(char::from(b'0' + (whole % 10) as u8));
    out.push('.');
    out.push(char::from(b'0' + (v / 10 % 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
    out
}

/// The texts of every hundredth from 0.00 to 100.00 and of the first CPU numbers, made once: a record's stats
/// are borrowed from these instead of formatted and allocated one by one.
static HUNDREDTHS: LazyLock<Vec<String>> = LazyLock::new(|| (0..=10_000).map(hundredths).collect());
static CPU_NUMBERS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..256u32).map(|n| n.to_string()).collect());

/// `v` hundredths as a stat's text (from the table; every value made here is at most 100.00).
fn percent_text(v: u64) -> StatText {
    match HUNDREDTHS.get(v as usize) {
        Some(text) => Cow::Borrowed(text.as_str()),
        None => Cow::Owned(hundredths(v)),
    }
}

/// Deterministic CPU stats of `name`, `cpus` entries, the percentages summing to exactly 100.
pub fn device_stats(name: &str, cpus: u32, timestamp: i64) -> Vec<CpuStats> {
    device_stats_hashed(name, stable_hash(name), cpus, timestamp)
}

/// [`device_stats`] when the name's `stable_hash` is already known (`base`).
fn device_stats_hashed(name: &str, base: u64, cpus: u32, timestamp: i64) -> Vec<CpuStats> {
    (0..cpus)
        .map(|cpu| {
            let h = base.rotate_left(cpu * 7) ^ u64::from(cpu).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            // All in hundredths of a percent.
            let idle = 4_000 + h % 5_500; // 40.00 ..= 94.99
            let rest = 10_000 - idle;
            let share = |bits: u32| (h >> bits) % 100;
            let user = rest * (4_000 + 40 * share(16)) / 10_000;
            let sys = (rest - user) * (5_000 + 40 * share(24)) / 10_000;
            let irq = (rest - user - sys) * share(32) / 100;
            let nice = rest - user - sys - irq;
            CpuStats {
                name: name.to_string(),
                timestamp,
                cpu_number: match CPU_NUMBERS.get(cpu as usize) {
                    Some(text) => Cow::Borrowed(text.as_str()),
                    None => Cow::Owned(cpu.to_string()),
                },
                p_idle: percent_text(idle),
                p_user: percent_text(user),
                p_sys: percent_text(sys),
                p_irq: percent_text(irq),
                p_nice: percent_text(nice),
            }
        })
        .collect()
}

/// Whether the device `name` fails at `rate` (deterministic: the same devices fail on every run).
pub fn fails(name: &str, rate: f64) -> bool {
    rate > 0.0 && ((stable_hash(name) >> 8) % 1_000_000) < (rate * 1_000_000.0) as u64
}

pub struct SimulatedSource {
    settings: SimulatedSettings,
    timeout_ms: u64,
    /// The timestamp for extractions that need no waiting, and how many more may use it: read from the clock
    /// every `CLOCK_EVERY` devices, and again after the caller waited (`waited`). A clock read per device cost 2 %
    /// of the run; devices back to back take microseconds, so they share the second but around a change of it.
    clock: Cell<(u32, i64)>,
}

/// Devices that share one clock read (`SimulatedSource::ready`).
const CLOCK_EVERY: u32 = 64;

impl SimulatedSource {
    pub fn new(settings: &ExtractSettings) -> Self {
        SimulatedSource {
            settings: settings.simulated.clone(),
            timeout_ms: settings.timeout_ms,
            clock: Cell::new((0, 0)),
        }
    }

    fn latency(&self) -> Duration {
        let s = &self.settings;
        let ms = if s.jitter_ms == 0 {
            s.latency_ms
        } else {
            let j = rand::rng().random_range(0..=2 * s.jitter_ms);
            (s.latency_ms + j).saturating_sub(s.jitter_ms)
        };
        Duration::from_millis(ms)
    }

    /// The stats right away when the configured latency is zero.
    pub fn ready(&self, name: &str, hash: u64) -> Option<Result<Vec<CpuStats>, ExtractError>> {
        if self.settings.latency_ms != 0 || self.settings.jitter_ms != 0 {
            return None;
        }
        let (left, now) = match self.clock.get() {
            (0, _) => (CLOCK_EVERY, unix_now()),
            cached => cached,
        };
        self.clock.set((left - 1, now));
        Some(self.stats(name, hash, now))
    }

    /// The caller waited since the last `ready`: the next one reads the clock.
    pub fn waited(&self) {
        self.clock.set((0, 0));
    }

    fn stats(&self, name: &str, hash: u64, now: i64) -> Result<Vec<CpuStats>, ExtractError> {
        if fails(name, self.settings.failure_rate) {
            return Err(ExtractError::Failed("simulated device failure".into()));
        }
        Ok(device_stats_hashed(
            name,
            hash,
            self.settings.cpus_per_device,
            now,
        ))
    }

    pub async fn extract(&self, device: &Device) -> Result<Vec<CpuStats>, ExtractError> {
        let latency = self.latency();
        if latency.as_millis() as u64 > self.timeout_ms {
            actix_rt::time::sleep(Duration::from_millis(self.timeout_ms)).await;
            return Err(ExtractError::Timeout(self.timeout_ms));
        }
        if !latency.is_zero() {
            actix_rt::time::sleep(latency).await;
        }
        self.stats(&device.name, stable_hash(&device.name), unix_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::transform_all;

    #[test]
    fn stats_are_deterministic_and_transformable() {
        let a = device_stats("device-7", 4, 1);
        assert_eq!(a, device_stats("device-7", 4, 1));
        assert_eq!(a.len(), 4);
        assert_ne!(a[0].p_idle, device_stats("device-8", 1, 1)[0].p_idle);
        let records = transform_all(a).unwrap();
        for r in records {
            let sum: f64 = r.indicators[1..].iter().map(|i| i.value).sum();
            let util = r.indicators[0].value;
            assert!((sum - util).abs() < 0.05, "{sum} vs {util}");
        }
    }

    #[test]
    fn hundredths_format_like_two_decimals() {
        for v in [0, 5, 99, 100, 1234, 9_999, 10_000] {
            assert_eq!(hundredths(v), format!("{:.2}", v as f64 / 100.0));
            assert_eq!(percent_text(v), hundredths(v));
        }
        assert_eq!(percent_text(12_345), "123.45");
        let many = device_stats("d", 300, 1);
        assert_eq!(many[7].cpu_number, "7");
        assert_eq!(many[299].cpu_number, "299");
    }

    #[test]
    fn the_clock_is_read_again_after_a_wait_or_64_devices() {
        let settings = ExtractSettings {
            simulated: SimulatedSettings {
                latency_ms: 0,
                jitter_ms: 0,
                ..SimulatedSettings::default()
            },
            ..ExtractSettings::default()
        };
        let source = SimulatedSource::new(&settings);
        let hash = stable_hash("d");
        assert!(source.ready("d", hash).is_some());
        assert_eq!(
            source.clock.get().0,
            CLOCK_EVERY - 1,
            "read once, then shared"
        );
        source.clock.set((5, 1)); // a stale second
        let stale = source.ready("d", hash).unwrap().unwrap();
        assert_eq!(stale[0].timestamp, 1, "shared within the 64");
        source.waited();
        let fresh = source.ready("d", hash).unwrap().unwrap();
        assert!(
            fresh[0].timestamp >= unix_now() - 1,
            "read again after a wait"
        );
        source.clock.set((0, 1));
        assert!(
            source.ready("d", hash).unwrap().unwrap()[0].timestamp > 1,
            "read again after 64"
        );
    }

    #[test]
    fn failure_rate_is_roughly_respected() {
        let n = (0..10_000)
            .filter(|i| fails(&format!("device-{i}"), 0.1))
            .count();
        assert!((800..1200).contains(&n), "{n}");
        assert!(!fails("x", 0.0));
    }
}
