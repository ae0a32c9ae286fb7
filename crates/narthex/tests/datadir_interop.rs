//! A data folder moves between narthex and Debian's Prometheus 2.42 in
//! both directions: one server scrapes a node_exporter, cutting blocks
//! every few seconds (the hidden block-duration flags), and stops; the
//! other starts on the same folder (blocks, WAL, head chunks) without
//! scraping, and answers the same queries with the same JSON. In between,
//! `promtool tsdb list/dump` and `narthex tsdb list/dump` read the folder
//! alike.
//! Ignored in a plain `cargo test`; `scripts/interop.sh` runs them.
#![allow(clippy::unwrap_used)] // a failed setup step should just fail the test

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Killed;
use serde_json::Value;

const BLOCK_FLAGS: [&str; 2] = ["--storage.tsdb.min-block-duration=10s", "--storage.tsdb.max-block-duration=30s"];

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Narthex,
    Prometheus,
}

fn start(server: Server, cfg: &Path, data: &Path, port: u16) -> Killed {
    let mut cmd = match server {
        Server::Narthex => Command::new(env!("CARGO_BIN_EXE_narthex")),
        Server::Prometheus => Command::new("prometheus"),
    };
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(BLOCK_FLAGS)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let k = Killed(cmd.spawn().expect("start the server (Debian's prometheus for the peer)"));
    common::wait_for(port, "/-/ready", "server ready", |b| b.contains("Ready"));
    k
}

/// Stops the server as an operator would (SIGTERM) and waits for it to go.
fn stop(mut k: Killed) {
    let pid = k.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while k.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `tsdb` subcommand's output on `dir` (its last argument).
fn tool(bin: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(bin).args(args).arg(dir).output().expect("run the tool");
    assert!(out.status.success(), "{bin} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn block_count(data: &Path) -> usize {
    std::fs::read_dir(data).map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().len() == 26 && e.path().join("meta.json").exists()).count()).unwrap_or(0)
}

/// The API paths compared: instant queries inside the blocks and in the
/// head, range queries over all of it, series and label values.
fn paths(start: f64, end: f64) -> Vec<String> {
    let mid = (start + end) / 2.0;
    let mut out = Vec::new();
    for q in [
        "up",
        "count_over_time(up[30s])",
        "node_load1",
        "rate(node_cpu_seconds_total[10s])",
        "sum by (mode) (rate(node_cpu_seconds_total[10s]))",
        "count({job=\"node\"})",
        "max_over_time(scrape_duration_seconds[1m])",
    ] {
        for t in [start + 12.0, mid, end - 1.0] {
            out.push(format!("/api/v1/query?query={}&time={t:.3}", common::url_encode(q)));
        }
    }
    for q in ["sum(rate(node_network_receive_bytes_total[5s]))", "count_over_time(up[5s])", "node_memory_MemFree_bytes", "scrape_samples_scraped"] {
        out.push(format!("/api/v1/query_range?query={}&start={:.3}&end={:.3}&step=1", common::url_encode(q), start + 2.0, end - 1.0));
    }
    out.push(format!("/api/v1/series?match[]=up&match[]=node_load1&start={start:.3}&end={end:.3}"));
    out.push("/api/v1/label/__name__/values".to_owned());
    out
}

/// The answer's data with result series in label order (the API does not
/// promise an order for instant vectors).
fn data(port: u16, path: &str) -> Value {
    let body = common::http_get(port, path).unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body:.500}"));
    assert_eq!(v["status"], "success", "{path}: {body:.500}");
    let mut d = v["data"].clone();
    if let Some(r) = d.get_mut("result").and_then(Value::as_array_mut) {
        r.sort_by_key(|s| s["metric"].to_string());
    }
    if let Some(r) = d.as_array_mut() {
        r.sort_by_key(|s| s.to_string());
    }
    d
}

fn round_trip(writer: Server, reader: Server) {
    let tmp = tempfile::tempdir().unwrap();
    let ne = common::free_port();
    let _node = common::start_node_exporter(ne);
    let port = common::free_port();
    let scrape_cfg = tmp.path().join("scrape.yml");
    std::fs::write(
        &scrape_cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{ne}']\n"),
    )
    .unwrap();
    let idle_cfg = tmp.path().join("idle.yml");
    std::fs::write(&idle_cfg, "global:\n  scrape_interval: 1s\n").unwrap();
    let data_dir = tmp.path().join("data");

    let w = start(writer, &scrape_cfg, &data_dir, port);
    let start_t = common::now_s();
    // Enough for level-1 blocks and a merged level-2 block, with a head
    // still holding more than a block range.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(45) || block_count(&data_dir) < 2 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no blocks written in time");
        std::thread::sleep(Duration::from_millis(500));
    }
    let end_t = common::now_s() - 1.0;
    let paths = paths(start_t, end_t);
    let before: Vec<Value> = paths.iter().map(|p| data(port, p)).collect();
    stop(w);
    assert!(block_count(&data_dir) >= 2);
    // promtool reads the whole folder (blocks and the WAL's head) as
    // narthex's own tools do.
    for args in [&["tsdb", "list"][..], &["tsdb", "dump"], &["tsdb", "dump", "--match=up"]] {
        let ours = tool(env!("CARGO_BIN_EXE_narthex"), args, &data_dir);
        assert!(ours.lines().count() > 3, "{args:?}: {ours:.500}");
        assert_eq!(ours, tool("promtool", args, &data_dir), "{args:?}");
    }

    let r = start(reader, &idle_cfg, &data_dir, port);
    for (p, want) in paths.iter().zip(&before) {
        let got = data(port, p);
        assert!(got != Value::Null && got.to_string().len() > 40, "{p}: empty answer {got}");
        assert_eq!(&got, want, "{p}");
    }
    stop(r);
}

#[test]
#[ignore = "needs Debian's prometheus and node_exporter; run by scripts/interop.sh"]
fn prometheus_answers_from_a_data_folder_narthex_wrote() {
    round_trip(Server::Narthex, Server::Prometheus);
}

#[test]
#[ignore = "needs Debian's prometheus and node_exporter; run by scripts/interop.sh"]
fn narthex_answers_from_a_data_folder_prometheus_wrote() {
    round_trip(Server::Prometheus, Server::Narthex);
}
