//! Object identifiers: parsing from dotted text, display, and their BER content encoding (X.690 8.19).

use std::fmt;

use super::ber::BerError;

/// Most sub-identifiers an OID may have (RFC 2578 3.5: at most 128).
pub const MAX_SUB_IDS: usize = 128;

/// An object identifier, e.g. `1.3.6.1.2.1.1.3.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Oid(Vec<u32>);

/// Text that is not a dotted OID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an object identifier like 1.3.6.1.2.1.1.3.0")]
pub struct OidParseError(pub String);

impl Oid {
    /// From sub-identifiers; an OID has at least two (the first 0..=2, the second below 40 unless the first is 2).
    pub fn new(ids: &[u32]) -> Result<Oid, OidParseError> {
        let valid = ids.len() >= 2
            && ids.len() <= MAX_SUB_IDS
            && ids[0] <= 2
            && (ids[0] == 2 || ids[1] < 40)
            && (ids[0] < 2 || ids[1] <= u32::MAX - 80);
        if !valid {
            let text = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            return Err(OidParseError(text));
        }
        Ok(Oid(ids.to_vec()))
    }

    /// Parses `1.3.6.1...` (a leading dot is accepted, as net-snmp prints it).
    pub fn parse(text: &str) -> Result<Oid, OidParseError> {
        let bad = || OidParseError(text.to_string());
        let body = text.strip_prefix('.').unwrap_or(text);
        let ids = body
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                part.parse::<u32>().map_err(|_| bad())
            })
            .collect::<Result<Vec<u32>, _>>()?;
        Oid::new(&ids).map_err(|_| bad())
    }

    pub fn ids(&self) -> &[u32] {
        &self.0
    }

    /// This OID with `id` appended (e.g. an instance `.0`).
    pub fn child(&self, id: u32) -> Oid {
        let mut ids = self.0.clone();
        ids.push(id);
        Oid(ids)
    }

    /// Whether `self` lies in the subtree `prefix` (equal counts).
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The BER content octets (without tag and length).
    pub fn encode_content(&self, out: &mut Vec<u8>) {
        let first = self.0[0] * 40 + self.0[1];
        push_base128(first, out);
        for &id in &self.0[2..] {
            push_base128(id, out);
        }
    }

    /// Decodes BER content octets; errors on an empty, unterminated, non-minimal or overflowing encoding.
    pub fn decode_content(content: &[u8]) -> Result<Oid, BerError> {
        if content.is_empty() {
            return Err(BerError::BadOid);
        }
        let mut ids = Vec::with_capacity(content.len() + 1);
        let mut value: u32 = 0;
        let mut fresh = true;
        for &b in content {
            if fresh && b == 0x80 {
                return Err(BerError::BadOid); // non-minimal
            }
            if value > (u32::MAX >> 7) {
                return Err(BerError::BadOid);
            }
            value = (value << 7) | u32::from(b & 0x7f);
            fresh = b & 0x80 == 0;
            if fresh {
                if ids.is_empty() {
                    let (a, b) = match value {
                        v if v < 40 => (0, v),
                        v if v < 80 => (1, v - 40),
                        v => (2, v - 80),
                    };
                    ids.push(a);
                    ids.push(b);
                } else {
                    ids.push(value);
                }
                if ids.len() > MAX_SUB_IDS {
                    return Err(BerError::BadOid);
                }
                value = 0;
            }
        }
        if !fresh {
            return Err(BerError::BadOid); // the last sub-identifier is unterminated
        }
        Ok(Oid(ids))
    }
}

fn push_base128(mut v: u32, out: &mut Vec<u8>) {
    let mut tmp = [0u8; 5];
    let mut n = 0;
    loop {
        tmp[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(tmp[i] | if i == 0 { 0 } else { 0x80 });
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Oid {
    type Err = OidParseError;
    fn from_str(s: &str) -> Result<Oid, OidParseError> {
        Oid::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_displays_and_round_trips() {
        let oid = Oid::parse(".1.3.6.1.4.1.2021.11.50.0").unwrap();
        assert_eq!(oid.to_string(), "1.3.6.1.4.1.2021.11.50.0");
        let mut content = Vec::new();
        oid.encode_content(&mut content);
        assert_eq!(content[0], 0x2b); // 1*40 + 3
        assert_eq!(&content[5..7], &[0x8f, 0x65]); // 2021
        assert_eq!(Oid::decode_content(&content).unwrap(), oid);
        let big = Oid::new(&[2, 999, u32::MAX]).unwrap();
        let mut c = Vec::new();
        big.encode_content(&mut c);
        assert_eq!(Oid::decode_content(&c).unwrap(), big);
    }

    #[test]
    fn rejects_bad_text_and_bad_encodings() {
        for bad in [
            "",
            "1",
            "1..3",
            "3.1",
            "1.40",
            "1.3.x",
            "1.3.-1",
            "1.3.99999999999",
        ] {
            assert!(Oid::parse(bad).is_err(), "{bad}");
        }
        for bad in [
            &[][..],
            &[0x2b, 0x80, 0x01],
            &[0x2b, 0x81],
            &[0x2b, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ] {
            assert!(Oid::decode_content(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subtree_test() {
        let base = Oid::parse("1.3.6.1.2.1.25.3.3.1.2").unwrap();
        assert!(base.child(196608).starts_with(&base));
        assert!(!Oid::parse("1.3.6.1.2.1.25.3.3.1.3.1")
            .unwrap()
            .starts_with(&base));
    }
}
