//! The problems of an inventory as a user reads them: the first [`REPORTED_PROBLEMS`] in line order (the bad rows
//! as they are read and the repeated names, found only at the end of the check, merged), then how many more, in
//! bounded memory however bad the file (a binary file has a problem on nearly every line).

use super::RowError;

/// How many problems `validate` and a refused run print before "… and N more".
pub const REPORTED_PROBLEMS: usize = 100;

/// Collects the problems of one check; [`ProblemReport::lines`] gives the report.
#[derive(Debug)]
pub struct ProblemReport {
    limit: usize,
    /// The lowest-numbered problems seen so far (at most twice the limit between trims).
    kept: Vec<RowError>,
    total: u64,
}

impl ProblemReport {
    /// A report of the first `limit` problems.
    pub fn new(limit: usize) -> Self {
        ProblemReport {
            limit,
            kept: Vec::new(),
            total: 0,
        }
    }

    /// Counts a problem, and keeps it while it is among the first by line.
    pub fn add(&mut self, problem: &RowError) {
        self.total += 1;
        self.kept.push(problem.clone());
        if self.kept.len() >= 2 * self.limit.max(1) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.kept.sort_by_key(|e| e.line);
        self.kept.truncate(self.limit);
    }

    /// Problems counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The report: the first problems in line order, then `… and N more (M rows in all)` when some were left out.
    pub fn lines(mut self) -> Vec<String> {
        self.trim();
        let mut lines: Vec<String> = self.kept.iter().map(ToString::to_string).collect();
        let shown = lines.len() as u64;
        if self.total > shown {
            lines.push(format!(
                "… and {} more ({} rows in all)",
                self.total - shown,
                self.total
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::inventory::RowProblem;

    fn problem(line: u64) -> RowError {
        RowError {
            path: PathBuf::from("inv.csv"),
            line,
            problem: RowProblem::EmptyName,
        }
    }

    #[test]
    fn the_first_problems_come_in_line_order_then_how_many_more() {
        let mut report = ProblemReport::new(3);
        // Rows as read, then repeated names found at the end (lower lines among them).
        for line in [5, 7, 9, 11, 13, 15, 17] {
            report.add(&problem(line));
        }
        for line in [2, 8, 20] {
            report.add(&problem(line));
        }
        assert_eq!(report.total(), 10);
        assert_eq!(
            report.lines(),
            [
                "inv.csv:2: field `name` is empty",
                "inv.csv:5: field `name` is empty",
                "inv.csv:7: field `name` is empty",
                "… and 7 more (10 rows in all)",
            ]
        );
        let mut few = ProblemReport::new(3);
        few.add(&problem(4));
        few.add(&problem(1));
        assert_eq!(
            few.lines(),
            [
                "inv.csv:1: field `name` is empty",
                "inv.csv:4: field `name` is empty"
            ]
        );
        assert!(ProblemReport::new(3).lines().is_empty());
    }
}
