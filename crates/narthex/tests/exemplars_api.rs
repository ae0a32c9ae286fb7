//! Exemplar storage through the binary: narthex scrapes a loopback target
//! that serves OpenMetrics with exemplars and receives remote-written ones,
//! `/api/v1/query_exemplars` answers for both in Prometheus's shapes, a
//! restart replays them from the WAL, a reload resizes the ring, and
//! without `--enable-feature=exemplar-storage` nothing is kept.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::{Value, json};

use common::{Killed as Server, free_port, get, http, json};

fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, body) = get(port, "/metrics");
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

fn start(config: &Path, data: &Path, port: u16, extra: &[&str]) -> Server {
    let s = Server(
        Command::new(env!("CARGO_BIN_EXE_narthex"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--web.enable-lifecycle")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::eventually("readiness", || get(port, "/-/ready").0 == 200);
    s
}

/// Stops the server the way a user would, so that its WAL is closed.
fn quit(mut s: Server, port: u16) {
    assert_eq!(http(port, "POST", "/-/quit", "", b"").0, 200);
    let start = Instant::now();
    while s.0.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "narthex did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Serves OpenMetrics with exemplars: one with its own timestamp (the same
/// every scrape), one without (stamped with each scrape's time, still the
/// same exemplar), one new every scrape, and one whose labels are too long.
fn serve_target() -> u16 {
    static SCRAPES: AtomicUsize = AtomicUsize::new(0);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
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
            let n = SCRAPES.fetch_add(1, Ordering::Relaxed) + 1;
            let long = "x".repeat(130);
            let body = format!(
                "# TYPE test_exemplar_metric counter\n\
                 # HELP test_exemplar_metric A counter with exemplars.\n\
                 test_exemplar_metric_total{{service=\"bar\"}} 6 # {{trace_id=\"abc\"}} 1.0 1600000000.000\n\
                 test_exemplar_metric_total{{service=\"foo\"}} 3 # {{trace_id=\"def\"}} 2.5\n\
                 test_exemplar_metric_total{{service=\"baz\"}} {n} # {{trace_id=\"n{n}\"}} {n}\n\
                 test_exemplar_metric_total{{service=\"long\"}} 1 # {{trace_id=\"{long}\"}} 1 1600000000.5\n\
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

fn remote_write(port: u16) {
    use remote::prompb;
    let label = |name: &str, value: &str| prompb::Label { name: name.into(), value: value.into() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![label("__name__", "rw_metric"), label("job", "rw")],
            samples: vec![prompb::Sample { value: 1.0, timestamp: now }],
            exemplars: vec![prompb::Exemplar { labels: vec![label("trace_id", "rw1")], value: 3.5, timestamp: 1_700_000_000_123 }],
        }],
    };
    let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
    let headers = "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n";
    let (code, answer) = http(port, "POST", "/api/v1/write", headers, &body);
    assert_eq!(code, 204, "{answer}");
}

/// Every exemplar narthex holds, as the API lists them.
fn everything(port: u16) -> Value {
    json(port, "/api/v1/query_exemplars?query=%7B__name__%3D~%22.%2B%22%7D")
}

#[test]
fn exemplars_scraped_remote_written_replayed_and_resized() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let target = serve_target();
    let config = dir.path().join("prometheus.yml");
    let scraping = format!(
        "global: {{scrape_interval: 300ms, scrape_timeout: 250ms}}
storage: {{exemplars: {{max_exemplars: 1000}}}}
scrape_configs:
  - job_name: om
    static_configs: [{{targets: ['127.0.0.1:{target}']}}]
"
    );
    std::fs::write(&config, &scraping).unwrap();
    let port = free_port();
    let server = start(&config, &data_dir, port, &["--enable-feature=exemplar-storage", "--web.enable-remote-write-receiver"]);

    let all = "/api/v1/query_exemplars?query=test_exemplar_metric_total";
    common::eventually("three scrapes' exemplars", || {
        let v: Value = serde_json::from_str(&get(port, all).1).unwrap_or_default();
        v["data"].as_array().is_some_and(|d| d.iter().any(|s| s["seriesLabels"]["service"] == "baz" && s["exemplars"].as_array().is_some_and(|e| e.len() >= 3)))
    });
    let (code, raw) = get(port, all);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["status"], "success");
    let data = v["data"].as_array().unwrap();
    let services: Vec<&str> = data.iter().map(|s| s["seriesLabels"]["service"].as_str().unwrap()).collect();
    assert_eq!(services, ["bar", "baz", "foo"], "sorted by series labels; the too-long exemplar was refused: {v}");
    assert_eq!(
        data[0],
        json!({
            "seriesLabels": {"__name__": "test_exemplar_metric_total", "instance": format!("127.0.0.1:{target}"), "job": "om", "service": "bar"},
            "exemplars": [{"labels": {"trace_id": "abc"}, "value": "1", "timestamp": 1600000000}],
        }),
        "scraped every time, stored once"
    );
    assert!(raw.contains(r#""value":"1","timestamp":1600000000}"#), "{raw}");
    let foo = data[2]["exemplars"].as_array().unwrap();
    assert_eq!(foo.len(), 1, "no timestamp of its own: still the same exemplar each scrape: {foo:?}");
    assert_eq!((&foo[0]["labels"], &foo[0]["value"]), (&json!({"trace_id": "def"}), &json!("2.5")));
    let baz = data[1]["exemplars"].as_array().unwrap();
    let times: Vec<f64> = baz.iter().map(|e| e["timestamp"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "oldest first: {times:?}");
    // One per scrape, each its scrape's number (a scrape that timed out
    // would leave a gap, so only the order is checked).
    let numbers: Vec<u64> = baz
        .iter()
        .map(|e| {
            let n = e["labels"]["trace_id"].as_str().unwrap().trim_start_matches('n');
            assert_eq!(e["value"], n, "{e}");
            n.parse().unwrap()
        })
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");

    // The time range and ORed selectors.
    let only_bar = json(port, "/api/v1/query_exemplars?query=test_exemplar_metric_total&start=1600000000&end=2020-09-13T12:26:40Z");
    assert_eq!(only_bar["data"].as_array().unwrap().len(), 1, "{only_bar}");
    let or = json(
        port,
        "/api/v1/query_exemplars?query=test_exemplar_metric_total%7Bservice%3D%22bar%22%7D%20or%20rate(test_exemplar_metric_total%7Bservice%3D%22foo%22%7D%5B5m%5D)",
    );
    let services: Vec<&str> = or["data"].as_array().unwrap().iter().map(|s| s["seriesLabels"]["service"].as_str().unwrap()).collect();
    assert_eq!(services, ["bar", "foo"]);
    assert_eq!(get(port, "/api/v1/query_exemplars?query=time()"), (204, String::new()));
    let (code, body) = get(port, "/api/v1/query_exemplars?query=test_exemplar_metric_total&start=x");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(r#""errorType":"bad_data""#), "{body}");

    // Remote-written exemplars land in the same ring.
    remote_write(port);
    let (code, raw) = get(port, "/api/v1/query_exemplars?query=rw_metric");
    assert_eq!(code, 200);
    assert_eq!(
        raw,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"rw_metric","job":"rw"},"exemplars":[{"labels":{"trace_id":"rw1"},"value":"3.5","timestamp":1700000000.123}]}]}"#
    );

    // The storage's self-metrics, under Prometheus's names.
    assert_eq!(metric(port, "prometheus_tsdb_exemplar_max_exemplars"), Some(1000.0));
    assert_eq!(metric(port, "prometheus_tsdb_exemplar_series_with_exemplars_in_storage"), Some(4.0));
    assert_eq!(metric(port, "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds"), Some(1_600_000_000.0));
    assert!(metric(port, "prometheus_tsdb_exemplar_exemplars_appended_total").unwrap() >= 6.0);
    assert!(metric(port, "prometheus_tsdb_exemplar_exemplars_in_storage").unwrap() >= 6.0);
    assert_eq!(metric(port, "prometheus_tsdb_exemplar_out_of_order_exemplars_total"), Some(0.0));

    // Stop scraping, so that what is stored stands still, then restart:
    // the WAL gives every exemplar back.
    std::fs::write(&config, "storage: {exemplars: {max_exemplars: 1000}}\n").unwrap();
    assert_eq!(http(port, "POST", "/-/reload", "", b"").0, 200);
    std::thread::sleep(Duration::from_millis(700));
    let before = everything(port);
    quit(server, port);

    let port = free_port();
    let server = start(&config, &data_dir, port, &["--enable-feature=exemplar-storage"]);
    assert_eq!(everything(port), before, "replayed from the WAL");

    // A reload resizes the ring, keeping the newest.
    std::fs::write(&config, "storage: {exemplars: {max_exemplars: 2}}\n").unwrap();
    assert_eq!(http(port, "POST", "/-/reload", "", b"").0, 200);
    assert_eq!(metric(port, "prometheus_tsdb_exemplar_max_exemplars"), Some(2.0));
    let kept: usize = everything(port)["data"].as_array().unwrap().iter().map(|s| s["exemplars"].as_array().unwrap().len()).sum();
    assert_eq!(kept, 2);
    quit(server, port);

    // Without the feature: nothing kept, nothing replayed, an empty list.
    let port = free_port();
    let _server = start(&config, &data_dir, port, &[]);
    assert_eq!(everything(port), json!({"status": "success", "data": []}));
    assert_eq!(metric(port, "prometheus_tsdb_exemplar_max_exemplars"), Some(0.0));
}
