//! SNMP profiles (`extract.snmp.mib = "auto"`): which devices a profile is for (sysObjectID prefixes, optionally
//! a sysDescr text) and how to read their CPU (sources tried in order). The built-in profiles are TOML files in
//! `builtin/`, embedded in the binary; a user's are the `*.toml` files of `extract.snmp.profiles_dir`, loaded
//! once at start (a bad one stops the run, naming file, line and key). A user profile with a built-in one's name
//! replaces it, and one with the same match wins.
//!
//! Files: `format` (the file format and its parser), `matcher` (which profile a device gets), `reader` (a gauge
//! source's values and rows), `builtin_tests` (the built-in files' tests). The I/O (GET, walks) is the source's,
//! in `super`.

pub mod format;
pub mod matcher;
pub mod reader;

#[cfg(test)]
mod builtin_tests;

use std::path::Path;
use std::sync::{Arc, Mutex};

pub use format::{CpuSource, Gauge, Profile, ProfileError, Read};
pub use matcher::Choice;

use crate::config::SnmpSettings;
use crate::snmp::Oid;

/// The built-in profile files: name and text. Every file of `builtin/` must be listed (a test checks it).
pub const BUILTIN: &[(&str, &str)] = &[
    ("generic.toml", include_str!("builtin/generic.toml")),
    ("cisco.toml", include_str!("builtin/cisco.toml")),
    ("juniper.toml", include_str!("builtin/juniper.toml")),
    ("huawei.toml", include_str!("builtin/huawei.toml")),
    ("h3c.toml", include_str!("builtin/h3c.toml")),
    ("fortinet.toml", include_str!("builtin/fortinet.toml")),
    ("aruba.toml", include_str!("builtin/aruba.toml")),
    ("brocade.toml", include_str!("builtin/brocade.toml")),
    ("ruijie.toml", include_str!("builtin/ruijie.toml")),
    ("dlink.toml", include_str!("builtin/dlink.toml")),
    ("hpe.toml", include_str!("builtin/hpe.toml")),
    ("dell.toml", include_str!("builtin/dell.toml")),
    ("checkpoint.toml", include_str!("builtin/checkpoint.toml")),
    ("sonicwall.toml", include_str!("builtin/sonicwall.toml")),
    ("citrix.toml", include_str!("builtin/citrix.toml")),
    ("nokia.toml", include_str!("builtin/nokia.toml")),
    ("hostres.toml", include_str!("builtin/hostres.toml")),
    ("f5.toml", include_str!("builtin/f5.toml")),
    ("ubiquiti.toml", include_str!("builtin/ubiquiti.toml")),
    ("extreme.toml", include_str!("builtin/extreme.toml")),
    ("zte.toml", include_str!("builtin/zte.toml")),
    ("alcatel.toml", include_str!("builtin/alcatel.toml")),
    ("netgear.toml", include_str!("builtin/netgear.toml")),
    ("a10.toml", include_str!("builtin/a10.toml")),
];

/// The name of the profile used for a device no other profile fits (its sources are tried before the device
/// fails as `no_profile`).
pub const FALLBACK: &str = "generic";
/// Most user profile files read, and the largest one.
pub const MAX_USER_FILES: usize = 1000;
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The profiles of a run: the built-in ones, then the user's.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub profiles: Vec<Profile>,
    fallback: usize,
}

impl Catalog {
    /// The built-in profiles and those of `dir` ("" = none).
    pub fn load(dir: &Path) -> Result<Catalog, ProfileError> {
        let mut profiles = Vec::new();
        for (file, text) in BUILTIN {
            profiles.extend(parse_unique(file, text, false, &profiles)?);
        }
        if !dir.as_os_str().is_empty() {
            let mut user: Vec<Profile> = Vec::new();
            for path in user_files(dir)? {
                let shown = path.display().to_string();
                let text = read_file(&path, &shown)?;
                user.extend(parse_unique(&shown, &text, true, &user)?);
            }
            // A user profile replaces the built-in one of its name.
            profiles.retain(|b| !user.iter().any(|u| u.name == b.name));
            profiles.extend(user);
        }
        let fallback = profiles
            .iter()
            .position(|p| p.name == FALLBACK)
            .expect("the built-in generic profile, or a user's replacing it");
        Ok(Catalog { profiles, fallback })
    }

    /// The catalog of `settings.profiles_dir`, loaded once per process and directory (a run checks it at start,
    /// then each source built from the same settings shares it).
    pub fn shared(settings: &SnmpSettings) -> Result<Arc<Catalog>, ProfileError> {
        static LOADED: Mutex<Option<(std::path::PathBuf, Arc<Catalog>)>> = Mutex::new(None);
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((dir, c)) = loaded.as_ref() {
            if *dir == settings.profiles_dir {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(Catalog::load(&settings.profiles_dir)?);
        *loaded = Some((settings.profiles_dir.clone(), c.clone()));
        Ok(c)
    }

    /// The profile a device with these system objects gets, and why; `None` when none fits.
    pub fn choose(&self, sys_object_id: &Oid, sys_descr: &str) -> Option<Choice> {
        matcher::choose(&self.profiles, sys_object_id, &sys_descr.to_lowercase())
    }

    pub fn fallback(&self) -> usize {
        self.fallback
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }
}

/// Parses a file whose profile names must differ from those in `seen` and from each other.
fn parse_unique(
    file: &str,
    text: &str,
    user: bool,
    seen: &[Profile],
) -> Result<Vec<Profile>, ProfileError> {
    let parsed = format::parse(file, text, user)?;
    for (i, p) in parsed.iter().enumerate() {
        if let Some(first) = seen.iter().chain(&parsed[..i]).find(|q| q.name == p.name) {
            return Err(ProfileError {
                file: file.to_string(),
                line: p.line,
                key: "name".into(),
                message: format!(
                    "{:?} is also the name of the profile at {} line {}",
                    p.name, first.file, first.line
                ),
            });
        }
    }
    Ok(parsed)
}

fn dir_error(dir: &Path, message: String) -> ProfileError {
    ProfileError {
        file: dir.display().to_string(),
        line: 0,
        key: "extract.snmp.profiles_dir".into(),
        message,
    }
}

/// The `*.toml` files of `dir`, sorted by name.
fn user_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, ProfileError> {
    let entries = std::fs::read_dir(dir).map_err(|e| dir_error(dir, e.to_string()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| dir_error(dir, e.to_string()))?.path();
        if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
            files.push(path);
        }
        if files.len() > MAX_USER_FILES {
            return Err(dir_error(
                dir,
                format!("more than {MAX_USER_FILES} profile files"),
            ));
        }
    }
    files.sort();
    Ok(files)
}

fn read_file(path: &Path, shown: &str) -> Result<String, ProfileError> {
    let fail = |message: String| ProfileError {
        file: shown.to_string(),
        line: 0,
        key: "(file)".into(),
        message,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(fail(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))
}

/// The built-in files as `app snmp profiles` prints them: each file's text after a header line naming it.
pub fn builtin_text(only: Option<&str>) -> Option<String> {
    let mut out = String::new();
    for (file, text) in BUILTIN {
        let names: Vec<Profile> = format::parse(file, text, false).unwrap_or_default();
        if let Some(name) = only {
            if !names.iter().any(|p| p.name == name) {
                continue;
            }
        }
        out.push_str(&format!("# ---- built-in file {file} ----\n"));
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_file_parses_and_names_are_unique() {
        let c = Catalog::load(Path::new("")).unwrap();
        assert!(c.profiles.len() >= BUILTIN.len());
        assert_eq!(c.profiles[c.fallback()].name, FALLBACK);
        assert!(builtin_text(None).unwrap().contains("cisco.toml"));
        assert!(builtin_text(Some("juniper"))
            .unwrap()
            .contains("jnxOperating"));
        assert_eq!(builtin_text(Some("nope")), None);
    }

    #[test]
    fn builtins_pick_the_recorded_devices_families() {
        let c = Catalog::load(Path::new("")).unwrap();
        let pick = |oid: &str, descr: &str| {
            c.choose(&Oid::parse(oid).unwrap(), descr)
                .map(|ch| c.profiles[ch.index].name.clone())
        };
        assert_eq!(
            pick("1.3.6.1.4.1.9.1.516", "Cisco IOS Software, C3750").as_deref(),
            Some("cisco")
        );
        assert_eq!(
            pick("1.3.6.1.4.1.2636.1.1.1.2.21", "Juniper Networks").as_deref(),
            Some("juniper")
        );
        assert_eq!(
            pick("1.3.6.1.4.1.2011.2.23.276", "").as_deref(),
            Some("huawei")
        );
        assert_eq!(
            pick("1.3.6.1.4.1.25506.1.921", "").as_deref(),
            Some("h3c-comware")
        );
        assert_eq!(
            pick("1.3.6.1.4.1.8072.3.2.10", "Linux").as_deref(),
            Some("generic")
        );
        assert_eq!(
            pick("1.3.6.1.4.1.14988.1", "RouterOS").as_deref(),
            Some("mikrotik")
        );
        assert_eq!(
            pick("1.3.6.1.4.1.674.10895.3024", "").as_deref(),
            Some("dell-powerconnect")
        );
        assert_eq!(
            pick("1.3.6.1.4.1.6527.1.3.4", "TiMOS").as_deref(),
            Some("nokia-sros")
        );
        assert_eq!(pick("1.3.6.1.4.1.850.1.1.1", ""), None);
    }

    #[test]
    fn a_user_dir_overrides_by_name_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cisco.toml"),
            "[[profile]]\nname = \"cisco\"\nsys_object_id = [\"1.3.6.1.4.1.9\"]\n[[profile.cpu]]\nscalar = \"1.3.6.1.4.1.9.2.1.57.0\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a profile").unwrap();
        let c = Catalog::load(dir.path()).unwrap();
        let cisco: Vec<&Profile> = c.profiles.iter().filter(|p| p.name == "cisco").collect();
        assert_eq!(cisco.len(), 1);
        assert!(cisco[0].user);
        assert_eq!(cisco[0].sources.len(), 1);

        std::fs::write(
            dir.path().join("z-bad.toml"),
            "[[profile]]\nname = \"x\"\nsys_object_id = [\"1.3.6.1.4.1.5\"]\n\n[[profile.cpu]]\ncolum = \"1.3.6.1.4.1.5.1\"\n",
        )
        .unwrap();
        let e = Catalog::load(dir.path()).unwrap_err();
        assert!(e.file.ends_with("z-bad.toml"), "{e}");
        assert_eq!((e.line, e.key.as_str()), (6, "colum"), "{e}");

        std::fs::write(
            dir.path().join("z-bad.toml"),
            "[[profile]]\nname = \"cisco\"\nsys_object_id = [\"1.3.6.1.4.1.5\"]\n[[profile.cpu]]\nread = \"ucd\"\n",
        )
        .unwrap();
        let e = Catalog::load(dir.path()).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (1, "name"), "{e}");
        assert!(e.message.contains("also the name"), "{e}");

        let e = Catalog::load(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.key, "extract.snmp.profiles_dir");
    }
}
