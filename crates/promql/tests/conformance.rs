//! The upstream PromQL test scripts through our engine, against the real
//! in-memory head. Every failing command must be listed, with its reason,
//! in `known_failures.txt`; a listed command that passes fails this test
//! too, so the list can only shrink. (The PromQL issue asks for that list
//! to be empty for the core language; what remains is stated in the file.)
//!
//! `NARTHEX_PRINT_FAILURES=1` prints the current failures in the file's
//! format, with the reason worked out where it can be (an invalid file, or
//! data with native histograms, which storage cannot hold yet).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promql::promqltest::run::{self, Status, TestStorage};
use promql::promqltest::script::{self, Command, Point};
use storage::StorageError;
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

fn new_storage() -> Result<Box<dyn TestStorage>, StorageError> {
    let head = Head::open(HeadOptions::test_storage(), HeadMetrics::new(None)).map_err(|e| StorageError::Other(e.to_string()))?;
    Ok(Box::new(HeadStorage(head)))
}

fn conformance_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NARTHEX_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

/// `file line` (or `file *` for a whole file) → reason.
fn known() -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known_failures.txt")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (head, reason) = line.split_once(": ").unwrap_or_else(|| panic!("no reason in known_failures.txt line {line:?}"));
        let mut words = head.split_whitespace();
        let file = words.next().unwrap().to_owned();
        for l in words {
            out.insert((file.clone(), l.to_owned()), reason.to_owned());
        }
    }
    out
}

#[test]
fn upstream_scripts_fail_only_where_listed() {
    let engine = run::script_engine();
    let dir = conformance_dir().join("promql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "test")).collect();
    files.sort();
    assert!(files.len() >= 10, "conformance scripts not found in {}", dir.display());
    let known = known();
    let mut failing: BTreeMap<(String, String), String> = BTreeMap::new();
    let (mut passed, mut failed) = (0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let mut factory = new_storage;
        let outcome = run::run_source(&text, &engine, &mut factory);
        passed += outcome.passed();
        failed += outcome.failed();
        if let Some(e) = &outcome.invalid {
            failing.insert((name.clone(), "*".into()), format!("invalid script for our parser: {}", e.message));
            continue;
        }
        let clears = clears_and_histogram_loads(&text);
        for c in &outcome.commands {
            if let Status::Fail(msg) = &c.status {
                let reason = if histograms_before(&clears, c.line) {
                    "data loaded since the last clear holds native histograms, which storage does not hold yet".to_owned()
                } else {
                    format!("UNEXPLAINED: {msg}")
                };
                failing.insert((name.clone(), c.line.to_string()), reason);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if std::env::var("NARTHEX_PRINT_FAILURES").is_ok() {
        let mut by: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for ((f, l), r) in &failing {
            by.entry((f.clone(), r.clone())).or_default().push(l.clone());
        }
        for ((f, r), lines) in by {
            println!("{f} {}: {r}", lines.join(" "));
        }
    }
    let unlisted: Vec<String> = failing.iter().filter(|(k, _)| !known.contains_key(*k)).map(|((f, l), r)| format!("{f}:{l}: {r}")).collect();
    let fixed: Vec<String> = known.keys().filter(|k| !failing.contains_key(*k)).map(|(f, l)| format!("{f}:{l}")).collect();
    assert!(unlisted.is_empty(), "{} failures not in known_failures.txt:\n{}", unlisted.len(), unlisted.join("\n"));
    assert!(fixed.is_empty(), "{} listed failures now pass; remove them from known_failures.txt:\n{}", fixed.len(), fixed.join("\n"));
}

/// `(line, is_clear, has_histograms)` for every clear and load.
fn clears_and_histogram_loads(text: &str) -> Vec<(usize, bool, bool)> {
    let Ok(s) = script::parse(text) else { return Vec::new() };
    s.commands
        .iter()
        .filter_map(|c| match &c.command {
            Command::Clear => Some((c.line, true, false)),
            Command::Load(l) => {
                let has = l.with_nhcb || l.series.iter().any(|s| s.values.iter().any(|p| matches!(p, Point::Histogram(_) | Point::Unsupported { .. })));
                Some((c.line, false, has))
            }
            Command::Eval(_) => None,
        })
        .collect()
}

fn histograms_before(marks: &[(usize, bool, bool)], line: usize) -> bool {
    let mut has = false;
    for &(_, clear, h) in marks.iter().take_while(|m| m.0 < line) {
        if clear {
            has = false;
        } else if h {
            has = true;
        }
    }
    has
}
