//! SNMP messages: the community-based v1/v2c message (RFC 1901) and the v3 message (RFC 3412) with its header
//! data, USM security parameters (RFC 3414 2.4) and scoped PDU, plaintext or encrypted. Encoding and decoding
//! only; authentication and privacy are in `usm.rs`.

use super::ber::{self, BerError, Reader};
use super::pdu::Pdu;

/// msgVersion of a v2c message.
pub const VERSION_2C: i32 = 1;
/// msgVersion of a v3 message.
pub const VERSION_3: i32 = 3;
/// msgSecurityModel of USM.
pub const SECURITY_MODEL_USM: i32 = 3;

/// msgFlags bits (RFC 3412 6.4).
pub const FLAG_AUTH: u8 = 0x01;
pub const FLAG_PRIV: u8 = 0x02;
pub const FLAG_REPORTABLE: u8 = 0x04;

/// A v1/v2c message: version, community, PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityMessage {
    /// 0 for v1, 1 for v2c.
    pub version: i32,
    pub community: Vec<u8>,
    pub pdu: Pdu,
}

impl CommunityMessage {
    pub fn v2c(community: &[u8], pdu: Pdu) -> Self {
        CommunityMessage {
            version: VERSION_2C,
            community: community.to_vec(),
            pdu,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        encode_community(
            self.version,
            &self.community,
            &self.pdu,
            self.pdu.request_id,
        )
    }

    /// Decodes a whole datagram; a v3 message is an error here (see [`peek_version`]).
    pub fn decode(buf: &[u8]) -> Result<Self, BerError> {
        let mut outer = Reader::new(buf);
        let mut r = outer.read_sequence()?;
        outer.finish()?;
        let version = r.read_i32()?;
        if version != 0 && version != VERSION_2C {
            return Err(BerError::Invalid("not a v1/v2c message"));
        }
        let community = r.read_octets()?.to_vec();
        let pdu = Pdu::decode(&mut r)?;
        r.finish()?;
        Ok(CommunityMessage {
            version,
            community,
            pdu,
        })
    }
}

/// The PDU of a v1/v2c message of `version` and `community`, decoded without copying the community (what a
/// poller does with each answer); `None` for another message, or one that does not decode.
pub fn community_pdu(buf: &[u8], version: i32, community: &[u8]) -> Option<Pdu> {
    let mut outer = Reader::new(buf);
    let mut r = outer.read_sequence().ok()?;
    outer.finish().ok()?;
    if r.read_i32().ok()? != version || r.read_octets().ok()? != community {
        return None;
    }
    let pdu = Pdu::decode(&mut r).ok()?;
    r.finish().ok()?;
    Some(pdu)
}

/// A v1/v2c message of `pdu` with request id `id`, encoded without building the message (or copying the PDU):
/// what a poller sends for each attempt.
pub fn encode_community(version: i32, community: &[u8], pdu: &Pdu, id: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    ber::put_constructed(&mut out, ber::TAG_SEQUENCE, |c| {
        ber::put_i64(c, ber::TAG_INTEGER, i64::from(version));
        ber::put_tlv(c, ber::TAG_OCTET_STRING, community);
        pdu.encode_with_id(c, id);
    });
    out
}

/// The msgVersion of a datagram, read without decoding the rest.
pub fn peek_version(buf: &[u8]) -> Result<i32, BerError> {
    Reader::new(buf).read_sequence()?.read_i32()
}

/// What a transport matches a reply on, read without decoding (or decrypting) the rest: the PDU's request id
/// for v1/v2c, msgID for v3. `None` for what is not an SNMP message.
pub fn dispatch_id(buf: &[u8]) -> Option<i32> {
    let mut r = Reader::new(buf).read_sequence().ok()?;
    match r.read_i32().ok()? {
        0 | VERSION_2C => {
            r.read_octets().ok()?;
            let (_, content) = r.read_any().ok()?;
            Reader::new(content).read_i32().ok()
        }
        VERSION_3 => r.read_sequence().ok()?.read_i32().ok(),
        _ => None,
    }
}

/// msgGlobalData (RFC 3412 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderData {
    pub msg_id: i32,
    pub max_size: u32,
    pub flags: u8,
    pub security_model: i32,
}

impl HeaderData {
    /// The header of a USM message.
    pub fn usm(msg_id: i32, max_size: u32, flags: u8) -> Self {
        HeaderData {
            msg_id,
            max_size,
            flags,
            security_model: SECURITY_MODEL_USM,
        }
    }
}

/// UsmSecurityParameters (RFC 3414 2.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsmParams {
    pub engine_id: Vec<u8>,
    pub engine_boots: u32,
    pub engine_time: u32,
    pub user_name: Vec<u8>,
    /// The truncated HMAC (zeros while it is computed), empty without authentication.
    pub auth_params: Vec<u8>,
    /// The privacy salt, empty without privacy.
    pub priv_params: Vec<u8>,
}

impl UsmParams {
    /// The BER of the parameters, and the offset of the auth parameters' content within it.
    pub fn encode(&self) -> (Vec<u8>, usize) {
        let mut inner = Vec::with_capacity(96);
        ber::put_tlv(&mut inner, ber::TAG_OCTET_STRING, &self.engine_id);
        ber::put_i64(&mut inner, ber::TAG_INTEGER, i64::from(self.engine_boots));
        ber::put_i64(&mut inner, ber::TAG_INTEGER, i64::from(self.engine_time));
        ber::put_tlv(&mut inner, ber::TAG_OCTET_STRING, &self.user_name);
        let auth_at = inner.len() + 1 + length_len(self.auth_params.len());
        ber::put_tlv(&mut inner, ber::TAG_OCTET_STRING, &self.auth_params);
        ber::put_tlv(&mut inner, ber::TAG_OCTET_STRING, &self.priv_params);
        let mut out = Vec::with_capacity(inner.len() + 4);
        out.push(ber::TAG_SEQUENCE);
        ber::put_length(&mut out, inner.len());
        let header = out.len();
        out.extend_from_slice(&inner);
        (out, header + auth_at)
    }

    /// Decodes the parameters; the auth parameters' content as a sub-slice of `buf` (for its offset).
    pub fn decode(buf: &[u8]) -> Result<(UsmParams, &[u8]), BerError> {
        let mut outer = Reader::new(buf);
        let mut r = outer.read_sequence()?;
        outer.finish()?;
        let engine_id = r.read_octets()?;
        if engine_id.len() > 32 {
            return Err(BerError::Invalid("engine id longer than 32 bytes"));
        }
        let engine_boots = r.read_u31()?;
        let engine_time = r.read_u31()?;
        let user_name = r.read_octets()?;
        if user_name.len() > 32 {
            return Err(BerError::Invalid("user name longer than 32 bytes"));
        }
        let auth = r.read_octets()?;
        let privacy = r.read_octets()?;
        r.finish()?;
        Ok((
            UsmParams {
                engine_id: engine_id.to_vec(),
                engine_boots,
                engine_time,
                user_name: user_name.to_vec(),
                auth_params: auth.to_vec(),
                priv_params: privacy.to_vec(),
            },
            auth,
        ))
    }
}

/// The number of octets `put_length` writes for `len`.
fn length_len(len: usize) -> usize {
    ber::length_octets(len).1
}

/// ScopedPDU (RFC 3412 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedPdu {
    pub context_engine_id: Vec<u8>,
    pub context_name: Vec<u8>,
    pub pdu: Pdu,
}

impl ScopedPdu {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        ber::put_constructed(&mut out, ber::TAG_SEQUENCE, |c| {
            ber::put_tlv(c, ber::TAG_OCTET_STRING, &self.context_engine_id);
            ber::put_tlv(c, ber::TAG_OCTET_STRING, &self.context_name);
            self.pdu.encode(c);
        });
        out
    }

    /// Decodes a scoped PDU from the start of `buf`; bytes after it are ignored (decrypted DES plaintext is
    /// padded to 8 bytes).
    pub fn decode(buf: &[u8]) -> Result<ScopedPdu, BerError> {
        let mut r = Reader::new(buf).read_sequence()?;
        let context_engine_id = r.read_octets()?.to_vec();
        let context_name = r.read_octets()?.to_vec();
        let pdu = Pdu::decode(&mut r)?;
        r.finish()?;
        Ok(ScopedPdu {
            context_engine_id,
            context_name,
            pdu,
        })
    }
}

/// msgData: a plaintext scoped PDU or the ciphertext of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopedPduData {
    Plain(ScopedPdu),
    Encrypted(Vec<u8>),
}

/// A v3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Message {
    pub header: HeaderData,
    pub usm: UsmParams,
    pub data: ScopedPduData,
}

impl V3Message {
    /// The encoded message, and the offset of the auth parameters' content in it (where the HMAC goes).
    pub fn encode(&self) -> (Vec<u8>, usize) {
        let mut prefix = Vec::with_capacity(160);
        ber::put_i64(&mut prefix, ber::TAG_INTEGER, i64::from(VERSION_3));
        ber::put_constructed(&mut prefix, ber::TAG_SEQUENCE, |h| {
            ber::put_i64(h, ber::TAG_INTEGER, i64::from(self.header.msg_id));
            ber::put_i64(h, ber::TAG_INTEGER, i64::from(self.header.max_size));
            ber::put_tlv(h, ber::TAG_OCTET_STRING, &[self.header.flags]);
            ber::put_i64(h, ber::TAG_INTEGER, i64::from(self.header.security_model));
        });
        let (usm, auth_in_usm) = self.usm.encode();
        prefix.push(ber::TAG_OCTET_STRING);
        ber::put_length(&mut prefix, usm.len());
        let auth_in_content = prefix.len() + auth_in_usm;
        prefix.extend_from_slice(&usm);
        match &self.data {
            ScopedPduData::Plain(scoped) => prefix.extend_from_slice(&scoped.encode()),
            ScopedPduData::Encrypted(bytes) => {
                ber::put_tlv(&mut prefix, ber::TAG_OCTET_STRING, bytes)
            }
        }
        let mut out = Vec::with_capacity(prefix.len() + 4);
        out.push(ber::TAG_SEQUENCE);
        ber::put_length(&mut out, prefix.len());
        let header = out.len();
        out.extend_from_slice(&prefix);
        (out, header + auth_in_content)
    }

    /// Decodes a whole v3 datagram; also the offset of the auth parameters' content in `buf`.
    pub fn decode(buf: &[u8]) -> Result<(V3Message, usize), BerError> {
        let mut outer = Reader::new(buf);
        let mut r = outer.read_sequence()?;
        outer.finish()?;
        if r.read_i32()? != VERSION_3 {
            return Err(BerError::Invalid("not a v3 message"));
        }
        let mut h = r.read_sequence()?;
        let msg_id = h.read_i32()?;
        let max_size = h.read_u31()?;
        let flags = match h.read_octets()? {
            [f] => *f,
            _ => return Err(BerError::Invalid("msgFlags is not one byte")),
        };
        let security_model = h.read_i32()?;
        h.finish()?;
        let usm_bytes = r.read_octets()?;
        let (usm, auth) = UsmParams::decode(usm_bytes)?;
        // Both slices point into `buf`: the difference of their addresses is the offset.
        let auth_at = auth.as_ptr() as usize - buf.as_ptr() as usize;
        let data = match r.peek_tag() {
            Some(ber::TAG_OCTET_STRING) => ScopedPduData::Encrypted(r.read_octets()?.to_vec()),
            Some(ber::TAG_SEQUENCE) => {
                let scoped = ScopedPdu::decode(r.rest())?;
                r.read_any()?;
                ScopedPduData::Plain(scoped)
            }
            _ => {
                return Err(BerError::Invalid(
                    "msgData is neither a scoped PDU nor encrypted",
                ))
            }
        };
        r.finish()?;
        Ok((
            V3Message {
                header: HeaderData {
                    msg_id,
                    max_size,
                    flags,
                    security_model,
                },
                usm,
                data,
            },
            auth_at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::ber::Value;
    use crate::snmp::oid::Oid;

    fn uptime() -> Oid {
        Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()
    }

    #[test]
    fn a_v2c_get_is_byte_for_byte_what_snmpget_sends() {
        // `snmpget -v2c -c public 127.0.0.1 1.3.6.1.2.1.1.3.0` with request id 0x1234.
        let msg = CommunityMessage::v2c(b"public", Pdu::get(0x1234, &[uptime()]));
        let bytes = msg.encode();
        let expected: &[u8] = &[
            0x30, 0x27, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0,
            0x1a, 0x02, 0x02, 0x12, 0x34, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30,
            0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00, 0x05, 0x00,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(CommunityMessage::decode(&bytes).unwrap(), msg);
        assert_eq!(dispatch_id(&bytes), Some(0x1234));
        assert_eq!(peek_version(&bytes), Ok(VERSION_2C));
    }

    #[test]
    fn v3_messages_round_trip_and_locate_the_auth_parameters() {
        for data in [
            ScopedPduData::Plain(ScopedPdu {
                context_engine_id: vec![0x80, 0, 0x1f, 0x88, 4],
                context_name: vec![],
                pdu: Pdu::response(5, 0, 0, vec![(uptime(), Value::TimeTicks(77))]),
            }),
            ScopedPduData::Encrypted(vec![0xaa; 300]),
        ] {
            let msg = V3Message {
                header: HeaderData {
                    msg_id: 99,
                    max_size: 65507,
                    flags: FLAG_AUTH | FLAG_REPORTABLE,
                    security_model: SECURITY_MODEL_USM,
                },
                usm: UsmParams {
                    engine_id: vec![0x80, 0, 0x1f, 0x88, 4],
                    engine_boots: 3,
                    engine_time: 12345,
                    user_name: b"alice".to_vec(),
                    auth_params: vec![0xee; 12],
                    priv_params: vec![1; 8],
                },
                data,
            };
            let (bytes, at) = msg.encode();
            assert_eq!(&bytes[at..at + 12], &[0xee; 12]);
            let (back, back_at) = V3Message::decode(&bytes).unwrap();
            assert_eq!(back, msg);
            assert_eq!(back_at, at);
            assert_eq!(dispatch_id(&bytes), Some(99));
            for n in 0..bytes.len() {
                assert!(V3Message::decode(&bytes[..n]).is_err());
            }
        }
    }

    #[test]
    fn net_snmp_s_own_datagrams_decode() {
        // Captured with `snmpget -d` against snmpd 5.9.3 (also the fuzzer's seeds): a discovery request, the
        // agent's unknownEngineIDs report, and an authPriv (MD5/DES) request.
        let probe = include_bytes!("../../fuzz/corpus/snmp/v3-discovery");
        let (msg, _) = V3Message::decode(probe).unwrap();
        assert_eq!(msg.header.flags, FLAG_REPORTABLE);
        assert!(msg.usm.engine_id.is_empty() && msg.usm.user_name.is_empty());
        let report = include_bytes!("../../fuzz/corpus/snmp/v3-report");
        let (msg, _) = V3Message::decode(report).unwrap();
        assert_eq!(msg.header.msg_id, msg.header.msg_id);
        assert_eq!((msg.usm.engine_boots, msg.usm.engine_time), (1, 824));
        assert_eq!(msg.usm.engine_id.len(), 17);
        let ScopedPduData::Plain(scoped) = msg.data else {
            panic!("a report is plaintext")
        };
        assert_eq!(scoped.pdu.kind, crate::snmp::pdu::PduKind::Report);
        assert_eq!(
            scoped.pdu.varbinds[0],
            (
                Oid::parse("1.3.6.1.6.3.15.1.1.4.0").unwrap(),
                Value::Counter32(10)
            )
        );
        assert_eq!(dispatch_id(report), Some(0x635a_e54c));
        let request = include_bytes!("../../fuzz/corpus/snmp/v3-authpriv-des");
        let (msg, at) = V3Message::decode(request).unwrap();
        assert_eq!(msg.usm.user_name, b"carol");
        assert_eq!(msg.header.flags, FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE);
        assert_eq!(&request[at..at + 12], &msg.usm.auth_params[..]);
        assert!(matches!(msg.data, ScopedPduData::Encrypted(ref c) if c.len() == 56));
        // Re-encoding gives net-snmp's bytes back.
        assert_eq!(msg.encode().0, request.to_vec());
        // And it opens with the keys of that user (`-a MD5 -A carolpass1 -x DES -X wrongpriv1`): net-snmp's
        // HMAC-MD5-96 and DES-CBC agree with ours.
        use crate::snmp::usm::{open, AuthProtocol, PrivProtocol, UsmUser};
        let user = UsmUser::new(
            b"carol",
            Some((AuthProtocol::Md5, b"carolpass1")),
            Some((PrivProtocol::Des, b"wrongpriv1")),
        )
        .unwrap();
        let opened = open(request, Some(&user.localize(&msg.usm.engine_id))).unwrap();
        assert!(opened.authenticated);
        assert_eq!(
            opened.scoped.pdu.kind,
            crate::snmp::pdu::PduKind::GetRequest
        );
        assert_eq!(
            opened.scoped.pdu.varbinds,
            vec![(Oid::parse("1.3.6.1.2.1.1.3.0").unwrap(), Value::Null)]
        );
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let mut seed: u64 = 42;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 58) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (seed >> ((i % 7) * 8)) as u8 ^ i as u8)
                .collect();
            let _ = CommunityMessage::decode(&bytes);
            let _ = V3Message::decode(&bytes);
            let _ = dispatch_id(&bytes);
        }
        // A valid message with every byte flipped in turn.
        let good = CommunityMessage::v2c(b"public", Pdu::get(1, &[uptime()])).encode();
        for i in 0..good.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= x;
                let _ = CommunityMessage::decode(&bad);
                let _ = V3Message::decode(&bad);
            }
        }
    }
}
