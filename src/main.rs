//! `app`: parses the command line and runs the subcommand; the exit code says how the run ended.

use clap::Parser;

fn main() {
    let cli = app::cli::Cli::parse();
    std::process::exit(app::commands::run(cli));
}
