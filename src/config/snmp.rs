//! `[extract.snmp]`: the SNMP source's keys (version, community or v3 user and keys, timeouts, MIB, sampling), the
//! named credential sets an inventory row may choose (`[extract.snmp.credentials.NAME]`), their defaults and
//! `validate()` naming the key at fault. The `*_file` secrets are read by `resolve`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::validate::check_one_of;
use super::{Secret, SettingsError};

/// `extract.snmp.version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpVersion {
    V2c,
    V3,
}

impl SnmpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            SnmpVersion::V2c => "2c",
            SnmpVersion::V3 => "3",
        }
    }
}

impl Serialize for SnmpVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `"2c"` or `"3"`; the number `3` (TOML `version = 3`, or the environment's `3`) is accepted too.
impl<'de> Deserialize<'de> for SnmpVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SnmpVersion;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"2c\" or \"3\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SnmpVersion, E> {
                match v {
                    "2c" => Ok(SnmpVersion::V2c),
                    "3" => Ok(SnmpVersion::V3),
                    other => Err(E::custom(format!(
                        "unknown SNMP version `{other}`, expected \"2c\" or \"3\""
                    ))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SnmpVersion, E> {
                match v {
                    3 => Ok(SnmpVersion::V3),
                    other => Err(E::custom(format!(
                        "unknown SNMP version {other}, expected \"2c\" or \"3\""
                    ))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SnmpVersion, E> {
                self.visit_i64(v as i64)
            }
        }
        d.deserialize_any(V)
    }
}

/// One of `names` (the values as written out, in the order of `values`) in any case, as net-snmp takes them
/// (`sha-256` is `SHA-256`).
fn any_case<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    names: &'static [&'static str],
    values: &[T],
) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(&text))
        .map(|i| values[i])
        .ok_or_else(|| serde::de::Error::unknown_variant(&text, names))
}

/// Deserialize in any case, each variant by its `#[serde(rename)]`.
macro_rules! any_case {
    ($t:ident: $($v:ident = $n:literal),+) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                any_case(d, &[$($n),+], &[$($t::$v),+])
            }
        }
    };
}

any_case!(SecurityLevel: NoAuthNoPriv = "noAuthNoPriv", AuthNoPriv = "authNoPriv", AuthPriv = "authPriv");
any_case!(AuthSetting: Md5 = "MD5", Sha = "SHA", Sha224 = "SHA-224", Sha256 = "SHA-256", Sha384 = "SHA-384", Sha512 = "SHA-512");
any_case!(PrivSetting: Des = "DES", Aes = "AES", Aes192 = "AES-192", Aes256 = "AES-256");

/// `extract.snmp.security_level` (SNMPv3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SecurityLevel {
    #[serde(rename = "noAuthNoPriv")]
    NoAuthNoPriv,
    #[serde(rename = "authNoPriv")]
    AuthNoPriv,
    #[serde(rename = "authPriv")]
    AuthPriv,
}

/// `extract.snmp.auth_protocol` (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthSetting {
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "SHA")]
    Sha,
    #[serde(rename = "SHA-224")]
    Sha224,
    #[serde(rename = "SHA-256")]
    Sha256,
    #[serde(rename = "SHA-384")]
    Sha384,
    #[serde(rename = "SHA-512")]
    Sha512,
}

/// `extract.snmp.priv_protocol` (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrivSetting {
    #[serde(rename = "DES")]
    Des,
    #[serde(rename = "AES")]
    Aes,
    #[serde(rename = "AES-192")]
    Aes192,
    #[serde(rename = "AES-256")]
    Aes256,
}

/// `extract.snmp.mib`: what is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MibSetting {
    /// UCD-SNMP-MIB systemStats raw counters, two samples: one record per device (`cpu_number` "all").
    Ucd,
    /// HOST-RESOURCES-MIB hrProcessorLoad: one record per processor, utilization only.
    HostResources,
    /// Profiles: the device's sysObjectID and sysDescr choose how its CPU is read (vendor MIBs, then UCD and
    /// host-resources); see `extract::snmp::profiles`.
    Auto,
}

impl MibSetting {
    pub fn as_str(self) -> &'static str {
        match self {
            MibSetting::Ucd => "ucd",
            MibSetting::HostResources => "host-resources",
            MibSetting::Auto => "auto",
        }
    }
}

/// `extract.snmp.cpu_window`: which window a profile reads where the device offers both (Cisco's
/// cpmCPUTotal1minRev and cpmCPUTotal5minRev, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum CpuWindow {
    #[serde(rename = "1min")]
    OneMinute,
    #[serde(rename = "5min")]
    FiveMinutes,
}

impl CpuWindow {
    pub fn as_str(self) -> &'static str {
        match self {
            CpuWindow::OneMinute => "1min",
            CpuWindow::FiveMinutes => "5min",
        }
    }
}

/// `[extract.snmp]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpSettings {
    #[serde(default = "default_version")]
    pub version: SnmpVersion,
    #[serde(default = "default_port")]
    pub port: u16,
    /// v2c community; never logged (`***` in `--print-config`).
    #[serde(default = "default_community")]
    pub community: Secret,
    /// A file holding the community (trimmed), read once at start; replaces `community`.
    #[serde(default)]
    pub community_file: PathBuf,
    /// v3 user name.
    #[serde(default)]
    pub user: String,
    #[serde(default = "default_security_level")]
    pub security_level: SecurityLevel,
    #[serde(default = "default_auth_protocol")]
    pub auth_protocol: AuthSetting,
    #[serde(default)]
    pub auth_password: Secret,
    #[serde(default)]
    pub auth_password_file: PathBuf,
    #[serde(default = "default_priv_protocol")]
    pub priv_protocol: PrivSetting,
    #[serde(default)]
    pub priv_password: Secret,
    #[serde(default)]
    pub priv_password_file: PathBuf,
    /// Wait for an answer per attempt.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts after the first one before a request is a timeout.
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_mib")]
    pub mib: MibSetting,
    /// Time between the two UCD samples.
    #[serde(default = "default_sample_interval_ms")]
    pub sample_interval_ms: u64,
    /// Named credential sets (`[extract.snmp.credentials.NAME]`), chosen per device by the inventory's
    /// `credentials` column; a device without one uses the keys above.
    #[serde(default)]
    pub credentials: BTreeMap<String, Credentials>,
    /// `mib = "auto"`: the window read where a device offers a 1-minute and a 5-minute one.
    #[serde(default = "default_cpu_window")]
    pub cpu_window: CpuWindow,
    /// `mib = "auto"`: a directory of user profiles (`*.toml`, the format of `app snmp profiles`); "" = none.
    #[serde(default)]
    pub profiles_dir: PathBuf,
    /// `mib = "auto"`: the file keeping each device's detected profile between runs; "" = `snmp-detection.tsv`
    /// in `spool.dir`.
    #[serde(default)]
    pub detection_file: PathBuf,
}

/// `[extract.snmp.credentials.NAME]`: how to talk to the devices that choose this set — the security keys of
/// `[extract.snmp]`, with the same defaults (a set does not inherit from `[extract.snmp]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[serde(default = "default_version")]
    pub version: SnmpVersion,
    #[serde(default = "default_community")]
    pub community: Secret,
    #[serde(default)]
    pub community_file: PathBuf,
    #[serde(default)]
    pub user: String,
    #[serde(default = "default_security_level")]
    pub security_level: SecurityLevel,
    #[serde(default = "default_auth_protocol")]
    pub auth_protocol: AuthSetting,
    #[serde(default)]
    pub auth_password: Secret,
    #[serde(default)]
    pub auth_password_file: PathBuf,
    #[serde(default = "default_priv_protocol")]
    pub priv_protocol: PrivSetting,
    #[serde(default)]
    pub priv_password: Secret,
    #[serde(default)]
    pub priv_password_file: PathBuf,
}

impl Default for Credentials {
    fn default() -> Self {
        SnmpSettings::default().default_credentials()
    }
}

/// Most named credential sets (a device's set is a 16-bit number, 0 being `[extract.snmp]`'s keys).
pub const MAX_CREDENTIAL_SETS: usize = u16::MAX as usize - 1;

pub fn default_version() -> SnmpVersion {
    SnmpVersion::V2c
}
pub fn default_port() -> u16 {
    161
}
pub fn default_community() -> Secret {
    Secret::new("public")
}
pub fn default_security_level() -> SecurityLevel {
    SecurityLevel::AuthPriv
}
pub fn default_auth_protocol() -> AuthSetting {
    AuthSetting::Sha
}
pub fn default_priv_protocol() -> PrivSetting {
    PrivSetting::Aes
}
pub fn default_timeout_ms() -> u64 {
    1000
}
pub fn default_retries() -> u32 {
    2
}
pub fn default_mib() -> MibSetting {
    MibSetting::Auto
}
/// 5 minutes: a run scheduled every 5 minutes then covers the whole time between runs.
pub fn default_cpu_window() -> CpuWindow {
    CpuWindow::FiveMinutes
}
/// 6 s: net-snmp refreshes its UCD counters every 5 s, so two samples 6 s apart always straddle a refresh.
pub fn default_sample_interval_ms() -> u64 {
    6000
}

impl Default for SnmpSettings {
    fn default() -> Self {
        SnmpSettings {
            version: default_version(),
            port: default_port(),
            community: default_community(),
            community_file: PathBuf::new(),
            user: String::new(),
            security_level: default_security_level(),
            auth_protocol: default_auth_protocol(),
            auth_password: Secret::default(),
            auth_password_file: PathBuf::new(),
            priv_protocol: default_priv_protocol(),
            priv_password: Secret::default(),
            priv_password_file: PathBuf::new(),
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
            mib: default_mib(),
            sample_interval_ms: default_sample_interval_ms(),
            credentials: BTreeMap::new(),
            cpu_window: default_cpu_window(),
            profiles_dir: PathBuf::new(),
            detection_file: PathBuf::new(),
        }
    }
}

/// Most `retries`.
pub const MAX_RETRIES: u32 = 10;

impl SnmpSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn sample_interval(&self) -> Duration {
        Duration::from_millis(self.sample_interval_ms)
    }
    /// The detection file: `detection_file`, or `snmp-detection.tsv` in `spool_dir`.
    pub fn detection_path(&self, spool_dir: &std::path::Path) -> PathBuf {
        if self.detection_file.as_os_str().is_empty() {
            spool_dir.join("snmp-detection.tsv")
        } else {
            self.detection_file.clone()
        }
    }
    /// Attempts per request: the first and `retries` more.
    pub fn attempts(&self) -> u32 {
        self.retries + 1
    }

    /// What is allowed but likely a mistake (for the snmp source only): a password that `noAuthNoPriv` does not use,
    /// and attempts that cannot all fit in `extract.timeout_ms`. Each names the keys.
    pub fn warnings(&self, active: bool, extract_timeout_ms: u64) -> Vec<String> {
        let mut out = Vec::new();
        if !active {
            return out;
        }
        let v3 = self.version == SnmpVersion::V3;
        if v3 && self.security_level == SecurityLevel::NoAuthNoPriv {
            for (secret, file, name) in [
                (
                    &self.auth_password,
                    &self.auth_password_file,
                    "auth_password",
                ),
                (
                    &self.priv_password,
                    &self.priv_password_file,
                    "priv_password",
                ),
            ] {
                if !secret.is_empty() || !file.as_os_str().is_empty() {
                    out.push(format!(
                        "extract.snmp.{name} is set but security_level is \"noAuthNoPriv\": it is not used \
                         (authNoPriv or authPriv use it)"
                    ));
                }
            }
        }
        let all = self.timeout_ms.saturating_mul(u64::from(self.attempts()));
        if all > extract_timeout_ms {
            out.push(format!(
                "extract.snmp.timeout_ms × (retries + 1) = {} × {} = {all} ms does not fit in extract.timeout_ms \
                 ({extract_timeout_ms} ms): a device that does not answer fails after {extract_timeout_ms} ms, \
                 before its last attempts",
                self.timeout_ms,
                self.attempts()
            ));
        }
        out
    }

    /// Checks the number ranges whatever `extract.source` is; with `active` (the snmp source), also the secrets and
    /// what the version needs to run (a community, or a user and its passwords): a section that is not used is not
    /// half checked, and its secret files are not read (`resolve`).
    /// `extract_timeout_ms` bounds `sample_interval_ms`.
    pub fn validate(&self, active: bool, extract_timeout_ms: u64) -> Result<(), SettingsError> {
        let k = |name: &str| format!("extract.snmp.{name}");
        if self.port == 0 {
            return Err(SettingsError::invalid(&k("port"), "must be 1 to 65535"));
        }
        if self.timeout_ms == 0 {
            return Err(SettingsError::invalid(
                &k("timeout_ms"),
                "must be at least 1",
            ));
        }
        if self.retries > MAX_RETRIES {
            return Err(SettingsError::invalid(
                &k("retries"),
                format!("must be at most {MAX_RETRIES}"),
            ));
        }
        if self.sample_interval_ms == 0 {
            return Err(SettingsError::invalid(
                &k("sample_interval_ms"),
                "must be at least 1",
            ));
        }
        if active && self.sample_interval_ms >= extract_timeout_ms {
            return Err(SettingsError::invalid(
                &k("sample_interval_ms"),
                format!(
                    "{} must be below extract.timeout_ms ({extract_timeout_ms}): both samples are taken within it",
                    self.sample_interval_ms
                ),
            ));
        }
        self.default_credentials()
            .validate("extract.snmp", active)?;
        if self.credentials.len() > MAX_CREDENTIAL_SETS {
            return Err(SettingsError::invalid(
                &k("credentials"),
                format!("at most {MAX_CREDENTIAL_SETS} sets"),
            ));
        }
        for (name, set) in &self.credentials {
            if !credential_name_ok(name) {
                return Err(SettingsError::invalid(
                    &k(&format!("credentials.{name}")),
                    "a set's name is 1 to 64 letters, digits, `_`, `-` or `.` (it is written in the inventory's \
                     credentials column)",
                ));
            }
            // Every set is checked as if in use: a row may choose it.
            set.validate(&k(&format!("credentials.{name}")), active)?;
        }
        Ok(())
    }

    /// The security keys of `[extract.snmp]` itself: the credentials of a device that chooses no set.
    pub fn default_credentials(&self) -> Credentials {
        Credentials {
            version: self.version,
            community: self.community.clone(),
            community_file: self.community_file.clone(),
            user: self.user.clone(),
            security_level: self.security_level,
            auth_protocol: self.auth_protocol,
            auth_password: self.auth_password.clone(),
            auth_password_file: self.auth_password_file.clone(),
            priv_protocol: self.priv_protocol,
            priv_password: self.priv_password.clone(),
            priv_password_file: self.priv_password_file.clone(),
        }
    }

    /// The credential sets' names in the order devices number them (1 for the first; 0 is `[extract.snmp]`).
    pub fn credential_names(&self) -> Vec<String> {
        self.credentials.keys().cloned().collect()
    }
}

/// Whether `name` may name a credential set: what an inventory cell can hold without quoting.
pub fn credential_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Credentials {
    /// Checks the keys under `prefix` (`extract.snmp` or `extract.snmp.credentials.NAME`); with `active`, also
    /// what a run needs (a community, or a user and its passwords).
    pub fn validate(&self, prefix: &str, active: bool) -> Result<(), SettingsError> {
        let k = |name: &str| format!("{prefix}.{name}");
        // The rest (secrets, the version's needs) only for the source that uses them: a section that is not used is
        // not half checked.
        if !active {
            return Ok(());
        }
        // The community has a default, which its file replaces: only the passwords are one or the other.
        check_one_of(
            &k("auth_password"),
            &self.auth_password,
            &self.auth_password_file,
        )?;
        check_one_of(
            &k("priv_password"),
            &self.priv_password,
            &self.priv_password_file,
        )?;
        if self.user.len() > 32 {
            return Err(SettingsError::invalid(
                &k("user"),
                "must be at most 32 bytes",
            ));
        }
        match self.version {
            SnmpVersion::V2c => {
                if self.community.is_empty() && self.community_file.as_os_str().is_empty() {
                    return Err(SettingsError::invalid(
                        &k("community"),
                        "must not be empty for version \"2c\"",
                    ));
                }
            }
            SnmpVersion::V3 => {
                if self.user.is_empty() {
                    return Err(SettingsError::invalid(
                        &k("user"),
                        "must be set for version \"3\"",
                    ));
                }
                let needs_auth = self.security_level != SecurityLevel::NoAuthNoPriv;
                let needs_priv = self.security_level == SecurityLevel::AuthPriv;
                for (needed, secret, file, name) in [
                    (
                        needs_auth,
                        &self.auth_password,
                        &self.auth_password_file,
                        "auth_password",
                    ),
                    (
                        needs_priv,
                        &self.priv_password,
                        &self.priv_password_file,
                        "priv_password",
                    ),
                ] {
                    if needed && secret.is_empty() && file.as_os_str().is_empty() {
                        return Err(SettingsError::invalid(
                            &k(name),
                            format!(
                                "must be set (or {prefix}.{name}_file) for security_level \"{}\"",
                                level_name(self.security_level)
                            ),
                        ));
                    }
                    if needed && !secret.is_empty() && secret.expose().len() < 8 {
                        return Err(SettingsError::invalid(
                            &k(name),
                            "must be at least 8 characters (RFC 3414 11.2; net-snmp refuses shorter ones)",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn level_name(level: SecurityLevel) -> &'static str {
    match level {
        SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
        SecurityLevel::AuthNoPriv => "authNoPriv",
        SecurityLevel::AuthPriv => "authPriv",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3() -> SnmpSettings {
        SnmpSettings {
            version: SnmpVersion::V3,
            user: "alice".into(),
            auth_password: Secret::new("password1"),
            priv_password: Secret::new("password2"),
            ..SnmpSettings::default()
        }
    }

    fn key_of(r: Result<(), SettingsError>) -> String {
        match r {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_a_v3_user_are_valid() {
        SnmpSettings::default().validate(true, 15_000).unwrap();
        v3().validate(true, 15_000).unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let mut s = v3();
        s.user.clear();
        assert_eq!(key_of(s.validate(true, 15_000)), "extract.snmp.user");
        let mut s = v3();
        s.priv_password = Secret::default();
        assert_eq!(
            key_of(s.validate(true, 15_000)),
            "extract.snmp.priv_password"
        );
        s.security_level = SecurityLevel::AuthNoPriv;
        s.validate(true, 15_000).unwrap();
        let mut s = v3();
        s.auth_password = Secret::new("short");
        assert_eq!(
            key_of(s.validate(true, 15_000)),
            "extract.snmp.auth_password"
        );
        let mut s = v3();
        s.priv_password_file = "/x".into();
        assert_eq!(
            key_of(s.validate(true, 15_000)),
            "extract.snmp.priv_password_file"
        );
        // Not the source: its secrets are not checked, as a v3 section without a user is not.
        s.validate(false, 15_000).unwrap();
        s.user.clear();
        s.validate(false, 15_000).unwrap();
        let s = SnmpSettings {
            sample_interval_ms: 15_000,
            ..SnmpSettings::default()
        };
        assert_eq!(
            key_of(s.validate(true, 15_000)),
            "extract.snmp.sample_interval_ms"
        );
        s.validate(false, 15_000).unwrap();
        let s = SnmpSettings {
            community: Secret::default(),
            ..SnmpSettings::default()
        };
        assert_eq!(key_of(s.validate(true, 15_000)), "extract.snmp.community");
        let s = SnmpSettings {
            retries: 11,
            ..SnmpSettings::default()
        };
        assert_eq!(key_of(s.validate(false, 15_000)), "extract.snmp.retries");
    }

    #[test]
    fn spellings_are_the_issues() {
        let s: SnmpSettings = serde_json::from_str(
            r#"{"version":"3","security_level":"authNoPriv","auth_protocol":"SHA-512","priv_protocol":"AES-256","mib":"host-resources"}"#,
        )
        .unwrap();
        assert_eq!(s.version, SnmpVersion::V3);
        assert_eq!(s.auth_protocol, AuthSetting::Sha512);
        assert_eq!(s.priv_protocol, PrivSetting::Aes256);
        assert_eq!(s.mib, MibSetting::HostResources);
        let n: SnmpSettings = serde_json::from_str(r#"{"version":3}"#).unwrap();
        assert_eq!(n.version, SnmpVersion::V3);
        assert!(serde_json::from_str::<SnmpSettings>(r#"{"version":"1"}"#).is_err());
        // Any case, as net-snmp takes them; an unknown name lists the known ones.
        let s: SnmpSettings = serde_json::from_str(
            r#"{"auth_protocol":"sha-256","priv_protocol":"aes-256","security_level":"authpriv"}"#,
        )
        .unwrap();
        assert_eq!(
            (s.auth_protocol, s.priv_protocol, s.security_level),
            (
                AuthSetting::Sha256,
                PrivSetting::Aes256,
                SecurityLevel::AuthPriv
            )
        );
        let e = serde_json::from_str::<SnmpSettings>(r#"{"auth_protocol":"sha-257"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`SHA-256`"), "{e}");
        assert!(serde_json::from_str::<SnmpSettings>(r#"{"comunity":"x"}"#).is_err());
        let json = serde_json::to_string(&v3()).unwrap();
        assert!(json.contains(r#""auth_password":"***""#), "{json}");
        assert!(json.contains(r#""community":"***""#), "{json}");
        assert!(!json.contains("password1"));
    }

    #[test]
    fn credential_sets_are_checked_under_their_own_key() {
        let s: SnmpSettings = serde_json::from_str(
            r#"{"credentials":{"core":{"version":"3","user":"u","security_level":"authNoPriv","auth_password":"password1"},"edge":{"community":"e"}}}"#,
        )
        .unwrap();
        s.validate(true, 15_000).unwrap();
        assert_eq!(s.credential_names(), ["core", "edge"]);
        let mut bad = s.clone();
        bad.credentials.get_mut("core").unwrap().auth_password = Secret::new("short");
        assert_eq!(
            key_of(bad.validate(true, 15_000)),
            "extract.snmp.credentials.core.auth_password"
        );
        let mut bad = s.clone();
        bad.credentials.insert("a b".into(), Credentials::default());
        assert_eq!(
            key_of(bad.validate(false, 15_000)),
            "extract.snmp.credentials.a b"
        );
        let mut bad = s;
        bad.credentials.get_mut("edge").unwrap().community = Secret::default();
        assert_eq!(
            key_of(bad.validate(true, 15_000)),
            "extract.snmp.credentials.edge.community"
        );
        bad.validate(false, 15_000).unwrap();
        assert!(
            serde_json::from_str::<SnmpSettings>(r#"{"credentials":{"x":{"port":161}}}"#).is_err()
        );
    }

    #[test]
    fn an_unused_password_and_attempts_past_the_device_timeout_are_warned_about() {
        let mut s = v3();
        assert!(s.warnings(true, 15_000).is_empty());
        s.security_level = SecurityLevel::NoAuthNoPriv;
        let w = s.warnings(true, 15_000);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("extract.snmp.auth_password") && w[0].contains("noAuthNoPriv"));
        assert!(s.warnings(false, 15_000).is_empty(), "not the source");
        let s = SnmpSettings {
            timeout_ms: 1000,
            retries: 4,
            ..SnmpSettings::default()
        };
        assert!(s.warnings(true, 5000).is_empty());
        let w = s.warnings(true, 4999);
        assert!(w[0].contains("1000 × 5 = 5000 ms"), "{w:?}");
    }
}
