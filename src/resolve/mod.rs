//! The objects a run uses, built from the configuration's declared values in one place, once, at start (the way
//! ripgrep turns its raw flags into resolved arguments): the bearer token (read from `load.token_file` when set)
//! and the TLS configurations of the load client and the http source. Each failure names its key and file.
//!
//! May use: `config`.

pub mod tls;

use crate::config::{LoadSettings, Secret, Settings, SettingsError};
use tls::ClientTls;

/// Validated settings with what was built from them.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: Settings,
    /// `load.token`, or the one line of `load.token_file`.
    pub token: Secret,
    /// The load client's TLS (for an `https://` `load.endpoint`).
    pub load_tls: ClientTls,
    /// The http source's TLS (for an `https://` `extract.http.url_template`).
    pub http_source_tls: ClientTls,
}

impl Resolved {
    /// Builds everything the run needs from `settings` (already validated).
    pub fn build(settings: Settings) -> Result<Resolved, SettingsError> {
        Ok(Resolved {
            token: token(&settings.load)?,
            load_tls: ClientTls::from_settings(&settings.load)?,
            http_source_tls: ClientTls::for_http_source(&settings.extract)?,
            settings,
        })
    }
}

/// The bearer token: `load.token`, or the one non-empty line of `load.token_file` (trimmed). The error names
/// the file.
pub fn token(load: &LoadSettings) -> Result<Secret, SettingsError> {
    let path = &load.token_file;
    if path.as_os_str().is_empty() {
        return Ok(load.token.clone());
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::invalid("load.token_file", format!("{}: {e}", path.display()))
    })?;
    let token = text.trim();
    if token.is_empty() || token.contains(['\r', '\n']) {
        return Err(SettingsError::invalid(
            "load.token_file",
            format!("{}: must hold one non-empty line", path.display()),
        ));
    }
    if let Some(problem) = crate::config::wire::token_problem(token) {
        return Err(SettingsError::invalid(
            "load.token_file",
            format!("{}: the token {problem}", path.display()),
        ));
    }
    Ok(Secret::new(token))
}
