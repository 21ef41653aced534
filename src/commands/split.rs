//! `app split-inventory`: the inventory checked as by `validate` (a bad row or a repeated name stops it, nothing
//! written), then split into `OUT_DIR/shard-K-N.csv`, one file per shard K of N (`inventory::split`), each written to
//! a temporary file beside it, made readable by all (mode 0644: the units and pods run as other users), and renamed
//! when complete; the directory is synced at the end. The files are replaced one by one, not as a set: a failure
//! midway leaves some files of the new split beside older ones (a device still runs at most once, as each shard
//! reads only its own rows). A shard run with `--shard K/N --inventory OUT_DIR/shard-K-N.csv` then reads only its
//! own rows.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::args::{self, SplitArgs};
use super::output::say;
use super::CommandError;
use crate::inventory::{self, split::SplitError};
use crate::observe::exit::ExitCode;

/// Most shards of a split: one open file (and a 64 KiB buffer) each, well inside the usual limit of 1,024 open files.
pub const MAX_SHARDS: u64 = 256;

/// The file of shard `k` of `n` in `dir`.
pub fn shard_file(dir: &Path, k: u64, n: u64) -> PathBuf {
    dir.join(format!("shard-{k}-{n}.csv"))
}

pub fn split_inventory(a: &SplitArgs) -> Result<ExitCode, CommandError> {
    let settings = args::settings_with(&a.config, |s| a.apply(s))?;
    let n = a.shards;
    if n == 0 || n > MAX_SHARDS {
        return Err(CommandError::BadFlag {
            flag: "--shards",
            message: format!("{n}: between 1 and {MAX_SHARDS}"),
        });
    }
    let path = &settings.inventory.path;
    // The inventory is read twice (the check, then the split): a pipe would be empty the second time.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return Err(CommandError::BadFlag {
            flag: "--inventory",
            message: format!(
                "{}: not a regular file (a pipe, FIFO or /dev/stdin): split-inventory reads the inventory twice; \
                 save it to a file and pass that file",
                path.display()
            ),
        });
    }
    if std::fs::metadata(&a.out_dir).is_ok_and(|m| !m.is_dir()) {
        return Err(CommandError::WriteFile {
            path: a.out_dir.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "is not a directory (a file of that name is in the way)",
            ),
        });
    }
    let mut report = inventory::ProblemReport::new(inventory::REPORTED_PROBLEMS);
    let check = inventory::check(path, &settings.extract.snmp.credential_names(), |p| {
        report.add(p)
    })?;
    for line in report.lines() {
        eprintln!("{line}");
    }
    if check.problems > 0 {
        return Err(CommandError::NotSplit {
            path: path.clone(),
            count: check.problems,
        });
    }
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CommandError::WriteFile { path, source }
    };
    std::fs::create_dir_all(&a.out_dir).map_err(write_error(&a.out_dir))?;
    let mut files = Vec::with_capacity(n as usize);
    for k in 0..n {
        let mut tmp =
            tempfile::NamedTempFile::new_in(&a.out_dir).map_err(write_error(&a.out_dir))?;
        writeln!(
            tmp,
            "# shard {k}/{n} of {} (app split-inventory)",
            path.display()
        )
        .map_err(write_error(tmp.path()))?;
        files.push(std::io::BufWriter::with_capacity(1 << 16, tmp));
    }
    let rows = inventory::split::split(path, &mut files).map_err(|e| match e {
        SplitError::Inventory(e) => CommandError::from(e),
        SplitError::Row(row) => CommandError::InventoryChanged(row),
        SplitError::Write(k, source) => CommandError::WriteFile {
            path: shard_file(&a.out_dir, k as u64, n),
            source,
        },
    })?;
    for (k, file) in files.into_iter().enumerate() {
        let target = shard_file(&a.out_dir, k as u64, n);
        let tmp = file.into_inner().map_err(|e| CommandError::WriteFile {
            path: target.clone(),
            source: e.into_error(),
        })?;
        use std::os::unix::fs::PermissionsExt;
        let file = tmp.as_file();
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .and_then(|()| file.sync_all())
            .map_err(write_error(&target))?;
        tmp.persist(&target).map_err(|e| CommandError::WriteFile {
            path: target.clone(),
            source: e.error,
        })?;
        say!("{}\t{}", target.display(), rows[k]);
    }
    std::fs::File::open(&a.out_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(write_error(&a.out_dir))?;
    eprintln!(
        "split-inventory: {} devices of {} into {n} files in {}",
        check.devices,
        path.display(),
        a.out_dir.display()
    );
    Ok(ExitCode::Ok)
}
