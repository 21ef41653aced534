//! `app demo`: the mock API in-process on a free loopback port, the ETL against it (the same run sequence as
//! `etl`), then the summary and the server's counters. The demo spools into a temporary directory unless
//! `--spool-dir` names one, and never replays a spool: its mock vanishes with it, so records replayed into it would
//! be deleted from disk and delivered nowhere.

use std::path::Path;

use super::mock_server::bind;
use super::output::{say, write_summary};
use super::run::{check_inventory_unless_stopped, execute, watch_signals};
use super::CommandError;
use crate::config::{Settings, SinkKind, SourceKind};
use crate::mock;
use crate::observe::exit::ExitCode;
use crate::observe::outcome::Mode;
use crate::resolve::{self, Resolved};

/// Runs the demo. `spool_dir` is `--spool-dir`: without it the demo spools into a temporary directory (never the
/// configured `spool.dir`, which is the real spool).
pub fn demo(
    mut settings: Settings,
    spool_dir: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode, CommandError> {
    // An inventory that is not there stops the demo before it makes anything (its log file included).
    if let Err(source) = std::fs::metadata(&settings.inventory.path) {
        return Err(crate::inventory::InventoryError::Open {
            path: settings.inventory.path.clone(),
            source,
        }
        .into());
    }
    crate::observe::logging::init(&settings.log)?;
    let temp_spool = match spool_dir {
        Some(dir) => {
            settings.spool.dir = dir.to_path_buf();
            None
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("app-demo-spool-")
                .tempdir()
                .map_err(CommandError::TempSpool)?;
            settings.spool.dir = temp.path().to_path_buf();
            Some(temp)
        }
    };
    settings.spool.replay_on_start = false;
    say!(
        "demo: spool {} ({}; the demo replays no spool file into its mock)",
        settings.spool.dir.display(),
        if temp_spool.is_some() {
            "temporary, removed at the end when empty; --spool-dir DIR to choose it"
        } else {
            "--spool-dir"
        }
    );
    let listener = bind("127.0.0.1:0")?;
    settings.mock.token = resolve::token(&settings.load)?;
    settings.mock.log_body_preview = 0;
    let (summary, stats) = actix_rt::System::new().block_on(async move {
        let shutdown = watch_signals(&settings, Mode::Etl);
        let checked = check_inventory_unless_stopped(&settings, Mode::Etl, &shutdown).await?;
        // `--source snmp`: the mock SNMP fleet beside the API, on a free UDP port of every 127.x.y.z.
        settings.mock.snmp_port_auto = settings.extract.source == SourceKind::Snmp;
        let server = mock::start(settings.mock.clone(), listener)?;
        let url = server.url();
        say!("demo: mock API listening on {url}");
        settings.load.endpoint = match settings.load.sink {
            SinkKind::IngestJson => format!("{url}/load"),
            SinkKind::PrometheusRemoteWrite => format!("{url}/api/v1/write"),
            SinkKind::InfluxLine => format!("{url}/write?db=demo"),
        };
        if settings.extract.source == SourceKind::Http {
            settings.extract.http.url_template = format!("{url}/device/{{name}}/cpu?cpus=1");
            // The mock's token, in place of any of the user's (a token file would replace it when resolved).
            settings.extract.http.token = settings.mock.token.clone();
            settings.extract.http.token_file = std::path::PathBuf::new();
        }
        if let Some(fleet) = &server.snmp {
            settings.extract.snmp.port = fleet.port;
            say!(
                "demo: mock SNMP fleet on {} (each inventory address 127.x.y.z is a device)",
                fleet.url()
            );
        }
        // Built after the URLs point at the mock (https:// when it serves TLS).
        let resolved = Resolved::build(settings)?;
        let s = &resolved.settings;
        say!(
            "demo: extracting {} ({} source), loading into {} ({})",
            s.inventory.path.display(),
            clap::ValueEnum::to_possible_value(&s.extract.source)
                .expect("every source kind is a --source value")
                .get_name(),
            s.load.endpoint,
            s.load.sink.name()
        );
        let (handle, state) = (server.handle.clone(), server.state.clone());
        actix_rt::spawn(server.server);
        let summary = execute(resolved, Mode::Etl, checked, shutdown, quiet).await?;
        handle.stop(true).await;
        Ok::<_, CommandError>((summary, state.snapshot()))
    })?;
    write_summary(&summary, None);
    say!(
        "mock API counters: {}",
        serde_json::to_string_pretty(&stats).expect("stats always serialise")
    );
    if let Some(temp) = temp_spool {
        keep_unless_empty(temp);
    }
    Ok(summary.exit_code())
}

/// Removes the demo's temporary spool when the run left nothing in it; otherwise keeps it and says where.
fn keep_unless_empty(temp: tempfile::TempDir) {
    let left = files_under(temp.path());
    if left > 0 {
        let path = temp.keep();
        say!(
            "demo: {left} files left in the temporary spool {}; kept",
            path.display()
        );
    }
}

/// Files (not directories, not the lock file) under `dir`, recursively.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&e.path()),
            Ok(_) if e.file_name() == crate::spool::LOCK_FILE => 0,
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}
