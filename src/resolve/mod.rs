//! The objects a run uses, built from the configuration's declared values in one place, once, at start (the way
//! ripgrep turns its raw flags into resolved arguments): the bearer tokens (read from `load.token_file` and
//! `extract.http.token_file` when set), the SNMP secrets (from `extract.snmp.*_file` when set) and the TLS
//! configurations of the load client and the http source. Each failure names its key and file.
//!
//! May use: `config`.

pub mod tls;

use std::path::Path;

use crate::config::{
    Credentials, HttpSourceSettings, LoadSettings, Secret, Settings, SettingsError, SnmpSettings,
};
use tls::ClientTls;

/// Validated settings with what was built from them.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: Settings,
    /// `load.token`, or the one line of `load.token_file`.
    pub token: Secret,
    /// `load.password`, or the one line of `load.password_file` (basic authentication with `load.username`).
    pub password: Secret,
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
    /// The secrets of each `extract.snmp.credentials` set, in name order (their own `sets` are empty).
    pub sets: Vec<SnmpSecrets>,
}

impl Resolved {
    /// Builds everything the run needs from `settings` (already validated).
    pub fn build(mut settings: Settings) -> Result<Resolved, SettingsError> {
        // The http source's token is the settings' own once read (as the mock's is), so the source needs no
        // other argument.
        if settings.extract.source == crate::config::SourceKind::Http {
            settings.extract.http.token = http_source_token(&settings.extract.http)?;
        }
        Ok(Resolved {
            token: token(&settings.load)?,
            password: password(&settings.load)?,
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
    bearer_token(&load.token, &load.token_file, "load.token_file")
}

/// The token sent to the devices by the http source: `extract.http.token`, or the one line of
/// `extract.http.token_file`, checked as `load.token_file`'s is.
pub fn http_source_token(http: &HttpSourceSettings) -> Result<Secret, SettingsError> {
    bearer_token(&http.token, &http.token_file, "extract.http.token_file")
}

/// `value`, or the one line of the secret file at `path` when set, checked as a bearer token (a header's
/// characters). The error names `file_key` and the file.
fn bearer_token(value: &Secret, path: &Path, file_key: &str) -> Result<Secret, SettingsError> {
    if path.as_os_str().is_empty() {
        return Ok(value.clone());
    }
    let token = read_secret_file(file_key, path)?;
    if let Some(problem) = crate::config::wire::token_problem(token.expose()) {
        return Err(SettingsError::invalid(
            file_key,
            format!("{}: the token {problem}", path.display()),
        ));
    }
    Ok(token)
}

/// The basic-authentication password: `load.password`, or the one non-empty line of `load.password_file`.
pub fn password(load: &LoadSettings) -> Result<Secret, SettingsError> {
    if load.password_file.as_os_str().is_empty() {
        return Ok(load.password.clone());
    }
    read_secret_file("load.password_file", &load.password_file)
}

/// The mock's token: `mock.token`, or the one line of `mock.token_file`, checked as `load.token_file`'s is.
pub fn mock_token(mock: &crate::config::MockSettings) -> Result<Secret, SettingsError> {
    bearer_token(&mock.token, &mock.token_file, "mock.token_file")
}

/// `extract.snmp`'s secrets and those of each credential set, the `*_file` keys read once. The error names the
/// key and the file.
pub fn snmp_secrets(s: &SnmpSettings) -> Result<SnmpSecrets, SettingsError> {
    let mut secrets = credential_secrets(&s.default_credentials(), "extract.snmp")?;
    for (name, set) in &s.credentials {
        let prefix = format!("extract.snmp.credentials.{name}");
        secrets.sets.push(credential_secrets(set, &prefix)?);
    }
    Ok(secrets)
}

/// The secrets of one set of credentials whose keys are under `prefix`.
fn credential_secrets(s: &Credentials, prefix: &str) -> Result<SnmpSecrets, SettingsError> {
    let read =
        |value: &Secret, file: &Path, key: &str, min_len: usize| -> Result<Secret, SettingsError> {
            if file.as_os_str().is_empty() {
                return Ok(value.clone());
            }
            let key = format!("{prefix}.{key}");
            let secret = read_secret_file(&key, file)?;
            if secret.expose().len() < min_len {
                return Err(SettingsError::invalid(
                    &key,
                    format!(
                        "{}: the password must be at least {min_len} characters",
                        file.display()
                    ),
                ));
            }
            Ok(secret)
        };
    Ok(SnmpSecrets {
        community: read(&s.community, &s.community_file, "community_file", 0)?,
        auth_password: read(
            &s.auth_password,
            &s.auth_password_file,
            "auth_password_file",
            8,
        )?,
        priv_password: read(
            &s.priv_password,
            &s.priv_password_file,
            "priv_password_file",
            8,
        )?,
        sets: Vec::new(),
    })
}

/// Most bytes a secret file may hold: a token or password is far shorter; a larger file is not one (and is not
/// read whole).
pub const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// The one non-empty line of the secret file at `path` (trimmed); the error names `key` and the file. The file
/// is read up to [`MAX_SECRET_FILE_BYTES`]; one that group or others may read is used, with a warning (a link is
/// followed: Kubernetes mounts secrets as links).
fn read_secret_file(key: &str, path: &Path) -> Result<Secret, SettingsError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let bad = |e: std::io::Error| SettingsError::invalid(key, format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(bad)?;
    let mode = file.metadata().map_err(bad)?.permissions().mode();
    if mode & 0o044 != 0 {
        log::warn!(
            "{key} {}: mode {:04o} lets group or others read the secret (chmod 0600 or 0400)",
            path.display(),
            mode & 0o7777
        );
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(bad)?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(SettingsError::invalid(
            key,
            format!(
                "{}: larger than {MAX_SECRET_FILE_BYTES} bytes, not a secret file",
                path.display()
            ),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| SettingsError::invalid(key, format!("{}: not UTF-8 text", path.display())))?;
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

    #[test]
    fn a_secret_file_is_read_up_to_4_kib_and_may_be_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(5000)).unwrap();
        let err = read_secret_file("load.token_file", &big)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("load.token_file") && err.contains("larger than 4096 bytes"),
            "{err}"
        );
        // Kubernetes mounts a secret as a link to a link to the file.
        let real = dir.path().join("..data-token");
        std::fs::write(&real, "t0ken\n").unwrap();
        let link = dir.path().join("token");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            read_secret_file("load.token_file", &link).unwrap().expose(),
            "t0ken"
        );
    }
}
