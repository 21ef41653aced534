//! `etl --dry-run`: the records printed as JSON lines, nothing sent, no spool touched, `--limit`.

use crate::helpers::*;

#[test]
fn etl_dry_run_prints_the_records_sends_nothing_and_touches_no_spool() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(records.len(), 5, "{stdout}");
    assert!(records
        .iter()
        .all(|r| r["indicators"].is_array() && r["name"].is_string()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing sent"));
    assert_eq!(m.stats().requests, 0);
    assert!(!dir.join("spool").exists(), "no spool directory, no lock");

    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run", "--limit", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert!(!dir.join("spool").exists());
}
