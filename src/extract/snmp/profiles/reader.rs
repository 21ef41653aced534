//! A gauge source's values, pure: what to walk for a column source (the value column, its filter columns and its
//! name column, in one GETBULK), each value as a utilization in hundredths (scale, idle, a number inside text),
//! the rows kept by the filters, and the rows' names (bounded, printable). A value that is not a percentage after
//! its scale is an error naming the OID and the value: it is never loaded.

use std::collections::HashMap;

use super::format::{Filter, Gauge, Object, RowName, Test};
use crate::snmp::{Oid, Value, VarBind};

/// Longest row name kept (characters); a longer one is cut.
pub const MAX_NAME: usize = 64;
/// entPhysicalName (ENTITY-MIB), the column a physical index names.
pub const ENT_PHYSICAL_NAME: &str = "1.3.6.1.2.1.47.1.1.1.1.7";

/// Why a device's value cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Negative or above 100 after the scale.
    NotPercent { oid: Oid, value: String },
    /// Not a number (or text without the number the profile looks for).
    NotNumber { oid: Oid, value: String },
}

/// One CPU row: its index (the OID suffix after the column, e.g. `1` or `9.1.0.0`), utilization in hundredths,
/// and its name or the physical index naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub index: String,
    pub utilization: u32,
    pub name: Option<String>,
    pub physical: Option<u32>,
}

impl Row {
    /// The record's `cpu_number`: the index, and the name in parentheses when there is one.
    pub fn cpu_number(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({n})", self.index),
            None => self.index.clone(),
        }
    }
}

/// The columns one walk reads for a column source: the value column first, then each distinct filter or name
/// column; `filters[i]` and `name` are positions in `columns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub columns: Vec<Oid>,
    pub filters: Vec<usize>,
    pub name: Option<usize>,
}

impl Plan {
    pub fn of(g: &Gauge) -> Plan {
        let mut columns = vec![g.object.oid().clone()];
        let mut at = |oid: &Oid| match columns.iter().position(|c| c == oid) {
            Some(i) => i,
            None => {
                columns.push(oid.clone());
                columns.len() - 1
            }
        };
        let filters = g.filters.iter().map(|f| at(&f.column)).collect();
        let name = match &g.name {
            RowName::Column(c) | RowName::PhysicalIndexColumn(c) => Some(at(c)),
            RowName::None | RowName::IndexIsPhysical => None,
        };
        Plan {
            columns,
            filters,
            name,
        }
    }
}

fn text(value: &Value) -> Option<&[u8]> {
    match value {
        Value::OctetString(b) | Value::Opaque(b) => Some(b),
        _ => None,
    }
}

/// A value as the text an operator reads (bounded, escaped).
pub fn shown(value: &Value) -> String {
    match value {
        Value::Integer(i) => i.to_string(),
        Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => v.to_string(),
        Value::Counter64(v) => v.to_string(),
        Value::OctetString(b) => {
            let t = String::from_utf8_lossy(&b[..b.len().min(80)]);
            format!("{t:?}")
        }
        Value::NoSuchObject => "noSuchObject".into(),
        Value::NoSuchInstance => "noSuchInstance".into(),
        Value::EndOfMibView => "endOfMibView".into(),
        other => format!("{other:?}").chars().take(80).collect(),
    }
}

/// The first decimal number (digits, optionally `.digits`) in `t` after the first `after` (`""`: anywhere).
fn number_in(t: &str, after: &str) -> Option<f64> {
    let start = if after.is_empty() {
        0
    } else {
        t.find(after)? + after.len()
    };
    let rest = &t[start..];
    let b = rest.as_bytes();
    let first = b.iter().position(u8::is_ascii_digit)?;
    let negative = first > 0 && b[first - 1] == b'-';
    let mut end = first;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    let n: f64 = rest[first..end].parse().ok()?;
    Some(if negative { -n } else { n })
}

/// The utilization (hundredths of a percent) a value gives, `None` when the device has no such object or
/// instance.
pub fn utilization(g: &Gauge, oid: &Oid, value: &Value) -> Result<Option<u32>, ReadError> {
    let raw: f64 = match value {
        Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => return Ok(None),
        Value::Integer(i) => *i as f64,
        Value::Counter32(v) | Value::Gauge32(v) => f64::from(*v),
        Value::Counter64(v) => *v as f64,
        Value::OctetString(_) | Value::Opaque(_) => {
            let t = String::from_utf8_lossy(text(value).expect("a text value"));
            let n = match &g.number_after {
                Some(after) => number_in(&t, after),
                None => t.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            };
            match n {
                Some(n) => n,
                None => {
                    return Err(ReadError::NotNumber {
                        oid: oid.clone(),
                        value: shown(value),
                    })
                }
            }
        }
        _ => {
            return Err(ReadError::NotNumber {
                oid: oid.clone(),
                value: shown(value),
            })
        }
    };
    let percent = raw / g.scale.divisor();
    if !(0.0..=100.0).contains(&percent) {
        return Err(ReadError::NotPercent {
            oid: oid.clone(),
            value: shown(value),
        });
    }
    let hundredths = (percent * 100.0).round() as u32;
    Ok(Some(if g.idle {
        10_000 - hundredths
    } else {
        hundredths
    }))
}

fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => Some(*i),
        other => other.as_u64().and_then(|v| i64::try_from(v).ok()),
    }
}

fn passes(f: &Filter, value: Option<&Value>) -> bool {
    let lower = || {
        value
            .and_then(text)
            .map(|t| String::from_utf8_lossy(t).to_lowercase())
            .unwrap_or_default()
    };
    match &f.test {
        Test::NonZero => value.and_then(number).is_some_and(|n| n != 0),
        Test::Equals(v) => value.and_then(number).is_some_and(|n| v.contains(&n)),
        Test::NotEquals(v) => value.and_then(number).is_some_and(|n| !v.contains(&n)),
        Test::Contains(v) => {
            let t = lower();
            v.iter().any(|s| t.contains(s.as_str()))
        }
        Test::NotContains(v) => {
            let t = lower();
            !v.iter().any(|s| t.contains(s.as_str()))
        }
    }
}

/// A device-given name as it may appear in a record: printable (control characters become spaces), trimmed, at
/// most `MAX_NAME` characters; `None` when nothing is left.
pub fn clean_name(bytes: &[u8]) -> Option<String> {
    let t = String::from_utf8_lossy(&bytes[..bytes.len().min(4 * MAX_NAME)]);
    let t: String = t
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t: String = t.trim().chars().take(MAX_NAME).collect();
    let t = t.trim_end();
    (!t.is_empty()).then(|| t.to_string())
}

/// The rows of a walked column source: `walked[i]` holds what the walk of `plan.columns[i]` gave. Rows whose
/// value is missing are skipped; filters apply before values are checked (a fan's garbage is not the device's
/// failure). `Ok(empty)` when no row is left.
pub fn rows(g: &Gauge, plan: &Plan, walked: &[Vec<VarBind>]) -> Result<Vec<Row>, ReadError> {
    let Object::Column(column) = &g.object else {
        return Ok(Vec::new());
    };
    let depth = column.ids().len();
    let by_index: Vec<HashMap<&[u32], &Value>> = plan
        .columns
        .iter()
        .zip(walked)
        .skip(1)
        .map(|(col, vbs)| {
            let d = col.ids().len();
            vbs.iter()
                .filter(|(o, _)| o.ids().len() > d)
                .map(|(o, v)| (&o.ids()[d..], v))
                .collect()
        })
        .collect();
    let other = |at: usize, idx: &[u32]| -> Option<&Value> {
        by_index
            .get(at.checked_sub(1)?)
            .and_then(|m| m.get(idx).copied())
    };
    let mut out = Vec::new();
    for (oid, value) in walked.first().map_or(&[][..], |v| &v[..]) {
        if oid.ids().len() <= depth {
            continue;
        }
        let idx = &oid.ids()[depth..];
        let kept = g
            .filters
            .iter()
            .zip(&plan.filters)
            .all(|(f, at)| passes(f, other(*at, idx)));
        if !kept {
            continue;
        }
        let Some(utilization) = utilization(g, oid, value)? else {
            continue;
        };
        let named = plan.name.and_then(|at| other(at, idx));
        let (name, physical) = match &g.name {
            RowName::None => (None, None),
            RowName::Column(_) => (named.and_then(text).and_then(clean_name), None),
            RowName::PhysicalIndexColumn(_) => (
                None,
                named
                    .and_then(number)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n > 0),
            ),
            RowName::IndexIsPhysical => (None, (idx.len() == 1).then_some(idx[0])),
        };
        let index = idx.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
        out.push(Row {
            index,
            utilization,
            name,
            physical,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::format::{Object, Scale};
    use super::*;

    fn oid(t: &str) -> Oid {
        Oid::parse(t).unwrap()
    }

    fn gauge(object: Object) -> Gauge {
        Gauge {
            object,
            scale: Scale::Percent,
            idle: false,
            number_after: None,
            filters: Vec::new(),
            name: RowName::None,
        }
    }

    fn util(g: &Gauge, v: Value) -> Result<Option<u32>, ReadError> {
        utilization(g, &oid("1.3.6.1.4.1.1.1.0"), &v)
    }

    #[test]
    fn each_value_kind_gives_hundredths() {
        let mut g = gauge(Object::Scalar(oid("1.3.6.1.4.1.1.1.0")));
        assert_eq!(util(&g, Value::Integer(42)), Ok(Some(4200)));
        assert_eq!(util(&g, Value::Gauge32(7)), Ok(Some(700)));
        assert_eq!(
            util(&g, Value::OctetString(b" 12.5 ".to_vec())),
            Ok(Some(1250))
        );
        assert_eq!(util(&g, Value::NoSuchObject), Ok(None));
        assert_eq!(util(&g, Value::NoSuchInstance), Ok(None));
        g.scale = Scale::Hundredths;
        assert_eq!(util(&g, Value::Integer(1234)), Ok(Some(1234)));
        g.scale = Scale::Tenths;
        assert_eq!(util(&g, Value::Integer(255)), Ok(Some(2550)));
        g.scale = Scale::Percent;
        g.idle = true;
        assert_eq!(util(&g, Value::Integer(93)), Ok(Some(700)));
        g.idle = false;
        g.number_after = Some("1 Min (".into());
        let s = Value::OctetString(b"5 Sec (6.99%), 1 Min (6.72%), 5 Min (9.06%)".to_vec());
        assert_eq!(util(&g, s.clone()), Ok(Some(672)));
        g.number_after = Some(String::new());
        assert_eq!(util(&g, s), Ok(Some(500)));
        // Dell PowerConnect's text, with a space before the number.
        g.number_after = Some("300 Secs (".into());
        let dell =
            Value::OctetString(b"5 Secs ( 6.99%) 60 Secs ( 6.72%) 300 Secs ( 9.06%)".to_vec());
        assert_eq!(util(&g, dell), Ok(Some(906)));
        g.number_after = Some("15 Min (".into());
        assert!(matches!(
            util(&g, Value::OctetString(b"5 Sec (6.99%)".to_vec())),
            Err(ReadError::NotNumber { .. })
        ));
    }

    #[test]
    fn values_outside_0_to_100_after_the_scale_are_errors_naming_oid_and_value() {
        let mut g = gauge(Object::Scalar(oid("1.3.6.1.4.1.1.1.0")));
        assert_eq!(
            util(&g, Value::Integer(-1)),
            Err(ReadError::NotPercent {
                oid: oid("1.3.6.1.4.1.1.1.0"),
                value: "-1".into()
            })
        );
        assert!(matches!(
            util(&g, Value::Integer(101)),
            Err(ReadError::NotPercent { .. })
        ));
        assert!(matches!(
            util(&g, Value::Integer(2550)),
            Err(ReadError::NotPercent { .. })
        ));
        g.scale = Scale::Hundredths;
        assert_eq!(util(&g, Value::Integer(10_000)), Ok(Some(10_000)));
        assert!(matches!(
            util(&g, Value::Integer(10_001)),
            Err(ReadError::NotPercent { .. })
        ));
        g.idle = true;
        assert!(matches!(
            util(&g, Value::Integer(-5)),
            Err(ReadError::NotPercent { .. })
        ));
        assert!(matches!(
            util(&g, Value::OctetString(b"n/a".to_vec())),
            Err(ReadError::NotNumber { .. })
        ));
        assert!(matches!(
            util(&g, Value::Null),
            Err(ReadError::NotNumber { .. })
        ));
    }

    fn walked(col: &str, rows: &[(&str, Value)]) -> Vec<VarBind> {
        rows.iter()
            .map(|(i, v)| (oid(&format!("{col}.{i}")), v.clone()))
            .collect()
    }

    #[test]
    fn filters_keep_rows_and_names_come_from_a_column() {
        // A Juniper-like table: CPU, descriptions, memory; fans have no memory.
        let (cpu, descr, mem) = (
            "1.3.6.1.4.1.2636.3.1.13.1.8",
            "1.3.6.1.4.1.2636.3.1.13.1.5",
            "1.3.6.1.4.1.2636.3.1.13.1.15",
        );
        let mut g = gauge(Object::Column(oid(cpu)));
        g.filters = vec![
            Filter {
                column: oid(mem),
                test: Test::NonZero,
            },
            Filter {
                column: oid(descr),
                test: Test::NotContains(vec!["sensor".into()]),
            },
        ];
        g.name = RowName::Column(oid(descr));
        let plan = Plan::of(&g);
        assert_eq!(plan.columns.len(), 3, "the name column is walked once");
        assert_eq!(plan.name, Some(2));
        let data = vec![
            walked(
                cpu,
                &[
                    ("4.1.0.0", Value::Gauge32(0)),
                    ("7.1.0.0", Value::Gauge32(13)),
                    ("9.1.0.0", Value::Gauge32(29)),
                    ("9.9.0.0", Value::Integer(400)),
                ],
            ),
            walked(
                mem,
                &[
                    ("4.1.0.0", Value::Integer(0)),
                    ("7.1.0.0", Value::Integer(2048)),
                    ("9.1.0.0", Value::Integer(16351)),
                    ("9.9.0.0", Value::Integer(1)),
                ],
            ),
            walked(
                descr,
                &[
                    ("4.1.0.0", Value::OctetString(b"Top Fan Tray".to_vec())),
                    ("7.1.0.0", Value::OctetString(b"FPC: MPC @ 0/*/*".to_vec())),
                    (
                        "9.1.0.0",
                        Value::OctetString(b"Routing Engine 0\r\n\x1b[31m".to_vec()),
                    ),
                    ("9.9.0.0", Value::OctetString(b"Temp Sensor".to_vec())),
                ],
            ),
        ];
        let rows = rows(&g, &plan, &data).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].cpu_number(), "7.1.0.0 (FPC: MPC @ 0/*/*)");
        assert_eq!(rows[0].utilization, 1300);
        assert_eq!(rows[1].cpu_number(), "9.1.0.0 (Routing Engine 0   [31m)");
        // Without the sensor filter the garbage row fails the device, naming it.
        g.filters.pop();
        g.name = RowName::None;
        let plan = Plan::of(&g);
        assert_eq!(plan.columns.len(), 2);
        assert_eq!(
            super::rows(&g, &plan, &data[..2]),
            Err(ReadError::NotPercent {
                oid: oid(&format!("{cpu}.9.9.0.0")),
                value: "400".into()
            })
        );
    }

    #[test]
    fn physical_indexes_and_equals_filters() {
        let (cpu, phys) = (
            "1.3.6.1.4.1.9.9.109.1.1.1.1.8",
            "1.3.6.1.4.1.9.9.109.1.1.1.1.2",
        );
        let mut g = gauge(Object::Column(oid(cpu)));
        g.name = RowName::PhysicalIndexColumn(oid(phys));
        let plan = Plan::of(&g);
        let data = vec![
            walked(cpu, &[("1", Value::Gauge32(29)), ("2", Value::Gauge32(3))]),
            walked(
                phys,
                &[("1", Value::Integer(1001)), ("2", Value::Integer(0))],
            ),
        ];
        let r = rows(&g, &plan, &data).unwrap();
        assert_eq!((r[0].physical, r[1].physical), (Some(1001), None));
        assert_eq!(r[1].cpu_number(), "2");
        g.name = RowName::IndexIsPhysical;
        g.filters = vec![Filter {
            column: oid(phys),
            test: Test::Equals(vec![1001]),
        }];
        let plan = Plan::of(&g);
        let r = rows(&g, &plan, &data).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].physical, Some(1));
        g.filters = vec![Filter {
            column: oid(phys),
            test: Test::NotEquals(vec![1001]),
        }];
        assert_eq!(rows(&g, &Plan::of(&g), &data).unwrap()[0].index, "2");
        g.filters = vec![Filter {
            column: oid(phys),
            test: Test::Contains(vec!["x".into()]),
        }];
        assert!(rows(&g, &Plan::of(&g), &data).unwrap().is_empty());
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(clean_name(b"  Slot 1 \n"), Some("Slot 1".into()));
        assert_eq!(clean_name(b"\x00\x01  "), None);
        let long = vec![b'a'; 1000];
        assert_eq!(clean_name(&long).unwrap().len(), MAX_NAME);
        assert_eq!(clean_name("caf\u{e9}".as_bytes()), Some("caf\u{e9}".into()));
    }
}
