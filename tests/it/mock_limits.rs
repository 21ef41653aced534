//! The mock API's request limits against hostile clients: oversized heads and too many headers (431), a head or a
//! body sent too slowly (408, connection closed), while other clients are still served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use app::config::{MockSettings, Secret};

use crate::helpers::*;

/// Sends `bytes` (and nothing more) and answers everything the server sends before it closes the connection.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    // The server may answer and close before it has read everything (431 past its head limit): a failed write
    // is expected then, the answer is what counts.
    let _ = s.write_all(bytes);
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server neither answered nor closed: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn get_health_with(headers: &str) -> Vec<u8> {
    format!("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n").into_bytes()
}

#[test]
fn request_heads_past_the_limits_are_431() {
    let m = MockThread::fast();
    let big = |n: usize| format!("X-Big: {}\r\n", "a".repeat(n));
    assert!(exchange(m.addr, &get_health_with(&big(60_000))).starts_with("HTTP/1.1 200"));
    assert!(
        exchange(m.addr, &get_health_with(&big(140_000))).starts_with("HTTP/1.1 431"),
        "a head over 128 KiB"
    );
    let many: String = (0..100).map(|i| format!("X-{i}: a\r\n")).collect();
    assert!(
        exchange(m.addr, &get_health_with(&many)).starts_with("HTTP/1.1 431"),
        "more than 96 headers"
    );
}

#[test]
fn slow_clients_get_408_and_are_closed_while_others_are_served() {
    let m = MockThread::start(quiet(MockSettings {
        header_timeout_ms: 1000,
        body_timeout_ms: 300,
        ..MockSettings::default()
    }));
    // A head that never ends (slowloris) and a body that never arrives, on connections of their own.
    let slow_head = std::thread::spawn({
        let addr = m.addr;
        move || exchange(addr, b"POST /load HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    });
    let slow_body = std::thread::spawn({
        let addr = m.addr;
        move || {
            exchange(
                addr,
                b"POST /load HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[",
            )
        }
    });
    let (status, _) = http(m.addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200, "others are served meanwhile");

    let head = slow_head.join().unwrap();
    assert!(head.starts_with("HTTP/1.1 408"), "{head:?}");
    let body = slow_body.join().unwrap();
    assert!(
        body.starts_with("HTTP/1.1 408") && body.contains("body not received within 300 ms"),
        "{body:?}"
    );
    let (status, _b) = post_load(
        m.addr,
        &[("Content-Type", "application/json")],
        records_json(2).as_bytes(),
    );
    assert_eq!(status, 200, "a prompt client still gets through: {_b}");
    assert_eq!(m.stats().records_accepted, 2);
}

#[test]
fn a_long_idempotency_key_is_400_and_never_remembered() {
    let m = MockThread::fast();
    let body = records_json(2);
    let json = ("Content-Type", "application/json");
    let long = "k".repeat(120 << 10);
    let (status, answer) = post_load(m.addr, &[json, ("Idempotency-Key", &long)], body.as_bytes());
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("at most 256"), "{answer}");
    let over = "k".repeat(257);
    assert_eq!(
        post_load(m.addr, &[json, ("Idempotency-Key", &over)], body.as_bytes()).0,
        400
    );
    let st = m.stats();
    assert_eq!((st.records_accepted, st.unique_batches), (0, 0));
    let longest = "k".repeat(256);
    let (status, answer) = post_load(
        m.addr,
        &[json, ("Idempotency-Key", &longest)],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(m.stats().records_accepted, 2);
}

#[test]
fn a_long_device_name_is_400_and_cpus_times_name_is_bounded() {
    let m = MockThread::fast();
    let get = |path: &str| http(m.addr, "GET", path, &[], b"");
    let (status, answer) = get(&format!("/device/{}/cpu", "n".repeat(16 << 10)));
    assert_eq!(status, 400, "{}", &answer[..answer.len().min(200)]);
    assert!(answer.contains("at most 255"), "{answer}");
    assert_eq!(get(&format!("/device/{}/cpu", "n".repeat(256))).0, 400);
    let (status, answer) = get(&format!("/device/{}/cpu?cpus=2", "n".repeat(255)));
    assert_eq!(status, 200);
    assert!(answer.len() < 4096, "{} bytes", answer.len());
    // 255-byte name × 4096 CPUs would be a megabyte of names: refused.
    assert_eq!(
        get(&format!("/device/{}/cpu?cpus=4096", "n".repeat(255))).0,
        400
    );
    assert_eq!(get("/device/short/cpu?cpus=4096").0, 200);
}

/// The device route serves data, so it checks the mock's token as the load routes do (a 16 KiB name without one
/// used to cost the mock 230 MB).
#[test]
fn the_device_route_checks_the_token() {
    let m = MockThread::start(quiet(MockSettings {
        token: Secret::new("dev-tok-5"),
        ..MockSettings::default()
    }));
    let get = |headers: &[(&str, &str)]| http(m.addr, "GET", "/device/d1/cpu?cpus=2", headers, b"");
    let (status, answer) = get(&[]);
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("token"), "{answer}");
    assert_eq!(get(&[("Authorization", "Bearer dev-tok-")]).0, 401);
    let (status, answer) = get(&[("Authorization", "Bearer dev-tok-5")]);
    assert_eq!(status, 200, "{answer}");
    let stats: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(stats.as_array().unwrap().len(), 2, "{answer}");
    assert_eq!(m.stats().device_requests, 3);
}
