//! The quick check of a records body in its common shape: a JSON array of objects with exactly the record's keys,
//! ASCII strings without escapes and plain numbers, checked in one pass over the bytes. It only ever says "yes,
//! this many records" or "not sure": anything else (escapes, non-ASCII text, exponents, very long integers,
//! unknown, repeated or missing keys, any error) is left to the full serde parser in `codec::count_records`, which
//! decides and says what is wrong. So the quick check may decline a good body, but never accepts one that the full
//! parser would refuse or count differently (tests and the `load_body` fuzz target compare the two).
//!
//! Why: checking the body with serde_json cost the mock ~8,000 instructions per record (every string re-validated
//! as UTF-8, every key matched through a visitor), most of the mock's CPU and so of the end-to-end run's.

/// The number of records in `body`, when it is a well-formed array of records in the common shape; `None` when
/// the quick check is not sure (the body may still be good).
pub fn count(body: &[u8]) -> Option<u64> {
    let mut s = Scan { b: body, i: 0 };
    s.ws();
    s.eat(b'[')?;
    s.ws();
    let mut n = 0;
    if s.eat(b']').is_none() {
        loop {
            s.record()?;
            n += 1;
            if !s.more(b']')? {
                break;
            }
        }
    }
    s.ws();
    (s.i == body.len()).then_some(n)
}

/// A cursor over the body.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

/// Keys of a record, as bits of the set of keys seen.
const NAME: u8 = 1;
const CPU_NUMBER: u8 = 2;
const TIMESTAMP: u8 = 4;
const INDICATORS: u8 = 8;
/// Keys of an indicator.
const VALUE: u8 = 2;

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// JSON whitespace (exactly serde_json's: space, tab, newline, carriage return).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// After an element: `,` (another follows: `true`) or `close` (the end: `false`), whitespace around.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        if self.eat(b',').is_some() {
            self.ws();
            return Some(true);
        }
        self.eat(close)?;
        Some(false)
    }

    /// A string of printable ASCII without escapes; its content.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let end = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))?;
        if rest[end] != b'"' {
            return None;
        }
        self.i += end + 1;
        Some(&rest[..end])
    }

    /// A number `-?(0|[1-9][0-9]{0,17})(.[0-9]+)?`: no exponent, and an integer part that fits any integer type.
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        let digits = |s: &mut Self| {
            let start = s.i;
            while s.peek().is_some_and(|c| c.is_ascii_digit()) {
                s.i += 1;
            }
            s.i - start
        };
        let first = self.peek()?;
        let whole = digits(self);
        if whole == 0 || whole > 18 || (first == b'0' && whole > 1) {
            return None;
        }
        if self.eat(b'.').is_some() && digits(self) == 0 {
            return None;
        }
        // An exponent (or anything else glued on) fails the caller's next `,` or `}`.
        Some(())
    }

    fn string_or_number(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object whose keys are each read by `member` (which answers the key's bit, or `None`); every key at most
    /// once, and all of `all` present.
    fn object(
        &mut self,
        all: u8,
        mut member: impl FnMut(&mut Self, &[u8]) -> Option<u8>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        let mut seen = 0;
        loop {
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let bit = member(self, key)?;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if !self.more(b'}')? {
                break;
            }
        }
        (seen == all).then_some(())
    }

    fn record(&mut self) -> Option<()> {
        self.object(
            NAME | CPU_NUMBER | TIMESTAMP | INDICATORS,
            |s, key| match key {
                b"name" => s.string().map(|_| NAME),
                b"cpu_number" => s.string_or_number().map(|()| CPU_NUMBER),
                b"timestamp" => s.string_or_number().map(|()| TIMESTAMP),
                b"indicators" => s.indicators().map(|()| INDICATORS),
                _ => None,
            },
        )
    }

    fn indicators(&mut self) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.object(NAME | VALUE, |s, key| match key {
                b"name" => s.string().map(|_| NAME),
                b"value" => s.string_or_number().map(|()| VALUE),
                _ => None,
            })?;
            if !self.more(b']')? {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::count_records_in_full;

    const RECORD: &str = r#"{"name":"device-1","cpu_number":"0","timestamp":1700000000,"indicators":[{"name":"utilization","value":12.7},{"name":"nice","value":0.5}]}"#;

    #[test]
    fn the_common_shape_is_counted() {
        assert_eq!(count(b"[]"), Some(0));
        assert_eq!(count(b" \r\n\t[ ]\n"), Some(0));
        assert_eq!(count(format!("[{RECORD}]").as_bytes()), Some(1));
        assert_eq!(
            count(format!("[{RECORD},{RECORD},{RECORD}]").as_bytes()),
            Some(3)
        );
        let spaced =
            r#" [ { "indicators" : [ ] , "timestamp" : "5" , "cpu_number" : -3 , "name" : "" } ] "#;
        assert_eq!(count(spaced.as_bytes()), Some(1));
        let numbers = r#"[{"name":"d","cpu_number":0,"timestamp":-0.25,"indicators":[{"name":"x","value":"7"},{"value":100,"name":"y"}]}]"#;
        assert_eq!(count(numbers.as_bytes()), Some(1));
    }

    #[test]
    fn anything_unusual_is_left_to_the_full_parser() {
        for body in [
            r#"[{"name":"d\u0041","cpu_number":"0","timestamp":1,"indicators":[]}]"#, // escape
            r#"[{"name":"café","cpu_number":"0","timestamp":1,"indicators":[]}]"#,    // non-ASCII
            r#"[{"name":"d","cpu_number":"0","timestamp":1e3,"indicators":[]}]"#,     // exponent
            r#"[{"name":"d","cpu_number":"0","timestamp":1234567890123456789,"indicators":[]}]"#,
            r#"[{"name":"d","cpu_number":"0","timestamp":1,"indicators":[],"extra":1}]"#,
            r#"[{"name":"d","cpu_number":"0","indicators":[]}]"#, // missing
            r#"[{"name":"d","name":"e","cpu_number":"0","timestamp":1,"indicators":[]}]"#,
            r#"[["d","0",1,[]]]"#, // a record as an array: serde accepts it
            r#"[{"name":"d","cpu_number":"0","timestamp":01,"indicators":[]}]"#,
            r#"[{"name":"d","cpu_number":"0","timestamp":1.,"indicators":[]}]"#,
            r#"[{"name":"d","cpu_number":"0","timestamp":1,"indicators":[{"name":"u"}]}]"#,
            r#"[{"name":"d","cpu_number":"0","timestamp":true,"indicators":[]}]"#,
            "[{}]",
            "[1]",
            "[,]",
            "[] x",
            "\u{feff}[]",
            "[\x0c]",
            "",
        ] {
            assert_eq!(count(body.as_bytes()), None, "{body}");
        }
    }

    /// Bodies near the common shape: every prefix of a valid body, and single-byte changes of it.
    fn variants() -> Vec<Vec<u8>> {
        let base = format!(
            r#"[{RECORD}, {{"name":"d","cpu_number":7,"timestamp":"1","indicators":[{{"value":"-1.5","name":"u"}}]}}]"#
        )
        .into_bytes();
        let mut out = Vec::new();
        for i in 0..=base.len() {
            out.push(base[..i].to_vec());
        }
        let bytes = b" \t\n\r\x0c\"\\,:{}[]-+.0159eEtnul\x00\x7f\xc3\xa9";
        for i in 0..base.len() {
            for &c in bytes {
                let mut changed = base.clone();
                changed[i] = c;
                out.push(changed);
                let mut inserted = base.clone();
                inserted.insert(i, c);
                out.push(inserted);
            }
            let mut removed = base.clone();
            removed.remove(i);
            out.push(removed);
        }
        out
    }

    #[test]
    fn what_the_quick_check_accepts_the_full_parser_accepts_with_the_same_count() {
        let (mut quick, mut total) = (0, 0);
        for body in variants() {
            total += 1;
            if let Some(n) = count(&body) {
                quick += 1;
                assert_eq!(
                    count_records_in_full(&body),
                    Ok(n),
                    "{}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        // The quick check does take most well-formed variants (spaces, digits and reordered bytes).
        assert!(quick > 500, "{quick} of {total}");
    }
}
