//! `narthex check config --syntax-only`, run as a user would, on every
//! `*.good.yml` and `*.bad.yml` of Prometheus's config test data: good files
//! exit 0, bad ones exit 1 with the text Prometheus's tests expect.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn conformance_dir() -> PathBuf {
    std::env::var("NARTHEX_CONFORMANCE_DIR").map(PathBuf::from).unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"))
}

/// Expected error texts of server-mode rejections, by file name.
fn expected_texts(dir: &Path) -> HashMap<String, Vec<String>> {
    let json = std::fs::read_to_string(dir.join("expected/config_errors.json")).expect("expected/config_errors.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["load_mode"] == "server")
        .map(|c| {
            let texts = std::iter::once(&c["error_contains"])
                .chain(c["also_contains"].as_array().into_iter().flatten())
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
            (c["file"].as_str().unwrap_or_default().to_owned(), texts)
        })
        .collect()
}

#[test]
fn check_config_syntax_only_agrees_with_prometheus() {
    let dir = conformance_dir();
    let config_dir = dir.join("config");
    assert!(config_dir.is_dir(), "conformance data not found at {}", dir.display());
    let texts = expected_texts(&dir);
    let mut names: Vec<String> = std::fs::read_dir(&config_dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let (mut passed, mut failed) = (0, 0);
    for name in names.iter().filter(|n| n.ends_with(".good.yml") || n.ends_with(".bad.yml")) {
        let path = config_dir.join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_narthex")).args(["check", "config", "--syntax-only"]).arg(&path).output().expect("run narthex");
        let stderr = String::from_utf8_lossy(&out.stderr).replace(&config_dir.display().to_string(), "testdata");
        let problem = if name.ends_with(".good.yml") {
            (out.status.code() != Some(0)).then(|| format!("exit {:?}, want 0: {stderr}", out.status.code()))
        } else if out.status.code() != Some(1) {
            Some(format!("exit {:?}, want 1", out.status.code()))
        } else {
            texts.get(name).into_iter().flatten().find(|t| !stderr.contains(t.as_str())).map(|t| format!("output lacks {t:?}: {stderr}"))
        };
        match problem {
            None => passed += 1,
            Some(p) => {
                failed += 1;
                println!("FAIL {name}: {p}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0);
    assert!(passed > 190, "only {passed} files checked");
}
