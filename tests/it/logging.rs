//! The log as an operator reads it: `-v`, `-q` and `--log-level` set its level, and an API's answer logged in it
//! cannot forge a line, in text or JSON.

use crate::helpers::*;

#[test]
fn verbose_and_quiet_flags_and_log_level_set_the_log_level() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let run = |flags: &[&str]| {
        let mut args = flags.to_vec();
        // Without --quiet, which is -q as well (new_user.rs).
        args.extend(["etl", "--config", "c.toml"]);
        let out = dir.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let info = run(&[]);
    assert!(
        info.contains(" INFO ") && !info.contains(" DEBUG "),
        "{info}"
    );
    let debug = run(&["-v"]);
    assert!(debug.contains(" DEBUG "), "{debug}");
    assert!(run(&["--log-level", "debug"]).contains(" DEBUG "));
    let quiet = run(&["-q"]);
    assert!(!quiet.contains(" INFO "), "{quiet}");
    // After the subcommand too (the flags are global).
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(" INFO "));
}

/// An API that answers every request `400` with a body made to forge log lines (a newline, then a line of the
/// log's own shape, then 32 KiB); serves for at most `secs` seconds.
fn forging_api(secs: u64) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let body = format!(
            "refused\n2026-12-07T00:00:00Z ERROR [Loader-0] FORGED all records delivered\r\n{}",
            "x".repeat(32 << 10)
        );
        while std::time::Instant::now() < until {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut sink = vec![0u8; length];
            let _ = reader.read_exact(&mut sink);
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn an_api_answer_cannot_forge_a_log_line_in_text_or_json() {
    let api = forging_api(60);
    for format in ["text", "json"] {
        let dir = TestDir::new();
        dir.inventory("inventory.csv", 5);
        let config = fast_config(&format!("http://{api}/load"), "").set("log.format", format);
        dir.write("c.toml", &config);
        let out = dir.run(&["etl", "--config", "c.toml"]);
        assert_eq!(out.status.code(), Some(3), "{format}: {}", show(&out));
        let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for raw in [&log[..], &stderr[..]] {
            // In JSON, each line is an object whose message holds the (escaped) text.
            let text = if format == "json" {
                raw.lines()
                    .map(|line| {
                        let v: serde_json::Value = serde_json::from_str(line)
                            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                        v["message"].as_str().unwrap_or_default().to_string()
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                raw.to_string()
            };
            assert!(
                text.contains("refused\\n2026-12-07T00:00:00Z ERROR [Loader-0] FORGED"),
                "{format}: the body is logged escaped: {}",
                tail(&text, 20)
            );
            assert!(
                !text.lines().any(|l| l.starts_with("2026-12-07T00:00:00Z")),
                "{format}: a forged line"
            );
            let longest = raw.lines().map(str::len).max().unwrap_or(0);
            assert!(longest < 4096, "{format}: a line of {longest} bytes");
        }
    }
}
