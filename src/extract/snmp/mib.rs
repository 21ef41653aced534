//! What the SNMP source reads and how it becomes percentages, pure: the UCD-SNMP-MIB systemStats and
//! HOST-RESOURCES-MIB OIDs (and the system group's sysObjectID and sysDescr), a UCD sample from a GET's variable bindings, and the percentages from two samples
//! (each counter's delta modulo 2^32 over the sum of the deltas).

use std::sync::LazyLock;

use crate::snmp::{Oid, Value, VarBind};

/// sysUpTime.0 (TimeTicks, hundredths of a second since the agent started).
pub const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
/// UCD-SNMP-MIB systemStats.
pub const UCD_SYSTEM_STATS: &str = "1.3.6.1.4.1.2021.11";
/// HOST-RESOURCES-MIB hrProcessorLoad (the column; one row per processor).
pub const HR_PROCESSOR_LOAD: &str = "1.3.6.1.2.1.25.3.3.1.2";

/// The UCD counters of one sample, in the order they are requested (after sysUpTime.0): the column under
/// systemStats and the object's name.
pub const UCD_FIELDS: [(u32, &str); 9] = [
    (50, "ssCpuRawUser"),
    (51, "ssCpuRawNice"),
    (52, "ssCpuRawSystem"),
    (53, "ssCpuRawIdle"),
    (54, "ssCpuRawWait"),
    (56, "ssCpuRawInterrupt"),
    (61, "ssCpuRawSoftIRQ"),
    (64, "ssCpuRawSteal"),
    (67, "ssCpuNumCpus"),
];

/// The OIDs of one UCD sample's GET: sysUpTime.0, then each of `UCD_FIELDS` with instance `.0`.
pub static UCD_GET: LazyLock<Vec<Oid>> = LazyLock::new(|| {
    let base = Oid::parse(UCD_SYSTEM_STATS).expect("a valid constant");
    std::iter::once(Oid::parse(SYS_UPTIME).expect("a valid constant"))
        .chain(UCD_FIELDS.iter().map(|(col, _)| base.child(*col).child(0)))
        .collect()
});

/// sysObjectID.0 and sysDescr.0 (SNMPv2-MIB system group): what the device is.
pub static SYS_OBJECT_ID: LazyLock<Oid> =
    LazyLock::new(|| Oid::parse("1.3.6.1.2.1.1.2.0").expect("a valid constant"));
pub static SYS_DESCR: LazyLock<Oid> =
    LazyLock::new(|| Oid::parse("1.3.6.1.2.1.1.1.0").expect("a valid constant"));
/// UCD-SNMP-MIB ssCpuIdle.0: the agent's own idle percentage (an INTEGER 0..100).
pub static SS_CPU_IDLE: LazyLock<Oid> =
    LazyLock::new(|| Oid::parse("1.3.6.1.4.1.2021.11.11.0").expect("a valid constant"));

pub static HR_LOAD: LazyLock<Oid> =
    LazyLock::new(|| Oid::parse(HR_PROCESSOR_LOAD).expect("a valid constant"));

/// Why variable bindings are not a usable sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleError {
    /// The agent has no such object (or instance) at this OID.
    Missing(Oid),
    /// The answer is not what was asked (other OIDs, count or types).
    Unexpected(String),
    /// A percentage above 100.
    OutOfRange { oid: Oid, value: u64 },
}

/// One UCD sample: sysUpTime and the raw tick counters (Counter32, wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UcdSample {
    pub uptime: u32,
    pub user: u32,
    pub nice: u32,
    pub system: u32,
    pub idle: u32,
    pub wait: u32,
    pub interrupt: u32,
    pub softirq: u32,
    pub steal: u32,
    pub cpus: u32,
}

impl UcdSample {
    /// From the answer to a GET of `UCD_GET`: the same OIDs in the same order, numbers.
    pub fn from_varbinds(varbinds: &[VarBind]) -> Result<UcdSample, SampleError> {
        if varbinds.len() != UCD_GET.len() {
            return Err(SampleError::Unexpected(format!(
                "{} variable bindings for {} requested",
                varbinds.len(),
                UCD_GET.len()
            )));
        }
        let mut v = [0u32; 10];
        for (i, ((oid, value), asked)) in varbinds.iter().zip(UCD_GET.iter()).enumerate() {
            if oid != asked {
                return Err(SampleError::Unexpected(format!(
                    "answered {oid} where {asked} was asked"
                )));
            }
            v[i] = match value {
                Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {
                    return Err(SampleError::Missing(oid.clone()))
                }
                // Counter32, TimeTicks and INTEGER (ssCpuNumCpus); a Counter64 is cut to its low 32 bits, the
                // deltas are modulo 2^32 anyway.
                other => match other.as_u64() {
                    Some(n) => n as u32,
                    None => {
                        return Err(SampleError::Unexpected(format!(
                            "{oid} is not a number: {other:?}"
                        )))
                    }
                },
            };
        }
        Ok(UcdSample {
            uptime: v[0],
            user: v[1],
            nice: v[2],
            system: v[3],
            idle: v[4],
            wait: v[5],
            interrupt: v[6],
            softirq: v[7],
            steal: v[8],
            cpus: v[9],
        })
    }

    /// The tick counters that make up the total.
    fn ticks(&self) -> [u32; 8] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.wait,
            self.interrupt,
            self.softirq,
            self.steal,
        ]
    }
}

/// Percentages in hundredths (0..=10000) over the window between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentages {
    pub idle: u32,
    pub user: u32,
    pub nice: u32,
    pub system: u32,
    /// interrupt + softirq.
    pub irq: u32,
}

/// What two samples give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    Ready(Percentages),
    /// sysUpTime went back: the agent restarted between the samples (its counters may have been reset).
    Restarted,
    /// No tick was counted between the samples (net-snmp refreshes its counters about every 5 s, and reads 0
    /// for its first seconds).
    NoProgress,
}

/// The percentages from `first` to `second`: each counter's delta modulo 2^32 over the sum of the deltas of the
/// eight tick counters, rounded to hundredths. Every value is in 0..=100 by construction.
pub fn percentages(first: &UcdSample, second: &UcdSample) -> Delta {
    if second.uptime < first.uptime {
        return Delta::Restarted;
    }
    let (a, b) = (first.ticks(), second.ticks());
    let mut d = [0u64; 8];
    for i in 0..8 {
        d[i] = u64::from(b[i].wrapping_sub(a[i]));
    }
    let total: u64 = d.iter().sum();
    if total == 0 {
        return Delta::NoProgress;
    }
    let share = |ticks: u64| ((ticks * 10_000 + total / 2) / total) as u32;
    Delta::Ready(Percentages {
        user: share(d[0]),
        nice: share(d[1]),
        system: share(d[2]),
        idle: share(d[3]),
        irq: share(d[5] + d[6]),
    })
}

/// A sample whose tick counters are all zero: the agent has not read its counters yet (net-snmp's first
/// seconds); it cannot be a baseline.
pub fn is_unset(sample: &UcdSample) -> bool {
    sample.ticks().iter().all(|t| *t == 0)
}

/// hrProcessorLoad rows from walked variable bindings: the values (0..=100) of the OIDs under the column, in
/// walk order. `Err` names the OID of a value that is not a number, or above 100 (never loaded).
pub fn processor_loads(varbinds: &[VarBind]) -> Result<Vec<u32>, SampleError> {
    varbinds
        .iter()
        .map(|(oid, value)| match value.as_u64() {
            Some(n) if n <= 100 => Ok(n as u32),
            Some(n) => Err(SampleError::OutOfRange {
                oid: oid.clone(),
                value: n,
            }),
            None => Err(SampleError::Unexpected(format!(
                "{oid} is not a load percentage: {value:?}"
            ))),
        })
        .collect()
}

/// Hundredths as the decimal text of a stat (`1234` → `"12.34"`).
pub fn hundredths_text(v: u32) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(uptime: u32, ticks: [u32; 8]) -> UcdSample {
        UcdSample {
            uptime,
            user: ticks[0],
            nice: ticks[1],
            system: ticks[2],
            idle: ticks[3],
            wait: ticks[4],
            interrupt: ticks[5],
            softirq: ticks[6],
            steal: ticks[7],
            cpus: 2,
        }
    }

    fn ready(d: Delta) -> Percentages {
        match d {
            Delta::Ready(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn percentages_are_deltas_over_the_total() {
        let a = sample(100, [1000, 50, 300, 8000, 10, 5, 5, 0]);
        // +200 user, +0 nice, +100 system, +600 idle, +40 wait, +30 irq, +30 softirq: 1000 ticks.
        let b = sample(700, [1200, 50, 400, 8600, 50, 35, 35, 0]);
        let p = ready(percentages(&a, &b));
        assert_eq!(
            p,
            Percentages {
                idle: 6000,
                user: 2000,
                nice: 0,
                system: 1000,
                irq: 600
            }
        );
    }

    #[test]
    fn counters_wrap_modulo_2_32() {
        let a = sample(100, [u32::MAX - 99, 0, u32::MAX, 4_294_967_000, 0, 0, 0, 0]);
        // user +100 (wrapped), system +1 (wrapped), idle +396 (wrapped), steal +3.
        let b = sample(200, [0, 0, 0, 100, 0, 0, 0, 3]);
        let p = ready(percentages(&a, &b));
        assert_eq!(p.user, 2000);
        assert_eq!(p.system, 20);
        assert_eq!(p.idle, 7920);
        assert_eq!(p.irq, 0);
    }

    #[test]
    fn restart_and_no_progress_ask_for_another_sample() {
        let a = sample(5000, [10, 10, 10, 10, 0, 0, 0, 0]);
        assert_eq!(
            percentages(&a, &sample(10, [1, 1, 1, 1, 0, 0, 0, 0])),
            Delta::Restarted
        );
        assert_eq!(percentages(&a, &a), Delta::NoProgress);
        assert!(is_unset(&sample(300, [0; 8])));
        assert!(!is_unset(&a));
        // The uptime itself wrapping (497 days) also reads as a restart: sampling again is always safe.
        assert_eq!(
            percentages(&sample(u32::MAX, [0; 8]), &sample(3, [1; 8])),
            Delta::Restarted
        );
    }

    #[test]
    fn never_negative_nor_above_100_on_any_input() {
        let mut seed: u64 = 7;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 32) as u32
        };
        for _ in 0..100_000 {
            let mut ticks = [[0u32; 8]; 2];
            for v in ticks.iter_mut().flatten() {
                *v = if next() % 4 == 0 { next() % 16 } else { next() };
            }
            let (ua, ub) = (next() / 2, u32::MAX / 2 + next() / 2);
            let (a, b) = (sample(ua, ticks[0]), sample(ub, ticks[1]));
            if let Delta::Ready(p) = percentages(&a, &b) {
                for v in [p.idle, p.user, p.nice, p.system, p.irq] {
                    assert!(v <= 10_000, "{p:?}");
                }
                assert!(p.idle + p.user + p.nice + p.system <= 10_002, "{p:?}");
            }
        }
    }

    #[test]
    fn samples_come_from_the_get_answer_in_order() {
        let values = [
            Value::TimeTicks(123),
            Value::Counter32(1),
            Value::Counter32(2),
            Value::Counter32(3),
            Value::Counter32(4),
            Value::Counter32(5),
            Value::Counter32(6),
            Value::Counter32(7),
            Value::Counter32(8),
            Value::Integer(2),
        ];
        let vbs: Vec<VarBind> = UCD_GET.iter().cloned().zip(values.clone()).collect();
        let s = UcdSample::from_varbinds(&vbs).unwrap();
        assert_eq!((s.uptime, s.user, s.steal, s.cpus), (123, 1, 8, 2));
        assert_eq!(UCD_GET[1].to_string(), "1.3.6.1.4.1.2021.11.50.0");
        assert_eq!(UCD_GET[9].to_string(), "1.3.6.1.4.1.2021.11.67.0");
        let mut missing = vbs.clone();
        missing[1].1 = Value::NoSuchObject;
        assert_eq!(
            UcdSample::from_varbinds(&missing),
            Err(SampleError::Missing(UCD_GET[1].clone()))
        );
        let mut swapped = vbs.clone();
        swapped.swap(1, 2);
        assert!(matches!(
            UcdSample::from_varbinds(&swapped),
            Err(SampleError::Unexpected(_))
        ));
        assert!(matches!(
            UcdSample::from_varbinds(&vbs[..9]),
            Err(SampleError::Unexpected(_))
        ));
        let mut text = vbs;
        text[3].1 = Value::OctetString(b"x".to_vec());
        assert!(matches!(
            UcdSample::from_varbinds(&text),
            Err(SampleError::Unexpected(_))
        ));
    }

    #[test]
    fn loads_and_texts() {
        let base = HR_LOAD.clone();
        let vbs = vec![
            (base.child(196608), Value::Integer(7)),
            (base.child(196609), Value::Integer(250)),
        ];
        assert_eq!(
            processor_loads(&vbs),
            Err(SampleError::OutOfRange {
                oid: base.child(196609),
                value: 250
            })
        );
        assert_eq!(processor_loads(&vbs[..1]).unwrap(), [7]);
        assert!(processor_loads(&[(base.child(1), Value::Null)]).is_err());
        assert_eq!(hundredths_text(0), "0.00");
        assert_eq!(hundredths_text(1234), "12.34");
        assert_eq!(hundredths_text(10_000), "100.00");
    }
}
