//! Typed configuration as declared values: one struct per section, serde defaults, `load()` (defaults < file <
//! `APP__…` env) and `validate()`. Nothing here is built from the values (clients, TLS, tokens read from files):
//! `resolve` does that.
//!
//! CLI flags are applied by the caller on the loaded struct (see `commands/args.rs`), after which `validate()` runs
//! again. Files: one per section group (`inventory`, `extract`, `snmp`, `load`, `spool`, `observe`, `mock`),
//! `secret`, `shard`, `source` (reading the file and the environment strictly), `validate`, `wire` (URLs,
//! addresses and tokens parsed in full).
//!
//! May use: `model` only.

mod extract;
mod inventory;
mod load;
mod mock;
mod observe;
mod secret;
mod shard;
mod snmp;
mod source;
mod spool;
mod validate;
pub mod wire;

pub use extract::*;
pub use inventory::*;
pub use load::*;
pub use mock::*;
pub use observe::*;
pub use secret::*;
pub use shard::*;
pub use snmp::*;
pub use spool::*;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prefix of environment variables that override configuration keys: `APP__SECTION__KEY`.
pub const ENV_PREFIX: &str = "APP";
/// Separator between the prefix, sections and keys in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// The configuration file used when `--config` is not given; missing means built-in defaults.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

/// Errors from loading or validating the configuration. Each names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {path}: not found")]
    NotFound { path: PathBuf },
    #[error("configuration {origin}: {message}")]
    Parse { origin: String, message: String },
    /// A value of the file that does not parse as its key's type (or a key that does not exist).
    #[error("configuration {origin}:{line}: {}{message}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    File {
        origin: String,
        line: usize,
        key: Option<String>,
        message: String,
    },
    /// An `APP__…` variable that names no key or does not parse as its key's type.
    #[error("configuration: environment variable {name} (key `{key}`): {message}")]
    Env {
        name: String,
        key: String,
        message: String,
    },
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl SettingsError {
    /// A value out of range, said where it was set, as a type error is: the `APP__…` variable that set `key`, or
    /// else the file's line (a key set by neither keeps its plain form).
    fn located(self, origin: &str, text: Option<&str>, env: &[(String, String)]) -> Self {
        let SettingsError::Invalid { key, message } = self else {
            return self;
        };
        let name = format!(
            "{ENV_PREFIX}{ENV_SEPARATOR}{}",
            key.replace('.', ENV_SEPARATOR).to_ascii_uppercase()
        );
        if env.iter().any(|(k, _)| *k == name) {
            return SettingsError::Env { name, key, message };
        }
        match text.and_then(|t| source::line_of(t, &key)) {
            Some(line) => SettingsError::File {
                origin: origin.to_string(),
                line,
                key: Some(key),
                message,
            },
            None => SettingsError::Invalid { key, message },
        }
    }

    pub(crate) fn invalid(key: &str, message: impl Into<String>) -> Self {
        SettingsError::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub inventory: InventorySettings,
    pub extract: ExtractSettings,
    pub load: LoadSettings,
    pub spool: SpoolSettings,
    pub shutdown: ShutdownSettings,
    pub log: LogSettings,
    pub profile: ProfileSettings,
    pub metrics: MetricsSettings,
    pub mock: MockSettings,
}

impl Settings {
    /// Loads built-in defaults, then `path` (if it exists; an explicit path must exist), then `APP__…` variables.
    pub fn load(path: Option<&Path>) -> Result<Settings, SettingsError> {
        Self::load_from(path, std::env::vars())
    }

    /// Like [`Settings::load`], with the environment given (tests pass their own).
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let mut origin = "(built-in defaults)".to_string();
        let file = match path {
            Some(p) if !p.exists() => return Err(SettingsError::NotFound { path: p.into() }),
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
        };
        let mut text = None;
        if let Some(file) = &file {
            origin = file.display().to_string();
            text = Some(
                std::fs::read_to_string(file).map_err(|e| SettingsError::Parse {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?,
            );
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let settings = source::read(&origin, text.as_deref(), env.iter().cloned())?;
        settings
            .validate()
            .map_err(|e| e.located(&origin, text.as_deref(), &env))?;
        Ok(settings)
    }

    /// The shard this run keeps, if any (validated by `validate`).
    pub fn shard(&self) -> Option<Shard> {
        let text = self.extract.shard.trim();
        (!text.is_empty()).then(|| Shard::parse(text).expect("validated by Settings::validate"))
    }
}

/// Variables that look like configuration but are not read as such (`APP_LOAD_ENDPOINT` with one underscore,
/// lower-case `app__load__endpoint`): each with the variable that would set that key.
pub fn env_lookalikes(names: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    fn keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in table {
            let name = format!("{prefix}{ENV_SEPARATOR}{}", k.to_ascii_uppercase());
            match v {
                toml::Value::Table(t) => keys(t, &name, out),
                _ => out.push(name),
            }
        }
    }
    let mut known = Vec::new();
    let defaults = toml::Table::try_from(Settings::default())
        .expect("the default settings serialise as a TOML table");
    keys(&defaults, ENV_PREFIX, &mut known);
    let squash = |s: &str| s.replace('_', "").to_ascii_uppercase();
    let ours = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
    names
        .into_iter()
        .filter(|n| !n.starts_with(&ours) && n.to_ascii_uppercase().starts_with(ENV_PREFIX))
        .filter_map(|n| {
            let key = known.iter().find(|k| squash(k) == squash(&n))?;
            Some((n, key.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_that_look_like_configuration_are_found_with_the_right_name() {
        let found = env_lookalikes(
            [
                "APP_LOAD_ENDPOINT",
                "app__load__endpoint",
                "App__Spool__Dir",
                "APP__LOAD__ENDPOINT",
                "APPLE",
                "APP_HOME",
                "PATH",
            ]
            .map(String::from),
        );
        assert_eq!(
            found,
            [
                (
                    "APP_LOAD_ENDPOINT".to_string(),
                    "APP__LOAD__ENDPOINT".to_string()
                ),
                ("app__load__endpoint".into(), "APP__LOAD__ENDPOINT".into()),
                ("App__Spool__Dir".into(), "APP__SPOOL__DIR".into()),
            ]
        );
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shard_parses_and_rejects() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("a/3").is_err());
        assert!(Shard::parse("13").is_err());
    }

    #[test]
    fn secret_is_never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn env_overrides_nested_keys() {
        let s = Settings::load_from(
            Some(Path::new("/dev/null")),
            env(&[
                ("APP__MOCK__DELAY_MS", "50"),
                ("APP__LOAD__RETRY__MAX_ATTEMPTS", "9"),
                ("APP__LOAD__TOKEN", "abc"),
            ]),
        )
        .unwrap();
        assert_eq!(s.mock.delay_ms, 50);
        assert_eq!(s.load.retry.max_attempts, 9);
        assert_eq!(s.load.token.expose(), "abc");
    }
}
