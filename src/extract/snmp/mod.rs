//! The snmp source (`extract.source = "snmp"`): polls each device's SNMP agent (v2c or v3) over the shared
//! transport and turns what it reads into the original's `CpuStats`.
//!
//! - `mib = "ucd"`: two GETs of UCD-SNMP-MIB systemStats and sysUpTime, `sample_interval_ms` apart; the
//!   percentages are the counters' deltas over the window (`mib.rs`); one record, `cpu_number` "all".
//! - `mib = "host-resources"`: a GETBULK walk of hrProcessorLoad; one record per processor (`cpu_number` its
//!   position), utilization only: idle = 100 − load, the other stats "0" (the MIB does not split the load).
//! - `mib = "auto"`: profiles (`profiles/`): one GET of sysObjectID.0 and sysDescr.0 chooses the device's
//!   profile, whose CPU sources are tried in order (`auto.rs`); the choice is kept between runs
//!   (`detection.rs`), so a later run reads the source that answered directly.
//!
//! The UCD reader falls back to 100 − ssCpuIdle when the counters did not move for longer than net-snmp's
//! refresh (a frozen agent, a recording).
//!
//! Settings in `crate::config` (`[extract.snmp]`), secrets from `crate::resolve`, the protocol in `crate::snmp`, sockets in `transport.rs`, security in
//! `session.rs`. A device's whole extraction is bounded by `extract.timeout_ms`.

pub mod auto;
pub mod datagrams;
pub mod detection;
pub mod mib;
pub mod profiles;
pub mod session;
pub mod socket_error;
pub mod transport;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use self::detection::Detections;
use self::mib::{Delta, SampleError, UcdSample};
use self::profiles::Catalog;
use self::session::{Security, Session, SessionError};
use super::{unix_now, ExtractError};
use crate::config::{
    AuthSetting, CpuWindow, Credentials, ExtractSettings, MibSetting, PrivSetting, SecurityLevel,
    SnmpSettings, SnmpVersion,
};
use crate::inventory::Device;
use crate::model::CpuStats;
use crate::resolve::SnmpSecrets;
use crate::snmp::pdu::error_status_name;
use crate::snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use crate::snmp::{Oid, Pdu, Value, VarBind};

/// Wait before sampling again when the counters did not move (net-snmp refreshes them every 5 s).
pub const RESAMPLE_STEP: Duration = Duration::from_millis(1000);
/// max-repetitions of the hrProcessorLoad walk's GETBULK.
pub const WALK_REPETITIONS: i32 = 32;
/// Most processors read from one device (a bound for a misbehaving agent).
pub const MAX_PROCESSORS: usize = 4096;
/// What a `NotPercent` error says of its value.
pub const NOT_PERCENT: &str = "is not a percentage (0 to 100 after its scale): not loaded";
/// Counters that did not move for this long come from an agent that does not refresh them (net-snmp refreshes
/// every 5 s): the UCD reader then reads 100 − ssCpuIdle.
pub const UCD_REFRESH: Duration = Duration::from_secs(6);

/// The detections kept between runs in `extract.snmp.detection_file` (under `spool_dir`), read now, with the
/// catalog they name profiles of, when `mib = "auto"`; `None` otherwise, or when the profiles do not load (checked
/// at start: then nothing is kept).
pub fn kept_detections(
    s: &SnmpSettings,
    spool_dir: &std::path::Path,
) -> Option<(Arc<Detections>, Arc<Catalog>)> {
    if s.mib != MibSetting::Auto {
        return None;
    }
    let catalog = Catalog::shared(s).ok()?;
    let detections = Detections::load(&s.detection_path(spool_dir), &catalog);
    Some((Arc::new(detections), catalog))
}

/// The end of a run: writes the kept detections (a failure is logged; the next run detects again).
pub fn save_detections(detections: &Detections, catalog: &Catalog) {
    if let Err(e) = detections.save(catalog) {
        log::warn!(
            "[SNMP] writing the detection file: {e}; the next run detects the devices again"
        );
    }
}

impl Drop for SnmpSource {
    fn drop(&mut self) {
        let stats = self.session.transport.stats();
        let (unmatched, garbage) = (stats.unmatched.get(), stats.garbage.get());
        if unmatched + garbage > 0 {
            log::info!(
                "[SNMP] dropped {unmatched} answers no request was waiting for (late or duplicated) and {garbage} datagrams that were not SNMP"
            );
        }
        let (reports, level, window) = (
            stats.unauthenticated_reports.get(),
            stats.wrong_level.get(),
            stats.outside_window.get(),
        );
        if reports + level + window > 0 {
            log::warn!(
                "[SNMP] ignored {reports} unauthenticated reports to authenticated requests, {level} answers below the request's security level and {window} outside the engine's time window (forged, replayed, or an agent misconfigured)"
            );
        }
        if self.session.discoveries() > 0 {
            log::debug!(
                "[SNMP] {} SNMPv3 engine discoveries",
                self.session.discoveries()
            );
        }
    }
}

/// A device being polled, passed by reference down its extraction's steps: each async step holds its arguments in
/// its own future, and by value the name, address and deadline were 64 bytes at every level of a device's future
/// (so of every device in flight).
pub(super) struct Target<'a> {
    pub name: &'a str,
    pub to: SocketAddr,
    pub deadline: tokio::time::Instant,
}

pub struct SnmpSource {
    session: Session,
    /// The UCD GET, built once (its request id is set per attempt).
    ucd_get: Pdu,
    port: u16,
    mib: MibSetting,
    interval: Duration,
    budget: Duration,
    timeout_ms: u64,
    window: CpuWindow,
    catalog: Arc<Catalog>,
    /// Shared by the sources of a run's extraction threads.
    detections: Arc<Detections>,
    /// GET sysObjectID.0 and sysDescr.0, built once.
    system_get: Pdu,
    /// GET ssCpuIdle.0, built once.
    idle_get: Pdu,
}

impl SnmpSource {
    /// The source for `settings` (validated) with its `secrets` (the `*_file` keys read by `resolve`): one
    /// security for `[extract.snmp]` and one per credential set.
    pub fn new(settings: &ExtractSettings, secrets: &SnmpSecrets) -> SnmpSource {
        let s: &SnmpSettings = &settings.snmp;
        // Engines of the devices in flight, and as many finished ones.
        let cache = settings.concurrency.saturating_mul(2).max(1024);
        let mut securities = vec![security(&s.default_credentials(), secrets, cache)];
        for (set, set_secrets) in s.credentials.values().zip(&secrets.sets) {
            securities.push(security(set, set_secrets, cache));
        }
        // Checked at start (`Catalog::shared` caches it): only built-ins would be left if it failed here.
        let catalog = Catalog::shared(s).unwrap_or_else(|e| {
            log::error!("[SNMP] {e}; using the built-in profiles only");
            Arc::new(Catalog::load(std::path::Path::new("")).expect("the built-in profiles parse"))
        });
        SnmpSource {
            session: Session::with_securities(securities, s.attempts(), s.timeout()),
            ucd_get: Pdu::get(0, &mib::UCD_GET),
            port: s.port,
            mib: s.mib,
            interval: s.sample_interval(),
            budget: settings.timeout(),
            timeout_ms: settings.timeout_ms,
            window: s.cpu_window,
            catalog,
            detections: Arc::new(Detections::none()),
            system_get: Pdu::get(0, &[mib::SYS_OBJECT_ID.clone(), mib::SYS_DESCR.clone()]),
            idle_get: Pdu::get(0, std::slice::from_ref(&mib::SS_CPU_IDLE)),
        }
    }

    /// Reads and keeps the detections `kept_detections` loaded (shared by the sources of the run's extraction
    /// threads; `save_detections` writes them at the end).
    pub fn share_detections(&mut self, detections: Arc<Detections>) {
        if self.mib == MibSetting::Auto {
            self.detections = detections;
        }
    }

    /// The device's CPU stats, within `extract.timeout_ms`, at its port and under its credentials (the inventory
    /// row's columns, else `[extract.snmp]`'s).
    pub async fn extract(&self, device: &Device) -> Result<Vec<CpuStats>, ExtractError> {
        let port = match device.via.port {
            0 => self.port,
            port => port,
        };
        let target = Target {
            name: &device.name,
            to: SocketAddr::new(device.ip, port),
            deadline: tokio::time::Instant::now() + self.budget,
        };
        match tokio::time::timeout_at(
            target.deadline,
            session::with_security(device.via.credentials, self.poll(&target)),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(ExtractError::Timeout(self.timeout_ms)),
        }
    }

    async fn poll(&self, t: &Target<'_>) -> Result<Vec<CpuStats>, ExtractError> {
        match self.mib {
            MibSetting::Ucd => self.ucd(t).await,
            MibSetting::HostResources => self.host_resources(t.name, t.to).await,
            MibSetting::Auto => self.auto(t, &mut auto::Trace::off()).await,
        }
    }

    /// One PDU exchange, errors as the device's.
    ///
    /// Boxed: a device's future is as large as its largest state, and the exchange (the transport's request, v3's
    /// sealing) is most of it, yet a device in flight spends most of its time between exchanges (the UCD
    /// reader's sample interval): boxed, it is allocated only while a request is under way.
    async fn exchange(&self, to: SocketAddr, pdu: &Pdu) -> Result<Pdu, ExtractError> {
        let answer = Box::pin(self.session.exchange(to, pdu))
            .await
            .map_err(|e| match e {
                SessionError::Timeout { attempts, hint } => {
                    ExtractError::SnmpTimeout { attempts, hint }
                }
                SessionError::Report(kind, oid) => ExtractError::SnmpReport { kind, oid },
                SessionError::Socket(s) => ExtractError::Socket(s),
            })?;
        if answer.error_status != 0 {
            return Err(ExtractError::AgentError {
                status: error_status_name(answer.error_status),
                index: answer.error_index,
            });
        }
        Ok(answer)
    }

    /// One UCD sample.
    async fn sample(&self, to: SocketAddr) -> Result<UcdSample, ExtractError> {
        let answer = self.exchange(to, &self.ucd_get).await?;
        UcdSample::from_varbinds(&answer.varbinds).map_err(|e| match e {
            SampleError::Missing(oid) => ExtractError::NoSuchObject {
                oid: oid.to_string(),
                mib: self.mib.as_str(),
            },
            SampleError::Unexpected(m) => ExtractError::BadAnswer(m),
            SampleError::OutOfRange { oid, value } => ExtractError::NotPercent {
                oid: oid.to_string(),
                value: value.to_string(),
                what: NOT_PERCENT,
            },
        })
    }

    /// Sleeps `wait` when the deadline leaves room for it and one more request; otherwise the counters did not
    /// move in time.
    async fn wait(
        &self,
        wait: Duration,
        deadline: tokio::time::Instant,
    ) -> Result<(), ExtractError> {
        if tokio::time::Instant::now() + wait >= deadline {
            return Err(ExtractError::NoProgress(self.timeout_ms));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Samples until two give percentages: a first sample, `sample_interval_ms`, a second; counters that did
    /// not move are sampled again every `RESAMPLE_STEP` (against the same first sample), an agent that restarted
    /// or had not read its counters yet gives a new first sample — all within `extract.timeout_ms`.
    async fn ucd(&self, t: &Target<'_>) -> Result<Vec<CpuStats>, ExtractError> {
        let started = tokio::time::Instant::now();
        let mut first = self.sample(t.to).await?;
        let mut wait = self.interval;
        loop {
            if let Err(e) = self.wait(wait, t.deadline).await {
                return Box::pin(self.idle_fallback(t.name, t.to, e)).await;
            }
            let second = self.sample(t.to).await?;
            let taken = unix_now();
            let frozen = started.elapsed() >= UCD_REFRESH;
            if mib::is_unset(&first) {
                if frozen && mib::is_unset(&second) {
                    return Box::pin(self.idle_fallback(
                        t.name,
                        t.to,
                        ExtractError::NoProgress(self.timeout_ms),
                    ))
                    .await;
                }
                first = second;
                wait = self.interval;
                continue;
            }
            match mib::percentages(&first, &second) {
                Delta::Ready(p) => {
                    let text = mib::hundredths_text;
                    return Ok(vec![CpuStats {
                        name: t.name.to_string(),
                        timestamp: taken,
                        cpu_number: Cow::Borrowed("all"),
                        p_idle: text(p.idle).into(),
                        p_user: text(p.user).into(),
                        p_sys: text(p.system).into(),
                        p_irq: text(p.irq).into(),
                        p_nice: text(p.nice).into(),
                    }]);
                }
                Delta::Restarted => {
                    log::debug!(
                        "[SNMP] {}: sysUpTime went back (agent restarted); sampling again",
                        t.name
                    );
                    first = second;
                    wait = self.interval;
                }
                Delta::NoProgress if frozen => {
                    return Box::pin(self.idle_fallback(
                        t.name,
                        t.to,
                        ExtractError::NoProgress(self.timeout_ms),
                    ))
                    .await
                }
                Delta::NoProgress => wait = RESAMPLE_STEP,
            }
        }
    }

    /// The counters did not move: 100 − ssCpuIdle (a percentage the agent computes), one record "all",
    /// utilization only; `otherwise` when the agent has no usable ssCpuIdle. Boxed by its callers: rare, and a
    /// device's future is as large as its largest state.
    async fn idle_fallback(
        &self,
        name: &str,
        to: SocketAddr,
        otherwise: ExtractError,
    ) -> Result<Vec<CpuStats>, ExtractError> {
        let answer = self.exchange(to, &self.idle_get).await?;
        let idle = match answer.varbinds.first() {
            Some((oid, v)) if *oid == *mib::SS_CPU_IDLE => v.as_u64().filter(|n| *n <= 100),
            _ => None,
        };
        let Some(idle) = idle else {
            return Err(otherwise);
        };
        log::debug!("[SNMP] {name}: the UCD counters did not move; 100 - ssCpuIdle ({idle})");
        Ok(vec![utilization_stats(
            name,
            unix_now(),
            Cow::Borrowed("all"),
            (100 - idle as u32) * 100,
        )])
    }

    /// Walks hrProcessorLoad with GETBULK: one record per processor.
    async fn host_resources(
        &self,
        name: &str,
        to: SocketAddr,
    ) -> Result<Vec<CpuStats>, ExtractError> {
        let base: &Oid = &mib::HR_LOAD;
        let mut rows: Vec<VarBind> = Vec::new();
        let mut next = base.clone();
        'walk: loop {
            let answer = self
                .exchange(to, &Pdu::get_bulk(0, 0, WALK_REPETITIONS, &[next.clone()]))
                .await?;
            if answer.varbinds.is_empty() {
                break;
            }
            for (oid, value) in answer.varbinds {
                if matches!(value, Value::EndOfMibView) || !oid.starts_with(base) {
                    break 'walk;
                }
                if oid <= next {
                    return Err(ExtractError::BadAnswer(format!(
                        "the walk of {base} went back: {oid} after {next}"
                    )));
                }
                next = oid.clone();
                rows.push((oid, value));
                if rows.len() > MAX_PROCESSORS {
                    return Err(ExtractError::BadAnswer(format!(
                        "more than {MAX_PROCESSORS} rows under {base}"
                    )));
                }
            }
        }
        if rows.is_empty() {
            return Err(ExtractError::NoSuchObject {
                oid: base.to_string(),
                mib: self.mib.as_str(),
            });
        }
        let loads = mib::processor_loads(&rows).map_err(|e| match e {
            SampleError::Missing(oid) => ExtractError::BadAnswer(format!("{oid} missing")),
            SampleError::Unexpected(m) => ExtractError::BadAnswer(m),
            SampleError::OutOfRange { oid, value } => ExtractError::NotPercent {
                oid: oid.to_string(),
                value: value.to_string(),
                what: NOT_PERCENT,
            },
        })?;
        let taken = unix_now();
        Ok(loads
            .iter()
            .enumerate()
            .map(|(i, load)| utilization_stats(name, taken, Cow::Owned(i.to_string()), load * 100))
            .collect())
    }
}

/// The security of one set of `credentials` with its `secrets` (the `*_file` keys read by `resolve`); a v3 one
/// makes its user's master keys here, once (the RFC 3414 password expansion), and keeps at most `cache` engines.
fn security(c: &Credentials, secrets: &SnmpSecrets, cache: usize) -> Security {
    match c.version {
        SnmpVersion::V2c => Security::V2c {
            community: secrets.community.expose().as_bytes().to_vec(),
        },
        SnmpVersion::V3 => {
            let auth = (c.security_level != SecurityLevel::NoAuthNoPriv).then(|| {
                (
                    c.auth_protocol.protocol(),
                    secrets.auth_password.expose().as_bytes(),
                )
            });
            let privacy = (c.security_level == SecurityLevel::AuthPriv).then(|| {
                (
                    c.priv_protocol.protocol(),
                    secrets.priv_password.expose().as_bytes(),
                )
            });
            let user = UsmUser::new(c.user.as_bytes(), auth, privacy).expect(
                "validate() and resolve::snmp_secrets require the passwords this security level uses",
            );
            Security::v3(user, cache)
        }
    }
}

/// The stats of a CPU whose device gives only its utilization (hundredths): idle = 100 − utilization, the
/// other stats "0" (the host-resources rule: the device does not split the load).
pub fn utilization_stats(
    name: &str,
    timestamp: i64,
    cpu_number: Cow<'static, str>,
    utilization: u32,
) -> CpuStats {
    CpuStats {
        name: name.to_string(),
        timestamp,
        cpu_number,
        p_idle: mib::hundredths_text(10_000 - utilization.min(10_000)).into(),
        p_user: Cow::Borrowed("0"),
        p_sys: Cow::Borrowed("0"),
        p_irq: Cow::Borrowed("0"),
        p_nice: Cow::Borrowed("0"),
    }
}

/// The protocol each `auth_protocol` setting names.
impl AuthSetting {
    pub fn protocol(self) -> AuthProtocol {
        match self {
            AuthSetting::Md5 => AuthProtocol::Md5,
            AuthSetting::Sha => AuthProtocol::Sha1,
            AuthSetting::Sha224 => AuthProtocol::Sha224,
            AuthSetting::Sha256 => AuthProtocol::Sha256,
            AuthSetting::Sha384 => AuthProtocol::Sha384,
            AuthSetting::Sha512 => AuthProtocol::Sha512,
        }
    }
}

/// The protocol each `priv_protocol` setting names.
impl PrivSetting {
    pub fn protocol(self) -> PrivProtocol {
        match self {
            PrivSetting::Des => PrivProtocol::Des,
            PrivSetting::Aes => PrivProtocol::Aes128,
            PrivSetting::Aes192 => PrivProtocol::Aes192,
            PrivSetting::Aes256 => PrivProtocol::Aes256,
        }
    }
}

#[cfg(test)]
mod future_size {
    /// Every device in flight holds its extraction future (boxed by `Source::extract`), so its size is memory per
    /// unit of `extract.concurrency`. Wrapping the poll in the credential scope and the deadline must not hold the
    /// poll twice, as an `async fn` wrapper did (+4 KiB per device, +35 MiB RSS at concurrency 8000).
    #[test]
    fn the_extraction_future_holds_the_poll_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
        rt.block_on(async {
            let settings = crate::config::Settings::default();
            let secrets = crate::resolve::snmp_secrets(&settings.extract.snmp).unwrap();
            let source = super::SnmpSource::new(&settings.extract, &secrets);
            let device = crate::inventory::Device {
                line: 1,
                ip: "127.0.0.1".parse().unwrap(),
                name: "a".into(),
                via: Default::default(),
            };
            let to: std::net::SocketAddr = "127.0.0.1:161".parse().unwrap();
            let deadline = tokio::time::Instant::now();
            let extract = std::mem::size_of_val(&source.extract(&device));
            let target = super::Target {
                name: "a",
                to,
                deadline,
            };
            let poll = std::mem::size_of_val(&source.poll(&target));
            assert!(
                extract <= poll + 512,
                "extract's future is {extract} bytes, the poll's {poll}"
            );
            // A device in flight holds one boxed exchange while it waits for an answer: v2c's, without v3's states
            // (boxed apart) and without a send (the socket's send task sends the queued datagrams).
            let exchange = std::mem::size_of_val(&source.session.exchange(to, &source.ucd_get));
            assert!(
                exchange <= 768,
                "the v2c exchange's future is {exchange} bytes"
            );
        });
    }
}
