//! A line protocol reader (the mock's check of what it receives, and the round trip of the tests): each line's
//! measurement, tags, fields and timestamp, unescaped per the rules `escape` writes by; anything else is an error
//! naming the line, as InfluxDB answers 400 for it.

/// One point as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, f64)>,
    pub timestamp: Option<i64>,
}

/// Reads an element up to an unescaped byte of `stops` (or the end); returns it unescaped and the stop found.
fn element(line: &[u8], at: &mut usize, stops: &[u8]) -> Result<(String, Option<u8>), String> {
    let mut out = Vec::new();
    while *at < line.len() {
        let b = line[*at];
        if b == b'\\' && *at + 1 < line.len() {
            let next = line[*at + 1];
            if next == b'\\' || next == b',' || next == b'=' || next == b' ' {
                out.push(next);
                *at += 2;
                continue;
            }
        }
        if stops.contains(&b) {
            *at += 1;
            let s = String::from_utf8(out).map_err(|_| "not UTF-8".to_string())?;
            return Ok((s, Some(b)));
        }
        out.push(b);
        *at += 1;
    }
    let s = String::from_utf8(out).map_err(|_| "not UTF-8".to_string())?;
    Ok((s, None))
}

/// A field value: a float, an integer (`i`/`u`) or a boolean as its number; a string field is refused (the sink
/// writes none).
fn field_value(text: &str) -> Result<f64, String> {
    let number = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite());
    if let Some(int) = text.strip_suffix('i').or_else(|| text.strip_suffix('u')) {
        return int
            .parse::<i64>()
            .map(|v| v as f64)
            .map_err(|_| format!("invalid integer field value `{text}`"));
    }
    match text {
        "t" | "T" | "true" | "True" | "TRUE" => Ok(1.0),
        "f" | "F" | "false" | "False" | "FALSE" => Ok(0.0),
        _ => number(text).ok_or_else(|| format!("invalid field value `{text}`")),
    }
}

/// Reads one line.
pub fn line(line: &[u8]) -> Result<Point, String> {
    let mut at = 0;
    let (measurement, stop) = element(line, &mut at, b", ")?;
    if measurement.is_empty() {
        return Err("missing measurement".into());
    }
    let mut tags = Vec::new();
    let mut stop = stop.ok_or("missing fields")?;
    while stop == b',' {
        let (k, s) = element(line, &mut at, b"= ,")?;
        if s != Some(b'=') || k.is_empty() {
            return Err(format!("missing tag value of `{k}`"));
        }
        let (v, s) = element(line, &mut at, b", =")?;
        if v.is_empty() || s == Some(b'=') {
            return Err(format!("invalid tag value of `{k}`"));
        }
        tags.push((k, v));
        stop = s.ok_or("missing fields")?;
    }
    let mut fields = Vec::new();
    loop {
        let (k, s) = element(line, &mut at, b"= ,")?;
        if s != Some(b'=') || k.is_empty() {
            return Err(format!("invalid field `{k}`"));
        }
        let (v, s) = element(line, &mut at, b", ")?;
        fields.push((k, field_value(&v)?));
        match s {
            Some(b',') => continue,
            Some(_) | None => {
                let rest = std::str::from_utf8(&line[at..]).map_err(|_| "not UTF-8")?;
                let timestamp = match rest.trim() {
                    "" if s.is_none() => None,
                    "" => return Err("trailing space without a timestamp".into()),
                    t => Some(t.parse().map_err(|_| format!("invalid timestamp `{t}`"))?),
                };
                return Ok(Point {
                    measurement,
                    tags,
                    fields,
                    timestamp,
                });
            }
        }
    }
}

/// Reads every line of a body (empty lines and `#` comments skipped); the error names the line.
pub fn lines(body: &[u8]) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for (n, l) in body.split(|b| *b == b'\n').enumerate() {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.iter().all(u8::is_ascii_whitespace) || l.first() == Some(&b'#') {
            continue;
        }
        out.push(line(l).map_err(|e| format!("unable to parse line {}: {e}", n + 1))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::sinks::influx_line::escape;

    #[test]
    fn reads_the_protocols_examples() {
        let p = line(br#"weather,location=us-midwest,season=summer temperature=82,humidity=71i 1465839830100400200"#).unwrap();
        assert_eq!(p.measurement, "weather");
        assert_eq!(
            p.tags,
            vec![
                ("location".into(), "us-midwest".into()),
                ("season".into(), "summer".into())
            ]
        );
        assert_eq!(
            p.fields,
            vec![("temperature".into(), 82.0), ("humidity".into(), 71.0)]
        );
        assert_eq!(p.timestamp, Some(1465839830100400200));
        let p = line(br#"my\ measurement,tag\ key=tag\,value\=x field\=key=1"#).unwrap();
        assert_eq!(p.measurement, "my measurement");
        assert_eq!(p.tags, vec![("tag key".into(), "tag,value=x".into())]);
        assert_eq!(p.fields, vec![("field=key".into(), 1.0)]);
        assert_eq!(p.timestamp, None);
        for bad in [
            &b"m"[..],
            b"m,t= f=1",
            b"m,t f=1",
            b"m f=",
            b"m f=abc",
            b"m f=1 notatime",
            b",t=1 f=1",
        ] {
            assert!(line(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(lines(b"m f=1 1\n\nm f=2 2\n").unwrap().len() == 2);
        assert!(lines(b"m f=1 1\nm\n").unwrap_err().contains("line 2"));
    }

    #[test]
    fn whatever_the_escaper_writes_reads_back_the_same() {
        for name in [
            "plain",
            "two words",
            "a,b=c",
            "\"quoted\"",
            "back\\slash",
            "a\\ b",
            "end\\",
            "\\,",
            "é=日本 ,",
        ] {
            let mut l = Vec::new();
            escape::measurement(&mut l, name);
            l.extend_from_slice(b",device=");
            escape::key(&mut l, name);
            l.push(b' ');
            escape::key(&mut l, name);
            l.extend_from_slice(b"=1.5 7");
            let p =
                line(&l).unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&l)));
            assert_eq!(p.measurement, name);
            assert_eq!(p.tags, vec![("device".into(), name.into())]);
            assert_eq!(p.fields, vec![(name.into(), 1.5)]);
            assert_eq!(p.timestamp, Some(7));
        }
    }
}
