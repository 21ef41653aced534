//! Logging: env_logger with millisecond timestamps to stderr and, when a file is named, the same lines appended to
//! it; `log.format = "text"` or `"json"` (one object per line with timestamp, level, target, message and the
//! record's structured fields, e.g. `worker`, `batch_id`, `records`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;

use crate::config::{LogFormat, LogSettings};

/// Writes every log line to stderr (with the progress bar out of the way) and to the log file.
struct Tee {
    file: Option<File>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        crate::observe::progress::suspended(|| {
            let _ = io::stderr().write_all(buf);
        });
        if let Some(f) = &mut self.file {
            f.write_all(buf)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Collects a record's key-values as JSON.
struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let v = if let Some(n) = value.to_u64() {
            serde_json::Value::from(n)
        } else if let Some(n) = value.to_i64() {
            serde_json::Value::from(n)
        } else if let Some(b) = value.to_bool() {
            serde_json::Value::from(b)
        } else {
            serde_json::Value::from(value.to_string())
        };
        self.0.insert(key.as_str().to_string(), v);
        Ok(())
    }
}

/// One log line as a JSON object.
pub fn json_line(timestamp: &str, record: &log::Record) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("timestamp".into(), timestamp.into());
    obj.insert("level".into(), record.level().as_str().into());
    obj.insert("target".into(), record.target().into());
    obj.insert("message".into(), record.args().to_string().into());
    let mut fields = serde_json::Map::new();
    let _ = record.key_values().visit(&mut JsonFields(&mut fields));
    for (k, v) in fields {
        obj.entry(k).or_insert(v);
    }
    serde_json::Value::Object(obj).to_string()
}

/// `log.file` (or `mock.log_file`) could not be opened; its `io::Error` kept for the exit code.
#[derive(Debug, thiserror::Error)]
#[error("log file {}: {source}", path.display())]
pub struct LogFileError {
    pub path: std::path::PathBuf,
    pub source: io::Error,
}

/// Installs the logger: `RUST_LOG` when set, else `log.level`; `log.file` (appended, mode 0600) when not empty.
/// Returns an error naming the file when it cannot be opened.
pub fn init(settings: &LogSettings) -> Result<(), LogFileError> {
    let path = &settings.file;
    let file = if path.as_os_str().is_empty() {
        None
    } else {
        Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| LogFileError {
                    path: path.clone(),
                    source,
                })?,
        )
    };
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&settings.level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    // Connection-level chatter of the HTTP stack is not what an operator reads.
    builder.filter_module("actix_server", log::LevelFilter::Warn);
    match settings.format {
        LogFormat::Text => builder.format(|f, record| {
            let ts = f.timestamp_millis();
            writeln!(
                f,
                "[{ts} {:<5} {}] {}",
                record.level(),
                record.target(),
                record.args()
            )
        }),
        LogFormat::Json => builder.format(|f, record| {
            let ts = f.timestamp_millis().to_string();
            writeln!(f, "{}", json_line(&ts, record))
        }),
    };
    builder.target(env_logger::Target::Pipe(Box::new(Tee { file })));
    // A second init (tests run several commands in one process) keeps the first logger.
    let _ = builder.try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_structured_fields() {
        let kvs: [(&str, log::kv::Value); 3] = [
            ("worker", 4u64.into()),
            ("batch_id", "r-w4-000001".into()),
            ("records", 200u64.into()),
        ];
        let record = log::Record::builder()
            .level(log::Level::Info)
            .target("app::actors::delivery")
            .args(format_args!("[Loader-4] Successfully flushed 200 records"))
            .key_values(&kvs)
            .build();
        let line = json_line("2026-11-27T00:00:00.000Z", &record);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "[Loader-4] Successfully flushed 200 records");
        assert_eq!(v["worker"], 4);
        assert_eq!(v["batch_id"], "r-w4-000001");
        assert_eq!(v["records"], 200);
        assert_eq!(v["timestamp"], "2026-11-27T00:00:00.000Z");
    }
}
