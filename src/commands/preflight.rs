//! What a run will need on disk, checked by `validate` without making anything: the spool directory (a directory,
//! or one that can be made, and writable; an existing one trusted as the run checks it, `spool::check_dir`), the log file and, when profiling, the profile files (their directory
//! exists and is writable; the file, if there, is not a directory and can be appended to).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::config::{Settings, SettingsError};

/// Checks every path a run of `settings` writes to; the error names the key.
pub fn check(settings: &Settings) -> Result<(), SettingsError> {
    check_dir("spool.dir", &settings.spool.dir)?;
    if settings.spool.dir.is_dir() {
        crate::spool::check_existing_dir(&settings.spool.dir, settings.spool.shared_dir)
            .map_err(|e| SettingsError::invalid("spool.dir", e.to_string()))?;
    }
    check_file("log.file", &settings.log.file)?;
    check_file("mock.log_file", &settings.mock.log_file)?;
    let p = &settings.profile;
    if p.enabled {
        check_file("profile.cpu_file", &p.cpu_file)?;
        check_file("profile.flamegraph_file", &p.flamegraph_file)?;
        check_file("profile.heap_file", &p.heap_file)?;
    }
    Ok(())
}

/// `dir` is a writable directory, or the nearest of its parents that exists is one (the run makes the rest).
pub fn check_dir(key: &str, dir: &Path) -> Result<(), SettingsError> {
    let mut at = dir.to_path_buf();
    loop {
        if at.exists() {
            if !at.is_dir() {
                let what = if at == dir {
                    format!("`{}` is not a directory", dir.display())
                } else {
                    format!(
                        "`{}` cannot be made: `{}` is not a directory",
                        dir.display(),
                        at.display()
                    )
                };
                return Err(SettingsError::invalid(key, what));
            }
            return writable(key, &at);
        }
        at = match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
}

/// `file` (unless empty: none) can be opened for appending, or made in an existing writable directory.
pub fn check_file(key: &str, file: &Path) -> Result<(), SettingsError> {
    if file.as_os_str().is_empty() {
        return Ok(());
    }
    if file.is_dir() {
        return Err(SettingsError::invalid(
            key,
            format!("`{}` is a directory", file.display()),
        ));
    }
    if file.exists() {
        return OpenOptions::new()
            .append(true)
            .open(file)
            .map(|_| ())
            .map_err(|e| {
                SettingsError::invalid(key, format!("`{}` cannot be written: {e}", file.display()))
            });
    }
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(SettingsError::invalid(
            key,
            format!(
                "`{}`: the directory `{}` does not exist",
                file.display(),
                parent.display()
            ),
        ));
    }
    writable(key, parent)
}

/// A file can be made in `dir` (tried: a temporary file, removed at once).
fn writable(key: &str, dir: &Path) -> Result<(), SettingsError> {
    tempfile::Builder::new()
        .prefix(".app-validate-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            SettingsError::invalid(key, format!("cannot write in `{}`: {e}", dir.display()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_and_files_a_run_writes_are_checked_without_making_them() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        check_dir("spool.dir", tmp.path()).unwrap();
        check_dir("spool.dir", &tmp.path().join("a/b")).unwrap();
        assert!(!tmp.path().join("a").exists());
        let e = check_dir("spool.dir", &file).unwrap_err().to_string();
        assert!(
            e.contains("spool.dir") && e.contains("not a directory"),
            "{e}"
        );
        let e = check_dir("spool.dir", &file.join("s"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be made"), "{e}");
        check_file("log.file", &file).unwrap();
        check_file("log.file", &tmp.path().join("new.log")).unwrap();
        check_file("log.file", Path::new("")).unwrap();
        let e = check_file("log.file", &tmp.path().join("no/x.log"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("log.file") && e.contains("does not exist"),
            "{e}"
        );
        let e = check_file("log.file", tmp.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
