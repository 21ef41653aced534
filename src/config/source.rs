//! Where the settings come from, read strictly, then layered by the `config` crate (config-rs, the design card's):
//!
//! 1. the checks, in front: the TOML file alone through serde (a wrong type is an error naming the key and its
//!    line, never coerced), then each `APP__SECTION__KEY` variable alone, read as a value of its key's type (the
//!    key's type is the built-in default's) so that an error names the variable;
//! 2. the layering: `config::Config` with the file, then the variables (`config::Environment`, prefix `APP`,
//!    separator `__`), deserialized into [`Settings`] (built-in defaults for what neither sets).
//!
//! config-rs alone would round `workers = 3.5` to 4 and read `durable = "yes"` as true; every value it sees here
//! has passed step 1, so its lenient conversions only ever meet values that are already of their key's type.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::*;

/// A TOML integer, float or boolean as text, or a string taken as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Other(&'static str),
}

/// Reads the file `text` (named `origin` in errors) into settings, then lays the `APP__…` variables in `env` over
/// it. Values are not validated here.
pub(super) fn read(
    origin: &str,
    text: Option<&str>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, SettingsError> {
    if let Some(text) = text {
        file_settings(origin, text)?;
    }
    let vars = checked_vars(env)?;
    let mut layers = config::Config::builder();
    if let Some(text) = text {
        layers = layers.add_source(config::File::from_str(text, config::FileFormat::Toml));
    }
    layers
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(Some(vars)),
        )
        .build()
        .and_then(|layered| layered.try_deserialize::<Settings>())
        .map_err(|e| SettingsError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })
}

/// The `APP__…` variables of `env`, each checked alone as a value of its key's type, with the text config-rs is
/// to read: a string key's as it is, any other's as its TOML value writes it (`APP__LOAD__WORKERS= 4` is `4`).
fn checked_vars(
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<HashMap<String, String>, SettingsError> {
    let defaults = toml::Table::try_from(Settings::default())
        .expect("the default settings serialise as a TOML table");
    let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect();
    vars.sort();
    let mut out = HashMap::new();
    for (name, raw) in vars {
        let path: Vec<String> = name[prefix.len()..]
            .split(ENV_SEPARATOR)
            .map(str::to_ascii_lowercase)
            .collect();
        let value = env_value(&name, &path, &raw, &defaults)?;
        // Checked alone, so that an error is this variable's.
        let mut alone = toml::Table::new();
        insert(&mut alone, &path, value.clone());
        toml::Value::Table(alone)
            .try_into::<Settings>()
            .map_err(|e| SettingsError::Env {
                name: name.clone(),
                key: path.join("."),
                message: first_line(e.message()),
            })?;
        let text = match value {
            toml::Value::String(s) => s,
            other => other.to_string(),
        };
        out.insert(name, text);
    }
    Ok(out)
}

/// The file alone through serde: its errors with their key and line.
fn file_settings(origin: &str, text: &str) -> Result<Settings, SettingsError> {
    toml::from_str::<Settings>(text).map_err(|e| file_error(origin, text, &e))
}

/// A TOML or serde error of the file: the key it is about (found from its position) and its line.
fn file_error(origin: &str, text: &str, e: &toml::de::Error) -> SettingsError {
    let message = first_line(e.message());
    let Some(span) = e.span() else {
        return SettingsError::Parse {
            origin: origin.to_string(),
            message,
        };
    };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let key = DeTable::parse(text)
        .ok()
        .and_then(|table| key_at(table.get_ref(), span.start, &mut Vec::new()))
        .map(|path| path.join("."));
    SettingsError::File {
        origin: origin.to_string(),
        line,
        key,
        message,
    }
}

/// The first line of a message (the toml crate appends context lines of its own), with Rust's names of number
/// types said as the numbers they allow.
fn first_line(message: &str) -> String {
    let mut line = message.lines().next().unwrap_or_default().to_string();
    for (rust, plain) in [
        ("expected usize", "expected a whole number from 0"),
        ("expected u64", "expected a whole number from 0"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected i32",
            "expected a whole number from -2147483648 to 2147483647",
        ),
        ("expected f64", "expected a number"),
    ] {
        if let Some(rest) = line.strip_suffix(rust) {
            line = format!("{rest}{plain}");
        }
    }
    // A number past every integer type: "invalid type: integer `N` as i128" says it in Rust's words.
    if let Some((head, tail)) = line.split_once(" as i128") {
        let head = head.replace("invalid type: integer", "invalid value: integer");
        line = format!("{head} (too large){tail}");
    }
    line
}

/// The line of the file `text` where the dotted `key` is set, if it is.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let table = DeTable::parse(text).ok()?;
    let mut table = table.get_ref();
    let path: Vec<&str> = key.split('.').collect();
    let (last, sections) = path.split_last()?;
    for s in sections {
        match table.get(*s)?.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    let (k, _) = table.get_key_value(*last)?;
    Some(text[..k.span().start.min(text.len())].matches('\n').count() + 1)
}

/// The dotted key whose name or value is at byte `pos` of the file, the deepest one.
fn key_at(table: &DeTable<'_>, pos: usize, path: &mut Vec<String>) -> Option<Vec<String>> {
    let within = |r: Range<usize>| r.start <= pos && pos < r.end.max(r.start + 1);
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        if let DeValue::Table(inner) = value.get_ref() {
            if let Some(found) = key_at(inner, pos, path) {
                return Some(found);
            }
        }
        if within(key.span()) || within(value.span()) {
            return Some(path.clone());
        }
        path.pop();
    }
    None
}

/// The kind of value the key at `path` holds, from the defaults; `None` for a key that does not exist (or a
/// section).
fn kind_of(defaults: &toml::Table, path: &[String]) -> Option<Kind> {
    let (last, sections) = path.split_last()?;
    let mut table = defaults;
    for s in sections {
        table = table.get(s)?.as_table()?;
    }
    Some(match table.get(last)? {
        toml::Value::String(_) => Kind::Text,
        toml::Value::Integer(_) => Kind::Other("a whole number"),
        toml::Value::Float(_) => Kind::Other("a number"),
        toml::Value::Boolean(_) => Kind::Other("true or false"),
        _ => return None,
    })
}

/// The value of variable `name` for the key at `path`: a string key takes the text as it is, any other reads it
/// as a TOML value.
fn env_value(
    name: &str,
    path: &[String],
    raw: &str,
    defaults: &toml::Table,
) -> Result<toml::Value, SettingsError> {
    let key = path.join(".");
    let Some(kind) = kind_of(defaults, path) else {
        return Err(SettingsError::Env {
            name: name.to_string(),
            key,
            message: "no such configuration key".into(),
        });
    };
    match kind {
        Kind::Text => Ok(toml::Value::String(raw.to_string())),
        Kind::Other(what) => format!("v = {}", raw.trim())
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !matches!(v, toml::Value::Table(_) | toml::Value::Array(_)))
            .ok_or_else(|| SettingsError::Env {
                name: name.to_string(),
                key,
                message: format!("`{}` is not {what}", raw.escape_debug()),
            }),
    }
}

/// Puts `value` at `path` in `table`, making the sections on the way.
fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, sections) = path.split_last().expect("a key has a name");
    let mut t = table;
    for s in sections {
        let entry = t
            .entry(s.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        t = entry.as_table_mut().expect("made a table just above");
    }
    t.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> String {
        read("c.toml", Some(text), Vec::new())
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    fn env(name: &str, value: &str) -> Result<Settings, String> {
        read(
            "(built-in defaults)",
            None,
            vec![(name.to_string(), value.to_string())],
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn wrong_types_in_the_file_are_errors_naming_the_key_and_the_line() {
        for (text, key, line, why) in [
            (
                "[load]\nworkers = 3.5\n",
                "load.workers",
                2,
                "floating point `3.5`",
            ),
            (
                "[load]\n\nworkers = true\n",
                "load.workers",
                3,
                "boolean `true`",
            ),
            (
                "[load]\nrequest_timeout_ms = 0.5\n",
                "load.request_timeout_ms",
                2,
                "floating point",
            ),
            (
                "[spool]\ndurable = \"yes\"\n",
                "spool.durable",
                2,
                "string \"yes\"",
            ),
            (
                "[load]\ncompression = \"zstd\"\n",
                "load.compression",
                2,
                "expected `none` or `gzip`",
            ),
            (
                "[mock]\nfail_status = 70000\n",
                "mock.fail_status",
                2,
                "70000",
            ),
            (
                "[load]\nworkers = 99999999999999999999\n",
                "load.workers",
                2,
                "99999999999999999999",
            ),
            (
                "load.retry.max_attempts = -1\n",
                "load.retry.max_attempts",
                1,
                "-1",
            ),
            (
                "[load]\nretry = { max_attempts = 1.5 }\n",
                "load.retry.max_attempts",
                2,
                "1.5",
            ),
            (
                "[load]\nbatch_sise = 5\n",
                "load.batch_sise",
                2,
                "unknown field",
            ),
        ] {
            let e = file(text);
            assert!(
                e.contains(&format!("c.toml:{line}: key `{key}`")) && e.contains(why),
                "{text:?}: {e}"
            );
            assert!(!e.contains("i128") && !e.contains("u64"), "{e}");
        }
    }

    #[test]
    fn the_line_of_a_key_is_found_in_sections_dotted_keys_and_inline_tables() {
        let text =
            "[load]\nworkers = 0\n\nretry = { max_attempts = 0 }\n[log]\nlevel = \"x\"\nx.y = 1\n";
        assert_eq!(line_of(text, "load.workers"), Some(2));
        assert_eq!(line_of(text, "load.retry.max_attempts"), Some(4));
        assert_eq!(line_of(text, "log.level"), Some(6));
        assert_eq!(line_of(text, "log.x.y"), Some(7));
        assert_eq!(line_of(text, "load.batch_size"), None);
    }

    #[test]
    fn environment_values_are_read_as_their_keys_type_and_errors_name_the_variable() {
        let s = env("APP__LOAD__WORKERS", "3").unwrap();
        assert_eq!(s.load.workers, 3);
        assert!(env("APP__SPOOL__DURABLE", "true").unwrap().spool.durable);
        assert_eq!(
            env("APP__MOCK__FAIL_RATE", "1").unwrap().mock.fail_rate,
            1.0
        );
        assert_eq!(env("APP__LOG__LEVEL", "warn").unwrap().log.level, "warn");
        assert_eq!(
            env("APP__MOCK__LOG_FILE", "").unwrap().mock.log_file,
            PathBuf::new()
        );
        assert_eq!(
            env("APP__MOCK__BIND", "127.0.0.1:0").unwrap().mock.bind,
            "127.0.0.1:0"
        );
        for (name, value, why) in [
            ("APP__LOAD__WORKERS", "3.5", "floating point `3.5`"),
            ("APP__LOAD__WORKERS", "many", "`many` is not a whole number"),
            ("APP__SPOOL__DURABLE", "yes", "`yes` is not true or false"),
            (
                "APP__LOAD__COMPRESSION",
                "zstd",
                "expected `none` or `gzip`",
            ),
            ("APP__MOCK__FAIL_STATUS", "70000", "70000"),
            ("APP__LOAD__NOPE", "1", "no such configuration key"),
            ("APP__LOAD", "1", "no such configuration key"),
        ] {
            let e = env(name, value).unwrap_err();
            assert!(e.contains(name) && e.contains(why), "{name}={value}: {e}");
        }
    }

    #[test]
    fn the_layering_keeps_the_file_under_the_variables_and_each_value_as_written() {
        let text = "[load]\nworkers = 3\nbatch_size = 50\n[mock]\nfail_rate = 1\n[load.retry]\nmax_attempts = 2\n";
        let vars = [
            ("APP__LOAD__WORKERS", " 5"),
            ("APP__LOAD__RETRY__MAX_ATTEMPTS", "7"),
            ("APP__LOAD__TOKEN", "1.50"),
            ("APP__MOCK__TOKEN", "007"),
            ("APP__LOG__FILE", ""),
            ("APP__SPOOL__DURABLE", "true"),
            ("OTHER__LOAD__WORKERS", "9"),
        ];
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let s = read("c.toml", Some(text), env).unwrap();
        assert_eq!(s.load.workers, 5, "the variable over the file");
        assert_eq!(s.load.batch_size, 50, "the file over the default");
        assert_eq!(s.load.retry.max_attempts, 7);
        assert_eq!(s.mock.fail_rate, 1.0);
        assert_eq!(
            s.load.token.expose(),
            "1.50",
            "a string key's text as it is"
        );
        assert_eq!(s.mock.token.expose(), "007");
        assert_eq!(s.log.file, PathBuf::new());
        assert!(s.spool.durable);
        assert_eq!(s.load.max_in_flight, Settings::default().load.max_in_flight);
    }

    #[test]
    fn config_rs_alone_coerces_what_the_checks_in_front_of_it_refuse() {
        // Why the strict checks stay in front of the layering: config-rs takes these.
        for text in ["[load]\nworkers = 3.5\n", "[spool]\ndurable = \"yes\"\n"] {
            let lenient = config::Config::builder()
                .add_source(config::File::from_str(text, config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize::<Settings>());
            assert!(lenient.is_ok(), "{text:?}: {lenient:?}");
            assert!(read("c.toml", Some(text), Vec::new()).is_err(), "{text:?}");
        }
    }
}
