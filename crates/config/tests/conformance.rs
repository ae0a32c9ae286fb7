//! Loads every file of Prometheus's config test data
//! (`../shared/conformance/config/`) and checks that we accept what
//! Prometheus accepts and reject what it rejects, with the error text its
//! own tests expect (`expected/config_errors.json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, Mode};

/// Where the upstream data lives: `NARTHEX_CONFORMANCE_DIR`, else `shared/`
/// beside the repository.
fn conformance_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NARTHEX_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

#[derive(Debug)]
enum Expect {
    Accept(Mode),
    Reject {
        mode: Mode,
        contains: Vec<String>,
    },
    /// Not a config: strict decoding as one target group must fail.
    RejectTargetGroup,
}

/// Files outside the good/bad naming whose expectation upstream's tests fix.
fn special_cases() -> HashMap<&'static str, Expect> {
    use Expect::*;
    HashMap::from([
        ("agent_mode.good.yml", Accept(Mode::Agent)),
        ("agent_mode.without_remote_writes.yml", Accept(Mode::Agent)),
        ("otlp_empty.yml", Accept(Mode::Server)),
        ("scrape_config_default_validation_mode.yml", Accept(Mode::Server)),
        ("scrape_config_global_validation_mode.yml", Accept(Mode::Server)),
        ("scrape_config_local_validation_mode.yml", Accept(Mode::Server)),
        ("scrape_config_local_global_validation_mode.yml", Accept(Mode::Server)),
        ("scrape_config_local_infer_escaping.yml", Accept(Mode::Server)),
        (
            "otlp_allow_utf8.incompatible.yml",
            Reject {
                mode: Mode::Server,
                contains: vec![r#"OTLP translation strategy "NoUTF8EscapingWithSuffixes" is not allowed when UTF8 is disabled"#.into()],
            },
        ),
        (
            "otlp_no_translation.incompatible.yml",
            Reject { mode: Mode::Server, contains: vec![r#"OTLP translation strategy "NoTranslation" is not allowed when UTF8 is disabled"#.into()] },
        ),
        (
            "config_with_deprecated_am_api_config.yml",
            Reject { mode: Mode::Server, contains: vec!["expected Alertmanager api version to be one of [v2] but got v1".into()] },
        ),
    ])
}

fn expectations(dir: &Path) -> Vec<(String, Expect)> {
    let json = std::fs::read_to_string(dir.join("expected/config_errors.json")).expect("expected/config_errors.json is readable");
    let v: serde_json::Value = serde_json::from_str(&json).expect("config_errors.json is JSON");
    let mut known: HashMap<String, Expect> = HashMap::new();
    for case in v["cases"].as_array().expect("cases") {
        let file = case["file"].as_str().expect("file").to_owned();
        let mode = match case["load_mode"].as_str() {
            Some("agent") => Mode::Agent,
            Some("target_group") => {
                known.insert(file, Expect::RejectTargetGroup);
                continue;
            }
            _ => Mode::Server,
        };
        let mut contains: Vec<String> = case["error_contains"].as_str().map(str::to_owned).into_iter().collect();
        contains.extend(case["also_contains"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)));
        known.insert(file, Expect::Reject { mode, contains });
    }
    let mut special = special_cases();
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("config"))
        .expect("config/ is readable")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    for name in names {
        let exp = if let Some(e) = known.remove(&name) {
            e
        } else if let Some(e) = special.remove(name.as_str()) {
            e
        } else if name.contains(".good.") {
            Expect::Accept(Mode::Server)
        } else if name.contains(".bad.") {
            // Bad files the expectations do not list must still be refused.
            Expect::Reject { mode: Mode::Server, contains: Vec::new() }
        } else if name.starts_with("agent_mode.") {
            // The README: agent_mode files without "good" fail in agent mode.
            Expect::Reject { mode: Mode::Agent, contains: Vec::new() }
        } else {
            panic!("{name}: no expectation for this file; add it to special_cases with upstream's verdict");
        };
        out.push((name, exp));
    }
    out
}

#[test]
fn prometheus_config_test_data() {
    let dir = conformance_dir();
    assert!(dir.join("config").is_dir(), "conformance data not found at {} (set NARTHEX_CONFORMANCE_DIR)", dir.display());
    let config_dir = dir.join("config");
    // Upstream loads files as testdata/<name>; its expected messages say so.
    let shown_dir = config_dir.display().to_string();
    let (mut passed, mut failed) = (0, 0);
    for (name, exp) in expectations(&dir) {
        let path = config_dir.join(&name);
        let verdict: Result<(), String> = match &exp {
            Expect::Accept(mode) => Config::load_file(&path, *mode).map(|_| ()).map_err(|e| format!("rejected: {e}")),
            Expect::Reject { mode, contains } => match Config::load_file(&path, *mode) {
                Ok(_) => Err("accepted, but Prometheus rejects it".into()),
                Err(e) => {
                    let msg = e.to_string().replace(&shown_dir, "testdata");
                    match contains.iter().find(|c| !msg.contains(c.as_str())) {
                        None => Ok(()),
                        Some(c) => Err(format!("error does not contain {c:?}; got: {msg}")),
                    }
                }
            },
            Expect::RejectTargetGroup => {
                let text = std::fs::read_to_string(&path).expect("readable");
                match config::yaml::from_str::<config::sd::TargetGroup>(&text) {
                    Ok(tg) => Err(format!("decoded as a target group: {tg:?}")),
                    Err(_) => Ok(()),
                }
            }
        };
        match verdict {
            Ok(()) => passed += 1,
            Err(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} config files disagree with Prometheus (see FAIL lines above)");
    assert!(passed > 200, "only {passed} files checked");
}
