//! Line protocol's escaping rules, per element (InfluxDB's line protocol reference, "Special characters"):
//!
//! | element                          | escaped with a backslash          |
//! |----------------------------------|-----------------------------------|
//! | measurement                      | comma, space                      |
//! | tag key, tag value, field key    | comma, equals sign, space         |
//!
//! A backslash is written as it is (`DOMAIN\host`), which every store reads as itself. Only where it would be
//! read as an escape (before another backslash, before a character escaped here, or at the end) is it doubled,
//! as InfluxDB 2.x and VictoriaMetrics read `\\` as one backslash; InfluxDB 1.x has no escape for a backslash
//! and keeps those two (tested against both: `tests/it/sinks.rs`). Line protocol cannot hold a newline: a line
//! feed, carriage return or other control character is written as an (escaped) space. Double quotes need no
//! escape in names.

/// Appends `s` escaped for a measurement.
pub fn measurement(out: &mut Vec<u8>, s: &str) {
    escape(out, s, b", ");
}

/// Appends `s` escaped for a tag key, tag value or field key.
pub fn key(out: &mut Vec<u8>, s: &str) {
    escape(out, s, b",= ");
}

fn escape(out: &mut Vec<u8>, s: &str, special: &[u8]) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != 0x7f && b != b'\\' && !special.contains(&b))
    {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaping = match chars.peek() {
                    None => true,
                    Some(&n) => {
                        n == '\\'
                            || n.is_control()
                            || (n.is_ascii() && special.contains(&(n as u8)))
                    }
                };
                out.extend_from_slice(if escaping { b"\\\\" } else { b"\\" });
            }
            // A control character becomes a space, escaped where a space is special.
            c if c.is_control() => out.extend_from_slice(b"\\ "),
            c if c.is_ascii() && special.contains(&(c as u8)) => {
                out.push(b'\\');
                out.push(c as u8);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> String {
        let mut out = Vec::new();
        key(&mut out, s);
        String::from_utf8(out).unwrap()
    }
    fn m(s: &str) -> String {
        let mut out = Vec::new();
        measurement(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_protocols_examples() {
        // The reference's examples: `cpu\,04`, `two\ words`, `equals\=sign`, quotes as they are.
        assert_eq!(k("cpu,04"), "cpu\\,04");
        assert_eq!(k("two words"), "two\\ words");
        assert_eq!(k("equals=sign"), "equals\\=sign");
        assert_eq!(k("\"quoted\""), "\"quoted\"");
        assert_eq!(k("plain-name_1.example"), "plain-name_1.example");
        assert_eq!(k("é 日本"), "é\\ 日本");
        // Measurements keep equals signs as they are.
        assert_eq!(m("my measurement,x=1"), "my\\ measurement\\,x=1");
    }

    #[test]
    fn backslashes_and_control_characters() {
        assert_eq!(k("DOMAIN\\host"), "DOMAIN\\host");
        assert_eq!(k("two\\\\x"), "two\\\\\\x");
        assert_eq!(k("a\\ b"), "a\\\\\\ b");
        assert_eq!(k("a\\,b"), "a\\\\\\,b");
        assert_eq!(k("end\\"), "end\\\\");
        assert_eq!(k("line\nfeed"), "line\\ feed");
        assert_eq!(m("tab\there"), "tab\\ here");
    }
}
