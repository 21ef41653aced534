//! `mib = "auto"`: a device read through its profile. A kept detection is read directly (one GET for a scalar
//! gauge); otherwise one GET of sysObjectID.0 and sysDescr.0 chooses the profile, whose sources are tried in
//! order (those of another `cpu_window` skipped), then the generic profile's; the first source that answers is
//! kept for the next run. A column source is walked with its filter and name columns in one GETBULK, and names
//! given as physical indexes are read from entPhysicalName with one more GET. Every step can be traced for
//! `app snmp probe`.

use std::borrow::Cow;
use std::net::SocketAddr;

use super::detection::Kept;
use super::profiles::format::{Object, RowName};
use super::profiles::reader::{self, Plan, ReadError, Row};
use super::profiles::Read;
use super::{mib, utilization_stats, SnmpSource, Target, MAX_PROCESSORS, NOT_PERCENT};
use crate::extract::{unix_now, ExtractError};
use crate::model::CpuStats;
use crate::snmp::{Oid, Pdu, Value, VarBind};

/// Variable bindings asked per GETBULK of a walk (split between its columns).
pub const WALK_VARBINDS: i32 = 48;
/// Physical names asked per GET.
pub const NAMES_PER_GET: usize = 24;
/// Characters of sysDescr shown in an error.
pub const DESCR_SHOWN: usize = 60;

/// What the probe prints of a device's extraction; off (and free) in a run.
#[derive(Debug, Default)]
pub struct Trace {
    on: bool,
    pub lines: Vec<String>,
}

impl Trace {
    pub fn off() -> Trace {
        Trace::default()
    }
    pub fn on() -> Trace {
        Trace {
            on: true,
            lines: Vec::new(),
        }
    }
    fn note(&mut self, line: impl FnOnce() -> String) {
        if self.on {
            self.lines.push(line());
        }
    }
}

/// The system objects of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub object_id: Option<Oid>,
    pub descr: String,
}

impl System {
    fn shown_descr(&self) -> String {
        let d: String = self.descr.chars().take(DESCR_SHOWN).collect();
        let more = if self.descr.chars().count() > DESCR_SHOWN {
            "…"
        } else {
            ""
        };
        format!("{d:?}{more}")
    }
    fn shown_oid(&self) -> String {
        self.object_id
            .as_ref()
            .map_or_else(|| "(none)".to_string(), Oid::to_string)
    }
}

fn read_error(e: ReadError) -> ExtractError {
    match e {
        ReadError::NotPercent { oid, value } => ExtractError::NotPercent {
            oid: oid.to_string(),
            value,
            what: NOT_PERCENT,
        },
        ReadError::NotNumber { oid, value } => ExtractError::NotPercent {
            oid: oid.to_string(),
            value,
            what: "is not a number the profile can read: not loaded",
        },
    }
}

impl SnmpSource {
    /// `app snmp probe`: a fresh detection of the agent at `to` (nothing kept is read or written), traced; the
    /// stats it gives, as a run of `name` would under security `credentials` (0: `[extract.snmp]`'s, k: the k-th
    /// credential set, as an inventory row's column chooses it), within `extract.timeout_ms`.
    pub async fn probe(
        &self,
        name: &str,
        to: SocketAddr,
        credentials: u16,
    ) -> (Vec<String>, Result<Vec<CpuStats>, ExtractError>) {
        let mut trace = Trace::on();
        let target = Target {
            name,
            to,
            deadline: tokio::time::Instant::now() + self.budget,
        };
        let read = super::session::with_security(credentials, self.auto(&target, &mut trace));
        let result = match tokio::time::timeout_at(target.deadline, read).await {
            Ok(r) => r,
            Err(_) => Err(ExtractError::Timeout(self.timeout_ms)),
        };
        (trace.lines, result)
    }

    /// The device's CPU through its profile (see the file's doc).
    pub(super) async fn auto(
        &self,
        t: &Target<'_>,
        trace: &mut Trace,
    ) -> Result<Vec<CpuStats>, ExtractError> {
        if let Some(kept) = self.detections.get(t.to) {
            let p = &self.catalog.profiles[kept.profile as usize];
            trace.note(|| {
                format!(
                    "kept from an earlier run: profile {:?}, source {}",
                    p.name,
                    kept.source + 1
                )
            });
            match self.read_source(t, kept, trace).await? {
                Some(stats) => return Ok(stats),
                None => {
                    log::debug!(
                        "[SNMP] {}: the kept source no longer answers; detecting again",
                        t.name
                    );
                    trace.note(|| "the kept source no longer answers: detecting again".into());
                    self.detections.forget(t.to);
                }
            }
        }
        let system = self.system(t.to).await?;
        trace.note(|| format!("sysObjectID: {}", system.shown_oid()));
        trace.note(|| format!("sysDescr: {:?}", system.descr));
        let choice = system
            .object_id
            .as_ref()
            .and_then(|o| self.catalog.choose(o, &system.descr));
        let fallback = self.catalog.fallback();
        let mut order = Vec::with_capacity(2);
        match &choice {
            Some(c) => {
                let p = &self.catalog.profiles[c.index];
                trace.note(|| {
                    format!(
                        "profile {:?} ({} {}): sysObjectID starts with {}{}",
                        p.name,
                        if p.user { "user file" } else { "built-in" },
                        p.file,
                        c.prefix,
                        if c.by_descr {
                            format!(
                                " and sysDescr holds {:?}",
                                p.sys_descr.as_deref().unwrap_or("")
                            )
                        } else {
                            String::new()
                        }
                    )
                });
                order.push(c.index);
            }
            None => trace.note(|| {
                format!(
                    "no profile fits; trying the {:?} profile's sources",
                    self.catalog.profiles[fallback].name
                )
            }),
        }
        if order.first() != Some(&fallback) {
            order.push(fallback);
        }
        let chosen = choice.as_ref().map(|c| &self.catalog.profiles[c.index]);
        for profile in order {
            let p = &self.catalog.profiles[profile];
            for (i, source) in p.sources.iter().enumerate() {
                let kept = Kept {
                    profile: profile as u32,
                    source: i as u32,
                };
                // The generic profile's sources after a profile that already has them (UCD, hrProcessorLoad):
                // tried once, not twice.
                if profile == fallback
                    && chosen.is_some_and(|c| !std::ptr::eq(c, p) && c.sources.contains(source))
                {
                    trace.note(|| {
                        format!(
                            "  {} source {}: skipped (already tried in {:?})",
                            p.name,
                            i + 1,
                            chosen.map(|c| c.name.as_str()).unwrap_or_default()
                        )
                    });
                    continue;
                }
                if let Some(w) = source.window.filter(|w| *w != self.window) {
                    trace.note(|| {
                        format!(
                            "  {} source {}: skipped (window {}, extract.snmp.cpu_window = {})",
                            p.name,
                            i + 1,
                            w.as_str(),
                            self.window.as_str()
                        )
                    });
                    continue;
                }
                if let Some(stats) = self.read_source(t, kept, trace).await? {
                    self.detections.keep(t.to, kept);
                    return Ok(stats);
                }
            }
        }
        let ip = t.to.ip();
        Err(ExtractError::NoProfile(match &choice {
            None => format!(
                "no SNMP profile fits sysObjectID {} (sysDescr {}), and it has no UCD-SNMP-MIB or hrProcessorLoad CPU; run `app snmp probe {ip}`",
                system.shown_oid(),
                system.shown_descr()
            ),
            Some(c) => format!(
                "profile {:?} fits sysObjectID {} (sysDescr {}) but none of its CPU objects answered; run `app snmp probe {ip}`",
                self.catalog.profiles[c.index].name,
                system.shown_oid(),
                system.shown_descr()
            ),
        }))
    }

    /// sysObjectID.0 and sysDescr.0, one GET.
    pub(super) async fn system(&self, to: SocketAddr) -> Result<System, ExtractError> {
        let answer = self.exchange(to, &self.system_get).await?;
        let mut system = System {
            object_id: None,
            descr: String::new(),
        };
        for (oid, value) in &answer.varbinds {
            match value {
                Value::ObjectId(o) if *oid == *mib::SYS_OBJECT_ID => {
                    system.object_id = Some(o.clone())
                }
                Value::OctetString(b) if *oid == *mib::SYS_DESCR => {
                    system.descr = clean_descr(&b[..b.len().min(1024)]);
                }
                _ => {}
            }
        }
        Ok(system)
    }

    /// One source of one profile: `Ok(None)` when the device does not answer it (no such object, no row left).
    async fn read_source(
        &self,
        t: &Target<'_>,
        kept: Kept,
        trace: &mut Trace,
    ) -> Result<Option<Vec<CpuStats>>, ExtractError> {
        let p = &self.catalog.profiles[kept.profile as usize];
        let Some(source) = p.sources.get(kept.source as usize) else {
            return Ok(None);
        };
        let label = || format!("  {} source {}", p.name, kept.source + 1);
        let missing = |r: Result<Vec<CpuStats>, ExtractError>| match r {
            Err(ExtractError::NoSuchObject { oid, .. }) => Ok(Err(oid)),
            Err(e) => Err(e),
            Ok(stats) => Ok(Ok(stats)),
        };
        let stats = match &source.read {
            Read::Ucd => match missing(self.ucd(t).await)? {
                Ok(stats) => {
                    trace
                        .note(|| format!("{} (UCD-SNMP-MIB counters): {}", label(), shown(&stats)));
                    stats
                }
                Err(oid) => {
                    trace.note(|| {
                        format!(
                            "{} (UCD-SNMP-MIB counters): noSuchObject for {oid}",
                            label()
                        )
                    });
                    return Ok(None);
                }
            },
            // Boxed: rare among the profiles' sources, and a device's future is as large as its largest state.
            Read::HostResources => {
                match missing(Box::pin(self.host_resources(t.name, t.to)).await)? {
                    Ok(stats) => {
                        trace.note(|| format!("{} (hrProcessorLoad): {}", label(), shown(&stats)));
                        stats
                    }
                    Err(oid) => {
                        trace
                            .note(|| format!("{} (hrProcessorLoad): nothing under {oid}", label()));
                        return Ok(None);
                    }
                }
            }
            Read::Gauge(g) => match &g.object {
                Object::Scalar(oid) => {
                    let answer = self
                        .exchange(t.to, &Pdu::get(0, std::slice::from_ref(oid)))
                        .await?;
                    let value = match answer.varbinds.first() {
                        Some((o, v)) if o == oid => v,
                        _ => {
                            return Err(ExtractError::BadAnswer(format!(
                                "the GET of {oid} was answered with other objects"
                            )))
                        }
                    };
                    let got = reader::utilization(g, oid, value);
                    trace.note(|| {
                        format!(
                            "{} (GET {oid}): {}{}",
                            label(),
                            reader::shown(value),
                            match &got {
                                Ok(Some(u)) => format!(" -> {} %", mib::hundredths_text(*u)),
                                Ok(None) => String::new(),
                                Err(_) => " -> not a percentage".into(),
                            }
                        )
                    });
                    match got.map_err(read_error)? {
                        Some(u) => {
                            vec![utilization_stats(
                                t.name,
                                unix_now(),
                                Cow::Borrowed("all"),
                                u,
                            )]
                        }
                        None => return Ok(None),
                    }
                }
                Object::Column(column) => {
                    let plan = Plan::of(g);
                    let walked = self.walk(t.to, &plan.columns).await?;
                    let got = reader::rows(g, &plan, &walked);
                    trace.note(|| {
                        format!(
                            "{} (walk {column}{}): {} rows, {}",
                            label(),
                            if plan.columns.len() > 1 {
                                format!(" with {} more columns", plan.columns.len() - 1)
                            } else {
                                String::new()
                            },
                            walked[0].len(),
                            match &got {
                                Ok(rows) => {
                                    let mut kept: Vec<String> = rows
                                        .iter()
                                        .take(8)
                                        .map(|r| {
                                            format!(
                                                "{} = {} %",
                                                r.index,
                                                mib::hundredths_text(r.utilization)
                                            )
                                        })
                                        .collect();
                                    if rows.len() > 8 {
                                        kept.push("…".into());
                                    }
                                    format!("{} kept: {}", rows.len(), kept.join(", "))
                                }
                                Err(_) => "a value not a percentage".into(),
                            }
                        )
                    });
                    let mut rows = got.map_err(read_error)?;
                    if rows.is_empty() {
                        return Ok(None);
                    }
                    if matches!(
                        g.name,
                        RowName::PhysicalIndexColumn(_) | RowName::IndexIsPhysical
                    ) {
                        self.physical_names(t.to, &mut rows).await?;
                    }
                    let taken = unix_now();
                    rows.iter()
                        .map(|r| {
                            utilization_stats(
                                t.name,
                                taken,
                                Cow::Owned(r.cpu_number()),
                                r.utilization,
                            )
                        })
                        .collect()
                }
            },
        };
        Ok(Some(stats))
    }

    /// Walks `columns` side by side with GETBULK (one request while every column fits); each column's variable
    /// bindings under it, in order, at most `MAX_PROCESSORS`.
    async fn walk(
        &self,
        to: SocketAddr,
        columns: &[Oid],
    ) -> Result<Vec<Vec<VarBind>>, ExtractError> {
        let n = columns.len();
        let mut out: Vec<Vec<VarBind>> = vec![Vec::new(); n];
        let mut cursor: Vec<Oid> = columns.to_vec();
        let mut done = vec![false; n];
        let mut active: Vec<usize> = Vec::with_capacity(n);
        loop {
            active.clear();
            active.extend((0..n).filter(|c| !done[*c]));
            if active.is_empty() {
                break;
            }
            let reps = (WALK_VARBINDS / active.len() as i32).max(8);
            let oids: Vec<Oid> = active.iter().map(|c| cursor[*c].clone()).collect();
            let answer = self.exchange(to, &Pdu::get_bulk(0, 0, reps, &oids)).await?;
            if answer.varbinds.is_empty() {
                break;
            }
            let mut progressed = false;
            for (k, (oid, value)) in answer.varbinds.into_iter().enumerate() {
                let c = active[k % active.len()];
                if done[c] {
                    continue;
                }
                if value.is_exception() || !oid.starts_with(&columns[c]) {
                    done[c] = true;
                    continue;
                }
                if oid <= cursor[c] {
                    return Err(ExtractError::BadAnswer(format!(
                        "the walk of {} went back: {oid} after {}",
                        columns[c], cursor[c]
                    )));
                }
                cursor[c] = oid.clone();
                out[c].push((oid, value));
                progressed = true;
                if out[c].len() > MAX_PROCESSORS {
                    return Err(ExtractError::BadAnswer(format!(
                        "more than {MAX_PROCESSORS} rows under {}",
                        columns[c]
                    )));
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(out)
    }

    /// Names rows by entPhysicalName of their physical index (GETs of `NAMES_PER_GET`); rows without one keep
    /// their index only.
    async fn physical_names(&self, to: SocketAddr, rows: &mut [Row]) -> Result<(), ExtractError> {
        let base = Oid::parse(reader::ENT_PHYSICAL_NAME).expect("a valid constant");
        let wanted: Vec<usize> = (0..rows.len())
            .filter(|i| rows[*i].physical.is_some())
            .collect();
        for chunk in wanted.chunks(NAMES_PER_GET) {
            let oids: Vec<Oid> = chunk
                .iter()
                .map(|i| base.child(rows[*i].physical.expect("filtered")))
                .collect();
            let answer = self.exchange(to, &Pdu::get(0, &oids)).await?;
            for ((oid, value), asked) in answer.varbinds.iter().zip(chunk) {
                if oid.ids().last() != rows[*asked].physical.as_ref() {
                    continue;
                }
                if let Value::OctetString(b) = value {
                    rows[*asked].name = reader::clean_name(b);
                }
            }
        }
        Ok(())
    }
}

/// sysDescr as text: control characters made spaces, trimmed; bytes that are not UTF-8 replaced (U+FFFD). ASCII,
/// what agents send, byte by byte (through `char`s it cost about 3,000 instructions per device on a first run).
fn clean_descr(b: &[u8]) -> String {
    if !b.is_ascii() {
        return String::from_utf8_lossy(b)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string();
    }
    // In ASCII the control characters are 0x00-0x1f and 0x7f, and once they are spaces the only whitespace left
    // for `trim` is the space.
    let clean = |c: &u8| if c.is_ascii_control() { b' ' } else { *c };
    let start = b.iter().position(|c| clean(c) != b' ').unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| clean(c) != b' ')
        .map_or(start, |i| i + 1);
    let bytes: Vec<u8> = b[start..end].iter().map(clean).collect();
    String::from_utf8(bytes).expect("ASCII is UTF-8")
}

/// Stats as the probe shows them: each CPU and its utilization.
fn shown(stats: &[CpuStats]) -> String {
    let mut parts: Vec<String> = stats
        .iter()
        .take(16)
        .map(|s| {
            let idle: f64 = s.p_idle.parse().unwrap_or(0.0);
            format!("{:?} {:.2} %", s.cpu_number, 100.0 - idle)
        })
        .collect();
    if stats.len() > 16 {
        parts.push(format!("… {} more", stats.len() - 16));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    /// The ASCII path gives what the `char` path gives.
    #[test]
    fn sys_descr_is_cleaned_the_same_on_either_path() {
        let slow = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
                .trim()
                .to_string()
        };
        let cases: [&[u8]; 9] = [
            b"",
            b"   ",
            b"\x00\x1f\x7f",
            b"Cisco IOS Software, C3750E\r\nVersion 15.2(4)E10\r\n",
            b"\t Linux host 6.1.0 #1 SMP x86_64\x7f ",
            b"a",
            b" a\x0bb\x0cc ",
            b"caf\xc3\xa9 \xff\x01 end\xc2\x85",
            b"\xe2\x80\x83 em space \xe2\x80\x83",
        ];
        for b in cases {
            assert_eq!(super::clean_descr(b), slow(b), "{b:?}");
        }
        for byte in 0..=255u8 {
            let b = [b'x', byte, b'y', byte];
            assert_eq!(super::clean_descr(&b), slow(&b), "{b:?}");
            assert_eq!(super::clean_descr(&[byte]), slow(&[byte]), "{byte}");
        }
    }
}
