//! Command line: clap subcommands and flags (the raw values), and how flags override the loaded settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Secret, Settings, SettingsError, Shard, SinkKind, SourceKind};
use crate::observe::exit::ExitCode;

/// Appliance CPU-statistics ETL: extract from a CSV inventory, transform, load in batches into an ingestion API,
/// with retries and a gzip spool so that no record is lost.
#[derive(Debug, Parser)]
#[command(name = "app", version = VERSION, after_help = ExitCode::help_text())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log level (error, warn, info, debug, trace). Overrides log.level.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// More log lines: -v debug, -vv trace. Overrides log.level.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Fewer log lines: -q warnings and errors, -qq errors only. Overrides log.level.
    #[arg(short = 'q', global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub less: u8,
}

/// `app --version`: the crate's version, the commit and the build date (see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("APP_GIT_COMMIT"),
    ", built ",
    env!("APP_BUILD_DATE"),
    ")"
);

impl Cli {
    /// The log level the flags ask for, if they ask: `--log-level` first, then `-v`/`-q`.
    pub fn log_level(&self) -> Option<String> {
        if let Some(l) = &self.log_level {
            return Some(l.clone());
        }
        match (self.verbose, self.less) {
            (0, 0) => None,
            (1, _) => Some("debug".into()),
            (v, _) if v > 1 => Some("trace".into()),
            (_, 1) => Some("warn".into()),
            _ => Some("error".into()),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline over the inventory (replaying the spool first).
    Etl(EtlArgs),
    /// Deliver what is in the spool, and nothing else.
    Replay(ReplayArgs),
    /// Run the mock ingestion API (POST /load, /api/v1/write, /write; GET /health, /stats, /device/{name}/cpu).
    MockServer(MockArgs),
    /// Check the configuration and the whole inventory; print every problem.
    Validate(ValidateArgs),
    /// Split a (clean) inventory into one file per shard, OUT_DIR/shard-K-N.csv, for `etl --shard K/N --inventory
    /// OUT_DIR/shard-K-N.csv`: each shard then reads only its own rows.
    SplitInventory(SplitArgs),
    /// Start the mock API on a free loopback port and run the ETL against it (in a temporary spool).
    Demo(DemoArgs),
    /// GET a URL and exit 0 when it answers 2xx, 1 otherwise, 2 for a URL that cannot be used (a container
    /// HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
    /// SNMP tools: `probe ADDR` explains what the snmp source reads from one agent; `profiles` prints the built-in
    /// profiles (docs/SNMP-PROFILES.md).
    #[command(subcommand)]
    Snmp(SnmpCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout: `app man > app.1`; `--out-dir DIR` writes every page.
    Man(ManArgs),
    /// Write an inventory of N loopback devices (for tests, benchmarks and scripts).
    #[command(hide = true)]
    GenerateInventory(GenerateArgs),
}

#[derive(Debug, Subcommand)]
pub enum SnmpCommand {
    /// Probe one agent as the snmp source would (credentials from the configuration, as `etl`): its sysObjectID
    /// and sysDescr, the profile chosen and why, each CPU source tried and what it returned, and the records a
    /// run would produce. Nothing is sent or kept. Exit 0 with records, 3 without.
    Probe(ProbeArgs),
    /// Print the built-in profiles (TOML): copy one into extract.snmp.profiles_dir to change or extend it.
    Profiles(ProfilesArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The agent: IP (port extract.snmp.port) or IP:PORT.
    pub addr: String,
    /// The device name the records would carry (default: ADDR).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Talk with the credential set `[extract.snmp.credentials.SET]`, as an inventory row whose `credentials`
    /// column names it (default: `[extract.snmp]`'s keys).
    #[arg(long, value_name = "SET")]
    pub credentials: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ProfilesArgs {
    /// Print only the file holding this profile.
    pub name: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ManArgs {
    /// Write every page into DIR (made when missing): app.1 and one per subcommand (app-etl.1, …), the pages
    /// app.1 refers to.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Clone)]
pub struct GenerateArgs {
    /// How many devices.
    #[arg(long, value_name = "N")]
    pub devices: u64,
    /// Put this before every device name (`{prefix}device-K`).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub prefix: String,
    /// The file to write.
    pub out: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct HealthcheckArgs {
    /// URL to check.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8080/health"
    )]
    pub url: String,
    /// Give up after this many milliseconds.
    #[arg(long, value_name = "N", default_value_t = 3000)]
    pub timeout_ms: u64,
}

/// Flags every subcommand takes.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file (TOML); built-in defaults when the default file is missing.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct EtlArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Inventory CSV (rows ip,name). Overrides inventory.path.
    #[arg(long, value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Ingestion API URL. Overrides load.endpoint.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Wire format of the store: `ingest-json`, `prometheus-remote-write` or `influx-line`. Overrides load.sink.
    #[arg(long, value_name = "SINK", value_enum)]
    pub sink: Option<SinkKind>,
    /// Spool directory. Overrides spool.dir.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Keep only shard K of N (stable hash of the device name). Overrides extract.shard.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Also write the run summary as JSON to this file (checked before the run starts).
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// Extract and transform as configured and print the records as JSON lines on stdout; send nothing, touch no
    /// spool (the status goes to stderr). Checks a source configuration against a device.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print only the first N records (N ≥ 1).
    #[arg(long, value_name = "N", requires = "dry_run", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Profile the run (CPU profile and flamegraph). Sets profile.enabled.
    #[arg(long)]
    pub profile: bool,
    /// Serve Prometheus /metrics on this address while the run lasts. Overrides metrics.addr.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// No progress and no info lines: warnings and errors only (as -q; a level flag wins).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Ingestion API URL. Overrides load.endpoint.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Wire format of the store: `ingest-json`, `prometheus-remote-write` or `influx-line`. Overrides load.sink.
    #[arg(long, value_name = "SINK", value_enum)]
    pub sink: Option<SinkKind>,
    /// Spool directory. Overrides spool.dir.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Also write the run summary as JSON to this file (checked before the run starts).
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// No progress and no info lines: warnings and errors only (as -q; a level flag wins).
    #[arg(long)]
    pub quiet: bool,
    /// Send the dead letters of spool/rejected/ again (once the cause is fixed), under their original batch ids,
    /// instead of the spool: each one delivered goes with its sidecar, one rejected again stays in rejected/.
    #[arg(long)]
    pub rejected: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct MockArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (port 0 picks a free port). Overrides mock.bind.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Bearer token required on /load. Overrides mock.token. Visible to every user in `ps`: prefer --token-file.
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// File holding the bearer token required on /load (one line, e.g. a mounted secret), kept off the command
    /// line. Overrides mock.token_file.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Processing delay of each /load in milliseconds. Overrides mock.delay_ms.
    #[arg(long, value_name = "N")]
    pub delay_ms: Option<u64>,
    /// Probability (0.0-1.0) that a /load answers mock.fail_status. Overrides mock.fail_rate.
    #[arg(long, value_name = "F")]
    pub fail_rate: Option<f64>,
    /// Log file; '' for none. Overrides mock.log_file.
    #[arg(long, value_name = "PATH", value_parser = path_or_none)]
    pub log_file: Option<PathBuf>,
    /// Serve the mock SNMP fleet on this UDP port of every 127.x.y.z address (`auto`: a free port, printed;
    /// 0: off). Overrides mock.snmp_port.
    #[arg(long, value_name = "PORT|auto", value_parser = parse_snmp_port)]
    pub snmp_port: Option<SnmpPort>,
}

/// `--snmp-port`: a port number, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpPort {
    Port(u16),
    Auto,
}

fn parse_snmp_port(text: &str) -> Result<SnmpPort, String> {
    if text == "auto" {
        return Ok(SnmpPort::Auto);
    }
    text.parse()
        .map(SnmpPort::Port)
        .map_err(|_| format!("`{text}` is not a UDP port (0-65535) or `auto`"))
}

#[derive(Debug, Args, Clone, Default)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Inventory CSV to check. Overrides inventory.path.
    #[arg(long, value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Also print the effective configuration (defaults, file, environment and flags applied) as JSON;
    /// secrets show as "***".
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SplitArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Inventory CSV to split. Overrides inventory.path.
    #[arg(long, value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Number of shards N (1-256): the N of `--shard K/N`.
    #[arg(long, value_name = "N")]
    pub shards: u64,
    /// Directory of the shard files (made when missing; files of the same N are replaced).
    pub out_dir: PathBuf,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DemoArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Inventory CSV. Overrides inventory.path.
    #[arg(long, value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Spool directory of the demo. Default: a temporary one (the demo never uses spool.dir); either way the
    /// demo replays no spool file into its mock.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Where device statistics come from: `simulated`, `http` (the mock's /device/{name}/cpu) or `snmp` (the
    /// mock SNMP fleet, started on a free UDP port). Overrides extract.source.
    #[arg(long, value_name = "SOURCE", value_enum)]
    pub source: Option<SourceKind>,
    /// Wire format the demo loads its mock with: `ingest-json` (`/load`), `prometheus-remote-write`
    /// (`/api/v1/write`) or `influx-line` (`/write`). Overrides load.sink.
    #[arg(long, value_name = "SINK", value_enum)]
    pub sink: Option<SinkKind>,
    /// No progress and no info lines: warnings and errors only (as -q; a level flag wins).
    #[arg(long)]
    pub quiet: bool,
}

/// A path flag that may be empty (`--log-file ''`: none), as its `APP__…` variable may.
fn path_or_none(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

/// Loads settings for `config`, applies `apply` (the flags), and validates again.
pub fn settings_with(
    config: &ConfigArgs,
    apply: impl FnOnce(&mut Settings),
) -> Result<Settings, SettingsError> {
    let mut s = Settings::load(config.config.as_deref())?;
    apply(&mut s);
    s.validate()?;
    Ok(s)
}

impl EtlArgs {
    pub fn apply(&self, s: &mut Settings) {
        if let Some(p) = &self.inventory {
            s.inventory.path = p.clone();
        }
        if let Some(e) = &self.endpoint {
            s.load.endpoint = e.clone();
        }
        if let Some(k) = self.sink {
            s.load.sink = k;
        }
        if let Some(d) = &self.spool_dir {
            s.spool.dir = d.clone();
        }
        if let Some(shard) = self.shard {
            s.extract.shard = shard.to_string();
        }
        if self.profile {
            s.profile.enabled = true;
        }
        if let Some(a) = &self.metrics_addr {
            s.metrics.addr = a.clone();
        }
    }
}

impl ReplayArgs {
    pub fn apply(&self, s: &mut Settings) {
        if let Some(e) = &self.endpoint {
            s.load.endpoint = e.clone();
        }
        if let Some(k) = self.sink {
            s.load.sink = k;
        }
        if let Some(d) = &self.spool_dir {
            s.spool.dir = d.clone();
        }
    }
}

impl MockArgs {
    pub fn apply(&self, s: &mut Settings) {
        if let Some(b) = &self.bind {
            s.mock.bind = b.clone();
        }
        if let Some(t) = &self.token {
            s.mock.token = Secret::new(t.clone());
            s.mock.token_file = PathBuf::new();
        }
        if let Some(f) = &self.token_file {
            s.mock.token_file = f.clone();
            s.mock.token = Secret::default();
        }
        if let Some(d) = self.delay_ms {
            s.mock.delay_ms = d;
            s.mock.jitter_ms = s.mock.jitter_ms.min(d);
        }
        if let Some(f) = self.fail_rate {
            s.mock.fail_rate = f;
        }
        if let Some(l) = &self.log_file {
            s.mock.log_file = l.clone();
        }
        match self.snmp_port {
            Some(SnmpPort::Port(p)) => (s.mock.snmp_port, s.mock.snmp_port_auto) = (p, false),
            Some(SnmpPort::Auto) => (s.mock.snmp_port, s.mock.snmp_port_auto) = (0, true),
            None => {}
        }
    }
}

impl ValidateArgs {
    pub fn apply(&self, s: &mut Settings) {
        if let Some(p) = &self.inventory {
            s.inventory.path = p.clone();
        }
    }
}

impl SplitArgs {
    pub fn apply(&self, s: &mut Settings) {
        if let Some(p) = &self.inventory {
            s.inventory.path = p.clone();
        }
    }
}

impl DemoArgs {
    pub fn apply(&self, s: &mut Settings) {
        if let Some(p) = &self.inventory {
            s.inventory.path = p.clone();
        }
        if let Some(d) = &self.spool_dir {
            s.spool.dir = d.clone();
        }
        if let Some(k) = self.sink {
            s.load.sink = k;
        }
        if let Some(source) = self.source {
            s.extract.source = source;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn source_values_are_the_configuration_names() {
        use clap::ValueEnum;
        for kind in SourceKind::value_variants() {
            let name = kind.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(serde_json::to_value(kind).unwrap(), name.as_str());
            let cli = Cli::try_parse_from(["app", "demo", "--source", &name]).unwrap();
            let Command::Demo(a) = cli.command else {
                panic!()
            };
            assert_eq!(a.source, Some(*kind));
        }
        assert!(Cli::try_parse_from(["app", "demo", "--source", "ftp"]).is_err());
    }

    #[test]
    fn shard_flag_is_checked() {
        assert!(Cli::try_parse_from(["app", "etl", "--shard", "3/3"]).is_err());
        let cli = Cli::try_parse_from(["app", "etl", "--shard", "1/3"]).unwrap();
        let Command::Etl(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.shard, Some(Shard { index: 1, count: 3 }));
    }
}
