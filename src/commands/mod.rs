//! The subcommands: each loads its settings, runs, and returns how it ended: an exit code, or the `CommandError`
//! that stopped it, which `main` prints (to stderr, naming the file, line or key) and ends with its
//! `CommandError::exit_code`.
//!
//! Files: `args` (the flags), `error` (what can stop a command), `output` (stdout and the summary),
//! `summary_file` (`--summary-json`), `preflight` (the paths a run writes to, for `validate`), `help` (each flag's
//! variable and default in `--help`), `run` (the run sequence of `etl`, `replay` and `demo`), `dry_run`
//! (`etl --dry-run`), then one file per subcommand (`snmp`: `snmp probe`, `snmp profiles` and the start check of
//! the SNMP profiles).
//!
//! May use every other module: this is where they are wired together.

pub mod args;
mod demo;
mod dry_run;
pub mod error;
mod generate;
mod healthcheck;
pub mod help;
mod mock_server;
mod output;
mod preflight;
mod run;
mod snmp;
mod split;
mod summary_file;
mod validate;

use args::{Cli, Command, SnmpCommand};
pub use error::CommandError;

use crate::observe::exit::ExitCode;
use crate::observe::outcome::Mode;

/// Makes the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core file holds the tokens, community and
/// keys it has in memory, and another process of the same (non-root) user can neither ptrace it nor read its
/// `/proc/PID/mem` or `environ`. Returns whether it took.
pub fn forbid_core_dumps() -> bool {
    // SAFETY: prctl with PR_SET_DUMPABLE takes integers only and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 }
}

/// Runs the parsed command line; returns how it ended (a run from its summary), or the error that stopped it.
pub fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    // Cannot fail on Linux (0 is a valid value); the unit files also set LimitCORE=0.
    forbid_core_dumps();
    // Before anything reads the configuration: a variable that looks like one but is not read is said so.
    for (name, instead) in
        crate::config::env_lookalikes(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
    {
        eprintln!(
            "warning: environment variable {name} is not read: configuration variables are spelled {instead} \
             (APP, then two underscores between the section and the key, upper case)"
        );
    }
    // `--quiet` of a run is `-q` as well as no progress: warnings and errors only (unless a level flag says more).
    let quiet = match &cli.command {
        Command::Etl(a) => a.quiet,
        Command::Replay(a) => a.quiet,
        Command::Demo(a) => a.quiet,
        _ => false,
    };
    if let Some(level) = cli
        .log_level()
        .or_else(|| quiet.then(|| "warn".to_string()))
    {
        // The same as APP__LOG__LEVEL, which the settings read over the file (still one thread here).
        std::env::set_var("APP__LOG__LEVEL", level);
    }
    match cli.command {
        Command::Etl(a) => args::settings_with(&a.config, |s| a.apply(s))
            .map_err(CommandError::from)
            .and_then(|s| {
                if a.dry_run {
                    dry_run::dry_run(s, a.limit, a.quiet)
                } else {
                    run::etl(s, Mode::Etl, a.summary_json.as_deref(), a.quiet)
                }
            }),
        Command::Replay(a) => args::settings_with(&a.config, |s| a.apply(s))
            .map_err(CommandError::from)
            .and_then(|s| {
                let mode = if a.rejected {
                    Mode::ReplayRejected
                } else {
                    Mode::Replay
                };
                run::etl(s, mode, a.summary_json.as_deref(), a.quiet)
            }),
        Command::MockServer(a) => args::settings_with(&a.config, |s| a.apply(s))
            .map_err(CommandError::from)
            .and_then(mock_server::mock_server),
        Command::Validate(a) => validate::validate(&a.config, a.print_config, |s| a.apply(s)),
        Command::SplitInventory(a) => split::split_inventory(&a),
        Command::Demo(a) => args::settings_with(&a.config, |s| a.apply(s))
            .map_err(CommandError::from)
            .and_then(|s| demo::demo(s, a.spool_dir.as_deref(), a.quiet)),
        // The probe is the snmp source's whatever `extract.source` says: `[extract.snmp]` is checked and its
        // secrets read as for a run of that source (with the shipped configuration's "simulated" they were not,
        // and an empty community was sent).
        Command::Snmp(SnmpCommand::Probe(a)) => args::settings_with(&a.config, |s| {
            s.extract.source = crate::config::SourceKind::Snmp
        })
        .map_err(CommandError::from)
        .and_then(|s| snmp::probe(s, &a)),
        Command::Snmp(SnmpCommand::Profiles(a)) => snmp::print_profiles(&a),
        Command::Healthcheck(a) => healthcheck::healthcheck(&a.url, a.timeout_ms),
        Command::GenerateInventory(a) => generate::generate(&a),
        Command::Completions(a) => {
            use clap::CommandFactory;
            let mut out = std::io::stdout().lock();
            clap_complete::generate(a.shell, &mut Cli::command(), "app", &mut out);
            Ok(ExitCode::Ok)
        }
        Command::Man(args::ManArgs { out_dir: Some(dir) }) => std::fs::create_dir_all(&dir)
            .and_then(|()| clap_mangen::generate_to(help::command(), &dir))
            .map(|()| {
                eprintln!("man: the pages are in {}", dir.display());
                ExitCode::Ok
            })
            .map_err(|source| CommandError::WriteFile { path: dir, source }),
        Command::Man(_) => clap_mangen::Man::new(help::command())
            .render(&mut std::io::stdout().lock())
            .map(|_| ExitCode::Ok)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Ok(ExitCode::Ok)
                } else {
                    Err(CommandError::Stdout {
                        what: "the man page",
                        source: e,
                    })
                }
            }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_is_made_non_dumpable() {
        assert!(super::forbid_core_dumps());
        // SAFETY: PR_GET_DUMPABLE takes no pointer.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
    }
}
