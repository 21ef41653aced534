//! Transform: the pure mapping from a device's `CpuStats` to the `DeviceRecord` the API receives.
//!
//! The original's mapping is kept (utilization = 100 − pIdle, nice, user, system, irq), not its bug: a value that
//! is not a number between 0 and 100 is an error for the device, never a silent 0.

use crate::model::{CpuStats, DeviceRecord, Indicator, INDICATORS};

/// A stat that could not be turned into a number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "device {device} cpu {cpu}: field {field} = {value:?} is not a percentage between 0 and 100"
)]
pub struct TransformError {
    pub device: String,
    pub cpu: String,
    pub field: &'static str,
    pub value: String,
}

/// `text` as `text.trim().parse::<f64>()` reads it, quickly for the common shape: 1 to 3 digits, then optionally
/// a dot and 1 or 2 digits (`87.3`, `12.34`, `100`), around which ASCII spaces are dropped. Such a decimal is
/// `n / 100`, and `n as f64 / 100.0` is the double nearest to it, which is what the general parser answers too.
/// Anything else (other whitespace included) goes to the general parser.
fn parse_number(text: &str) -> Result<f64, std::num::ParseFloatError> {
    match hundredths(text.as_bytes().trim_ascii()) {
        Some(n) => Ok(f64::from(n) / 100.0),
        None => text.trim().parse::<f64>(),
    }
}

/// `D`, `DD`, `DDD`, optionally followed by `.D` or `.DD`, as a whole number of hundredths.
fn hundredths(b: &[u8]) -> Option<u32> {
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let mut n = 0;
    let mut i = 0;
    while let Some(d) = digit(i) {
        if i == 3 {
            return None;
        }
        n = n * 10 + d;
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let mut decimals = 0;
    if i < b.len() {
        if b[i] != b'.' {
            return None;
        }
        i += 1;
        while let Some(d) = digit(i) {
            if decimals == 2 {
                return None;
            }
            n = n * 10 + d;
            i += 1;
            decimals += 1;
        }
        if decimals == 0 || i != b.len() {
            return None;
        }
    }
    for _ in decimals..2 {
        n *= 10;
    }
    Some(n)
}

fn percent(stats: &CpuStats, field: &'static str, text: &str) -> Result<f64, TransformError> {
    match parse_number(text) {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(TransformError {
            device: stats.name.clone(),
            cpu: stats.cpu_number.to_string(),
            field,
            value: text.chars().take(64).collect(),
        }),
    }
}

/// Maps one CPU's stats to a record.
pub fn transform(stats: CpuStats) -> Result<DeviceRecord, TransformError> {
    let idle = percent(&stats, "pIdle", &stats.p_idle)?;
    let nice = percent(&stats, "pNice", &stats.p_nice)?;
    let user = percent(&stats, "pUser", &stats.p_user)?;
    let system = percent(&stats, "pSys", &stats.p_sys)?;
    let irq = percent(&stats, "pIRQ", &stats.p_irq)?;
    Ok(DeviceRecord {
        name: stats.name,
        cpu_number: stats.cpu_number,
        timestamp: stats.timestamp,
        indicators: [
            Indicator {
                name: INDICATORS[0],
                value: round2(100.0 - idle),
            },
            Indicator {
                name: INDICATORS[1],
                value: nice,
            },
            Indicator {
                name: INDICATORS[2],
                value: user,
            },
            Indicator {
                name: INDICATORS[3],
                value: system,
            },
            Indicator {
                name: INDICATORS[4],
                value: irq,
            },
        ],
    })
}

/// Rounds to two decimals so that `100 - 87.3` is sent as `12.7`, not `12.700000000000003`.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Maps all CPUs of a device; the first bad value fails the device.
pub fn transform_all(stats: Vec<CpuStats>) -> Result<Vec<DeviceRecord>, TransformError> {
    stats.into_iter().map(transform).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(idle: &str) -> CpuStats {
        CpuStats {
            name: "device-1".into(),
            timestamp: 1_700_000_000,
            cpu_number: "0".into(),
            p_idle: idle.to_string().into(),
            p_user: "10.5".into(),
            p_sys: "2".into(),
            p_irq: "0.25".into(),
            p_nice: "0".into(),
        }
    }

    #[test]
    fn maps_like_the_original() {
        let r = transform(stats("87.3")).unwrap();
        let names: Vec<_> = r.indicators.iter().map(|i| i.name).collect();
        assert_eq!(names, ["utilization", "nice", "user", "system", "irq"]);
        let values: Vec<_> = r.indicators.iter().map(|i| i.value).collect();
        assert_eq!(values, [12.7, 0.0, 10.5, 2.0, 0.25]);
        assert_eq!(r.cpu_number, "0");
        assert_eq!(r.timestamp, 1_700_000_000);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"name":"device-1","cpu_number":"0","timestamp":1700000000,"indicators":[{"name":"utilization","value":12.7},{"name":"nice","value":0.0},{"name":"user","value":10.5},{"name":"system","value":2.0},{"name":"irq","value":0.25}]}"#
        );
    }

    #[test]
    fn an_unparsable_number_is_an_error_not_zero() {
        let e = transform(stats("n/a")).unwrap_err();
        assert_eq!(e.field, "pIdle");
        assert!(e.to_string().contains("device-1"), "{e}");
        assert!(transform(stats("")).is_err());
        assert!(transform(stats("NaN")).is_err());
        assert!(transform(stats("101")).is_err());
        assert!(transform(stats("-1")).is_err());
    }

    #[test]
    fn the_quick_parser_agrees_with_the_general_one() {
        let mut texts: Vec<String> = (0..=10_000)
            .flat_map(|n| {
                let (w, f) = (n / 100, n % 100);
                [
                    format!("{w}.{f:02}"),
                    format!("{w}.{}", f / 10),
                    format!("{w}"),
                ]
            })
            .collect();
        for t in [
            "0",
            "00",
            "007.5",
            "1.",
            ".5",
            "1.234",
            "1e2",
            "+1",
            "-0",
            "1_0",
            "",
            ".",
            "9999",
            "12.3.4",
            "١٢",
            "inf",
            "NaN",
            " 1",
            "1 ",
            "0.00",
            "100.00",
            "999.99",
            "\u{a0}12.5",
            "12.5\u{b}",
            " \t50\r\n",
            "1234",
            "12.345",
            "1.2.",
            "..",
        ] {
            texts.push(t.to_string());
        }
        for t in texts {
            let quick = parse_number(&t).map(f64::to_bits).ok();
            let general = t.trim().parse::<f64>().map(f64::to_bits).ok();
            assert_eq!(quick, general, "{t:?}");
        }
    }

    #[test]
    fn surrounding_spaces_are_tolerated() {
        assert!(transform(stats(" 50 ")).is_ok());
    }
}
