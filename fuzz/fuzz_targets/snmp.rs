//! Fuzz target: the SNMP decoders an agent's (or anyone's) datagram reaches — the transport's `dispatch_id`, the
//! v2c and v3 message decoders and USM's `open` with configured keys. Arbitrary bytes give a message or an error,
//! never a panic; a decoded message encodes to bytes that decode to the same message.
#![no_main]

use std::sync::LazyLock;

use app::snmp::message::{dispatch_id, CommunityMessage, V3Message};
use app::snmp::usm::{open, AuthProtocol, LocalKeys, PrivProtocol, UsmUser};
use libfuzzer_sys::fuzz_target;

static KEYS: LazyLock<[LocalKeys; 2]> = LazyLock::new(|| {
    let user = |a, p| {
        UsmUser::new(b"fuzz", Some((a, &b"fuzz-auth"[..])), Some((p, &b"fuzz-priv"[..])))
            .expect("non-empty passwords")
            .localize(b"\x80\x00\x1f\x88\x04fuzz")
    };
    [
        user(AuthProtocol::Sha1, PrivProtocol::Aes128),
        user(AuthProtocol::Md5, PrivProtocol::Des),
    ]
});

fuzz_target!(|data: &[u8]| {
    let _ = dispatch_id(data);
    if let Ok(msg) = CommunityMessage::decode(data) {
        let again = CommunityMessage::decode(&msg.encode()).expect("what was decoded re-encodes");
        assert_eq!(again, msg);
    }
    if let Ok((msg, at)) = V3Message::decode(data) {
        assert!(at <= data.len());
        let (bytes, at2) = msg.encode();
        let (again, at3) = V3Message::decode(&bytes).expect("what was decoded re-encodes");
        assert_eq!(again, msg);
        assert_eq!(at2, at3);
    }
    for keys in KEYS.iter() {
        let _ = open(data, Some(keys));
    }
    let _ = open(data, None);
});
