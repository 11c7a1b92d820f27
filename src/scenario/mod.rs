//! Scenario files: a CA world and the steps run against both ends, with
//! expectations; a bug report as one file that anyone replays byte for byte
//! (`adcs-harness run PATH…`).

pub mod model;
mod parse;
mod run;
mod written_step;

use std::path::{Path, PathBuf};

pub use model::{Action, Expect, Scenario, Step};
pub use parse::ScenarioError;
pub use parse::{load, parse};
pub use run::{run_scenario, RunOptions, ScenarioReport, StepResult};

/// The scenario files `paths` name: files as given, folders' `*.toml` files
/// (not descending), sorted.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| not_usable(p, e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(not_usable(p, "no .toml scenario files"));
            }
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(not_usable(p, "no such file or folder"));
        }
    }
    Ok(out)
}

/// The runs of several files: each file's report, or its parse error.
pub struct Summary {
    pub reports: Vec<ScenarioReport>,
    pub parse_errors: Vec<ScenarioError>,
}

impl Summary {
    pub fn passed(&self) -> usize {
        self.reports.iter().map(ScenarioReport::passed).sum()
    }

    pub fn failed(&self) -> usize {
        self.reports
            .iter()
            .map(ScenarioReport::failed)
            .sum::<usize>()
            + self.parse_errors.len()
    }

    /// The closing line: `scenarios: N passed, M failed` (steps).
    pub fn line(&self) -> String {
        format!(
            "scenarios: {} passed, {} failed",
            self.passed(),
            self.failed()
        )
    }
}

/// Loads and runs every file; `each` sees each report as it finishes.
pub fn run_files(
    files: &[PathBuf],
    opts: &RunOptions,
    each: &mut dyn FnMut(Result<&ScenarioReport, &ScenarioError>),
) -> Summary {
    let mut summary = Summary {
        reports: Vec::new(),
        parse_errors: Vec::new(),
    };
    for f in files {
        match load(f) {
            Ok(s) => {
                let r = run_scenario(&s, opts);
                each(Ok(&r));
                summary.reports.push(r);
            }
            Err(e) => {
                each(Err(&e));
                summary.parse_errors.push(e);
            }
        }
    }
    summary
}

/// A scenario file's path relative to `base` when it is under it (for
/// transcripts that do not depend on where the checkout is).
pub fn relative(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}

fn not_usable(path: &Path, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        path: path.to_path_buf(),
        place: None,
        message: message.into(),
    }
}
