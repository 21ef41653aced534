//! `--help` as users read it: each flag that sets a configuration key says the key's `APP__…` variable and its
//! built-in default (taken from `Settings::default()`, so the help cannot drift from the code), and `--config`
//! its default file. The exit codes are listed by `args::Cli` itself (from `observe::exit`).

use clap::CommandFactory;

use super::args::Cli;
use crate::config::{Settings, DEFAULT_CONFIG_PATH, ENV_PREFIX, ENV_SEPARATOR};

/// `(subcommand, flag id, configuration key)` of every flag that overrides a key. A test sets each flag of each
/// subcommand and compares the settings before and after its `apply`: a flag that changes a key must be here (or
/// in [`QUIET_FLAG_KEYS`]), and a flag here must change its key.
pub const FLAG_KEYS: &[(&str, &str, &str)] = &[
    ("etl", "inventory", "inventory.path"),
    ("etl", "endpoint", "load.endpoint"),
    ("etl", "sink", "load.sink"),
    ("etl", "spool_dir", "spool.dir"),
    ("etl", "shard", "extract.shard"),
    ("etl", "profile", "profile.enabled"),
    ("etl", "metrics_addr", "metrics.addr"),
    ("replay", "endpoint", "load.endpoint"),
    ("replay", "sink", "load.sink"),
    ("replay", "spool_dir", "spool.dir"),
    ("mock-server", "bind", "mock.bind"),
    ("mock-server", "token", "mock.token"),
    ("mock-server", "token_file", "mock.token_file"),
    ("mock-server", "delay_ms", "mock.delay_ms"),
    ("mock-server", "fail_rate", "mock.fail_rate"),
    ("mock-server", "log_file", "mock.log_file"),
    ("mock-server", "snmp_port", "mock.snmp_port"),
    ("validate", "inventory", "inventory.path"),
    ("split-inventory", "inventory", "inventory.path"),
    ("demo", "inventory", "inventory.path"),
    ("demo", "source", "extract.source"),
    ("demo", "sink", "load.sink"),
];

/// Flags that set a key but whose help shows neither its variable nor its default, because the subcommand does
/// not read that key otherwise: `demo` spools into a temporary directory unless `--spool-dir` is given (it
/// ignores `spool.dir` and `APP__SPOOL__DIR`).
pub const QUIET_FLAG_KEYS: &[(&str, &str, &str)] = &[("demo", "spool_dir", "spool.dir")];

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
    let with_config: Vec<String> = cmd
        .get_subcommands()
        .filter(|sc| sc.get_arguments().any(|a| a.get_id() == "config"))
        .map(|sc| sc.get_name().to_string())
        .collect();
    for name in &with_config {
        cmd = cmd.mut_subcommand(name, |sc| {
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
    use crate::commands::args::Command;
    use clap::Parser;
    use std::collections::BTreeMap;

    /// Every leaf of the settings as `dotted.key` → value.
    fn flat(s: &Settings) -> BTreeMap<String, toml::Value> {
        fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    toml::Value::Table(inner) => walk(&key, inner, out),
                    other => {
                        out.insert(key, other.clone());
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        walk("", &toml::Table::try_from(s).unwrap(), &mut out);
        out
    }

    /// A value the probe gives a flag or positional: the last of its choices, else one fit for its value name.
    fn sample(arg: &clap::Arg) -> String {
        if let Some(last) = arg.get_possible_values().last() {
            return last.get_name().to_string();
        }
        let name = arg
            .get_value_names()
            .and_then(|n| n.first())
            .map(|n| n.as_str());
        match name.unwrap_or("PATH") {
            "PATH" | "DIR" | "OUT" | "OUT_DIR" => "/probe/path".into(),
            "URL" => "http://127.0.0.9:9/probe".into(),
            "K/N" => "1/2".into(),
            "ADDR" => "127.0.0.9:9".into(),
            "N" | "PORT|auto" => "7".into(),
            "F" => "0.5".into(),
            "TOKEN" | "TEXT" | "LEVEL" => "probe".into(),
            other => panic!(
                "give the probe a sample value for {other} (flag {})",
                arg.get_id()
            ),
        }
    }

    /// The keys a subcommand's `apply` changes when `argv` is parsed (None for a subcommand without settings).
    fn keys_changed_by(argv: &[String]) -> Option<Vec<String>> {
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let mut s = Settings::default();
        match &cli.command {
            Command::Etl(a) => a.apply(&mut s),
            Command::Replay(a) => a.apply(&mut s),
            Command::MockServer(a) => a.apply(&mut s),
            Command::Validate(a) => a.apply(&mut s),
            Command::SplitInventory(a) => a.apply(&mut s),
            Command::Demo(a) => a.apply(&mut s),
            // `snmp probe` reads the configuration but none of its flags sets a key.
            Command::Healthcheck(_)
            | Command::Snmp(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::GenerateInventory(_) => return None,
        }
        let (before, after) = (flat(&Settings::default()), flat(&s));
        Some(
            after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect(),
        )
    }

    #[test]
    fn each_flag_that_sets_a_key_is_in_flag_keys_and_each_entry_sets_its_key() {
        let cmd = Cli::command();
        let listed: Vec<(&str, &str, &str)> =
            FLAG_KEYS.iter().chain(QUIET_FLAG_KEYS).copied().collect();
        let mut probed = Vec::new();
        for sc in cmd.get_subcommands() {
            let name = sc.get_name();
            // The subcommand's required arguments, so that each probe parses.
            let mut base = vec!["app".to_string(), name.to_string()];
            for a in sc.get_arguments().filter(|a| a.is_required_set()) {
                if let Some(long) = a.get_long() {
                    base.push(format!("--{long}"));
                }
                base.push(sample(a));
            }
            for arg in sc.get_arguments() {
                let (id, Some(long)) = (arg.get_id().as_str(), arg.get_long()) else {
                    continue;
                };
                if id == "config" || arg.is_required_set() {
                    continue;
                }
                let mut argv = base.clone();
                if (name, id) == ("etl", "limit") {
                    argv.push("--dry-run".into());
                }
                argv.push(format!("--{long}"));
                if arg.get_action().takes_values() {
                    argv.push(sample(arg));
                }
                let Some(changed) = keys_changed_by(&argv) else {
                    continue;
                };
                let entry = listed.iter().find(|(n, i, _)| (*n, *i) == (name, id));
                match entry {
                    Some((_, _, key)) => assert!(
                        changed.iter().any(|c| c == key),
                        "{name} --{long} is listed for `{key}` but changes {changed:?}"
                    ),
                    None => assert!(
                        changed.is_empty(),
                        "{name} --{long} changes {changed:?}: add it to FLAG_KEYS (help.rs)"
                    ),
                }
                probed.push((name.to_string(), id.to_string()));
            }
        }
        for (name, id, key) in &listed {
            assert!(
                probed
                    .iter()
                    .any(|(n, i)| (n.as_str(), i.as_str()) == (*name, *id)),
                "FLAG_KEYS lists {name} {id} ({key}), which is no flag of {name}"
            );
        }
    }

    #[test]
    fn every_listed_flag_shows_its_variable_and_every_config_flag_its_default_file() {
        let mut cmd = command();
        for (name, id, key) in FLAG_KEYS {
            let sc = cmd.find_subcommand_mut(name).unwrap();
            let help = sc.render_long_help().to_string();
            assert!(
                help.contains(&format!("[env: {}]", env_name(key))),
                "{name} --{id}: {help}"
            );
        }
        for sc in cmd.get_subcommands_mut() {
            if sc.get_arguments().any(|a| a.get_id() == "config") {
                let help = sc.render_help().to_string();
                assert!(
                    help.contains(DEFAULT_CONFIG_PATH),
                    "{}: {help}",
                    sc.get_name()
                );
            }
        }
    }

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
