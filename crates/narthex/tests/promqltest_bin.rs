#![allow(clippy::unwrap_used)]
//! Runs the built `promqltest` binary on small hand-written scripts (no
//! evals: the evaluator is not ready, and upstream scripts are not run here).

use std::process::Command;

fn run(files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_promqltest")).arg(dir.path()).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn load_and_clear_pass() {
    let (code, stdout) = run(&[("ok.test", "# data only\nload 1m\n  foo{job=\"a\"} 0+1x10 _ stale 3\n  bar 1 2\n\nclear\n")]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("PASS ") && lines[0].ends_with("ok.test (1 commands)"), "{stdout}");
    assert_eq!(lines[1], "1 passed, 0 failed");
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn syntax_error_fails_clearly() {
    let (code, stdout) = run(&[("a.test", "load 1m\n  foo 1\n"), ("b.test", "load 1m\n  foo 1\n\nbogus command\n")]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("PASS ") && lines[0].ends_with("a.test (1 commands)"), "{stdout}");
    assert!(lines[1].starts_with("FAIL ") && lines[1].contains("b.test: line 4: invalid script: invalid command \"bogus\""), "{stdout}");
    assert_eq!(lines[2], "1 passed, 1 failed");
    assert_eq!(code, 1, "{stdout}");
}
