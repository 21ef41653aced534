//! Typed configuration as declared values: one struct per section, serde defaults, `load()` (defaults < file <
//! `APP__…` env) and `validate()`. Nothing here is built from the values (clients, TLS, tokens read from files):
//! `resolve` does that.
//!
//! CLI flags are applied by the caller on the loaded struct (see `commands/args.rs`), after which `validate()` runs
//! again. Files: one per section group (`inventory`, `extract`, `load`, `spool`, `observe`, `mock`), `secret`,
//! `shard`, `validate`, `wire` (URLs, addresses and tokens parsed in full).
//!
//! May use: `model` only.

mod extract;
mod inventory;
mod load;
mod mock;
mod observe;
mod secret;
mod shard;
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
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl SettingsError {
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
        use config::{Config, Environment, File, FileFormat};
        let mut builder = Config::builder();
        let mut origin = "(built-in defaults)".to_string();
        let file = match path {
            Some(p) if !p.exists() => return Err(SettingsError::NotFound { path: p.into() }),
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
        };
        if let Some(file) = &file {
            origin = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|e| SettingsError::Parse {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
        }
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
            .collect();
        let env_names: Vec<String> = vars.keys().cloned().collect();
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(Some(vars)),
        );
        let built = builder.build().map_err(|e| SettingsError::Parse {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        let settings: Settings = built.try_deserialize().map_err(|e| {
            let mut origin = origin.clone();
            if !env_names.is_empty() {
                origin.push_str(&format!(" with environment {}", env_names.join(", ")));
            }
            SettingsError::Parse {
                origin,
                message: e.to_string(),
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// The shard this run keeps, if any (validated by `validate`).
    pub fn shard(&self) -> Option<Shard> {
        let text = self.extract.shard.trim();
        (!text.is_empty()).then(|| Shard::parse(text).expect("validated by Settings::validate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
