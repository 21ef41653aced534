//! The exit codes: the one definition that `--help`, docs/EXIT-CODES.md's table and the summary use; the README's
//! sentence and docs/DEPLOY.md's scheduler table name every code (both tested).

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every record delivered (or: validation clean, server stopped cleanly, healthcheck healthy).
    Ok,
    /// Records could be neither delivered nor spooled (the spool disk failed); healthcheck unhealthy.
    Lost,
    /// Bad usage, configuration or inventory, or a path or port refused as given: a person must fix it.
    Usage,
    /// Finished, but something was spooled or rejected, a device failed, a row was skipped, a spool file was
    /// quarantined or could not be read, or the inventory held no device (unless the run was a shard).
    Incomplete,
    /// A runtime failure of the system, not of the input: the spool or the write-ahead log could not be read or
    /// written (a disk error, a full disk), or a port, thread or file the command needs could not be had. A run
    /// stops before it sends anything; a later try may work.
    Runtime,
    /// Stopped by SIGINT.
    Sigint,
    /// Stopped by SIGTERM.
    Sigterm,
}

impl ExitCode {
    /// Every code, in numeric order.
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Ok,
        ExitCode::Lost,
        ExitCode::Usage,
        ExitCode::Incomplete,
        ExitCode::Runtime,
        ExitCode::Sigint,
        ExitCode::Sigterm,
    ];

    /// The process exit status.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Lost => 1,
            ExitCode::Usage => 2,
            ExitCode::Incomplete => 3,
            ExitCode::Runtime => 4,
            ExitCode::Sigint => 130,
            ExitCode::Sigterm => 143,
        }
    }

    /// The code a signal number stops the run with (`128 + n` for SIGINT and SIGTERM).
    pub fn for_signal(signal: i32) -> ExitCode {
        if signal == 2 {
            ExitCode::Sigint
        } else {
            ExitCode::Sigterm
        }
    }

    /// What the code means, as `--help` and docs/EXIT-CODES.md say it.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Ok => {
                "all delivered (or: validation clean, server stopped cleanly, healthcheck healthy)"
            }
            ExitCode::Lost => {
                "records could be neither delivered nor spooled (spool disk failure; logged as `RECORDS LOST`; \
                 this wins over a signal's code); healthcheck unhealthy"
            }
            ExitCode::Usage => {
                "bad usage, configuration or inventory, or a path or port refused as given (not found, not a \
                 directory, permission denied, the spool locked by another process): a person must fix it (the \
                 message names the file, line or key)"
            }
            ExitCode::Incomplete => {
                "finished, but something was spooled or rejected, a device failed, an inventory row was skipped, \
                 a spool file was quarantined or could not be read, or the inventory held no device (an empty \
                 file or a header only; a `--shard` may be empty)"
            }
            ExitCode::Runtime => {
                "a runtime failure, not of the input: the spool or the write-ahead log could not be read or \
                 written (a disk error, a full disk), or a port, thread or file the command needs could not be had \
                 (the message names it); a run stops before it sends anything, and a later try may work"
            }
            ExitCode::Sigint => "stopped by SIGINT; what was undelivered is in the spool",
            ExitCode::Sigterm => "stopped by SIGTERM; what was undelivered is in the spool",
        }
    }

    /// The `Exit codes:` section of `app --help`.
    pub fn help_text() -> String {
        let mut text = String::from("Exit codes:");
        for c in ExitCode::ALL {
            text.push_str(&format!("\n  {:<4} {}", c.code(), c.meaning()));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn signals_map_to_128_plus_their_number() {
        assert_eq!(ExitCode::for_signal(2).code(), 130);
        assert_eq!(ExitCode::for_signal(15).code(), 143);
    }

    #[test]
    fn the_documented_table_is_this_definition() {
        let doc = include_str!("../../docs/EXIT-CODES.md");
        let rows: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        let want: Vec<String> = ExitCode::ALL
            .iter()
            .map(|c| format!("| {} | {} |", c.code(), c.meaning()))
            .collect();
        assert_eq!(
            rows, want,
            "docs/EXIT-CODES.md's table differs from ExitCode::ALL"
        );
    }

    /// The numbers of `text`, as a set.
    fn numbers(text: &str) -> std::collections::BTreeSet<i32> {
        text.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect()
    }

    #[test]
    fn the_readme_and_the_deployment_guide_name_every_code() {
        let every: std::collections::BTreeSet<i32> =
            ExitCode::ALL.iter().map(|c| c.code()).collect();
        let readme = include_str!("../../README.md");
        let start = readme
            .find("Exit codes:")
            .expect("the README says the exit codes in one sentence");
        let sentence = &readme[start..];
        let sentence = &sentence[..sentence.find("[the table]").expect("it links the table")];
        assert_eq!(
            numbers(sentence),
            every,
            "the README's exit codes: {sentence}"
        );
        let deploy = include_str!("../../docs/DEPLOY.md");
        let rows: String = deploy
            .lines()
            .skip_while(|l| !l.starts_with("| exit | meaning |"))
            .skip(2)
            .take_while(|l| l.starts_with("| "))
            .map(|l| l.split('|').nth(1).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            numbers(&rows),
            every,
            "docs/DEPLOY.md's scheduler table: {rows}"
        );
    }
}
