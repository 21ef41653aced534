//! CPU profiling of a run with pprof: a pprof protobuf (`go tool pprof`) and a flamegraph SVG.

use std::io::Write;

use pprof::protos::Message;

use crate::settings::ProfileSettings;

/// A running CPU profiler.
pub struct CpuProfiler {
    guard: pprof::ProfilerGuard<'static>,
    settings: ProfileSettings,
}

impl CpuProfiler {
    /// Starts sampling at `profile.frequency_hz` when `profile.enabled`.
    pub fn start(settings: &ProfileSettings) -> Result<Option<CpuProfiler>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(settings.frequency_hz)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| format!("starting the CPU profiler: {e}"))?;
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
        let profile = report
            .pprof()
            .map_err(|e| format!("encoding {}: {e}", cpu.display()))?;
        let mut bytes = Vec::new();
        profile
            .encode(&mut bytes)
            .map_err(|e| format!("encoding {}: {e}", cpu.display()))?;
        std::fs::File::create(cpu)
            .and_then(|mut f| f.write_all(&bytes))
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
