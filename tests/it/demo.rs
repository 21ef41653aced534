//! `app demo` as a user meets it: its own mock and a temporary spool, so the real spool is never touched nor
//! replayed into the demo's mock; `--spool-dir` to spool somewhere chosen.

use std::path::Path;

use crate::helpers::*;

/// A config for `demo`: the fast pipeline settings, a small inventory, the real spool at `spool/`.
fn demo_config(dir: &TestDir, devices: usize) {
    dir.inventory("inventory.csv", devices);
    // The endpoint is replaced by the demo's own mock; this one is never used.
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
}

#[test]
fn demo_leaves_the_real_spool_alone_and_says_where_it_spools() {
    let dir = TestDir::new();
    demo_config(&dir, 50);
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let real = spool.join("buffer_failed_worker3.json.gz");
    std::fs::write(&real, gzip(records_json(1).as_bytes())).unwrap();

    let out = dir.run(&["demo", "--config", "c.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        real.exists(),
        "the real spool file is still there: {}",
        show(&out)
    );
    assert_eq!(spool_records(&spool), 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("50 extracted, 50 loaded, 0 replayed"),
        "{stdout}"
    );
    assert!(stdout.contains("\"records_accepted\": 50"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("demo: spool "))
        .unwrap_or_else(|| panic!("the demo says where it spools: {stdout}"));
    assert!(line.contains("temporary"), "{line}");
    let temp = line
        .strip_prefix("demo: spool ")
        .and_then(|l| l.split(" (").next())
        .unwrap();
    assert!(
        !Path::new(temp).exists(),
        "the empty temporary spool {temp} is removed at the end"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("replayed"));
}

#[test]
fn demo_with_a_spool_dir_spools_there_but_replays_nothing_into_its_mock() {
    let dir = TestDir::new();
    demo_config(&dir, 20);
    let given = dir.join("demo-spool");
    std::fs::create_dir_all(&given).unwrap();
    let old = given.join("buffer_failed_worker1.json.gz");
    std::fs::write(&old, gzip(records_json(2).as_bytes())).unwrap();

    let out = dir.run(&[
        "demo",
        "--config",
        "c.toml",
        "--spool-dir",
        "demo-spool",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(old.exists(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("demo: spool demo-spool"), "{stdout}");
    assert!(stdout.contains("\"records_accepted\": 20"), "{stdout}");
}
