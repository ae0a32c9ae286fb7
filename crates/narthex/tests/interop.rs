//! Interop with the real Prometheus (Debian's 2.42 packages). These tests
//! need `prometheus` and `promtool` on PATH, so they are ignored in a plain
//! `cargo test`; `scripts/interop.sh` installs the packages and runs them.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Real Prometheus scrapes our `/metrics`: its parser accepts our exposition
/// and sees the reload and process metrics with the right values.
#[test]
#[ignore = "needs Debian's prometheus; run by scripts/interop.sh"]
fn real_prometheus_scrapes_our_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let ours = free_port();
    let theirs = free_port();
    let our_cfg = dir.path().join("narthex.yml");
    std::fs::write(&our_cfg, "scrape_configs: [{job_name: x, static_configs: [{targets: ['localhost:1']}]}]\n").unwrap();
    let _narthex = start_narthex(&our_cfg, ours, &dir.path().join("narthex-data"), &[]);
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(&prom_cfg, format!("global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: narthex\n    static_configs: [{{targets: ['127.0.0.1:{ours}']}}]\n")).unwrap();
    let _prom = start_prometheus(&prom_cfg, &dir.path().join("prom-data"), theirs);
    let query = |q: &str| http_get(theirs, &format!("/api/v1/query?query={q}")).unwrap_or_default();
    let start = Instant::now();
    loop {
        let up = query("up%7Bjob%3D%22narthex%22%7D");
        let reload = query("prometheus_config_last_reload_successful%7Bjob%3D%22narthex%22%7D");
        let cpu = query("process_cpu_seconds_total%7Bjob%3D%22narthex%22%7D");
        if up.contains(r#""1"]"#) && reload.contains(r#""1"]"#) && cpu.contains("\"value\"") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "Prometheus did not scrape narthex successfully:\nup: {up}\nreload: {reload}\ncpu: {cpu}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn exit_code(cmd: &mut Command) -> i32 {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("command runs").code().unwrap_or(-1)
}

/// `narthex check config --syntax-only` gives promtool's verdict on every
/// conformance file where Prometheus 2.42 and 3.x agree; files where the
/// versions disagree are counted and named, not compared.
#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn check_config_agrees_with_promtool() {
    let dir = conformance_dir().join("config");
    let json = std::fs::read_to_string(conformance_dir().join("expected/config_errors.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rejected_by_3x: std::collections::HashSet<String> =
        v["cases"].as_array().unwrap().iter().filter(|c| c["load_mode"] == "server").filter_map(|c| c["file"].as_str().map(str::to_owned)).collect();
    let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let (mut compared, mut skipped, mut mismatched) = (0, Vec::new(), Vec::new());
    for name in names.iter().filter(|n| n.contains(".good.") || n.contains(".bad.")) {
        let path = dir.join(name);
        let expect_3x_ok = name.contains(".good.") || !(rejected_by_3x.contains(name) || name.contains(".bad."));
        let promtool_ok = exit_code(Command::new("promtool").args(["check", "config", "--syntax-only"]).arg(&path)) == 0;
        if promtool_ok != expect_3x_ok {
            skipped.push(name.clone());
            continue;
        }
        compared += 1;
        let ours_ok = exit_code(Command::new(env!("CARGO_BIN_EXE_narthex")).args(["check", "config", "--syntax-only"]).arg(&path)) == 0;
        if ours_ok != promtool_ok {
            mismatched.push(format!("{name}: promtool {}, narthex {}", verdict(promtool_ok), verdict(ours_ok)));
        }
    }
    println!("compared {compared} files with promtool 2.42; {} skipped where 2.42 and 3.x disagree: {}", skipped.len(), skipped.join(" "));
    assert!(mismatched.is_empty(), "narthex disagrees with promtool:\n{}", mismatched.join("\n"));
    assert!(compared > 100, "only {compared} files compared");
}

fn verdict(ok: bool) -> &'static str {
    if ok { "accepts" } else { "rejects" }
}

/// The example config in the repository is one Prometheus itself accepts.
#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn example_config_is_valid_for_promtool() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prometheus.yml");
    assert_eq!(exit_code(Command::new("promtool").args(["check", "config"]).arg(&example)), 0);
    assert_eq!(exit_code(Command::new(env!("CARGO_BIN_EXE_narthex")).args(["check", "config"]).arg(&example)), 0);
}

/// Narthex scrapes a real node_exporter; then real Prometheus opens the
/// data directory narthex wrote and finds the scraped series, with their
/// labels, and `up` = 1.
#[test]
#[ignore = "needs Debian's prometheus and prometheus-node-exporter; run by scripts/interop.sh"]
fn narthex_scrapes_node_exporter_and_prometheus_reads_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let _exporter = start_node_exporter(exporter_port);
    let ours = free_port();
    let cfg = dir.path().join("narthex.yml");
    std::fs::write(&cfg, format!("global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n")).unwrap();
    let data = dir.path().join("data");
    let mut narthex = start_narthex(&cfg, ours, &data, &[]);
    let targets = wait_for(ours, "/api/v1/targets", "the node target never came up", |b| b.contains(r#""health":"up""#));
    assert!(targets.contains(r#""lastError":"""#), "{targets}");
    assert!(targets.contains(&format!(r#""scrapeUrl":"http://127.0.0.1:{exporter_port}/metrics""#)), "{targets}");
    wait_for(ours, "/api/v1/targets/metadata?metric=node_cpu_seconds_total", "no metadata for node_cpu_seconds_total", |b| {
        b.contains(r#""type":"counter""#) && b.contains(r#""job":"node""#)
    });
    // A few more scrapes, then a clean stop that flushes the WAL.
    std::thread::sleep(Duration::from_secs(3));
    let pid = narthex.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = narthex.0.wait().unwrap();
    assert!(status.success(), "narthex did not stop cleanly: {status}");

    let theirs = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(&prom_cfg, "scrape_configs: []\n").unwrap();
    let _prom = start_prometheus(&prom_cfg, &data, theirs);
    wait_for(theirs, "/-/ready", "Prometheus did not open narthex's data", |b| b.contains("Ready"));
    let cpu = wait_for(theirs, "/api/v1/query?query=node_cpu_seconds_total%7Bmode%3D%22idle%22%7D", "no node_cpu_seconds_total", |b| {
        b.contains(r#""status":"success""#) && b.contains(r#""cpu":"0""#)
    });
    let v: serde_json::Value = serde_json::from_str(&cpu).unwrap();
    let metric = &v["data"]["result"][0]["metric"];
    assert_eq!(metric["job"], "node", "{cpu}");
    assert_eq!(metric["instance"], format!("127.0.0.1:{exporter_port}"), "{cpu}");
    assert_eq!(metric["mode"], "idle", "{cpu}");
    let up = wait_for(theirs, "/api/v1/query?query=up", "no up series", |b| b.contains(r#""job":"node""#));
    assert!(up.contains(r#""1"]"#), "up is not 1: {up}");
    let samples = wait_for(theirs, "/api/v1/query?query=count_over_time(up%5B1h%5D)", "no up samples", |b| b.contains("\"value\""));
    let v: serde_json::Value = serde_json::from_str(&samples).unwrap();
    let n: f64 = v["data"]["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(n >= 3.0, "expected several scrapes of up, got {n}");
}

/// Real Prometheus remote-writes what it scrapes (itself) to narthex with
/// `--web.enable-remote-write-receiver`; narthex's query API then answers
/// for those series.
#[test]
#[ignore = "needs Debian's prometheus; run by scripts/interop.sh"]
fn prometheus_remote_writes_into_narthex() {
    let dir = tempfile::tempdir().unwrap();
    let ours = free_port();
    let theirs = free_port();
    let our_cfg = dir.path().join("narthex.yml");
    std::fs::write(&our_cfg, "scrape_configs: []\n").unwrap();
    let _narthex = start_narthex(&our_cfg, ours, &dir.path().join("narthex-data"), &["--web.enable-remote-write-receiver"]);
    wait_for(ours, "/-/ready", "narthex did not become ready", |b| b.contains("Ready"));
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{theirs}']}}]\nremote_write:\n  - url: http://127.0.0.1:{ours}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\n"
        ),
    )
    .unwrap();
    let _prom = start_prometheus(&prom_cfg, &dir.path().join("prom-data"), theirs);
    let up = wait_for(ours, "/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D", "remote-written up never arrived", |b| b.contains(r#""1"]"#));
    assert!(up.contains(&format!(r#""instance":"127.0.0.1:{theirs}""#)), "{up}");
    wait_for(ours, "/api/v1/query?query=count(prometheus_tsdb_head_series)", "no prometheus_tsdb_head_series", |b| b.contains(r#""1"]"#));
}

/// Serves OpenMetrics whose exemplars carry their own timestamps, so that
/// two scrapers store exactly the same ones.
fn serve_exemplar_target() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let at_limit = "x".repeat(128 - "trace_id".len());
            let over = "x".repeat(129 - "trace_id".len());
            let body = format!(
                "# TYPE test_exemplar_metric counter\n\
                 test_exemplar_metric_total{{service=\"bar\"}} 6 # {{trace_id=\"abc\"}} 1.0 1600000000.000\n\
                 test_exemplar_metric_total{{service=\"foo\"}} 3 # {{trace_id=\"def\",span_id=\"s1\"}} 0.0000001 1600000000.5\n\
                 test_exemplar_metric_total{{service=\"limit\"}} 1 # {{trace_id=\"{at_limit}\"}} 1e22 1600000001.25\n\
                 test_exemplar_metric_total{{service=\"over\"}} 1 # {{trace_id=\"{over}\"}} 1 1600000001.25\n\
                 # EOF\n"
            );
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// Narthex and Prometheus scrape the same exemplars; `/api/v1/query_exemplars`
/// answers byte for byte alike.
#[test]
#[ignore = "needs Debian's prometheus; run by scripts/interop.sh"]
fn query_exemplars_answers_as_prometheus_does() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_exemplar_target();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: om\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"),
    )
    .unwrap();
    let (ours, theirs) = (free_port(), free_port());
    let _narthex = start_narthex(&cfg, ours, &dir.path().join("narthex-data"), &["--enable-feature=exemplar-storage"]);
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{theirs}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Debian's prometheus"),
    );
    let all = "/api/v1/query_exemplars?query=test_exemplar_metric_total";
    for port in [ours, theirs] {
        wait_for(port, all, "three series with exemplars", |b| b.matches("seriesLabels").count() == 3);
    }
    for q in [
        all,
        "/api/v1/query_exemplars?query=test_exemplar_metric_total&start=1600000000.5&end=1600000001.25",
        "/api/v1/query_exemplars?query=sum(rate(test_exemplar_metric_total%7Bservice%3D%22bar%22%7D%5B1m%5D))%20or%20test_exemplar_metric_total%7Bservice%3D~%22l.*%22%7D",
        "/api/v1/query_exemplars?query=test_exemplar_metric_total&end=1600000000",
        "/api/v1/query_exemplars?query=nothing_here",
        "/api/v1/query_exemplars?query=test_exemplar_metric_total&start=10&end=5",
        "/api/v1/query_exemplars?query=sum(up",
    ] {
        assert_eq!(http_get(ours, q), http_get(theirs, q), "{q}");
    }
}

/// A node exporter, and narthex scraping it every second with the external
/// label `site="eu"`: the exporter and its port, narthex and its port, once
/// narthex has scraped.
fn narthex_scraping_node_exporter(dir: &Path) -> (Killed, u16, Killed, u16) {
    let exporter_port = free_port();
    let exporter = start_node_exporter(exporter_port);
    let ours = free_port();
    let cfg = dir.join("narthex.yml");
    std::fs::write(
        &cfg,
        format!("global: {{scrape_interval: 1s, scrape_timeout: 1s, external_labels: {{site: eu}}}}\nscrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"),
    )
    .expect("write narthex's config");
    let narthex = start_narthex(&cfg, ours, &dir.join("narthex-data"), &[]);
    wait_for(ours, "/api/v1/query?query=up", "narthex never scraped the exporter", |b| b.contains(r#""job":"node""#));
    (exporter, exporter_port, narthex, ours)
}

/// Real Prometheus federates from narthex: it scrapes narthex's
/// `/federate` for the node exporter's series, which arrive with narthex's
/// external label and their own job and instance (`honor_labels`).
#[test]
#[ignore = "needs Debian's prometheus and node exporter; run by scripts/interop.sh"]
fn prometheus_federates_from_narthex() {
    let dir = tempfile::tempdir().unwrap();
    let (_exporter, exporter_port, _narthex, ours) = narthex_scraping_node_exporter(dir.path());
    let theirs = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params: {{'match[]': ['{{job=\"node\"}}']}}\n    static_configs: [{{targets: ['127.0.0.1:{ours}']}}]\n"
        ),
    )
    .unwrap();
    let _prom = start_prometheus(&prom_cfg, &dir.path().join("prom-data"), theirs);
    let q = url_encode(r#"node_cpu_seconds_total{mode="idle",cpu="0"}"#);
    let body = wait_for(theirs, &format!("/api/v1/query?query={q}"), "Prometheus never federated node_cpu_seconds_total", |b| b.contains(r#""site":"eu""#));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let metric = &v["data"]["result"][0]["metric"];
    assert_eq!(metric["job"], "node", "{body}");
    assert_eq!(metric["instance"], format!("127.0.0.1:{exporter_port}"), "{body}");
    let targets = wait_for(theirs, "/api/v1/targets", "the federation target", |b| b.contains(r#""health":"up""#));
    assert!(targets.contains(r#""lastError":"""#), "{targets}");
}

/// `narthex check rules` and Debian's `promtool check rules` agree on
/// Prometheus's rule-file test data, but for the files about UTF-8 and
/// legacy names, where 2.42 predates 3.x's UTF-8 names.
#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn check_rules_agrees_with_promtool() {
    let dir = std::env::var("NARTHEX_CONFORMANCE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"))
        .join("rules/rulefmt");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("utf-8") || name.starts_with("legacy") {
            continue;
        }
        let ours = Command::new(env!("CARGO_BIN_EXE_narthex")).args(["check", "rules"]).arg(&path).output().unwrap();
        let theirs = Command::new("promtool").args(["check", "rules"]).arg(&path).output().unwrap();
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{name}: ours {}\ntheirs {}",
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr)
        );
        if theirs.status.success() {
            assert_eq!(String::from_utf8_lossy(&ours.stdout).lines().nth(1), String::from_utf8_lossy(&theirs.stdout).lines().nth(1), "{name}: the rule count");
            // The duplicate-rules lint, word for word; but where a rule's
            // name is a YAML alias, promtool names it by the anchor
            // (`alertname`), not by the value, which is not copied.
            if name != "test_aliases.yaml" {
                assert_eq!(String::from_utf8_lossy(&ours.stderr), String::from_utf8_lossy(&theirs.stderr), "{name}: the lint");
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
}

/// Real Prometheus remote-reads from narthex: with nothing of its own,
/// it answers queries with what narthex scraped, carrying narthex's
/// external label.
#[test]
#[ignore = "needs Debian's prometheus and node exporter; run by scripts/interop.sh"]
fn prometheus_remote_reads_from_narthex() {
    let dir = tempfile::tempdir().unwrap();
    let (_exporter, exporter_port, _narthex, ours) = narthex_scraping_node_exporter(dir.path());
    let theirs = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(&prom_cfg, format!("scrape_configs: []\nremote_read:\n  - url: http://127.0.0.1:{ours}/api/v1/read\n    read_recent: true\n")).unwrap();
    let _prom = start_prometheus(&prom_cfg, &dir.path().join("prom-data"), theirs);
    let q = url_encode(r#"up{job="node"}"#);
    let body = wait_for(theirs, &format!("/api/v1/query?query={q}"), "Prometheus never read up from narthex", |b| b.contains(r#""site":"eu""#));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let r = &v["data"]["result"][0];
    assert_eq!(r["metric"]["instance"], format!("127.0.0.1:{exporter_port}"), "{body}");
    assert_eq!(r["value"][1], "1", "{body}");
    // A range query reads many samples of a counter through the same path.
    let q = url_encode(r#"count_over_time(node_cpu_seconds_total{cpu="0",mode="idle",site="eu"}[1m])"#);
    let body = wait_for(theirs, &format!("/api/v1/query?query={q}"), "no range read", |b| b.contains(r#""value""#));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let n: f64 = v["data"]["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{body}");
}
