//! `app demo`: the mock API in-process on a free loopback port, the ETL against it (the same run sequence as
//! `etl`), then the summary and the server's counters.

use super::mock_server::bind;
use super::output::{say, write_summary};
use super::run::{execute, prepare};
use super::CommandError;
use crate::config::{Settings, SourceKind};
use crate::mock;
use crate::observe::exit::ExitCode;
use crate::observe::outcome::Mode;
use crate::resolve::{self, Resolved};

pub fn demo(mut settings: Settings, quiet: bool) -> Result<ExitCode, CommandError> {
    crate::observe::logging::init(&settings.log).map_err(CommandError::Setup)?;
    let prepared = prepare(&settings, Mode::Etl)?;
    let listener = bind("127.0.0.1:0")?;
    settings.mock.token = resolve::token(&settings.load)?;
    settings.mock.log_body_preview = 0;
    let (summary, stats) = actix_rt::System::new().block_on(async move {
        let server = mock::start(settings.mock.clone(), listener)
            .map_err(|e| CommandError::Setup(format!("mock server: {e}")))?;
        let url = server.url();
        say!("demo: mock API listening on {url}");
        settings.load.endpoint = format!("{url}/load");
        if settings.extract.source == SourceKind::Http {
            settings.extract.http.url_template = format!("{url}/device/{{name}}/cpu?cpus=1");
        }
        // Built after the URLs point at the mock (https:// when it serves TLS).
        let resolved = Resolved::build(settings)?;
        let s = &resolved.settings;
        say!(
            "demo: extracting {} ({} source), loading into {}",
            s.inventory.path.display(),
            if s.extract.source == SourceKind::Http {
                "http"
            } else {
                "simulated"
            },
            s.load.endpoint
        );
        let (handle, state) = (server.handle.clone(), server.state.clone());
        actix_rt::spawn(server.server);
        let summary = execute(resolved, Mode::Etl, prepared, quiet).await?;
        handle.stop(true).await;
        Ok::<_, CommandError>((summary, state.snapshot()))
    })?;
    write_summary(&summary, None)?;
    say!(
        "mock API counters: {}",
        serde_json::to_string_pretty(&stats).expect("stats always serialise")
    );
    Ok(summary.exit_code())
}
