//! `app validate`: every problem of the configuration, the paths a run writes to and the inventory, then one
//! summary line. With `--print-config` stdout holds only the JSON (the summary line goes to stderr), so that
//! `app validate --print-config | jq .` works.

use super::args::{self, ConfigArgs};
use super::output::say;
use super::CommandError;
use crate::config::Settings;
use crate::inventory;
use crate::observe::exit::ExitCode;
use crate::resolve::Resolved;

/// Checks the configuration (including what is built from it: token file, TLS files, and the paths a run
/// writes to: `preflight`) and reads the whole inventory. Exit 0 when clean, 2 for a problem (`preflight` reports
/// a path it cannot use as a setting's problem, whatever the cause, so a full disk is 2 here where `etl` says 4),
/// 3 (with a warning) for an inventory that holds no device, as `etl` ends on it.
pub fn validate(
    config: &ConfigArgs,
    print_config: bool,
    apply: impl FnOnce(&mut Settings),
) -> Result<ExitCode, CommandError> {
    // The status line: on stdout, unless stdout carries the JSON of --print-config.
    let status = |line: String| {
        if print_config {
            eprintln!("{line}");
        } else {
            say!("{line}");
        }
    };
    let settings = match args::settings_with(config, apply)
        .map_err(CommandError::from)
        .and_then(|s| Ok(Resolved::build(s)?))
        .and_then(|r| {
            super::preflight::check(&r.settings)?;
            let s = &r.settings.extract;
            super::snmp::check_profiles(&r.settings, !s.snmp.profiles_dir.as_os_str().is_empty())?;
            Ok(r)
        }) {
        Ok(r) => r.settings,
        Err(e) => {
            eprintln!("error: {e}");
            status("validate: configuration invalid".into());
            return Ok(e.exit_code());
        }
    };
    for warning in settings.warnings() {
        eprintln!("warning: {warning}");
    }
    if print_config {
        say!(
            "{}",
            serde_json::to_string_pretty(&settings).expect("settings always serialise")
        );
    }
    let path = &settings.inventory.path;
    let mut report = inventory::ProblemReport::new(inventory::REPORTED_PROBLEMS);
    let checked = inventory::check(path, &settings.extract.snmp.credential_names(), |p| {
        report.add(p)
    });
    for line in report.lines() {
        eprintln!("{line}");
    }
    match checked {
        Err(e) => {
            eprintln!("error: {e}");
            status(format!(
                "validate: inventory {} could not be read",
                path.display()
            ));
            Ok(CommandError::from(e).exit_code())
        }
        Ok(check) => {
            // The code `etl` would end with on an inventory that holds no device: 3, as the table says.
            let empty = check.devices + check.problems == 0;
            if empty {
                eprintln!(
                    "warning: inventory {} holds no device (an empty file, or a header or comments only): etl \
                     would extract nothing and end with exit 3",
                    path.display()
                );
            }
            status(format!(
                "validate: configuration ok; inventory {}: {} devices, {} invalid rows",
                path.display(),
                check.devices,
                check.problems
            ));
            Ok(if check.problems > 0 {
                ExitCode::Usage
            } else if empty {
                ExitCode::Incomplete
            } else {
                ExitCode::Ok
            })
        }
    }
}
