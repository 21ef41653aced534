//! `etl --dry-run`: extract and transform the inventory's devices as configured and print the records as JSON
//! lines on stdout (the first N with `--limit N`); nothing is sent, no spool is touched (no lock, no directory).
//! The devices are extracted one at a time: it is the way to check a source configuration against a device, not a
//! run. The status goes to stderr.

use super::output::say;
use super::CommandError;
use crate::config::Settings;
use crate::extract::Source;
use crate::inventory::{Device, InventoryReader};
use crate::observe::exit::ExitCode;
use crate::resolve::Resolved;
use crate::transform::transform_all;

/// Runs the dry run; exit 0 when every device gave records, 3 when one failed or a row was bad.
pub fn dry_run(settings: Settings, limit: Option<u64>) -> Result<ExitCode, CommandError> {
    crate::observe::logging::init(&settings.log).map_err(CommandError::Setup)?;
    let resolved = Resolved::build(settings)?;
    super::snmp::check_profiles(&resolved.settings, false)?;
    let settings = resolved.settings;
    let (tls, snmp) = (resolved.http_source_tls, resolved.snmp);
    let path = settings.inventory.path.clone();
    // Validated with the settings: a shard that does not parse never gets here.
    let shard = crate::config::Shard::parse(&settings.extract.shard).ok();
    actix_rt::System::new().block_on(async move {
        let source = Source::new(&settings.extract, &tls, &snmp);
        let mut rows = InventoryReader::open(&path)?
            .with_shard(shard)
            .with_credentials(settings.extract.snmp.credential_names());
        let (mut devices, mut printed, mut failed, mut invalid) = (0u64, 0u64, 0u64, 0u64);
        'rows: while let Some(row) = rows.next_with(|line, ip, name, via| Device {
            line,
            ip,
            name: String::from_utf8_lossy(name).into_owned(),
            via,
        }) {
            let device = match row? {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{e}");
                    invalid += 1;
                    continue;
                }
            };
            devices += 1;
            let records = match source.extract(&device).await {
                Ok(stats) => transform_all(stats).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match records {
                Ok(records) => {
                    for record in records {
                        if limit.is_some_and(|n| printed >= n) {
                            break 'rows;
                        }
                        let line = serde_json::to_string(&record)
                            .expect("a DeviceRecord always serialises");
                        say!("{line}");
                        printed += 1;
                    }
                }
                Err(e) => {
                    failed += 1;
                    log::warn!("[DryRun] {} ({}): {e}", device.name, device.ip);
                }
            }
            if limit.is_some_and(|n| printed >= n) {
                break;
            }
        }
        eprintln!(
            "dry run: {devices} devices extracted, {printed} records printed, {failed} failed, {invalid} invalid rows; \
             nothing sent, no spool touched"
        );
        Ok(if failed + invalid > 0 {
            ExitCode::Incomplete
        } else {
            ExitCode::Ok
        })
    })
}
