//! The objects a run uses, built from the configuration's declared values in one place, once, at start (the way
//! ripgrep turns its raw flags into resolved arguments): the bearer token (read from `load.token_file` when set),
//! the SNMP secrets (from `extract.snmp.*_file` when set) and the TLS configurations of the load client and the
//! http source. Each failure names its key and file.
//!
//! May use: `config`.

pub mod tls;

use std::path::Path;

use crate::config::{LoadSettings, Secret, Settings, SettingsError, SnmpSettings};
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
    /// The snmp source's community and v3 passwords.
    pub snmp: SnmpSecrets,
}

/// The snmp source's secrets: each the key's value, or the one line of its `*_file`.
#[derive(Debug, Clone, Default)]
pub struct SnmpSecrets {
    pub community: Secret,
    pub auth_password: Secret,
    pub priv_password: Secret,
}

impl Resolved {
    /// Builds everything the run needs from `settings` (already validated).
    pub fn build(settings: Settings) -> Result<Resolved, SettingsError> {
        Ok(Resolved {
            token: token(&settings.load)?,
            load_tls: ClientTls::from_settings(&settings.load)?,
            http_source_tls: ClientTls::for_http_source(&settings.extract)?,
            // Read only for the source that uses them (as `validate` checks them only then).
            snmp: if settings.extract.source == crate::config::SourceKind::Snmp {
                snmp_secrets(&settings.extract.snmp)?
            } else {
                SnmpSecrets::default()
            },
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
    let token = read_secret_file("load.token_file", path)?;
    let token = token.expose();
    if let Some(problem) = crate::config::wire::token_problem(token) {
        return Err(SettingsError::invalid(
            "load.token_file",
            format!("{}: the token {problem}", path.display()),
        ));
    }
    Ok(Secret::new(token))
}

/// `extract.snmp`'s secrets, the `*_file` keys read once. The error names the key and the file.
pub fn snmp_secrets(s: &SnmpSettings) -> Result<SnmpSecrets, SettingsError> {
    let read =
        |value: &Secret, file: &Path, key: &str, min_len: usize| -> Result<Secret, SettingsError> {
            if file.as_os_str().is_empty() {
                return Ok(value.clone());
            }
            let secret = read_secret_file(key, file)?;
            if secret.expose().len() < min_len {
                return Err(SettingsError::invalid(
                    key,
                    format!(
                        "{}: the password must be at least {min_len} characters",
                        file.display()
                    ),
                ));
            }
            Ok(secret)
        };
    Ok(SnmpSecrets {
        community: read(
            &s.community,
            &s.community_file,
            "extract.snmp.community_file",
            0,
        )?,
        auth_password: read(
            &s.auth_password,
            &s.auth_password_file,
            "extract.snmp.auth_password_file",
            8,
        )?,
        priv_password: read(
            &s.priv_password,
            &s.priv_password_file,
            "extract.snmp.priv_password_file",
            8,
        )?,
    })
}

/// The one non-empty line of the secret file at `path` (trimmed); the error names `key` and the file.
fn read_secret_file(key: &str, path: &Path) -> Result<Secret, SettingsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::invalid(key, format!("{}: {e}", path.display())))?;
    let value = text.trim();
    if value.is_empty() || value.contains(['\r', '\n']) {
        return Err(SettingsError::invalid(
            key,
            format!("{}: must hold one non-empty line", path.display()),
        ));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_read_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("community");
        std::fs::write(&f, "s3cret\n").unwrap();
        let s = SnmpSettings {
            community_file: f,
            ..SnmpSettings::default()
        };
        assert_eq!(snmp_secrets(&s).unwrap().community.expose(), "s3cret");
        let s = SnmpSettings {
            auth_password_file: dir.path().join("missing"),
            ..SnmpSettings::default()
        };
        let err = snmp_secrets(&s).unwrap_err().to_string();
        assert!(
            err.contains("extract.snmp.auth_password_file") && err.contains("missing"),
            "{err}"
        );
        let short = dir.path().join("short");
        std::fs::write(&short, "1234567\n").unwrap();
        let s = SnmpSettings {
            priv_password_file: short,
            ..SnmpSettings::default()
        };
        let err = snmp_secrets(&s).unwrap_err().to_string();
        assert!(err.contains("extract.snmp.priv_password_file"), "{err}");
    }
}
