//! Resource usage of this process, read from /proc: the "Before ETL" / "After ETL" blocks of the log (as the
//! original printed) and the `resources` object of the JSON summary; and the freed pages handed back to the OS before
//! a run's extraction starts (`return_freed_pages`).

use serde::Serialize;

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Usage {
    pub cores: usize,
    pub threads: u64,
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    /// Files waiting in the spool directory.
    pub spool_files: u64,
}

fn status_kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Reads the current usage (zeros where /proc is missing).
pub fn read(spool_dir: &std::path::Path) -> Usage {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / TICKS_PER_SECOND
    };
    Usage {
        cores: crate::model::cores(),
        threads: status_kib(&status, "Threads:"),
        rss_bytes: status_kib(&status, "VmRSS:") * 1024,
        peak_rss_bytes: status_kib(&status, "VmHWM:") * 1024,
        cpu_user_s: ticks(11),
        cpu_system_s: ticks(12),
        spool_files: crate::spool::list(spool_dir).map_or(0, |f| f.len() as u64),
    }
}

impl Usage {
    /// The log block, like the original's.
    /// Logs the block: `when` ("Before", "After") and `what` ran ("ETL", "replay").
    pub fn log(&self, when: &str, what: &str) {
        log::info!(
            "[Resources] {when} {what}: cores {}, threads {}, RSS {:.1} MiB (peak {:.1} MiB), CPU user {:.2} s, system {:.2} s, spool files {}",
            self.cores,
            self.threads,
            self.rss_bytes as f64 / 1_048_576.0,
            self.peak_rss_bytes as f64 / 1_048_576.0,
            self.cpu_user_s,
            self.cpu_system_s,
            self.spool_files
        );
    }
}

/// The two readings of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resources {
    pub before: Usage,
    pub after: Usage,
}

/// Gives the pages freed so far back to the OS at once: jemalloc (the binary's allocator) keeps freed pages for
/// `dirty_decay_ms` (1 s, `main.rs`) in the arena that freed them, and an arena whose threads went quiet or ended
/// keeps them until it allocates again. Called once before the extraction starts: what the inventory check (a
/// thread of its own) and the loading of the kept detections freed (~2 MiB at 100,000 devices, the table's
/// growth and the check's buffers) was otherwise still resident at the run's peak. A few madvise calls; nothing
/// in a build without jemalloc.
pub fn return_freed_pages() {
    #[cfg(all(feature = "jemalloc", target_os = "linux"))]
    {
        // tikv-jemallocator's `unprefixed_malloc_on_supported_platforms`: jemalloc's own names on Linux.
        extern "C" {
            fn mallctl(
                name: *const std::ffi::c_char,
                oldp: *mut std::ffi::c_void,
                oldlenp: *mut usize,
                newp: *mut std::ffi::c_void,
                newlen: usize,
            ) -> std::ffi::c_int;
        }
        // 4096 is MALLCTL_ARENAS_ALL: every arena.
        // SAFETY: a NUL-terminated control name that takes no value and returns none.
        let rc = unsafe {
            mallctl(
                c"arena.4096.purge".as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 {
            log::debug!("[Resources] jemalloc's arena.4096.purge failed: error {rc}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let u = read(dir.path());
        assert!(u.cores >= 1);
        assert!(u.threads >= 1);
        assert!(u.rss_bytes > 0 && u.peak_rss_bytes >= u.rss_bytes);
        let busy: u64 = (0..5_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(busy > 0);
        assert!(read(dir.path()).cpu_user_s + read(dir.path()).cpu_system_s >= 0.0);
    }

    #[test]
    fn the_heap_is_usable_after_freed_pages_are_returned() {
        let freed: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 << 10]).collect();
        drop(freed);
        return_freed_pages();
        return_freed_pages();
        let again: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 << 10]).collect();
        assert!(again
            .iter()
            .enumerate()
            .all(|(i, v)| v.iter().all(|&b| b == i as u8)));
    }
}
