//! `app validate`: every problem of the configuration and the inventory, then one summary line.

use super::args::{self, ConfigArgs};
use super::output::say;
use super::CommandError;
use crate::config::Settings;
use crate::inventory;
use crate::observe::exit::ExitCode;
use crate::resolve::Resolved;

/// Checks the configuration (including what is built from it: token file, TLS files) and reads the whole
/// inventory.
pub fn validate(
    config: &ConfigArgs,
    print_config: bool,
    apply: impl FnOnce(&mut Settings),
) -> Result<ExitCode, CommandError> {
    let settings = match args::settings_with(config, apply)
        .map_err(CommandError::from)
        .and_then(|s| Ok(Resolved::build(s)?))
    {
        Ok(r) => r.settings,
        Err(e) => {
            eprintln!("error: {e}");
            say!("validate: configuration invalid");
            return Ok(ExitCode::Usage);
        }
    };
    if print_config {
        say!(
            "{}",
            serde_json::to_string_pretty(&settings).expect("settings always serialise")
        );
    }
    let path = &settings.inventory.path;
    match inventory::check(path, |p| say!("{p}")) {
        Err(e) => {
            eprintln!("error: {e}");
            say!("validate: inventory {} could not be read", path.display());
            Ok(ExitCode::Usage)
        }
        Ok(check) => {
            say!(
                "validate: configuration ok; inventory {}: {} devices, {} invalid rows",
                path.display(),
                check.devices,
                check.problems
            );
            Ok(if check.problems == 0 {
                ExitCode::Ok
            } else {
                ExitCode::Usage
            })
        }
    }
}
