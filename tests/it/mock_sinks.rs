//! The mock's remote-write and line-protocol routes, and every sink through the real binary against it: `demo
//! --sink`, the durable mode (write-ahead log), fault injection, a spool written under one sink replayed through
//! another; and a malformed body is a 400, as the real stores answer.

use bytes::Bytes;

use crate::helpers::*;
use app::config::MockSettings;
use app::load::sinks::{influx_line, prometheus_remote_write as remote_write};

const SINKS: [&str; 3] = ["ingest-json", "prometheus-remote-write", "influx-line"];

/// The mock's route of a sink.
fn route(sink: &str) -> &'static str {
    match sink {
        "ingest-json" => "/load",
        "prometheus-remote-write" => "/api/v1/write",
        _ => "/write?db=x",
    }
}

fn remote_write_body(records: usize) -> Vec<u8> {
    let json = Bytes::from(records_json(records).replace("device-1", "d"));
    remote_write::encode(&json).unwrap().body.to_vec()
}

#[test]
fn remote_write_is_decoded_checked_and_counted() {
    let m = MockThread::fast();
    let rw = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ];
    // records_json's records are all one device, CPU and timestamp: one record, two series.
    let (status, body) = http(m.addr, "POST", "/api/v1/write", &rw, &remote_write_body(3));
    assert_eq!(status, 204, "{body}");
    assert_eq!(m.stats().records_accepted, 1);
    let (status, body) = http(
        m.addr,
        "POST",
        "/api/v1/write",
        &rw,
        b"\x10garbage, not snappy",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    // Valid snappy of something that is not a WriteRequest.
    let not_proto = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\x0f")
        .unwrap();
    let (status, body) = http(m.addr, "POST", "/api/v1/write", &rw, &not_proto);
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(
        m.addr,
        "POST",
        "/api/v1/write",
        &[rw[0], ("Content-Encoding", "gzip")],
        &remote_write_body(1),
    );
    assert_eq!(status, 415);
    let (status, _) = http(
        m.addr,
        "POST",
        "/api/v1/write",
        &[rw[1]],
        &remote_write_body(1),
    );
    assert_eq!(status, 415, "Content-Type is checked");
    let s = m.stats();
    assert_eq!(s.loads_accepted, 1);
    assert_eq!(s.loads_refused.get(&400), Some(&2));
    assert_eq!(s.loads_refused.get(&415), Some(&2));
}

#[test]
fn line_protocol_is_parsed_checked_and_counted() {
    let m = MockThread::fast();
    let text = "appliance_cpu,cpu=0,device=a\\ b user=1.5,irq=0.25 1700000000\n\
                appliance_cpu,cpu=1,device=a\\ b user=2.0 1700000000\n";
    for path in [
        "/write?db=x&precision=s",
        "/api/v2/write?org=o&bucket=b&precision=s",
    ] {
        let (status, body) = http(m.addr, "POST", path, &[], text.as_bytes());
        assert_eq!(status, 204, "{path}: {body}");
    }
    assert_eq!(m.stats().records_accepted, 4);
    let (status, body) = http(
        m.addr,
        "POST",
        "/write?db=x",
        &[],
        b"ok f=1 1\nbroken line\n",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 2"), "{body}");
    let gz = gzip(text.as_bytes());
    let (status, body) = http(
        m.addr,
        "POST",
        "/write?db=x",
        &[("Content-Encoding", "gzip")],
        &gz,
    );
    assert_eq!(status, 204, "{body}");
    assert_eq!(m.stats().records_accepted, 6);
}

#[test]
fn every_sink_through_the_demo_delivers_everything_to_the_mock() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 60);
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    for sink in SINKS {
        let out = dir.run(&["demo", "--config", "c.toml", "--quiet", "--sink", sink]);
        assert_eq!(out.status.code(), Some(0), "{sink}: {}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("60 extracted, 60 loaded"),
            "{sink}: {stdout}"
        );
        assert!(
            stdout.contains("\"records_accepted\": 60"),
            "{sink}: {stdout}"
        );
        assert!(stdout.contains(&format!("({sink})")), "{sink}: {stdout}");
    }
    let out = dir.run(&["demo", "--config", "c.toml", "--sink", "graphite"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn every_sink_in_the_durable_mode_and_through_injected_failures() {
    for sink in SINKS {
        let m = MockThread::start(quiet(MockSettings {
            fail_first: 3,
            ..MockSettings::default()
        }));
        let dir = TestDir::new();
        dir.inventory("inventory.csv", 300);
        let endpoint = format!("{}{}", m.url(), route(sink));
        let config = fast_config(&endpoint, "[spool]\ndir = \"spool\"\ndurable = true\n")
            .set("load.sink", sink)
            .set("load.batch_size", 50)
            // More attempts than injected failures: on a loaded machine one batch may meet all three.
            .set("load.retry.max_attempts", 5);
        dir.write("c.toml", &config);
        let out = dir.run(&["etl", "--config", "c.toml", "--quiet"]);
        assert_eq!(out.status.code(), Some(0), "{sink}: {}", show(&out));
        let s = m.stats();
        assert_eq!(s.records_accepted, 300, "{sink}: {s:?}");
        assert_eq!(s.injected_failures, 3, "{sink}");
        assert!(
            log_batches(&dir.join("spool")).is_empty(),
            "{sink}: the log is resolved"
        );
    }
}

#[test]
fn a_spool_written_under_one_sink_replays_through_the_others() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 100);
    // Written while the store is down, under the line-protocol sink.
    let config = fast_config(
        &format!("{}?db=x", dead_endpoint()),
        "[spool]\ndir = \"spool\"\n",
    )
    .set("load.sink", "influx-line");
    dir.write("c.toml", &config);
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(spool_records(&dir.join("spool")), 100);
    // And the original's file beside it.
    std::fs::write(
        dir.join("spool/buffer_failed_worker7.json.gz"),
        gzip(records_json(2).as_bytes()),
    )
    .unwrap();
    let m = MockThread::fast();
    let endpoint = format!("{}/api/v1/write", m.url());
    let out = dir.run(&[
        "replay",
        "--config",
        "c.toml",
        "--quiet",
        "--sink",
        "prometheus-remote-write",
        "--endpoint",
        &endpoint,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // The original's two records are one device × CPU × timestamp.
    assert_eq!(m.stats().records_accepted, 101);
    assert!(spool_files(&dir.join("spool")).is_empty());
}

#[test]
fn a_line_the_sink_writes_reads_back_through_the_mocks_reader() {
    // In the JSON text `\"` is a quote: the device is `a,b=c d"e`.
    let json = Bytes::from(records_json(1).replace("device-1", "a,b=c d\\\"e"));
    let enc = influx_line::encode(&json, app::config::Compression::None).unwrap();
    let points = influx_line::parse::lines(&enc.body).unwrap();
    assert_eq!(points[0].tags[1], ("device".into(), "a,b=c d\"e".into()));
}
