//! `--help` as users read it: each flag that sets a configuration key says the key's `APP__…` variable and its
//! built-in default (taken from `Settings::default()`, so the help cannot drift from the code), and `--config`
//! its default file. The exit codes are listed by `args::Cli` itself (from `observe::exit`).

use clap::CommandFactory;

use super::args::Cli;
use crate::config::{Settings, DEFAULT_CONFIG_PATH, ENV_PREFIX, ENV_SEPARATOR};

/// `(subcommand, flag id, configuration key)` of every flag that overrides a key.
pub const FLAG_KEYS: &[(&str, &str, &str)] = &[
    ("etl", "inventory", "inventory.path"),
    ("etl", "endpoint", "load.endpoint"),
    ("etl", "spool_dir", "spool.dir"),
    ("etl", "shard", "extract.shard"),
    ("etl", "profile", "profile.enabled"),
    ("etl", "metrics_addr", "metrics.addr"),
    ("replay", "endpoint", "load.endpoint"),
    ("replay", "spool_dir", "spool.dir"),
    ("mock-server", "bind", "mock.bind"),
    ("mock-server", "token", "mock.token"),
    ("mock-server", "token_file", "mock.token_file"),
    ("mock-server", "delay_ms", "mock.delay_ms"),
    ("mock-server", "fail_rate", "mock.fail_rate"),
    ("mock-server", "log_file", "mock.log_file"),
    ("validate", "inventory", "inventory.path"),
    ("demo", "inventory", "inventory.path"),
];

/// The subcommands whose flags include `--config`.
const WITH_CONFIG: &[&str] = &["etl", "replay", "mock-server", "validate", "demo"];

/// The `APP__…` variable of a dotted key.
pub fn env_name(key: &str) -> String {
    let path: Vec<String> = key.split('.').map(str::to_ascii_uppercase).collect();
    format!("{ENV_PREFIX}{ENV_SEPARATOR}{}", path.join(ENV_SEPARATOR))
}

/// The built-in default of a dotted key, as a user would write it.
fn default_of(defaults: &toml::Table, key: &str) -> String {
    let mut value = None;
    let mut table = Some(defaults);
    for part in key.split('.') {
        value = table.and_then(|t| t.get(part));
        table = value.and_then(toml::Value::as_table);
    }
    match value.expect("every flag's key is a configuration key") {
        toml::Value::String(s) if s.is_empty() && key == "extract.shard" => "\"\" (all)".into(),
        toml::Value::String(s) if s.is_empty() => "\"\" (none)".into(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The clap command of `app`, its flags' help saying their variable and default.
pub fn command() -> clap::Command {
    let defaults = toml::Table::try_from(Settings::default())
        .expect("the default settings serialise as a TOML table");
    let mut cmd = Cli::command();
    for name in WITH_CONFIG {
        cmd = cmd.mut_subcommand(*name, |sc| {
            sc.mut_arg("config", |a| {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.help(format!("{help} [default: {DEFAULT_CONFIG_PATH}]"))
            })
        });
    }
    for (name, id, key) in FLAG_KEYS {
        let extra = format!(
            "[env: {}] [default: {}]",
            env_name(key),
            default_of(&defaults, key)
        );
        cmd = cmd.mut_subcommand(*name, |sc| {
            sc.mut_arg(*id, |a| {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.help(format!("{help} {extra}"))
            })
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_is_well_formed_and_names_each_keys_variable_and_default() {
        let mut cmd = command();
        cmd.clone().debug_assert();
        assert_eq!(
            env_name("load.retry.max_attempts"),
            "APP__LOAD__RETRY__MAX_ATTEMPTS"
        );
        let etl = cmd.find_subcommand_mut("etl").unwrap();
        let help = etl.render_help().to_string();
        assert!(
            help.contains("[env: APP__LOAD__ENDPOINT] [default: http://127.0.0.1:8080/load]"),
            "{help}"
        );
    }
}
