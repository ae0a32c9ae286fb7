//! File-based discovery through the binary: narthex scrapes a loopback
//! target named in a `file_sd_configs` file, and follows the file when it
//! is rewritten. The discovery manager's batching period is shortened with
//! `NARTHEX_SD_UPDATE_INTERVAL` (Prometheus has no flag for it).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};

use common::{Killed, active_targets as active, free_port, serve_metrics as target, wait_for};

#[test]
fn file_sd_targets_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (target("first_metric 1\n"), target("second_metric 2\n"));
    let targets = dir.path().join("targets.json");
    std::fs::write(&targets, format!(r#"[{{"targets": ["127.0.0.1:{a}"], "labels": {{"team": "a"}}}}]"#)).unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        "global: {scrape_interval: 200ms, scrape_timeout: 150ms}\nscrape_configs:\n  - job_name: files\n    file_sd_configs: [{files: ['*.json']}]\n",
    )
    .unwrap();
    let port = free_port();
    let _narthex = Killed(
        Command::new(env!("CARGO_BIN_EXE_narthex"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .env("NARTHEX_SD_UPDATE_INTERVAL", "200ms")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    wait_for(port, "/api/v1/query?query=first_metric", "the first target scraped", |b| b.contains(r#""team":"a""#));
    let t = active(port);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["labels"]["instance"], format!("127.0.0.1:{a}"));
    // The file path is made absolute against the config's folder.
    assert_eq!(t[0]["discoveredLabels"]["__meta_filepath"], targets.display().to_string());

    // Rewritten atomically, as the docs advise: the target changes.
    let tmp = dir.path().join("targets.tmp");
    std::fs::write(&tmp, format!(r#"[{{"targets": ["127.0.0.1:{b}"], "labels": {{"team": "b"}}}}]"#)).unwrap();
    std::fs::rename(&tmp, &targets).unwrap();
    wait_for(port, "/api/v1/query?query=second_metric", "the second target scraped", |b| b.contains(r#""team":"b""#));
    let t = active(port);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["labels"]["instance"], format!("127.0.0.1:{b}"));

    // A broken file keeps the last good targets and counts the error.
    std::fs::write(&targets, "[{").unwrap();
    wait_for(port, "/metrics", "the read error counted", |m| m.lines().any(|l| l.starts_with("prometheus_sd_file_read_errors_total ") && !l.ends_with(" 0")));
    assert_eq!(active(port).len(), 1);
    let m = common::http_get(port, "/metrics").unwrap();
    assert!(m.contains(r#"prometheus_sd_discovered_targets{config="files",name="scrape"} 1"#), "{m}");
    assert!(m.contains(r#"prometheus_sd_failed_configs{name="scrape"} 0"#), "{m}");
}
