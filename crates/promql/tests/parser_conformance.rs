//! Every query of the upstream PromQL test scripts through our parser: the
//! queries expected to succeed must parse and type-check. (A query expected
//! to fail may fail at parse time or when evaluated; which one is checked
//! once the evaluator exists.) Scripts of features not built yet are listed
//! with the reason.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use promql::promqltest::script::{Command, parse};

fn conformance_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NARTHEX_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

/// Scripts whose syntax goes beyond what the parser knows yet. A listed
/// script whose queries all parse fails the test, so the list cannot go
/// stale.
const NOT_YET: &[(&str, &str)] = &[
    ("extended_vectors.test", "`anchored`/`smoothed` range selectors (experimental)"),
    ("fill-modifier.test", "`fill()`/`fill_left()`/`fill_right()` on binary operators (experimental)"),
    ("info.test", "experimental `info()` with data-label selectors that match the empty string"),
    ("native_histograms.test", "`histogram_quantiles()` and the `>/` `</` trim operators (native histograms)"),
    ("start_timestamps.test", "start-timestamp syntax (experimental)"),
];

#[test]
fn every_script_query_that_must_succeed_parses() {
    let dir = conformance_dir().join("promql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "test")).collect();
    files.sort();
    assert!(files.len() >= 10, "conformance scripts not found in {}", dir.display());
    let mut failures = Vec::new();
    let (mut parsed, mut skipped) = (0, 0);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let listed = NOT_YET.iter().any(|(f, _)| *f == name);
        let script = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut file_failures = Vec::new();
        for c in &script.commands {
            let Command::Eval(e) = &c.command else { continue };
            match promql::parser::parse(&e.expr) {
                Ok(_) => parsed += 1,
                Err(_) if e.expect.fail.is_some() => {}
                Err(err) => file_failures.push(format!("{name}:{}: {} => {err}", c.line, e.expr)),
            }
        }
        match (listed, file_failures.is_empty()) {
            (true, true) => failures.push(format!("{name} is listed as not yet covered but every query parses: remove it from NOT_YET")),
            (true, false) => skipped += 1,
            (false, _) => failures.extend(file_failures),
        }
    }
    println!("{parsed} queries parsed, {skipped} scripts not yet covered: {NOT_YET:?}");
    assert!(parsed > 900, "only {parsed} queries parsed");
    assert!(failures.is_empty(), "{} queries failed to parse:\n{}", failures.len(), failures.join("\n"));
}
