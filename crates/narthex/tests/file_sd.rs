//! File-based discovery through the binary: narthex scrapes a loopback
//! target named in a `file_sd_configs` file, and follows the file when it
//! is rewritten. The discovery manager's batching period is shortened with
//! `NARTHEX_SD_UPDATE_INTERVAL` (Prometheus has no flag for it).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::{Killed, free_port, wait_for};
use serde_json::Value;

/// A target answering every request with `body`, on its own thread.
fn target(body: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(conn, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        }
    });
    port
}

fn active(port: u16) -> Vec<Value> {
    let body = common::http_get(port, "/api/v1/targets").unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]["activeTargets"].as_array().cloned().unwrap_or_default()
}

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
