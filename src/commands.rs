//! The subcommands: each loads its settings, sets up logging, runs, and returns the process exit code.
//! Errors are printed here (to stderr, naming the file, line or key) and nowhere else.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use crate::actors::supervisor::Checked;
use crate::actors::{self, Mode, Shutdown};
use crate::cli::{self, Cli, Command, ConfigArgs};
use crate::inventory;
use crate::metrics::RunMetrics;
use crate::mock;
use crate::profile::{CpuProfiler, HeapProfiler};
use crate::progress::Progress;
use crate::resources::{self, Resources};
use crate::settings::{LogSettings, OnInvalid, Settings, SourceKind};
use crate::summary::{Summary, EXIT_OK, EXIT_USAGE};

/// Prints a line on stdout, ignoring a closed pipe (`app validate | head` must not panic, and a run must never
/// die for want of a reader).
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

/// How often `mock-server` logs its traffic while busy.
const MOCK_TRAFFIC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Etl(a) => cli::settings_with(&a.config, |s| a.apply(s))
            .map_err(|e| e.to_string())
            .and_then(|s| etl(s, Mode::Etl, a.summary_json.as_deref(), a.quiet)),
        Command::Replay(a) => cli::settings_with(&a.config, |s| a.apply(s))
            .map_err(|e| e.to_string())
            .and_then(|s| etl(s, Mode::Replay, a.summary_json.as_deref(), a.quiet)),
        Command::MockServer(a) => cli::settings_with(&a.config, |s| a.apply(s))
            .map_err(|e| e.to_string())
            .and_then(mock_server),
        Command::Validate(a) => return validate(&a.config, a.print_config, |s| a.apply(s)),
        Command::Demo(a) => cli::settings_with(&a.config, |s| a.apply(s))
            .map_err(|e| e.to_string())
            .and_then(|s| demo(s, a.quiet)),
        Command::Healthcheck(a) => return healthcheck(&a.url, a.timeout_ms),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

/// Reads the whole inventory before a run: the progress total, the repeated names (found in bounded memory) and,
/// when every row parsed, the rows themselves for the run (see `prepared.rs`).
/// With `inventory.on_invalid = "fail"` any bad row stops here (exit 2, every problem printed, nothing sent); with
/// `"skip"` the run skips them (the streaming pass reports the other bad rows itself).
fn precheck_inventory(settings: &Settings) -> Result<(u64, Checked), String> {
    let path = &settings.inventory.path;
    let fail = settings.inventory.on_invalid == OnInvalid::Fail;
    let (check, prepared) = inventory::check_and_keep(path, |p| {
        if fail {
            eprintln!("{p}");
        }
    })
    .map_err(|e| e.to_string())?;
    if fail && check.problems > 0 {
        return Err(format!(
            "inventory {}: {} invalid rows (fix them, or set inventory.on_invalid = \"skip\" to run the valid rows)",
            path.display(),
            check.problems
        ));
    }
    let total = check.devices + check.problems;
    let repeated = check.duplicates.into_iter().collect();
    Ok((total, Checked { repeated, prepared }))
}

fn write_summary(summary: &Summary, json_path: Option<&Path>) -> Result<(), String> {
    say!("{}", summary.text().trim_end());
    if let Some(path) = json_path {
        let text = serde_json::to_vec_pretty(summary).expect("a Summary always serialises");
        std::fs::write(path, text).map_err(|e| format!("summary file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// `etl` and `replay`.
fn etl(
    settings: Settings,
    mode: Mode,
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<i32, String> {
    crate::logging::init(&settings.log)?;
    let (total, checked) = match mode {
        Mode::Etl => {
            let (total, checked) = precheck_inventory(&settings)?;
            (Some(total), checked)
        }
        Mode::Replay => (None, Checked::default()),
    };
    let before = resources::read(&settings.spool.dir);
    before.log("Before");
    let progress_interval = settings.log.progress_interval();
    let profiler = CpuProfiler::start(&settings.profile)?;
    let profile_settings = settings.profile.clone();
    let spool_dir = settings.spool.dir.clone();
    let grace = settings.shutdown.grace();
    let metrics = Arc::new(RunMetrics::default());
    let metrics_listener = match settings.metrics.addr.as_str() {
        "" => None,
        addr => Some(TcpListener::bind(addr).map_err(|e| format!("metrics.addr {addr}: {e}"))?),
    };
    let outcome = actix_rt::System::new().block_on(async move {
        let shutdown = Shutdown::new();
        actors::watch_signals(shutdown.clone(), grace);
        let heap = match HeapProfiler::start(&profile_settings).await {
            Ok(h) => h.map(std::rc::Rc::new),
            Err(e) => {
                log::warn!("[Profile] {e}; no heap profile");
                None
            }
        };
        crate::profile::dump_heap_on_sigusr1(heap.clone());
        let metrics_server = match metrics_listener {
            Some(listener) => {
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                let registry =
                    crate::prom::run_registry(metrics.clone(), settings.spool.dir.clone());
                let server = crate::prom::serve(registry, listener).map_err(|e| e.to_string())?;
                log::info!("[Metrics] serving http://{addr}/metrics while the run lasts");
                let handle = server.handle();
                actix_rt::spawn(server);
                Some(handle)
            }
            None => None,
        };
        let progress = Progress::start(metrics.clone(), total, progress_interval, quiet);
        let outcome = actors::run(settings, mode, shutdown, metrics, checked).await;
        if let Some(p) = progress {
            p.finish();
        }
        if let Some(handle) = metrics_server {
            handle.stop(true).await;
        }
        if let Some(h) = heap {
            if let Err(e) = h.dump().await {
                log::error!("[Profile] {e}");
            }
        }
        outcome.map_err(|e| e.to_string())
    });
    let outcome = outcome?;
    if let Some(p) = profiler {
        if let Err(e) = p.finish() {
            log::error!("[Profile] {e}");
        }
    }
    let after = resources::read(&spool_dir);
    after.log("After");
    let mut summary = Summary::new(&outcome, mode, &spool_dir);
    summary.resources = Some(Resources { before, after });
    write_summary(&summary, summary_json)?;
    Ok(summary.exit_code)
}

fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("mock.bind {addr}: {e}"))
}

/// `mock-server`: serve until SIGINT/SIGTERM.
fn mock_server(settings: Settings) -> Result<i32, String> {
    let log = LogSettings {
        file: settings.mock.log_file.clone(),
        ..settings.log.clone()
    };
    crate::logging::init(&log)?;
    let listener = bind(&settings.mock.bind)?;
    actix_rt::System::new().block_on(async move {
        let server = mock::start(settings.mock.clone(), listener).map_err(|e| e.to_string())?;
        say!("listening on {}", server.url());
        log::info!(target: "mock", "mock API listening on {}", server.url());
        if let Some(fleet) = &server.snmp {
            say!("snmp listening on {}", fleet.url());
            log::info!(target: "mock", "mock SNMP fleet listening on {} (every 127.x.y.z)", fleet.url());
        }
        crate::progress::mock_traffic(server.state.clone(), MOCK_TRAFFIC_INTERVAL);
        server.server.await.map_err(|e| e.to_string())?;
        log::info!(target: "mock", "mock API stopped; final counters {}", serde_json::to_string(&server.state.snapshot()).unwrap_or_default());
        Ok(EXIT_OK)
    })
}

/// `validate`: every problem of the configuration and the inventory, then one summary line.
fn validate(config: &ConfigArgs, print_config: bool, apply: impl FnOnce(&mut Settings)) -> i32 {
    let settings = match cli::settings_with(config, apply) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            say!("validate: configuration invalid");
            return EXIT_USAGE;
        }
    };
    if print_config {
        say!(
            "{}",
            serde_json::to_string_pretty(&settings).expect("settings always serialise")
        );
    }
    let path = &settings.inventory.path;
    match inventory::check(path, |p| say!("{p}")) {
        Err(e) => {
            eprintln!("error: {e}");
            say!("validate: inventory {} could not be read", path.display());
            EXIT_USAGE
        }
        Ok(check) => {
            say!(
                "validate: configuration ok; inventory {}: {} devices, {} invalid rows",
                path.display(),
                check.devices,
                check.problems
            );
            if check.problems == 0 {
                EXIT_OK
            } else {
                EXIT_USAGE
            }
        }
    }
}

/// `demo`: the mock API on a free loopback port, the ETL against it, then the server's counters.
fn demo(mut settings: Settings, quiet: bool) -> Result<i32, String> {
    crate::logging::init(&settings.log)?;
    let (total, checked) = precheck_inventory(&settings)?;
    let total = Some(total);
    let progress_interval = settings.log.progress_interval();
    let listener = bind("127.0.0.1:0")?;
    settings.mock.token = settings.load.token.clone();
    settings.mock.log_body_preview = 0;
    let spool_dir = settings.spool.dir.clone();
    let grace = settings.shutdown.grace();
    let (summary, stats) = actix_rt::System::new().block_on(async move {
        // `--source snmp`: the mock SNMP fleet beside the API, on a free UDP port of every 127.x.y.z.
        settings.mock.snmp_port_auto = settings.extract.source == SourceKind::Snmp;
        let server = mock::start(settings.mock.clone(), listener).map_err(|e| e.to_string())?;
        let url = server.url();
        say!("demo: mock API listening on {url}");
        settings.load.endpoint = format!("{url}/load");
        if settings.extract.source == SourceKind::Http {
            settings.extract.http.url_template = format!("{url}/device/{{name}}/cpu?cpus=1");
        }
        if let Some(fleet) = &server.snmp {
            settings.extract.snmp.port = fleet.port;
            say!(
                "demo: mock SNMP fleet on {} (each inventory address 127.x.y.z is a device)",
                fleet.url()
            );
        }
        // The URLs changed (https:// when the mock serves TLS): build the clients' TLS for them.
        settings.resolve_tls().map_err(|e| e.to_string())?;
        say!(
            "demo: extracting {} ({} source), loading into {}",
            settings.inventory.path.display(),
            match settings.extract.source {
                SourceKind::Simulated => "simulated",
                SourceKind::Http => "http",
                SourceKind::Snmp => "snmp",
            },
            settings.load.endpoint
        );
        let (handle, state) = (server.handle.clone(), server.state.clone());
        actix_rt::spawn(server.server);
        let shutdown = Shutdown::new();
        actors::watch_signals(shutdown.clone(), grace);
        let metrics = Arc::new(RunMetrics::default());
        let progress = Progress::start(metrics.clone(), total, progress_interval, quiet);
        let outcome = actors::run(settings, Mode::Etl, shutdown, metrics, checked).await;
        if let Some(p) = progress {
            p.finish();
        }
        let outcome = outcome.map_err(|e| e.to_string())?;
        handle.stop(true).await;
        Ok::<_, String>((
            Summary::new(&outcome, Mode::Etl, &spool_dir),
            state.snapshot(),
        ))
    })?;
    write_summary(&summary, None)?;
    say!(
        "mock API counters: {}",
        serde_json::to_string_pretty(&stats).expect("stats always serialise")
    );
    Ok(summary.exit_code)
}

/// `healthcheck`: 0 when `url` answers 2xx within the timeout, 1 otherwise (Docker's HEALTHCHECK convention).
fn healthcheck(url: &str, timeout_ms: u64) -> i32 {
    let result = actix_rt::System::new().block_on(async {
        let client = awc::Client::builder()
            .timeout(std::time::Duration::from_millis(timeout_ms))
            .finish();
        client.get(url).send().await.map(|r| r.status())
    });
    match result {
        Ok(status) if status.is_success() => {
            say!("healthy: {url} answered {status}");
            0
        }
        Ok(status) => {
            say!("unhealthy: {url} answered {status}");
            1
        }
        Err(e) => {
            say!("unhealthy: {url}: {e}");
            1
        }
    }
}
