//! What the commands write on stdout (ignoring a closed pipe) and the summary, as text and as JSON.

use std::path::Path;

use crate::observe::summary::Summary;

/// Prints a line on stdout, ignoring a closed pipe (`app validate | head` must not panic, and a run must never
/// die for want of a reader).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}
pub(crate) use say;

/// Prints the summary, and writes it as JSON to `json_path` when given (a failure there is logged, see
/// `summary_file`).
pub fn write_summary(summary: &Summary, json_path: Option<&Path>) {
    say!("{}", summary.text().trim_end());
    if let Some(path) = json_path {
        super::summary_file::write(summary, path);
    }
}
