//! The agent of every device: one datagram in, the v2c Response out (or silence, and why). GET answers each OID
//! (`noSuchInstance` below an object the device has, `noSuchObject` otherwise); GETNEXT and GETBULK walk the
//! device's sorted table (`fleet::Device::table`) lexicographically, with `endOfMibView` past its last OID; the
//! request id is mirrored. Pure: the socket loop passes the destination address and the fleet's age.

use std::net::Ipv4Addr;

use super::fleet::{self, Shares, Value};
use crate::snmp::ber::Value as BerValue;
use crate::snmp::message::{peek_version, CommunityMessage, VERSION_2C};
use crate::snmp::oid::Oid;
use crate::snmp::pdu::{Pdu, PduKind, VarBind};

/// Most variable bindings in one GETBULK response (non-repeaters included): about 1,500 bytes, one Ethernet MTU,
/// whatever max-repetitions asked (RFC 3416 4.2.3 lets an agent return fewer).
pub const MAX_BULK_VARBINDS: usize = 60;

/// What to do with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Wrong community for this device: a v2c agent stays silent.
    BadCommunity,
    /// SNMP, but not what the fleet answers (v1, v3, SET, a Response, …): silence.
    Unsupported,
    /// Not an SNMP message.
    Malformed,
}

/// The fleet's agent: the shares of the device model and the communities.
#[derive(Debug, Clone)]
pub struct Agent {
    shares: Shares,
    community: Vec<u8>,
    /// The community of the `wrong_community` share: one nobody is told.
    other_community: Vec<u8>,
}

impl Agent {
    pub fn new(community: &str, shares: Shares) -> Agent {
        Agent {
            shares,
            community: community.as_bytes().to_vec(),
            other_community: format!("{community}-but-not-this-device").into_bytes(),
        }
    }

    /// The answer of the device at `dst` to `datagram`, `elapsed_cs` centiseconds after the fleet started.
    pub fn answer(&self, dst: Ipv4Addr, datagram: &[u8], elapsed_cs: u64) -> Outcome {
        let msg = match CommunityMessage::decode(datagram) {
            Ok(m) => m,
            Err(_) => {
                return match peek_version(datagram) {
                    Ok(_) => Outcome::Unsupported,
                    Err(_) => Outcome::Malformed,
                }
            }
        };
        if msg.version != VERSION_2C {
            return Outcome::Unsupported;
        }
        let device = fleet::device(dst, self.shares);
        let expected = if device.community_ok {
            &self.community
        } else {
            &self.other_community
        };
        if msg.community != *expected {
            return Outcome::BadCommunity;
        }
        let uptime = device.uptime_cs(elapsed_cs);
        let pdu = &msg.pdu;
        // A GET reads its values directly; a walk goes through the whole table.
        let table = || device.table(uptime);
        let varbinds = match pdu.kind {
            PduKind::GetRequest => get(&device, uptime, &pdu.varbinds),
            PduKind::GetNextRequest => {
                let table = table();
                pdu.varbinds
                    .iter()
                    .map(|(oid, _)| next(&table, oid))
                    .collect()
            }
            PduKind::GetBulkRequest => bulk(
                &table(),
                &pdu.varbinds,
                pdu.non_repeaters(),
                pdu.max_repetitions(),
            ),
            _ => return Outcome::Unsupported,
        };
        let response = Pdu::response(pdu.request_id, 0, 0, varbinds);
        Outcome::Reply(CommunityMessage::v2c(&msg.community, response).encode())
    }
}

fn ber(v: Value) -> BerValue {
    match v {
        Value::TimeTicks(t) => BerValue::TimeTicks(t),
        Value::Counter32(c) => BerValue::Counter32(c),
        Value::Gauge32(g) => BerValue::Gauge32(g),
        Value::Integer(i) => BerValue::Integer(i64::from(i)),
        Value::Text(t) => BerValue::OctetString(t.as_bytes().to_vec()),
        Value::ObjectId(o) => BerValue::ObjectId(oid(o)),
    }
}

fn oid(ids: &[u32]) -> Oid {
    Oid::new(ids).expect("the fleet's OIDs are valid")
}

type Table = [(Vec<u32>, Value)];

fn get(device: &fleet::Device, uptime: u64, asked: &[VarBind]) -> Vec<VarBind> {
    asked
        .iter()
        .map(|(o, _)| {
            let value = match device.get(o.ids(), uptime) {
                Some(v) => ber(v),
                None if device.has_object(o.ids()) => BerValue::NoSuchInstance,
                None => BerValue::NoSuchObject,
            };
            (o.clone(), value)
        })
        .collect()
}

/// The first entry after `after`, or `endOfMibView` (named `after`, as RFC 3416 4.2.2 says).
fn next(table: &Table, after: &Oid) -> VarBind {
    let i = table.partition_point(|(t, _)| t.as_slice() <= after.ids());
    match table.get(i) {
        Some((t, v)) => (oid(t), ber(*v)),
        None => (after.clone(), BerValue::EndOfMibView),
    }
}

/// RFC 3416 4.2.3: the first `non_repeaters` OIDs once, then up to `max_repetitions` rows of the others, each row
/// continuing from the previous; stops early once every repeater reached `endOfMibView`, and at
/// [`MAX_BULK_VARBINDS`].
fn bulk(
    table: &Table,
    asked: &[VarBind],
    non_repeaters: usize,
    max_repetitions: usize,
) -> Vec<VarBind> {
    let n = non_repeaters.min(asked.len());
    let mut out: Vec<VarBind> = asked[..n].iter().map(|(o, _)| next(table, o)).collect();
    let mut cursors: Vec<Oid> = asked[n..].iter().map(|(o, _)| o.clone()).collect();
    if cursors.is_empty() {
        return out;
    }
    for _ in 0..max_repetitions {
        if out.len() + cursors.len() > MAX_BULK_VARBINDS {
            break;
        }
        let mut all_ended = true;
        for c in cursors.iter_mut() {
            let (o, v) = next(table, c);
            all_ended &= v == BerValue::EndOfMibView;
            *c = o.clone();
            out.push((o, v));
        }
        if all_ended {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::snmp::fleet::{
        expected_processor_loads, ucd_oid, HR_PROCESSOR_LOAD, SYS_UPTIME,
    };

    const UCD: Shares = Shares {
        vendors: 0.0,
        host_resources: 0.0,
        wrong_community: 0.0,
    };
    const HR: Shares = Shares {
        vendors: 0.0,
        host_resources: 1.0,
        wrong_community: 0.0,
    };
    const A: Ipv4Addr = Ipv4Addr::new(127, 1, 2, 3);

    fn ask(agent: &Agent, community: &str, pdu: Pdu) -> Pdu {
        let bytes = CommunityMessage::v2c(community.as_bytes(), pdu).encode();
        match agent.answer(A, &bytes, 500) {
            Outcome::Reply(r) => {
                let m = CommunityMessage::decode(&r).unwrap();
                assert_eq!(m.community, community.as_bytes());
                m.pdu
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_answers_the_formula_and_mirrors_the_request_id() {
        let agent = Agent::new("public", UCD);
        let d = fleet::device(A, UCD);
        let n = d.uptime_cs(500);
        let oids = [
            oid(SYS_UPTIME),
            oid(&ucd_oid(50)),
            oid(&ucd_oid(53)),
            oid(&ucd_oid(67)),
        ];
        let r = ask(&agent, "public", Pdu::get(4242, &oids));
        assert_eq!(r.kind, PduKind::Response);
        assert_eq!(r.request_id, 4242);
        assert_eq!((r.error_status, r.error_index), (0, 0));
        let values: Vec<BerValue> = r.varbinds.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(
            values,
            vec![
                BerValue::TimeTicks(n as u32),
                BerValue::Counter32(d.counter(fleet::Field::User, n)),
                BerValue::Counter32(d.counter(fleet::Field::Idle, n)),
                BerValue::Integer(i64::from(d.cpus)),
            ]
        );
        let names: Vec<Oid> = r.varbinds.into_iter().map(|(o, _)| o).collect();
        assert_eq!(names, oids);
    }

    #[test]
    fn a_host_resources_device_has_no_ucd_and_unknown_oids_are_exceptions() {
        let agent = Agent::new("public", HR);
        let r = ask(
            &agent,
            "public",
            Pdu::get(
                1,
                &[
                    oid(&ucd_oid(50)),
                    oid(&[1, 3, 6, 1, 2, 1, 1, 3]),
                    oid(&[1, 3, 6, 1, 2, 1, 1, 5, 0]),
                ],
            ),
        );
        let values: Vec<BerValue> = r.varbinds.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            vec![
                BerValue::NoSuchObject,
                BerValue::NoSuchInstance,
                BerValue::NoSuchObject
            ]
        );
    }

    #[test]
    fn getbulk_walks_hr_processor_load_then_ends() {
        let agent = Agent::new("public", HR);
        let r = ask(
            &agent,
            "public",
            Pdu::get_bulk(7, 1, 20, &[oid(SYS_UPTIME), oid(HR_PROCESSOR_LOAD)]),
        );
        assert_eq!(r.request_id, 7);
        // The non-repeater: the entry after sysUpTime.0 is the first processor.
        assert!(r.varbinds[0].0.ids().starts_with(HR_PROCESSOR_LOAD));
        let loads: Vec<i64> = r.varbinds[1..]
            .iter()
            .take_while(|(o, v)| o.ids().starts_with(HR_PROCESSOR_LOAD) && !v.is_exception())
            .map(|(_, v)| match v {
                BerValue::Integer(i) => *i,
                other => panic!("{other:?}"),
            })
            .collect();
        let expected: Vec<i64> = expected_processor_loads(A)
            .into_iter()
            .map(i64::from)
            .collect();
        assert_eq!(loads, expected);
        let last = r.varbinds.last().unwrap();
        assert_eq!(
            last.1,
            BerValue::EndOfMibView,
            "a host-resources device ends after its processors"
        );
        assert_eq!(r.varbinds.len(), 1 + expected.len() + 1);
    }

    #[test]
    fn getnext_crosses_from_one_subtree_to_the_next() {
        let agent = Agent::new("public", UCD);
        let d = fleet::device(A, UCD);
        let mut last_hr = HR_PROCESSOR_LOAD.to_vec();
        last_hr.push(fleet::HR_FIRST_INDEX + d.cpus - 1);
        let r = ask(
            &agent,
            "public",
            Pdu::get_next(9, &[oid(&last_hr), oid(&ucd_oid(67))]),
        );
        assert_eq!(r.varbinds[0].0, oid(&ucd_oid(50)));
        assert_eq!(r.varbinds[1], (oid(&ucd_oid(67)), BerValue::EndOfMibView));
    }

    #[test]
    fn getbulk_is_bounded_whatever_max_repetitions_says() {
        let agent = Agent::new("public", UCD);
        let r = ask(
            &agent,
            "public",
            Pdu::get_bulk(1, 0, 10_000, &[oid(&[1, 3]), oid(&[1, 3]), oid(&[1, 3])]),
        );
        assert!(r.varbinds.len() <= MAX_BULK_VARBINDS);
        assert!(r.varbinds.len() >= 3);
    }

    #[test]
    fn wrong_community_v3_and_garbage_get_silence_with_a_reason() {
        let agent = Agent::new("public", UCD);
        let get = Pdu::get(1, &[oid(SYS_UPTIME)]);
        let wrong = CommunityMessage::v2c(b"private", get.clone()).encode();
        assert_eq!(agent.answer(A, &wrong, 0), Outcome::BadCommunity);
        let mut v1 = CommunityMessage::v2c(b"public", get.clone());
        v1.version = 0;
        assert_eq!(agent.answer(A, &v1.encode(), 0), Outcome::Unsupported);
        assert_eq!(agent.answer(A, b"\x01\x02garbage", 0), Outcome::Malformed);
        // The wrong-community share does not answer the fleet's community.
        let all_wrong = Agent::new(
            "public",
            Shares {
                vendors: 0.0,
                host_resources: 0.0,
                wrong_community: 1.0,
            },
        );
        let right = CommunityMessage::v2c(b"public", get).encode();
        assert_eq!(all_wrong.answer(A, &right, 0), Outcome::BadCommunity);
    }
}
