//! `app`: parses the command line and runs the subcommand; the exit code says how the run ended.

use clap::FromArgMatches;

/// jemalloc, for its heap profiler (`mem.prof`, see `profile.rs`).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options: profiling compiled in but inactive (no sampling, no cost) until `profile.enabled`
/// activates it, one sample per 512 KiB allocated on average; freed pages returned to the OS after 1 s instead of
/// 10 s (batch bodies churn fast: with the default, peak memory followed the run's length).
#[cfg(feature = "jemalloc")]
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
pub static malloc_conf: &[u8] =
    b"prof:true,prof_active:false,lg_prof_sample:19,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

fn main() {
    let matches = app::commands::help::command().get_matches();
    let cli = app::commands::args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The one place an error that stopped a command is printed; its kind says the exit code.
    let code = match app::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code.code());
}
