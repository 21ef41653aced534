//! The detection kept between runs (`mib = "auto"`): for each agent address, the profile and the source that
//! answered, so that a scheduled run reads a device with its one source (one GET for a gauge) instead of
//! detecting it again. A kept source that stops answering is forgotten and the device detected again.
//!
//! The file (`extract.snmp.detection_file`, default `snmp-detection.tsv` in `spool.dir`) is text, one agent per
//! line: `address<TAB>profile<TAB>source number`, after a header line. Lines that do not parse, or name a
//! profile that is gone, are skipped (the device is detected again). It is written at the end of a run, atomically
//! (a temporary file renamed over it), at most `MAX_KEPT` agents: those read in this run first.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::profiles::Catalog;

/// Most agents kept (about 40 bytes each in memory and on disk).
pub const MAX_KEPT: usize = 1 << 22;
/// Largest file read.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
const HEADER: &str =
    "# app snmp detection v1: address, profile, source number (kept between runs; safe to delete)";

/// A device's kept detection: positions in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub profile: u32,
    pub source: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    kept: Kept,
    /// Read or detected in this run.
    used: bool,
}

/// The kept detections of a run, shared by the snmp sources of the run's extraction threads (each device is
/// extracted on one of them; a lock held for one map operation).
#[derive(Debug, Default)]
pub struct Detections {
    path: Option<PathBuf>,
    entries: Mutex<HashMap<SocketAddr, Entry>>,
    changed: AtomicBool,
}

impl Detections {
    /// Nothing kept and nothing saved (the probe, `--dry-run`).
    pub fn none() -> Detections {
        Detections::default()
    }

    /// The detections of `path` (none when it is missing or unreadable: the devices are detected again; a
    /// problem is logged).
    pub fn load(path: &Path, catalog: &Catalog) -> Detections {
        let mut entries = HashMap::new();
        match read(path) {
            Ok(Some(text)) => {
                let mut skipped = 0u64;
                for line in text
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.is_empty())
                {
                    match parse_line(line, catalog) {
                        Some((addr, kept)) if entries.len() < MAX_KEPT => {
                            entries.insert(addr, Entry { kept, used: false });
                        }
                        _ => skipped += 1,
                    }
                }
                if skipped > 0 {
                    log::info!(
                        "[SNMP] {}: {skipped} kept detections skipped (unknown profile or bad line); those devices are detected again",
                        path.display()
                    );
                }
            }
            Ok(None) => {}
            Err(e) => log::warn!(
                "[SNMP] detection file {}: {e}; every device is detected again",
                path.display()
            ),
        }
        Detections {
            path: Some(path.to_path_buf()),
            entries: Mutex::new(entries),
            changed: AtomicBool::new(false),
        }
    }

    /// The map (a thread that panicked while holding it left a valid map: every operation is one insert or
    /// remove).
    fn entries(&self) -> MutexGuard<'_, HashMap<SocketAddr, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, addr: SocketAddr) -> Option<Kept> {
        let mut entries = self.entries();
        let e = entries.get_mut(&addr)?;
        e.used = true;
        Some(e.kept)
    }

    pub fn keep(&self, addr: SocketAddr, kept: Kept) {
        if self.path.is_none() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_KEPT && !entries.contains_key(&addr) {
            return;
        }
        let before = entries.insert(addr, Entry { kept, used: true });
        if before.map(|b| b.kept) != Some(kept) {
            self.changed.store(true, Ordering::Relaxed);
        }
    }

    pub fn forget(&self, addr: SocketAddr) {
        if self.entries().remove(&addr).is_some() {
            self.changed.store(true, Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the file when something changed: the agents read in this run first, then the others, at most
    /// `MAX_KEPT`.
    pub fn save(&self, catalog: &Catalog) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.changed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let entries = self.entries();
        let mut out = String::with_capacity(64 + entries.len() * 40);
        out.push_str(HEADER);
        out.push('\n');
        let mut written = 0;
        for used in [true, false] {
            for (addr, e) in entries.iter().filter(|(_, e)| e.used == used) {
                if written == MAX_KEPT {
                    break;
                }
                let Some(p) = catalog.profiles.get(e.kept.profile as usize) else {
                    continue;
                };
                out.push_str(&format!("{addr}\t{}\t{}\n", p.name, e.kept.source + 1));
                written += 1;
            }
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(out.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        self.changed.store(false, Ordering::Relaxed);
        Ok(())
    }
}

fn read(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            return Err(std::io::Error::other(format!(
                "larger than {MAX_FILE_BYTES} bytes"
            )))
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(path).map(Some)
}

fn parse_line(line: &str, catalog: &Catalog) -> Option<(SocketAddr, Kept)> {
    let mut parts = line.split('\t');
    let addr: SocketAddr = parts.next()?.parse().ok()?;
    let profile = catalog.index_of(parts.next()?)?;
    let source: usize = parts.next()?.parse().ok()?;
    if parts.next().is_some() || source == 0 || source > catalog.profiles[profile].sources.len() {
        return None;
    }
    Some((
        addr,
        Kept {
            profile: profile as u32,
            source: (source - 1) as u32,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_detections_survive_a_save_and_bad_lines_are_skipped() {
        let catalog = Catalog::load(Path::new("")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.tsv");
        let cisco = catalog.index_of("cisco").unwrap() as u32;
        let a: SocketAddr = "127.0.0.1:161".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:1161".parse().unwrap();
        let d = Detections::load(&path, &catalog);
        assert!(d.is_empty());
        d.keep(
            a,
            Kept {
                profile: cisco,
                source: 1,
            },
        );
        d.keep(
            b,
            Kept {
                profile: 0,
                source: 0,
            },
        );
        d.save(&catalog).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("127.0.0.1:161\tcisco\t2\n"), "{text}");
        std::fs::write(
            &path,
            format!("{text}127.0.0.3:161\tgone\t1\nnot a line\n127.0.0.4:161\tcisco\t99\n"),
        )
        .unwrap();
        let d = Detections::load(&path, &catalog);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d.get(a),
            Some(Kept {
                profile: cisco,
                source: 1
            })
        );
        d.forget(b);
        assert_eq!(d.get(b), None);
        d.save(&catalog).unwrap();
        assert_eq!(Detections::load(&path, &catalog).len(), 1);
        // Nothing kept and nothing written without a path.
        let none = Detections::none();
        none.keep(
            a,
            Kept {
                profile: 0,
                source: 0,
            },
        );
        assert!(none.is_empty());
        none.save(&catalog).unwrap();
    }
}
