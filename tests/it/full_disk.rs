//! A full disk while spooling: the spool lives on a 48 KiB tmpfs (a private mount namespace made with
//! `unshare -m`), the API is down, so the spool fills up. The failure is reported (RECORDS LOST, exit 1, the
//! errno), the files already there stay byte for byte, no temp file is left, and what was written replays. A spool
//! disk already full when the run starts stops it at once with the runtime failure's code (exit 4), nothing sent.

use std::path::Path;
use std::process::Command;

use crate::helpers::*;

/// Runs `script` with `sh` in a new mount namespace (as root, or as root of a new user namespace).
fn in_mount_namespace(dir: &Path, script: &str) -> bool {
    for flags in [&["-m"][..], &["-Urm"][..]] {
        let status = Command::new("unshare")
            .args(flags)
            .args(["sh", "-c", script])
            .env("APP", env!("CARGO_BIN_EXE_app"))
            .current_dir(dir)
            .status();
        if status.is_ok_and(|s| s.success()) {
            return true;
        }
    }
    false
}

#[test]
fn a_full_disk_while_spooling_is_reported_and_the_files_already_there_stay_intact() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 4000);
    dir.write("down.toml", &fast_config(&dead_endpoint(), ""));
    for sub in ["seed", "spool", "after"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let seeds = [
        (
            "buffer_failed_worker1-seed-a.json.gz",
            gzip(records_json(50).as_bytes()),
        ),
        (
            "buffer_failed_worker2-seed-b.json.gz",
            gzip(records_json(30).as_bytes()),
        ),
    ];
    for (name, data) in &seeds {
        std::fs::write(dir.join("seed").join(name), data).unwrap();
    }
    let (rc, stderr) = etl_on_a_full_disk(&dir);
    assert_eq!(
        rc.trim(),
        "1",
        "exit 1 = records lost: {}",
        tail(&stderr, 30)
    );
    assert!(
        stderr.contains("RECORDS LOST")
            && stderr.contains("writing to the spool spool failed")
            && stderr.contains("No space left on device"),
        "the failure says what, where and why: {}",
        tail(&stderr, 30)
    );
    let s = dir.summary("s.json");
    let lost = s["records"]["lost"].as_u64().unwrap();
    let spooled = s["records"]["spooled"].as_u64().unwrap();
    assert!(lost > 0 && lost < 4000, "the disk filled part way: {s}");
    assert_eq!(
        lost + spooled,
        4000 + 80,
        "every record (the 80 already spooled included) is spooled or counted lost"
    );

    let after = dir.join("after");
    for (name, data) in &seeds {
        assert_eq!(
            &std::fs::read(after.join(name)).unwrap(),
            data,
            "{name} is untouched"
        );
    }
    let names: Vec<String> = std::fs::read_dir(&after)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".tmp")),
        "no temp file is left: {names:?}"
    );
    assert_eq!(
        spool_records(&after) as u64,
        spooled,
        "every file in the spool is whole and holds what the summary says"
    );

    // The spool replays in full once there is an API.
    let m = MockThread::fast();
    dir.write("up.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "up.toml", "--spool-dir", "after"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, spooled);
    assert!(spool_files(&after).is_empty());
}

/// The same full disk with `spool.durable = true`: the log fills the disk first, then appends fail (reported,
/// the batch sent from memory), then spool files fail. Every record is in a spool file, in the log, or counted
/// lost and reported; whatever is on disk is whole and replays in full, and the log and the spool end empty.
#[test]
fn a_full_disk_while_durable_is_reported_and_every_record_on_disk_replays() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 4000);
    let cfg = fast_config(&dead_endpoint(), "[spool]\ndurable = true\n").set("load.batch_size", 20);
    dir.write("down.toml", &cfg);
    for sub in ["seed", "spool", "after"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let seed = (
        "buffer_failed_worker1-seed-a.json.gz",
        gzip(records_json(50).as_bytes()),
    );
    std::fs::write(dir.join("seed").join(seed.0), &seed.1).unwrap();
    let (rc, stderr) = etl_on_a_full_disk(&dir);
    assert_eq!(
        rc.trim(),
        "1",
        "exit 1 = records lost: {}",
        tail(&stderr, 30)
    );
    assert!(
        stderr.contains("write-ahead to the WAL failed")
            && stderr.contains("No space left on device")
            && stderr.contains("RECORDS LOST"),
        "the failure says what and why: {}",
        tail(&stderr, 30)
    );
    let s = dir.summary("s.json");
    let lost = s["records"]["lost"].as_u64().unwrap();
    let spooled = s["records"]["spooled"].as_u64().unwrap();
    assert!(
        s["log"]["batches_written_ahead"].as_u64().unwrap() > 0,
        "the log took batches until the disk was full: {s}"
    );
    assert_eq!(
        lost + spooled,
        4000 + 50,
        "every record is spooled (a file or the log) or counted lost: {s}"
    );
    let after = dir.join("after");
    assert_eq!(
        std::fs::read(after.join(seed.0)).unwrap(),
        seed.1,
        "the seed file is untouched"
    );
    let in_log: usize = log_batches(&after).iter().map(|(_, n)| n).sum();
    assert!(
        in_log > 0,
        "batches kept in the log when their spool file failed"
    );
    assert_eq!(
        (spool_records(&after) + in_log) as u64,
        spooled,
        "the spool files and the log hold exactly what the summary says"
    );

    let m = MockThread::fast();
    dir.write("up.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "up.toml", "--spool-dir", "after"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, spooled);
    assert!(spool_files(&after).is_empty());
    assert_eq!(log_segments(&after), 0, "the log ends empty");
}

/// A spool whose filesystem has no room left when the run starts (a tmpfs of two inodes: the directory and the
/// lock file): the run stops before it extracts anything, with exit 4 (a runtime failure, not bad usage) and the
/// errno; the API, which was up, got nothing. On a disk with room the same configuration delivers.
#[test]
fn a_spool_disk_full_at_the_start_exits_with_the_runtime_failure_code_and_sends_nothing() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 20);
    let m = MockThread::fast();
    dir.write("up.toml", &fast_config(&m.load_url(), ""));
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    let script = r#"set -e
mount -t tmpfs -o size=64k,nr_inodes=2,mode=0700 tmpfs spool
set +e
"$APP" etl --config up.toml >etl.out 2>etl.err
echo $? >etl.rc
"#;
    assert!(
        in_mount_namespace(dir.path(), script),
        "this test needs `unshare -m` (or -Urm) and tmpfs to make a small filesystem"
    );
    let rc = std::fs::read_to_string(dir.join("etl.rc")).unwrap();
    let stderr = std::fs::read_to_string(dir.join("etl.err")).unwrap();
    assert_eq!(
        rc.trim(),
        app::observe::exit::ExitCode::Runtime.code().to_string(),
        "exit 4 = a runtime failure: {}",
        tail(&stderr, 20)
    );
    assert!(
        stderr.contains("error: spool directory spool: No space left on device"),
        "the error names the spool directory and the errno: {}",
        tail(&stderr, 20)
    );
    assert_eq!(m.stats().records_accepted, 0, "nothing was sent");

    let out = dir.run(&["etl", "--config", "up.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, 20);
}

/// Runs `etl --config down.toml` in a mount namespace whose `spool` is a 48 KiB tmpfs seeded from `seed/`, then
/// copies what the spool holds to `after/`; the exit code and stderr of the run.
fn etl_on_a_full_disk(dir: &TestDir) -> (String, String) {
    let script = r#"set -e
mount -t tmpfs -o size=48k,mode=0700 tmpfs spool
cp seed/* spool/
set +e
"$APP" etl --config down.toml --summary-json s.json >etl.out 2>etl.err
echo $? >etl.rc
cp -a spool/. after/
"#;
    assert!(
        in_mount_namespace(dir.path(), script),
        "this test needs `unshare -m` (or -Urm) and tmpfs to make a small filesystem"
    );
    (
        std::fs::read_to_string(dir.join("etl.rc")).unwrap(),
        std::fs::read_to_string(dir.join("etl.err")).unwrap(),
    )
}
