//! Profiles of a run: CPU with pprof (a gzipped pprof protobuf, as Go and `go tool pprof` write them, and a
//! flamegraph SVG), and the heap from jemalloc's own profiler (gzipped pprof), at the end of the run and on
//! SIGUSR1. The files are checked to be writable when the profiler starts, so a bad path stops the run before it
//! begins (exit 2 naming the key), not after it.

use std::io::Write;

use pprof::protos::Message;

use crate::config::ProfileSettings;

/// Why the CPU profiler did not start.
#[derive(Debug, thiserror::Error)]
pub enum ProfilerError {
    /// A profile file (`key`) that cannot be written.
    #[error("{key} {}: {source}", path.display())]
    Unwritable {
        key: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("starting the CPU profiler: {0}")]
    Start(pprof::Error),
}

/// A running CPU profiler.
pub struct CpuProfiler {
    guard: pprof::ProfilerGuard<'static>,
    settings: ProfileSettings,
}

impl CpuProfiler {
    /// Starts sampling at `profile.frequency_hz` when `profile.enabled`.
    pub fn start(settings: &ProfileSettings) -> Result<Option<CpuProfiler>, ProfilerError> {
        if !settings.enabled {
            return Ok(None);
        }
        for (key, path) in [
            ("profile.cpu_file", &settings.cpu_file),
            ("profile.flamegraph_file", &settings.flamegraph_file),
            ("profile.heap_file", &settings.heap_file),
        ] {
            check_writable(path).map_err(|source| ProfilerError::Unwritable {
                key,
                path: path.clone(),
                source,
            })?;
        }
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(settings.frequency_hz)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(ProfilerError::Start)?;
        Ok(Some(CpuProfiler {
            guard,
            settings: settings.clone(),
        }))
    }

    /// Writes `profile.cpu_file` and `profile.flamegraph_file`.
    pub fn finish(self) -> Result<(), String> {
        let report = self
            .guard
            .report()
            .build()
            .map_err(|e| format!("building the CPU profile: {e}"))?;
        let cpu = &self.settings.cpu_file;
        if report.data.is_empty() {
            log::warn!(
                "[Profile] the run was too short to sample at {} Hz: no CPU sample, so neither {} nor {} was \
                 written (profile a longer run, or raise profile.frequency_hz)",
                self.settings.frequency_hz,
                cpu.display(),
                self.settings.flamegraph_file.display()
            );
            return Ok(());
        }
        let profile = report
            .pprof()
            .map_err(|e| format!("encoding {}: {e}", cpu.display()))?;
        let mut bytes = Vec::new();
        profile
            .encode(&mut bytes)
            .map_err(|e| format!("encoding {}: {e}", cpu.display()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).expect("writing to a Vec cannot fail");
        let gz = gz.finish().expect("writing to a Vec cannot fail");
        std::fs::File::create(cpu)
            .and_then(|mut f| f.write_all(&gz))
            .map_err(|e| format!("{}: {e}", cpu.display()))?;
        let svg = &self.settings.flamegraph_file;
        let file = std::fs::File::create(svg).map_err(|e| format!("{}: {e}", svg.display()))?;
        report
            .flamegraph(file)
            .map_err(|e| format!("{}: {e}", svg.display()))?;
        log::info!("[Profile] wrote {} and {}", cpu.display(), svg.display());
        Ok(())
    }
}

/// Checks that `path` can be written (created, or appended to), without changing a file that is there; a file
/// this check created is removed again.
fn check_writable(path: &std::path::Path) -> std::io::Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// jemalloc's heap profiler, active while the run is profiled. Profiling is compiled into the binary's allocator
/// but inactive otherwise (see `main.rs`), so an unprofiled run pays nothing for it.
pub struct HeapProfiler {
    file: std::path::PathBuf,
}

impl HeapProfiler {
    /// Activates heap sampling when `profile.enabled`. An error when the allocator has no profiler (a library
    /// build, or a test binary, without the `app` binary's jemalloc).
    pub async fn start(settings: &ProfileSettings) -> Result<Option<HeapProfiler>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        prof_ctl()?
            .lock()
            .await
            .activate()
            .map_err(|e| format!("activating the heap profiler: {e}"))?;
        Ok(Some(HeapProfiler {
            file: settings.heap_file.clone(),
        }))
    }

    /// Writes the heap profile (gzipped pprof protobuf) to `profile.heap_file`.
    pub async fn dump(&self) -> Result<(), String> {
        let bytes = prof_ctl()?
            .lock()
            .await
            .dump_pprof()
            .map_err(|e| format!("dumping the heap profile: {e}"))?;
        std::fs::write(&self.file, bytes).map_err(|e| format!("{}: {e}", self.file.display()))?;
        log::info!("[Profile] wrote heap profile {}", self.file.display());
        Ok(())
    }
}

/// jemalloc's profiler control, when the binary's allocator is jemalloc with profiling compiled in.
#[cfg(feature = "jemalloc")]
fn prof_ctl() -> Result<&'static tokio::sync::Mutex<jemalloc_pprof::JemallocProfCtl>, String> {
    jemalloc_pprof::PROF_CTL
        .as_deref()
        .ok_or_else(|| "heap profiling needs the app binary's jemalloc allocator".into())
}

#[cfg(not(feature = "jemalloc"))]
fn prof_ctl() -> Result<&'static tokio::sync::Mutex<NoHeapProfiler>, String> {
    Err("this build has no jemalloc (cargo feature `jemalloc` off): no heap profile".into())
}

/// Stands in for jemalloc's profiler control in a build without it: uninhabited, `prof_ctl` never gives one.
#[cfg(not(feature = "jemalloc"))]
pub enum NoHeapProfiler {}

#[cfg(not(feature = "jemalloc"))]
impl NoHeapProfiler {
    fn activate(&mut self) -> Result<(), String> {
        match *self {}
    }
    fn dump_pprof(&mut self) -> Result<Vec<u8>, String> {
        match *self {}
    }
}

/// Dumps the heap profile on every SIGUSR1 while the run lasts (logs that profiling is off otherwise).
pub fn dump_heap_on_sigusr1(heap: Option<std::rc::Rc<HeapProfiler>>) {
    use tokio::signal::unix::{signal, SignalKind};
    actix_rt::spawn(async move {
        let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
            log::error!("[Profile] cannot install the SIGUSR1 handler");
            return;
        };
        while usr1.recv().await.is_some() {
            match &heap {
                Some(h) => {
                    if let Err(e) = h.dump().await {
                        log::error!("[Profile] {e}");
                    }
                }
                None => log::warn!(
                    "[Profile] SIGUSR1: heap profiling is off (profile.enabled / --profile)"
                ),
            }
        }
    });
}
