//! Dead letters (`spool/rejected/`, each with its `.rejection.json` sidecar) re-driven by `replay --rejected`:
//! rejected again while the cause is there, delivered under their batch ids once it is fixed.

use crate::helpers::*;

/// Dead letters in `spool/rejected/`, and their sidecars.
fn dead_letters(spool: &std::path::Path) -> (Vec<std::path::PathBuf>, usize) {
    let rejected = spool.join("rejected");
    let sidecars = std::fs::read_dir(&rejected)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".rejection.json")
            })
            .count()
        })
        .unwrap_or(0);
    (spool_files(&rejected), sidecars)
}

#[test]
fn replay_rejected_resends_dead_letters_under_their_ids_once_the_cause_is_fixed() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 30);
    let m = MockThread::fast();
    // A typo in the path: the API answers 404, which is not retried: every batch is dead-lettered.
    let typo = format!("{}/lod", m.url());
    dir.write("c.toml", &fast_config(&typo, "").set("load.batch_size", 10));
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let spool = dir.join("spool");
    let (letters, sidecars) = dead_letters(&spool);
    assert!(!letters.is_empty());
    assert_eq!(sidecars, letters.len());
    let ids: Vec<String> = letters
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            app::spool::parse_file_name(name).unwrap().1.unwrap().0
        })
        .collect();

    // Re-driven while the cause is still there: rejected again, they stay (with a sidecar each).
    let out = dir.run(&["replay", "--config", "c.toml", "--rejected"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(dead_letters(&spool), (letters.clone(), letters.len()));
    assert!(spool_files(&spool).is_empty());

    // Fixed: delivered under the original ids; dead letters and sidecars are gone.
    let out = dir.run(&[
        "replay",
        "--config",
        "c.toml",
        "--rejected",
        "--endpoint",
        &m.load_url(),
        "--summary-json",
        "s.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, 30);
    assert_eq!(dead_letters(&spool), (vec![], 0));
    assert!(spool_files(&spool).is_empty());
    assert!(std::fs::read_dir(&spool).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".rejection.json")));
    assert_eq!(dir.summary("s.json")["records"]["replayed"], 30);
    for id in ids {
        let (status, body) = post_load(
            m.addr,
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", id.as_str()),
            ],
            b"[]",
        );
        assert_eq!(status, 200);
        assert!(
            body.contains("\"duplicate\":true"),
            "{id} was delivered: {body}"
        );
    }
}
