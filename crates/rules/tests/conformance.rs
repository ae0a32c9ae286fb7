//! Prometheus's rule-file parser tests, read from the upstream data in
//! `../shared/conformance/rules/` (see its README): the good files parse,
//! and each bad file's first error says what Prometheus's says.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use model::ValidationScheme;
use rules::rulefmt;

fn conformance_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NARTHEX_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

#[test]
fn rulefmt_files_pass_and_fail_as_in_prometheus() {
    let dir = conformance_dir();
    let files = dir.join("rules/rulefmt");
    assert!(files.is_dir(), "conformance data not found at {} (set NARTHEX_CONFORMANCE_DIR)", dir.display());
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected/rulefmt_errors.json")).unwrap()).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    let mut bad_seen = 0;
    for entry in std::fs::read_dir(&files).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".bad.yaml") {
            let case = cases.iter().find(|c| c["file"] == name.as_str()).unwrap_or_else(|| panic!("no expected error for {name}"));
            let scheme =
                if case.get("note").is_some_and(|n| n.as_str().unwrap().contains("LEGACY")) { ValidationScheme::Legacy } else { ValidationScheme::Utf8 };
            let errs = rulefmt::parse_file(&path, scheme).expect_err(&name);
            let want = case["error_contains"].as_str().unwrap();
            assert!(errs.0[0].contains(want), "{name}: first error {:?} lacks {want:?}", errs.0);
            bad_seen += 1;
        } else {
            // The legacy case's good twin is checked under the legacy scheme.
            let scheme = if name.starts_with("legacy_") { ValidationScheme::Legacy } else { ValidationScheme::Utf8 };
            let groups = rulefmt::parse_file(&path, scheme).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!groups.groups.is_empty(), "{name}");
        }
    }
    assert_eq!(bad_seen, cases.len());
}

/// The rule files of Prometheus's rule manager tests load, but for the one
/// meant to be refused.
#[test]
fn rule_manager_fixtures_load() {
    let dir = conformance_dir().join("rules/fixtures");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let name = path.display().to_string();
            let parsed = rulefmt::parse_file(&path, ValidationScheme::Utf8);
            if name.ends_with("invalid_rules.yaml") {
                assert!(parsed.unwrap_err().0[0].contains("field unexpected_field not found"), "{name}");
            } else {
                parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            n += 1;
        }
    }
    assert!(n > 5, "only {n} fixtures");
}
