//! `app snmp probe ADDR` (why does this device give what it gives?) and `app snmp profiles [NAME]` (the built-in
//! profiles, to start a user profile from), and the check of the profiles a run will use, at its start.

use std::net::{IpAddr, SocketAddr};

use super::args::{ProbeArgs, ProfilesArgs};
use super::output::say;
use super::CommandError;
use crate::config::{MibSetting, Settings, SourceKind};
use crate::extract::snmp::profiles::{self, Catalog};
use crate::extract::snmp::SnmpSource;
use crate::observe::exit::ExitCode;
use crate::resolve::Resolved;
use crate::transform::transform_all;

/// The profiles a run of `settings` reads are loaded (once per process) and checked: a bad user profile stops
/// it before anything starts, naming its file, line and key. `always`: whatever the source (`validate`).
pub fn check_profiles(settings: &Settings, always: bool) -> Result<(), CommandError> {
    let s = &settings.extract.snmp;
    let used = settings.extract.source == SourceKind::Snmp && s.mib == MibSetting::Auto;
    if used || always {
        Catalog::shared(s)?;
    }
    Ok(())
}

/// `app snmp profiles [NAME]`.
pub fn print_profiles(a: &ProfilesArgs) -> Result<ExitCode, CommandError> {
    match profiles::builtin_text(a.name.as_deref()) {
        Some(text) => {
            say!("{}", text.trim_end());
            Ok(ExitCode::Ok)
        }
        None => Err(CommandError::BadFlag {
            flag: "NAME",
            message: format!(
                "no built-in profile is named {:?} (`app snmp profiles` lists them all)",
                a.name.as_deref().unwrap_or("")
            ),
        }),
    }
}

/// The agent address: `IP` (port `extract.snmp.port`) or `IP:PORT`.
fn agent(text: &str, port: u16) -> Result<SocketAddr, CommandError> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| CommandError::BadFlag {
            flag: "ADDR",
            message: format!("{text:?} is not an IP address or IP:PORT"),
        })
}

/// The security index of `--credentials SET` (0 without it), as an inventory row's `credentials` cell gets it.
fn credential_set(settings: &Settings, set: Option<&str>) -> Result<u16, CommandError> {
    let Some(set) = set else {
        return Ok(0);
    };
    let names = settings.extract.snmp.credential_names();
    names
        .iter()
        .position(|n| n == set)
        .and_then(|k| u16::try_from(k + 1).ok())
        .ok_or_else(|| CommandError::BadFlag {
            flag: "--credentials",
            message: match names.is_empty() {
                true => {
                    format!("{set:?}: the configuration has no [extract.snmp.credentials.NAME] set")
                }
                false => format!(
                    "{set:?} is no [extract.snmp.credentials.NAME] set (sets: {})",
                    names.join(", ")
                ),
            },
        })
}

/// `app snmp probe ADDR`: the system objects, the profile chosen and why, each source tried and what it gave,
/// and the records a run would produce (JSON lines). Exit 0 with records, 3 without.
pub fn probe(settings: Settings, a: &ProbeArgs) -> Result<ExitCode, CommandError> {
    crate::observe::logging::init(&settings.log)?;
    let to = agent(&a.addr, settings.extract.snmp.port)?;
    let credentials = credential_set(&settings, a.credentials.as_deref())?;
    check_profiles(&settings, true)?;
    let resolved = Resolved::build(settings)?;
    let mut extract = resolved.settings.extract.clone();
    let forced = extract.snmp.mib;
    extract.snmp.mib = MibSetting::Auto;
    let name = a.name.clone().unwrap_or_else(|| a.addr.clone());
    let secrets = resolved.snmp;
    actix_rt::System::new().block_on(async move {
        let source = SnmpSource::new(&extract, &secrets);
        say!(
            "agent {to} (SNMP {}, timeout {} ms x {} attempts)",
            extract.snmp.version.as_str(),
            extract.snmp.timeout_ms,
            extract.snmp.attempts()
        );
        if forced != MibSetting::Auto {
            say!(
                "note: extract.snmp.mib = {:?}: runs read only that MIB; the probe shows what profiles would read",
                forced.as_str()
            );
        }
        let (lines, result) = source.probe(&name, to, credentials).await;
        for line in &lines {
            say!("{line}");
        }
        let records = result
            .map_err(|e| e.to_string())
            .and_then(|stats| transform_all(stats).map_err(|e| e.to_string()));
        match records {
            Ok(records) => {
                say!("records a run would produce ({}):", records.len());
                for r in records {
                    say!(
                        "{}",
                        serde_json::to_string(&r).expect("a DeviceRecord always serialises")
                    );
                }
                Ok(ExitCode::Ok)
            }
            Err(e) => {
                say!("no records: {e}");
                Ok(ExitCode::Incomplete)
            }
        }
    })
}
