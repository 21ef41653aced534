//! `spool.durable` against SIGKILL: runs of `etl` killed at random points (while extracting, sending, replaying
//! the log of the previous kill, or recovering), then one run left to finish, against the mock API, which
//! dedupes by `Idempotency-Key`. Every batch the ETL logged as written ahead is delivered, no key is delivered
//! that the ETL did not form, each key counts its formed records once, and the log and the spool end empty.
//!
//! 10 kills here (about 20 s); `DURABLE_CRASH_KILLS=60` for the long version (`scripts/durable-crash.sh`).
//! `DURABLE_CRASH_SEED` repeats a run.

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
    let ahead_re = regex_lite(" records) written ahead to the log");
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
/// `... batch {id} ({n} records) written ahead to the log` (the other marker): (id, n).
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
