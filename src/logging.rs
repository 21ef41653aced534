//! Logging: env_logger with timestamps to stderr and, when a file is named, the same lines appended to it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes every log line to stderr and to the log file.
struct Tee {
    file: Option<File>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let _ = io::stderr().write_all(buf);
        if let Some(f) = &mut self.file {
            f.write_all(buf)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Installs the logger: `RUST_LOG` when set, else `level`; `file` (appended, mode 0600) when not empty.
/// Returns an error naming the file when it cannot be opened.
pub fn init(level: &str, file: Option<&Path>) -> Result<(), String> {
    let file = match file.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("log file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    // Connection-level chatter of the HTTP stack is not what an operator reads.
    builder.filter_module("actix_server", log::LevelFilter::Warn);
    builder
        .format_timestamp_millis()
        .target(env_logger::Target::Pipe(Box::new(Tee { file })));
    // A second init (tests run several commands in one process) keeps the first logger.
    let _ = builder.try_init();
    Ok(())
}
