//! The profile file format (TOML) and its parser: a file holds `[[profile]]` tables, each with the devices it is
//! for and its `[[profile.cpu]]` sources in the order they are tried. Every error names the file, the line and
//! the key. The format is documented in docs/SNMP-PROFILES.md.

use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::config::CpuWindow;
use crate::snmp::Oid;

/// Longest `sys_descr` pattern, `number_after` literal and filter text.
pub const MAX_TEXT: usize = 256;
/// Most sources per profile, filters per source, prefixes per profile.
pub const MAX_ITEMS: usize = 64;

/// A profile as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// sysObjectID prefixes (whole arcs); the longest that matches a device decides between profiles.
    pub prefixes: Vec<Oid>,
    /// Lowercase text the device's sysDescr must contain (case-insensitive), when set.
    pub sys_descr: Option<String>,
    pub sources: Vec<CpuSource>,
    /// Where it was read: a built-in file's name, or a user file's path.
    pub file: String,
    pub line: usize,
    pub user: bool,
}

/// One way to read a device's CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuSource {
    pub read: Read,
    /// Tried only when `extract.snmp.cpu_window` is this window; `None`: whatever the setting.
    pub window: Option<CpuWindow>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// UCD-SNMP-MIB systemStats counters, two samples (falling back to 100 − ssCpuIdle when they do not move).
    Ucd,
    /// HOST-RESOURCES-MIB hrProcessorLoad, one record per processor numbered by position.
    HostResources,
    /// A percentage object of the device's MIB.
    Gauge(Gauge),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    pub object: Object,
    pub scale: Scale,
    /// The object is idle time: utilization = 100 − value.
    pub idle: bool,
    /// The value is text; the number read is the first one after this literal ("" = the first in the text).
    pub number_after: Option<String>,
    /// Rows kept: those passing every filter.
    pub filters: Vec<Filter>,
    pub name: RowName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// One value (a GET), one record `cpu_number` "all".
    Scalar(Oid),
    /// A table column (walked), one record per row kept, `cpu_number` the row's index.
    Column(Oid),
}

impl Object {
    pub fn oid(&self) -> &Oid {
        match self {
            Object::Scalar(o) | Object::Column(o) => o,
        }
    }
}

/// The unit of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Percent,
    Tenths,
    Hundredths,
}

impl Scale {
    /// The value is `n / divisor()` percent.
    pub fn divisor(self) -> f64 {
        match self {
            Scale::Percent => 1.0,
            Scale::Tenths => 10.0,
            Scale::Hundredths => 100.0,
        }
    }
}

/// A row filter: a column of the same table (or another table with the same index) and a test on its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: Oid,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// A number other than 0 (a row whose column is missing is dropped).
    NonZero,
    Equals(Vec<i64>),
    NotEquals(Vec<i64>),
    /// Text holding one of these (lowercase; compared case-insensitively).
    Contains(Vec<String>),
    /// Text holding none of these.
    NotContains(Vec<String>),
}

/// Where a row's name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowName {
    None,
    /// A text column with the row's index.
    Column(Oid),
    /// A column whose value is an entPhysicalIndex: the name is entPhysicalName of it.
    PhysicalIndexColumn(Oid),
    /// The row's index is an entPhysicalIndex.
    IndexIsPhysical,
}

/// A profile file that cannot be used: the file, the line, the key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProfileError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "profile file {} line {}: {}: {}",
            self.file, self.line, self.key, self.message
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    profile: Vec<Spanned<ProfileDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileDoc {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    sys_object_id: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    sys_descr: Option<Spanned<String>>,
    cpu: Spanned<Vec<Spanned<SourceDoc>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceDoc {
    #[serde(default)]
    read: Option<Spanned<String>>,
    #[serde(default)]
    scalar: Option<Spanned<String>>,
    #[serde(default)]
    column: Option<Spanned<String>>,
    #[serde(default)]
    scale: Option<Spanned<String>>,
    #[serde(default)]
    idle: bool,
    #[serde(default)]
    number_after: Option<Spanned<String>>,
    #[serde(default)]
    window: Option<Spanned<String>>,
    #[serde(default)]
    filter: Vec<Spanned<FilterDoc>>,
    #[serde(default)]
    name_column: Option<Spanned<String>>,
    #[serde(default)]
    name_via_physical_index: Option<Spanned<String>>,
    #[serde(default)]
    name_index_is_physical: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterDoc {
    column: Spanned<String>,
    #[serde(default)]
    nonzero: Option<bool>,
    #[serde(default)]
    equals: Option<Vec<i64>>,
    #[serde(default)]
    not_equals: Option<Vec<i64>>,
    #[serde(default)]
    contains: Option<Vec<String>>,
    #[serde(default)]
    not_contains: Option<Vec<String>>,
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses the profiles of one file. `file` names it in errors; `user` marks a user's file.
pub fn parse(file: &str, text: &str, user: bool) -> Result<Vec<Profile>, ProfileError> {
    let doc: FileDoc = toml::from_str(text).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start);
        let line = line_of(text, start);
        // The key: what is left of `=` on the error's line, else the text the error points at.
        let line_text = text.lines().nth(line - 1).unwrap_or("");
        let key = match line_text.split_once('=') {
            Some((k, _)) => k.trim().to_string(),
            None => e
                .span()
                .and_then(|s| text.get(s))
                .unwrap_or("")
                .trim()
                .to_string(),
        };
        ProfileError {
            file: file.to_string(),
            line,
            key: if key.is_empty() { "(file)".into() } else { key },
            message: e.message().trim().to_string(),
        }
    })?;
    let err = |span: std::ops::Range<usize>, key: &str, message: String| ProfileError {
        file: file.to_string(),
        line: line_of(text, span.start),
        key: key.to_string(),
        message,
    };
    let oid = |s: &Spanned<String>, key: &str| -> Result<Oid, ProfileError> {
        let t = s.get_ref().trim().trim_start_matches('.');
        match Oid::parse(t) {
            Ok(o) if o.ids().len() >= 2 => Ok(o),
            _ => Err(err(
                s.span(),
                key,
                format!(
                    "{:?} is not a numeric OID (like 1.3.6.1.4.1.9)",
                    s.get_ref()
                ),
            )),
        }
    };
    let text_of = |s: &Spanned<String>, key: &str| -> Result<String, ProfileError> {
        let t = s.get_ref();
        if t.len() > MAX_TEXT {
            return Err(err(s.span(), key, format!("longer than {MAX_TEXT} bytes")));
        }
        Ok(t.clone())
    };
    let mut out = Vec::new();
    for p in &doc.profile {
        let p_span = p.span();
        let p = p.get_ref();
        let name = p.name.get_ref().trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(err(
                p.name.span(),
                "name",
                format!(
                    "{:?}: 1 to 64 letters, digits, '-', '_' or '.'",
                    p.name.get_ref()
                ),
            ));
        }
        let mut prefixes = Vec::new();
        for s in p.sys_object_id.get_ref() {
            prefixes.push(oid(s, "sys_object_id")?);
        }
        if prefixes.is_empty() || prefixes.len() > MAX_ITEMS {
            return Err(err(
                p.sys_object_id.span(),
                "sys_object_id",
                format!("must list 1 to {MAX_ITEMS} sysObjectID prefixes"),
            ));
        }
        let sys_descr = match &p.sys_descr {
            Some(s) => {
                let t = text_of(s, "sys_descr")?;
                if t.trim().is_empty() {
                    return Err(err(
                        s.span(),
                        "sys_descr",
                        "must not be empty (leave the key out)".into(),
                    ));
                }
                Some(t.to_lowercase())
            }
            None => None,
        };
        let sources_doc = p.cpu.get_ref();
        if sources_doc.is_empty() || sources_doc.len() > MAX_ITEMS {
            return Err(err(
                p.cpu.span(),
                "cpu",
                format!("a profile needs 1 to {MAX_ITEMS} [[profile.cpu]] sources"),
            ));
        }
        let mut sources = Vec::new();
        for s in sources_doc {
            sources.push(source(s, &err, &oid, &text_of)?);
        }
        out.push(Profile {
            name: name.to_string(),
            description: p.description.clone(),
            prefixes,
            sys_descr,
            sources,
            file: file.to_string(),
            line: line_of(text, p_span.start),
            user,
        });
    }
    Ok(out)
}

type ErrFn<'a> = dyn Fn(std::ops::Range<usize>, &str, String) -> ProfileError + 'a;
type OidFn<'a> = dyn Fn(&Spanned<String>, &str) -> Result<Oid, ProfileError> + 'a;
type TextFn<'a> = dyn Fn(&Spanned<String>, &str) -> Result<String, ProfileError> + 'a;

fn source(
    s: &Spanned<SourceDoc>,
    err: &ErrFn<'_>,
    oid: &OidFn<'_>,
    text_of: &TextFn<'_>,
) -> Result<CpuSource, ProfileError> {
    let span = s.span();
    let s = s.get_ref();
    let window = match &s.window {
        None => None,
        Some(w) => Some(match w.get_ref().as_str() {
            "1min" => CpuWindow::OneMinute,
            "5min" => CpuWindow::FiveMinutes,
            other => {
                return Err(err(
                    w.span(),
                    "window",
                    format!("{other:?}: \"1min\" or \"5min\""),
                ))
            }
        }),
    };
    let read = s.read.as_ref().map_or("gauge", |r| r.get_ref().as_str());
    let gauge_keys = s.scalar.is_some()
        || s.column.is_some()
        || s.scale.is_some()
        || s.idle
        || s.number_after.is_some()
        || !s.filter.is_empty()
        || s.name_column.is_some()
        || s.name_via_physical_index.is_some()
        || s.name_index_is_physical;
    let read = match read {
        "ucd" | "host-resources" if gauge_keys => {
            return Err(err(
                span,
                "read",
                format!("read = {read:?} takes no other key than window"),
            ))
        }
        "ucd" => Read::Ucd,
        "host-resources" => Read::HostResources,
        "gauge" => Read::Gauge(gauge(s, span, err, oid, text_of)?),
        other => {
            let r = s.read.as_ref().expect("a value other than the default");
            return Err(err(
                r.span(),
                "read",
                format!("{other:?}: \"gauge\" (the default), \"ucd\" or \"host-resources\""),
            ));
        }
    };
    Ok(CpuSource { read, window })
}

fn gauge(
    s: &SourceDoc,
    span: std::ops::Range<usize>,
    err: &ErrFn<'_>,
    oid: &OidFn<'_>,
    text_of: &TextFn<'_>,
) -> Result<Gauge, ProfileError> {
    let object =
        match (&s.scalar, &s.column) {
            (Some(o), None) => Object::Scalar(oid(o, "scalar")?),
            (None, Some(o)) => Object::Column(oid(o, "column")?),
            _ => return Err(err(
                span,
                "scalar",
                "a gauge source sets exactly one of scalar (one value) and column (a table column)"
                    .into(),
            )),
        };
    let scale = match &s.scale {
        None => Scale::Percent,
        Some(v) => match v.get_ref().as_str() {
            "percent" => Scale::Percent,
            "tenths" => Scale::Tenths,
            "hundredths" => Scale::Hundredths,
            other => {
                return Err(err(
                    v.span(),
                    "scale",
                    format!("{other:?}: \"percent\", \"tenths\" or \"hundredths\""),
                ))
            }
        },
    };
    let number_after = match &s.number_after {
        Some(t) => Some(text_of(t, "number_after")?),
        None => None,
    };
    let scalar = matches!(object, Object::Scalar(_));
    let names = usize::from(s.name_column.is_some())
        + usize::from(s.name_via_physical_index.is_some())
        + usize::from(s.name_index_is_physical);
    if scalar && (names > 0 || !s.filter.is_empty()) {
        return Err(err(
            span,
            "scalar",
            "filters and names are for a column: a scalar is one value".into(),
        ));
    }
    if names > 1 {
        return Err(err(
            span,
            "name_column",
            "set at most one of name_column, name_via_physical_index and name_index_is_physical"
                .into(),
        ));
    }
    let name = if let Some(c) = &s.name_column {
        RowName::Column(oid(c, "name_column")?)
    } else if let Some(c) = &s.name_via_physical_index {
        RowName::PhysicalIndexColumn(oid(c, "name_via_physical_index")?)
    } else if s.name_index_is_physical {
        RowName::IndexIsPhysical
    } else {
        RowName::None
    };
    if s.filter.len() > MAX_ITEMS {
        return Err(err(span, "filter", format!("at most {MAX_ITEMS} filters")));
    }
    let mut filters = Vec::new();
    for f in &s.filter {
        let fspan = f.span();
        let f = f.get_ref();
        let column = oid(&f.column, "filter.column")?;
        let lower = |v: &Vec<String>| -> Result<Vec<String>, ProfileError> {
            if v.is_empty() || v.iter().any(|t| t.is_empty() || t.len() > MAX_TEXT) {
                return Err(err(
                    fspan.clone(),
                    "filter",
                    format!("texts must be 1 to {MAX_TEXT} bytes, at least one"),
                ));
            }
            Ok(v.iter().map(|t| t.to_lowercase()).collect())
        };
        let mut tests = Vec::new();
        if let Some(true) = f.nonzero {
            tests.push(Test::NonZero);
        }
        if let Some(v) = &f.equals {
            tests.push(Test::Equals(v.clone()));
        }
        if let Some(v) = &f.not_equals {
            tests.push(Test::NotEquals(v.clone()));
        }
        if let Some(v) = &f.contains {
            tests.push(Test::Contains(lower(v)?));
        }
        if let Some(v) = &f.not_contains {
            tests.push(Test::NotContains(lower(v)?));
        }
        if tests.len() != 1 {
            return Err(err(
                fspan,
                "filter",
                "a filter sets exactly one of nonzero = true, equals, not_equals, contains, not_contains"
                    .into(),
            ));
        }
        filters.push(Filter {
            column,
            test: tests.pop().expect("one test"),
        });
    }
    Ok(Gauge {
        object,
        scale,
        idle: s.idle,
        number_after,
        filters,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[profile]]
name = "acme"
description = "Acme routers"
sys_object_id = ["1.3.6.1.4.1.99999"]
sys_descr = "AcmeOS"

[[profile.cpu]]
column = "1.3.6.1.4.1.99999.1.1.5"
window = "1min"
scale = "hundredths"
filter = [{ column = "1.3.6.1.4.1.99999.1.1.9", nonzero = true },
          { column = "1.3.6.1.4.1.99999.1.1.2", not_contains = ["Fan"] }]
name_column = "1.3.6.1.4.1.99999.1.1.2"

[[profile.cpu]]
scalar = "1.3.6.1.4.1.99999.2.0"
idle = true
number_after = "1 Min ("

[[profile.cpu]]
read = "ucd"
"#;

    #[test]
    fn a_profile_file_parses_into_its_sources() {
        let p = parse("acme.toml", GOOD, true).unwrap();
        assert_eq!(p.len(), 1);
        let p = &p[0];
        assert_eq!(p.name, "acme");
        assert_eq!(p.line, 2);
        assert_eq!(p.sys_descr.as_deref(), Some("acmeos"));
        assert_eq!(p.sources.len(), 3);
        let Read::Gauge(g) = &p.sources[0].read else {
            panic!()
        };
        assert_eq!(p.sources[0].window, Some(CpuWindow::OneMinute));
        assert_eq!(g.scale, Scale::Hundredths);
        assert_eq!(g.filters.len(), 2);
        assert_eq!(g.filters[1].test, Test::NotContains(vec!["fan".into()]));
        assert!(matches!(g.name, RowName::Column(_)));
        let Read::Gauge(g) = &p.sources[1].read else {
            panic!()
        };
        assert!(g.idle);
        assert_eq!(g.number_after.as_deref(), Some("1 Min ("));
        assert_eq!(p.sources[2].read, Read::Ucd);
    }

    fn error(text: &str) -> ProfileError {
        parse("u.toml", text, true).unwrap_err()
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let bad_oid = GOOD.replace("\"1.3.6.1.4.1.99999.2.0\"", "\"1.3.x\"");
        let e = error(&bad_oid);
        assert_eq!((e.line, e.key.as_str()), (17, "scalar"), "{e}");
        assert!(
            e.to_string()
                .starts_with("profile file u.toml line 17: scalar:"),
            "{e}"
        );

        let unknown = GOOD.replace("idle = true", "idel = true");
        let e = error(&unknown);
        assert_eq!((e.line, e.key.as_str()), (18, "idel"), "{e}");

        let wrong_type = GOOD.replace("idle = true", "idle = \"yes\"");
        let e = error(&wrong_type);
        assert_eq!((e.line, e.key.as_str()), (18, "idle"), "{e}");

        let scale = GOOD.replace("\"hundredths\"", "\"thousandths\"");
        let e = error(&scale);
        assert_eq!((e.line, e.key.as_str()), (11, "scale"), "{e}");

        let window = GOOD.replace("\"1min\"", "\"15min\"");
        assert_eq!(error(&window).key, "window");

        let both = GOOD.replace("read = \"ucd\"", "read = \"ucd\"\nidle = true");
        assert_eq!(error(&both).key, "read");

        let two_tests = GOOD.replace("nonzero = true", "nonzero = true, equals = [1]");
        let e = error(&two_tests);
        assert_eq!((e.line, e.key.as_str()), (12, "filter"), "{e}");

        let name = GOOD.replace("\"acme\"", "\"a c m e\"");
        assert_eq!(error(&name).key, "name");

        let no_match = GOOD.replace("[\"1.3.6.1.4.1.99999\"]", "[]");
        assert_eq!(error(&no_match).key, "sys_object_id");

        let missing = GOOD.replace("name = \"acme\"\n", "");
        let e = error(&missing);
        assert!(e.message.contains("name"), "{e}");

        let syntax = GOOD.replace("idle = true", "idle = ");
        assert_eq!(error(&syntax).line, 18);
    }
}
