//! The detection kept between runs (`mib = "auto"`): for each agent address, the profile and the source that
//! answered, so that a scheduled run reads a device with its one source (one GET for a gauge) instead of
//! detecting it again. A kept source that stops answering is forgotten and the device detected again.
//!
//! The file (`extract.snmp.detection_file`, default `snmp-detection.tsv` in `spool.dir`) is text, one agent per
//! line: `address<TAB>profile<TAB>source number`, after a header line. Lines that do not parse, or name a
//! profile that is gone, are skipped (the device is detected again). It is written at the end of a run, atomically
//! (a temporary file renamed over it), at most `MAX_KEPT` agents: those read in this run first.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::profiles::Catalog;

/// Most agents kept (about 17 bytes each in memory for an IPv4 agent, 40 on disk).
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

/// A kept detection as the table holds it: 8 bytes (a profile has at most `MAX_ITEMS` sources, far fewer than
/// 2^16).
#[derive(Debug, Clone, Copy)]
struct Entry {
    profile: u32,
    source: u16,
    /// Read or detected in this run.
    used: bool,
}

const _: () = assert!(super::profiles::format::MAX_ITEMS <= u16::MAX as usize);

impl Entry {
    /// `kept` names a source of its profile (parsed against the catalog, or chosen from it).
    fn new(kept: Kept, used: bool) -> Entry {
        Entry {
            profile: kept.profile,
            source: kept.source as u16,
            used,
        }
    }
    fn kept(self) -> Kept {
        Kept {
            profile: self.profile,
            source: u32::from(self.source),
        }
    }
}

/// The kept detections by agent address. An IPv4 agent (the common case) is keyed by its address and port packed
/// in a `u64`: 16 bytes a slot with its entry, where a `SocketAddr` key made it 48 (about 6 MiB for 100,000
/// devices, held through the whole of a run that reads them).
#[derive(Debug, Default)]
struct Table {
    v4: HashMap<u64, Entry>,
    v6: HashMap<SocketAddrV6, Entry>,
}

fn v4_key(a: &SocketAddrV4) -> u64 {
    (u64::from(u32::from(*a.ip())) << 16) | u64::from(a.port())
}

fn v4_addr(key: u64) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        std::net::Ipv4Addr::from((key >> 16) as u32),
        key as u16,
    ))
}

impl Table {
    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
    fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Entry> {
        match addr {
            SocketAddr::V4(a) => self.v4.get_mut(&v4_key(a)),
            SocketAddr::V6(a) => self.v6.get_mut(a),
        }
    }
    fn contains(&self, addr: &SocketAddr) -> bool {
        match addr {
            SocketAddr::V4(a) => self.v4.contains_key(&v4_key(a)),
            SocketAddr::V6(a) => self.v6.contains_key(a),
        }
    }
    fn insert(&mut self, addr: SocketAddr, e: Entry) -> Option<Entry> {
        match addr {
            SocketAddr::V4(a) => self.v4.insert(v4_key(&a), e),
            SocketAddr::V6(a) => self.v6.insert(a, e),
        }
    }
    fn remove(&mut self, addr: &SocketAddr) -> Option<Entry> {
        match addr {
            SocketAddr::V4(a) => self.v4.remove(&v4_key(a)),
            SocketAddr::V6(a) => self.v6.remove(a),
        }
    }
    fn iter(&self) -> impl Iterator<Item = (SocketAddr, Entry)> + '_ {
        let v4 = self.v4.iter().map(|(k, e)| (v4_addr(*k), *e));
        let v6 = self.v6.iter().map(|(a, e)| (SocketAddr::V6(*a), *e));
        v4.chain(v6)
    }
}

/// The kept detections of a run, shared by the snmp sources of the run's extraction threads (each device is
/// extracted on one of them; a lock held for one map operation).
#[derive(Debug, Default)]
pub struct Detections {
    path: Option<PathBuf>,
    entries: Mutex<Table>,
    changed: AtomicBool,
}

impl Detections {
    /// Nothing kept and nothing saved (the probe, `--dry-run`).
    pub fn none() -> Detections {
        Detections::default()
    }

    /// The detections of `path` (none when it is missing or unreadable: the devices are detected again; a
    /// problem is logged). Read a line at a time (not the whole file first: about 40 bytes a device).
    pub fn load(path: &Path, catalog: &Catalog) -> Detections {
        let mut entries = Table::default();
        let mut skipped = 0u64;
        let result = read(path, |line| {
            if line.starts_with('#') || line.is_empty() {
                return;
            }
            match parse_line(line, catalog) {
                Some((addr, kept)) if entries.len() < MAX_KEPT => {
                    entries.insert(addr, Entry::new(kept, false));
                }
                _ => skipped += 1,
            }
        });
        match result {
            Ok(()) if skipped > 0 => log::info!(
                "[SNMP] {}: {skipped} kept detections skipped (unknown profile or bad line); those devices are detected again",
                path.display()
            ),
            Ok(()) => {}
            Err(e) => {
                log::warn!(
                    "[SNMP] detection file {}: {e}; every device is detected again",
                    path.display()
                );
                entries = Table::default();
            }
        }
        entries.v4.shrink_to_fit();
        entries.v6.shrink_to_fit();
        Detections {
            path: Some(path.to_path_buf()),
            entries: Mutex::new(entries),
            changed: AtomicBool::new(false),
        }
    }

    /// The map (a thread that panicked while holding it left a valid map: every operation is one insert or
    /// remove).
    fn entries(&self) -> MutexGuard<'_, Table> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, addr: SocketAddr) -> Option<Kept> {
        let mut entries = self.entries();
        let e = entries.get_mut(&addr)?;
        e.used = true;
        Some(e.kept())
    }

    pub fn keep(&self, addr: SocketAddr, kept: Kept) {
        if self.path.is_none() {
            return;
        }
        let entry = Entry::new(kept, true);
        let mut entries = self.entries();
        if entries.len() >= MAX_KEPT && !entries.contains(&addr) {
            return;
        }
        let before = entries.insert(addr, entry);
        if before.map(Entry::kept) != Some(kept) {
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
        let tmp = path.with_extension("tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        writeln!(out, "{HEADER}")?;
        let mut written = 0;
        for used in [true, false] {
            for (addr, e) in entries.iter().filter(|(_, e)| e.used == used) {
                if written == MAX_KEPT {
                    break;
                }
                let Some(p) = catalog.profiles.get(e.profile as usize) else {
                    continue;
                };
                writeln!(out, "{addr}\t{}\t{}", p.name, u32::from(e.source) + 1)?;
                written += 1;
            }
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        self.changed.store(false, Ordering::Relaxed);
        Ok(())
    }
}

/// Calls `each` with every line of `path` (nothing when it is missing).
fn read(path: &Path, mut each: impl FnMut(&str)) -> std::io::Result<()> {
    let file = match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        file => file?,
    };
    if file.metadata()?.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let mut file = std::io::BufReader::new(file);
    let mut line = String::new();
    loop {
        line.clear();
        if file.read_line(&mut line)? == 0 {
            return Ok(());
        }
        each(line.trim_end_matches(['\n', '\r']));
    }
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
        let v6: SocketAddr = "[2001:db8::7]:16100".parse().unwrap();
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
        d.keep(
            v6,
            Kept {
                profile: cisco,
                source: 0,
            },
        );
        d.save(&catalog).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("127.0.0.1:161\tcisco\t2\n"), "{text}");
        assert!(text.contains("127.0.0.2:1161\t"), "{text}");
        assert!(text.contains("[2001:db8::7]:16100\tcisco\t1\n"), "{text}");
        std::fs::write(
            &path,
            format!("{text}127.0.0.3:161\tgone\t1\nnot a line\n127.0.0.4:161\tcisco\t99\n"),
        )
        .unwrap();
        let d = Detections::load(&path, &catalog);
        assert_eq!(d.len(), 3);
        assert_eq!(
            d.get(v6),
            Some(Kept {
                profile: cisco,
                source: 0
            })
        );
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
        assert_eq!(Detections::load(&path, &catalog).len(), 2);
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

    #[test]
    fn a_file_too_large_or_not_a_file_is_read_as_none_and_detected_again() {
        let catalog = Catalog::load(Path::new("")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.tsv");
        std::fs::write(&path, "127.0.0.1:161\tcisco\t1\n").unwrap();
        assert!(!Detections::load(&path, &catalog).is_empty(), "a good file");
        // Past the limit (sparse: nothing written), the good line at its start is not read.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        assert!(Detections::load(&path, &catalog).is_empty(), "too large");
        assert!(
            Detections::load(dir.path(), &catalog).is_empty(),
            "a directory"
        );
        let missing = Detections::load(&dir.path().join("none.tsv"), &catalog);
        assert!(missing.is_empty(), "missing: nothing kept yet");
    }

    #[test]
    fn a_file_as_the_earlier_table_wrote_it_loads_unchanged() {
        // Written literally, as the version before the packed table wrote it, with a CRLF line as an editor may
        // leave it: IPv4, IPv6, the highest address and port that pack.
        let catalog = Catalog::load(Path::new("")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.tsv");
        std::fs::write(
            &path,
            format!(
                "{HEADER}\n127.0.0.1:161\tcisco\t2\n[2001:db8::7]:16100\tcisco\t1\r\n\
                 127.255.255.254:65535\tgeneric\t1\n"
            ),
        )
        .unwrap();
        let d = Detections::load(&path, &catalog);
        let kept = |addr: &str| d.get(addr.parse().unwrap());
        let cisco = catalog.index_of("cisco").unwrap() as u32;
        let generic = catalog.index_of("generic").unwrap() as u32;
        assert_eq!(d.len(), 3);
        assert_eq!(
            kept("127.0.0.1:161"),
            Some(Kept {
                profile: cisco,
                source: 1
            })
        );
        assert_eq!(
            kept("[2001:db8::7]:16100"),
            Some(Kept {
                profile: cisco,
                source: 0
            })
        );
        assert_eq!(
            kept("127.255.255.254:65535"),
            Some(Kept {
                profile: generic,
                source: 0
            })
        );
        assert_eq!(kept("127.255.255.254:65534"), None);
    }
}
