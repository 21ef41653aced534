//! `spool.durable` against SIGKILL: runs of `etl` killed at random points (while extracting, sending, replaying
//! the log of the previous kill, or recovering), then one run left to finish, against the mock API, which
//! dedupes by `Idempotency-Key`. Every batch the ETL logged as written ahead is delivered, no key is delivered
//! that the ETL did not form, each key counts its formed records once, and the log and the spool end empty.
//!
//! 10 kills here (about 20 s); `DURABLE_CRASH_KILLS=60` for the long version (`scripts/durable-crash.sh`).
//! `DURABLE_CRASH_SEED` repeats a run.
//!
//! Crash leftovers: the temporary file `.tmp-buffer_failed_worker…json.gz` of a spool write a SIGKILL cut, as the
//! next start settles it: deleted when the log holds its batch, recovered when whole, quarantined with a warning
//! only when torn with no other copy.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use app::config::MockSettings;
use rand::{Rng, SeedableRng};

use crate::helpers::*;

/// Batch id → records, from the `formed` and `written ahead` debug lines of every run's stderr.
struct Logged {
    formed: HashMap<String, usize>,
    written_ahead: HashMap<String, usize>,
}

fn parse_logs(dir: &TestDir, runs: usize) -> Logged {
    let formed_re = regex_lite(" formed with ");
    let ahead_re = regex_lite(" records) written ahead to the WAL");
    let mut out = Logged {
        formed: HashMap::new(),
        written_ahead: HashMap::new(),
    };
    for r in 0..runs {
        let text = std::fs::read_to_string(dir.join(&format!("run-{r}.err"))).unwrap_or_default();
        for line in text.lines() {
            if let Some((id, n)) = formed_re(line) {
                out.formed.insert(id, n);
            } else if let Some((id, n)) = ahead_re(line) {
                out.written_ahead.insert(id, n);
            }
        }
    }
    out
}

/// A parser of `... batch {id} formed with {n} records` (marker " formed with ") or
/// `... batch {id} ({n} records) written ahead to the WAL` (the other marker): (id, n).
fn regex_lite(marker: &'static str) -> impl Fn(&str) -> Option<(String, usize)> {
    move |line: &str| {
        let at = line.find(marker)?;
        let before = &line[..at];
        let rest = &line[at + marker.len()..];
        if marker == " formed with " {
            let id = before.rsplit("batch ").next()?.trim();
            let n = rest.split_whitespace().next()?.parse().ok()?;
            Some((id.to_string(), n))
        } else {
            // before = "... batch {id} ({n"
            let (head, n) = before.rsplit_once(" (")?;
            let id = head.rsplit("batch ").next()?.trim();
            Some((id.to_string(), n.parse().ok()?))
        }
    }
}

#[test]
fn sigkill_at_random_points_of_durable_runs_loses_no_batch_written_ahead() {
    let kills: usize = std::env::var("DURABLE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("DURABLE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let m = MockThread::start(MockSettings {
        delay_ms: 20,
        jitter_ms: 15,
        log_body_preview: 0,
        workers: 2,
        ..MockSettings::default()
    });
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 2000);
    let cfg = fast_config(
        &m.load_url(),
        "[spool]\ndurable = true\n[extract]\nconcurrency = 50\n",
    )
    .set("extract.simulated.latency_ms", 25)
    .set("load.workers", 4)
    .set("load.batch_size", 20)
    .set("load.max_in_flight", 4);
    dir.write("c.toml", &cfg);
    let started = Instant::now();
    let mut runs = 0;
    let mut killed = 0;
    let mut exits = Vec::new();
    // Bounded: `kills` kills, each run at most 30 s, the whole loop at most 30 s per kill.
    while killed < kills {
        assert!(
            started.elapsed() < Duration::from_secs(30 * kills as u64 + 60),
            "seed {seed}: the kill loop ran out of time"
        );
        let err = std::fs::File::create(dir.join(&format!("run-{runs}.err"))).unwrap();
        let mut child = app()
            .current_dir(dir.path())
            .args(["etl", "--config", "c.toml", "--quiet"])
            .env(
                "RUST_LOG",
                "info,app::actors::loader=debug,app::actors::outcome=debug",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        runs += 1;
        // From right after the start (recovery, the log's replay) to late in the run.
        let at = Duration::from_millis(rng.random_range(30..1500));
        let t0 = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if t0.elapsed() >= at {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match status {
            Some(status) => exits.push(status.code()),
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
            }
        }
    }
    // One run to the end: it sends what the last kill left in the log, then the inventory once more.
    let err = std::fs::File::create(dir.join(&format!("run-{runs}.err"))).unwrap();
    let out = app()
        .current_dir(dir.path())
        .args([
            "etl",
            "--config",
            "c.toml",
            "--quiet",
            "--summary-json",
            "last.json",
        ])
        .env(
            "RUST_LOG",
            "info,app::actors::loader=debug,app::actors::outcome=debug",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .status()
        .unwrap();
    runs += 1;
    assert_eq!(
        out.code(),
        Some(0),
        "seed {seed}: the last run delivers everything"
    );
    for code in &exits {
        assert!(
            matches!(code, Some(0)),
            "seed {seed}: a run that was not killed exited {code:?}"
        );
    }

    let logged = parse_logs(&dir, runs);
    let acked = m.state.keys_in_order();
    let acked_set: std::collections::HashSet<&String> = acked.iter().collect();
    let lost: Vec<&String> = logged
        .written_ahead
        .keys()
        .filter(|k| !acked_set.contains(k))
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: {} batches written ahead were never delivered, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    let unknown: Vec<&&String> = acked_set
        .iter()
        .filter(|k| !logged.formed.contains_key(**k))
        .collect();
    assert!(
        unknown.is_empty(),
        "seed {seed}: keys delivered that no run formed: {unknown:?}"
    );
    for (id, n) in &logged.written_ahead {
        assert_eq!(logged.formed.get(id), Some(n), "seed {seed}: {id}");
    }
    let st = m.stats();
    let expected: usize = acked_set.iter().map(|k| logged.formed[*k]).sum();
    assert_eq!(
        st.records_accepted as usize, expected,
        "seed {seed}: each key's records counted once, as formed"
    );
    assert_eq!(st.unique_batches as usize, acked_set.len());
    let spool = dir.join("spool");
    assert_eq!(log_segments(&spool), 0, "seed {seed}: the log ends empty");
    assert!(
        spool_files(&spool).is_empty(),
        "seed {seed}: the spool ends empty"
    );
    let last = dir.summary("last.json");
    assert_eq!(last["records"]["lost"], 0);
    eprintln!(
        "durable crash loop (seed {seed}): {killed} kills in {runs} runs, {} batches written ahead, {} keys delivered \
         ({} records), {} repeated deliveries under the same key, {:.1} s",
        logged.written_ahead.len(),
        acked_set.len(),
        st.records_accepted,
        st.duplicate_batches,
        started.elapsed().as_secs_f64()
    );
}

/// A spool write's temporary name for batch `id` of loader `worker`, holding `data`.
fn leave_temp(spool: &std::path::Path, worker: usize, id: &str, data: &[u8]) -> std::path::PathBuf {
    std::fs::create_dir_all(spool).unwrap();
    let tmp = spool.join(format!(".tmp-buffer_failed_worker{worker}-{id}.json.gz"));
    std::fs::write(&tmp, data).unwrap();
    tmp
}

fn error_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains(" ERROR ")).collect()
}

#[test]
fn a_whole_temp_spool_file_left_by_a_crash_is_recovered_and_replayed_under_its_batch_id() {
    let dir = TestDir::new();
    let id = "20261207T010000Z-0badcafe-w2-000003";
    let tmp = leave_temp(&dir.join("spool"), 2, id, &gzip(records_json(5).as_bytes()));
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(stderr.contains("recovered as"), "{stderr}");
    assert!(error_lines(&stderr).is_empty(), "{stderr}");
    assert!(!tmp.exists());
    assert!(!dir.join("spool/quarantine").exists());
    assert_eq!(m.state.keys_in_order(), [id]);
    assert_eq!(m.stats().records_accepted, 5);
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["replayed"], 5);
    assert_eq!(s["spool"]["files_quarantined"], 0);
}

#[test]
fn a_torn_temp_spool_file_with_no_other_copy_is_quarantined_with_a_warning_naming_its_batch() {
    let dir = TestDir::new();
    let id = "20261207T010000Z-0badcafe-w1-000009";
    let whole = gzip(records_json(5).as_bytes());
    leave_temp(&dir.join("spool"), 1, id, &whole[..whole.len() - 12]);
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a lost batch is exit 3: {}",
        show(&out)
    );
    let warning = stderr
        .lines()
        .find(|l| l.contains(" WARN ") && l.contains(id))
        .unwrap_or_else(|| panic!("a warning naming the batch: {stderr}"));
    assert!(
        warning.contains("records are lost") && warning.contains("quarantine"),
        "{warning}"
    );
    assert!(error_lines(&stderr).is_empty(), "{stderr}");
    let kept = std::fs::read_dir(dir.join("spool/quarantine"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
    assert_eq!(m.stats().requests, 0);
    assert_eq!(dir.summary("s.json")["spool"]["files_quarantined"], 1);
}

#[test]
fn a_temp_spool_file_of_a_batch_the_log_holds_is_deleted_and_the_batch_sent_once_from_the_log() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 40);
    // An API that accepts connections and never answers: batches are written ahead, then wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/load", silent.local_addr().unwrap());
    let cfg = fast_config(&silent_url, "[spool]\ndurable = true\n").set("load.batch_size", 20);
    dir.write("c.toml", &cfg);
    let err = std::fs::File::create(dir.join("run-0.err")).unwrap();
    let mut child = app()
        .current_dir(dir.path())
        .args(["etl", "--config", "c.toml", "--quiet"])
        .env("RUST_LOG", "info,app::actors::outcome=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !std::fs::read_to_string(dir.join("run-0.err"))
        .unwrap_or_default()
        .contains("written ahead to the WAL")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no batch written ahead"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(silent);
    let spool = dir.join("spool");
    let held = log_batches(&spool);
    let (id, records) = held.first().expect("the log holds the batch").clone();
    let worker: usize = id
        .rsplit("-w")
        .next()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The crash also cut the batch's spool write: a whole temporary file of it.
    let tmp = leave_temp(&spool, worker, &id, &gzip(records_json(records).as_bytes()));

    let m = MockThread::fast();
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "[spool]\ndurable = true\n"),
    );
    let out = dir.run(&["replay", "--config", "c.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!tmp.exists());
    let info = stderr
        .lines()
        .find(|l| l.contains(" INFO ") && l.contains(&id) && l.contains("write-ahead log holds"))
        .unwrap_or_else(|| panic!("an info line naming the batch: {stderr}"));
    assert!(info.contains("deleted"), "{info}");
    assert!(error_lines(&stderr).is_empty(), "{stderr}");
    let keys = m.state.keys_in_order();
    assert_eq!(keys.iter().filter(|k| **k == id).count(), 1, "{keys:?}");
    assert_eq!(
        keys.len(),
        held.len(),
        "every batch of the log sent once: {keys:?}"
    );
    assert!(spool_files(&spool).is_empty());
    assert!(!spool.join("quarantine").exists());
    assert!(log_batches(&spool).is_empty());
}
