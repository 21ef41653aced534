//! `Settings::validate`: every section checked by its own `validate` (in its file), each error naming its key;
//! and the checks those share.

use std::path::Path;

use super::*;

/// A secret given inline or by a file, not both: `key` and `key_file`.
pub(super) fn check_one_of(key: &str, secret: &Secret, file: &Path) -> Result<(), SettingsError> {
    if !secret.is_empty() && !file.as_os_str().is_empty() {
        return Err(SettingsError::invalid(
            &format!("{key}_file"),
            format!("set either {key} or {key}_file, not both"),
        ));
    }
    Ok(())
}

/// Two file keys that go together: both set or neither.
pub(super) fn check_pair(a: (&str, &Path), b: (&str, &Path)) -> Result<(), SettingsError> {
    match (a.1.as_os_str().is_empty(), b.1.as_os_str().is_empty()) {
        (false, true) => Err(SettingsError::invalid(
            b.0,
            format!("must be set when {} is", a.0),
        )),
        (true, false) => Err(SettingsError::invalid(
            a.0,
            format!("must be set when {} is", b.0),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_rate(key: &str, value: f64) -> Result<(), SettingsError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(SettingsError::invalid(
            key,
            format!("{value} must be between 0.0 and 1.0"),
        ));
    }
    Ok(())
}

pub(super) fn check_positive(key: &str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(SettingsError::invalid(key, "must be at least 1"));
    }
    Ok(())
}

pub(super) fn check_at_most(key: &str, value: u64, max: u64) -> Result<(), SettingsError> {
    if value > max {
        return Err(SettingsError::invalid(
            key,
            format!("must be at most {max}"),
        ));
    }
    Ok(())
}

impl Settings {
    /// What the values allow but is likely a mistake, each naming its keys: `validate` prints them, a run logs them.
    pub fn warnings(&self) -> Vec<String> {
        let e = &self.extract;
        let mut out = e.snmp.warnings(e.source == SourceKind::Snmp, e.timeout_ms);
        out.extend(self.load.warnings());
        out
    }

    /// Checks every value, section by section (each section's own `validate`, beside its keys); the error names
    /// the key and says what is allowed.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.extract.validate()?;
        self.load.validate()?;
        self.mock.validate()?;
        self.spool.validate()?;
        self.metrics.validate()?;
        self.log.validate()?;
        self.profile.validate()
    }
}
