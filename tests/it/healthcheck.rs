//! `app healthcheck`, as a container's probe runs it: a bad `--url` is bad usage (exit 2), an address nothing
//! answers on is unhealthy (exit 1), the mock's `/health` is healthy (exit 0).

use crate::helpers::*;

#[test]
fn healthcheck_with_a_bad_url_is_bad_usage_and_an_unanswered_one_is_unhealthy() {
    let dir = TestDir::new();
    for bad in [
        "http://[::1",
        "http://127.0.0.1:99999/health",
        "127.0.0.1:8080/health",
    ] {
        let out = dir.run(&["healthcheck", "--url", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--url"),
            "{}",
            show(&out)
        );
    }
    let dead = dead_endpoint().replace("/load", "/health");
    let out = dir.run(&["healthcheck", "--url", &dead, "--timeout-ms", "2000"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let m = MockThread::fast();
    let out = dir.run(&["healthcheck", "--url", &format!("{}/health", m.url())]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}
