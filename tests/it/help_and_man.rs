//! What the binary says about itself: `--help` (each flag's default and variable, every exit code), `--version`,
//! shell completions and the man page.

use crate::helpers::*;

#[test]
fn help_shows_each_flags_default_and_variable_and_every_exit_code() {
    let dir = TestDir::new();
    let help = |args: &[&str]| {
        let out = dir.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = help(&["--help"]);
    for c in app::observe::exit::ExitCode::ALL {
        assert!(
            top.contains(&format!("{:<4} {}", c.code(), c.meaning())),
            "exit {} missing: {top}",
            c.code()
        );
    }
    for (args, wanted) in [
        (
            &["etl", "--help"][..],
            &[
                "[env: APP__INVENTORY__PATH] [default: appliances.csv]",
                "[env: APP__LOAD__ENDPOINT] [default: http://127.0.0.1:8080/load]",
                "[env: APP__SPOOL__DIR] [default: spool]",
                "[env: APP__EXTRACT__SHARD] [default: \"\" (all)]",
                "[env: APP__PROFILE__ENABLED] [default: false]",
                "[env: APP__METRICS__ADDR] [default: \"\" (none)]",
            ][..],
        ),
        (
            &["replay", "--help"][..],
            &["[env: APP__LOAD__ENDPOINT] [default: http://127.0.0.1:8080/load]"][..],
        ),
        (
            &["mock-server", "--help"][..],
            &[
                "[env: APP__MOCK__BIND] [default: 127.0.0.1:8080]",
                "[env: APP__MOCK__TOKEN] [default: \"\" (none)]",
                "[env: APP__MOCK__DELAY_MS] [default: 20]",
                "[env: APP__MOCK__FAIL_RATE] [default: 0.0]",
                "[env: APP__MOCK__LOG_FILE] [default: mock_server.log]",
            ][..],
        ),
        (
            &["validate", "--help"][..],
            &["[env: APP__INVENTORY__PATH] [default: appliances.csv]"][..],
        ),
        (
            &["demo", "--help"][..],
            &["[env: APP__INVENTORY__PATH] [default: appliances.csv]"][..],
        ),
    ] {
        let text = help(args);
        for w in wanted {
            assert!(text.contains(w), "{args:?} lacks {w}: {text}");
        }
        assert!(
            text.contains("[default: config/default.toml]"),
            "{args:?}: {text}"
        );
    }
    // default.toml says what the code does: the loaders share one thread per core.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"),
    )
    .unwrap();
    let workers = shipped
        .lines()
        .find(|l| l.starts_with("workers = 10"))
        .unwrap();
    assert!(
        !workers.contains("own thread") && workers.contains("one thread per core"),
        "{workers}"
    );
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = app().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    assert!(
        text.starts_with(&format!(
            "app {} (commit {commit}, built ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    let date = text
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(
        date == "unknown" || (date.len() == 10 && date.as_bytes()[4] == b'-'),
        "{text}"
    );
}

#[test]
fn completions_and_the_man_page_are_printed() {
    let out = app().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let bash = String::from_utf8_lossy(&out.stdout);
    assert!(bash.contains("_app()") && bash.contains("replay"), "{bash}");
    let out = app().args(["completions", "zsh"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("#compdef app"));
    let out = app().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad usage");
    let out = app().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(man.contains(".TH app 1") && man.contains("replay"), "{man}");
}
