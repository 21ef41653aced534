//! SNMP PDUs (RFC 3416): GetRequest, GetNextRequest, GetBulkRequest, Response, Report (and the other v2 kinds,
//! decoded so they can be recognised and dropped): request id, error status and index (non-repeaters and
//! max-repetitions for GetBulk), and the variable bindings as `(Oid, Value)`.

use super::ber::{self, BerError, Reader, Value};
use super::oid::Oid;

/// A variable binding.
pub type VarBind = (Oid, Value);

/// Most variable bindings decoded from one PDU (a bound on memory for hostile input).
pub const MAX_VARBINDS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduKind {
    GetRequest,
    GetNextRequest,
    Response,
    SetRequest,
    GetBulkRequest,
    InformRequest,
    TrapV2,
    Report,
}

impl PduKind {
    pub fn tag(self) -> u8 {
        match self {
            PduKind::GetRequest => 0xa0,
            PduKind::GetNextRequest => 0xa1,
            PduKind::Response => 0xa2,
            PduKind::SetRequest => 0xa3,
            PduKind::GetBulkRequest => 0xa5,
            PduKind::InformRequest => 0xa6,
            PduKind::TrapV2 => 0xa7,
            PduKind::Report => 0xa8,
        }
    }

    pub fn from_tag(tag: u8) -> Option<PduKind> {
        Some(match tag {
            0xa0 => PduKind::GetRequest,
            0xa1 => PduKind::GetNextRequest,
            0xa2 => PduKind::Response,
            0xa3 => PduKind::SetRequest,
            0xa5 => PduKind::GetBulkRequest,
            0xa6 => PduKind::InformRequest,
            0xa7 => PduKind::TrapV2,
            0xa8 => PduKind::Report,
            _ => return None,
        })
    }
}

/// The name of an error-status value (RFC 3416 section 3).
pub fn error_status_name(status: i32) -> &'static str {
    match status {
        0 => "noError",
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        7 => "wrongType",
        8 => "wrongLength",
        9 => "wrongEncoding",
        10 => "wrongValue",
        11 => "noCreation",
        12 => "inconsistentValue",
        13 => "resourceUnavailable",
        14 => "commitFailed",
        15 => "undoFailed",
        16 => "authorizationError",
        17 => "notWritable",
        18 => "inconsistentName",
        _ => "unknown error status",
    }
}

/// A PDU. For `GetBulkRequest`, `error_status` is non-repeaters and `error_index` max-repetitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub kind: PduKind,
    pub request_id: i32,
    pub error_status: i32,
    pub error_index: i32,
    pub varbinds: Vec<VarBind>,
}

impl Pdu {
    /// A request for `oids` (values NULL).
    fn request(kind: PduKind, request_id: i32, a: i32, b: i32, oids: &[Oid]) -> Pdu {
        Pdu {
            kind,
            request_id,
            error_status: a,
            error_index: b,
            varbinds: oids.iter().map(|o| (o.clone(), Value::Null)).collect(),
        }
    }

    pub fn get(request_id: i32, oids: &[Oid]) -> Pdu {
        Pdu::request(PduKind::GetRequest, request_id, 0, 0, oids)
    }

    pub fn get_next(request_id: i32, oids: &[Oid]) -> Pdu {
        Pdu::request(PduKind::GetNextRequest, request_id, 0, 0, oids)
    }

    pub fn get_bulk(
        request_id: i32,
        non_repeaters: i32,
        max_repetitions: i32,
        oids: &[Oid],
    ) -> Pdu {
        Pdu::request(
            PduKind::GetBulkRequest,
            request_id,
            non_repeaters,
            max_repetitions,
            oids,
        )
    }

    /// A Response (or, with `kind`, a Report) carrying `varbinds`.
    pub fn response(
        request_id: i32,
        error_status: i32,
        error_index: i32,
        varbinds: Vec<VarBind>,
    ) -> Pdu {
        Pdu {
            kind: PduKind::Response,
            request_id,
            error_status,
            error_index,
            varbinds,
        }
    }

    /// GetBulk's non-repeaters (0 when negative, as RFC 3416 4.2.3 says).
    pub fn non_repeaters(&self) -> usize {
        self.error_status.max(0) as usize
    }

    /// GetBulk's max-repetitions (0 when negative).
    pub fn max_repetitions(&self) -> usize {
        self.error_index.max(0) as usize
    }

    /// Appends the PDU's TLV.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_with_id(out, self.request_id)
    }

    /// Appends the PDU's TLV with request id `id` in place of its own.
    pub fn encode_with_id(&self, out: &mut Vec<u8>, id: i32) {
        ber::put_constructed(out, self.kind.tag(), |c| {
            ber::put_i64(c, ber::TAG_INTEGER, i64::from(id));
            ber::put_i64(c, ber::TAG_INTEGER, i64::from(self.error_status));
            ber::put_i64(c, ber::TAG_INTEGER, i64::from(self.error_index));
            ber::put_constructed(c, ber::TAG_SEQUENCE, |list| {
                for (oid, value) in &self.varbinds {
                    ber::put_constructed(list, ber::TAG_SEQUENCE, |vb| {
                        ber::put_oid(vb, oid);
                        value.encode(vb);
                    });
                }
            });
        });
    }

    /// Decodes one PDU TLV from `r`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Pdu, BerError> {
        let (tag, content) = r.read_any()?;
        let kind = PduKind::from_tag(tag).ok_or(BerError::Invalid("not a v2 PDU"))?;
        let mut p = Reader::new(content);
        let request_id = p.read_i32()?;
        let error_status = p.read_i32()?;
        let error_index = p.read_i32()?;
        let mut list = p.read_sequence()?;
        p.finish()?;
        // Counted first (their headers only), so the list is allocated once: growing it cost a reallocation and a
        // copy of what was decoded for every doubling.
        let mut varbinds = Vec::with_capacity(count_tlvs(list.clone(), MAX_VARBINDS));
        while !list.is_empty() {
            if varbinds.len() == MAX_VARBINDS {
                return Err(BerError::Invalid("too many variable bindings"));
            }
            let mut vb = list.read_sequence()?;
            let oid = vb.read_oid()?;
            let value = Value::decode(&mut vb)?;
            vb.finish()?;
            varbinds.push((oid, value));
        }
        Ok(Pdu {
            kind,
            request_id,
            error_status,
            error_index,
            varbinds,
        })
    }

    /// The encoded PDU.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 32 * self.varbinds.len());
        self.encode(&mut out);
        out
    }

    /// Decodes exactly one PDU from `buf`.
    pub fn from_bytes(buf: &[u8]) -> Result<Pdu, BerError> {
        let mut r = Reader::new(buf);
        let pdu = Pdu::decode(&mut r)?;
        r.finish()?;
        Ok(pdu)
    }
}

/// The TLVs in `r`, at most `max` (a malformed one ends the count: the decoder then reports it).
fn count_tlvs(mut r: Reader<'_>, max: usize) -> usize {
    let mut n = 0;
    while n < max && !r.is_empty() && r.read_any().is_ok() {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdus_round_trip() {
        let oids = [
            Oid::parse("1.3.6.1.2.1.1.3.0").unwrap(),
            Oid::parse("1.3.6.1.4.1.2021.11.50.0").unwrap(),
        ];
        for pdu in [
            Pdu::get(7, &oids),
            Pdu::get_next(-5, &oids),
            Pdu::get_bulk(i32::MAX, 0, 25, &oids[..1]),
            Pdu::response(
                9,
                0,
                0,
                vec![
                    (oids[0].clone(), Value::TimeTicks(12345)),
                    (oids[1].clone(), Value::Counter32(u32::MAX)),
                ],
            ),
        ] {
            assert_eq!(Pdu::from_bytes(&pdu.to_bytes()).unwrap(), pdu);
        }
        let bulk = Pdu::get_bulk(1, 2, 30, &oids);
        assert_eq!((bulk.non_repeaters(), bulk.max_repetitions()), (2, 30));
    }

    #[test]
    fn a_known_get_request_encodes_as_net_snmp_sends_it() {
        // snmpget -v2c ... 1.3.6.1.2.1.1.3.0, the PDU part, request id 1.
        let pdu = Pdu::get(1, &[Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()]);
        assert_eq!(
            pdu.to_bytes(),
            [
                0xa0, 0x19, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30,
                0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00, 0x05, 0x00
            ]
        );
    }

    #[test]
    fn truncated_pdus_are_errors_not_panics() {
        let pdu = Pdu::response(
            3,
            0,
            0,
            vec![(
                Oid::parse("1.3.6.1.2.1.1.3.0").unwrap(),
                Value::TimeTicks(5),
            )],
        )
        .to_bytes();
        for n in 0..pdu.len() {
            assert!(Pdu::from_bytes(&pdu[..n]).is_err(), "{n}");
        }
        let mut extra = pdu.clone();
        extra.push(0);
        assert!(Pdu::from_bytes(&extra).is_err());
        assert_eq!(error_status_name(2), "noSuchName");
    }
}
