//! `/federate`, `/api/v1/metadata` and `/api/v1/status/runtimeinfo`
//! through the binary, answered as Prometheus answers them.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn federation_and_metric_metadata_of_a_scraped_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_metrics("# HELP fed_requests_total Requests.\n# TYPE fed_requests_total counter\nfed_requests_total{path=\"/a\"} 7\nfed_big 1234567\n");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 200ms, scrape_timeout: 150ms, external_labels: {{site: eu, job: ignored}}}}\nscrape_configs:\n  - job_name: fed\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _narthex = start_narthex(&cfg, port, &dir.path().join("data"), &[]);
    wait_for(port, "/api/v1/query?query=fed_big", "fed_big scraped", |b| b.contains(r#""job":"fed""#));

    let body = http_get(port, &format!("/federate?match[]={}", url_encode(r#"{job="fed",__name__=~"fed_.*"}"#))).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let instance = format!("127.0.0.1:{target}");
    assert_eq!(lines[0], "# TYPE fed_big untyped", "{body}");
    // The series' own job wins over the external one; the site is added.
    let big = format!(r#"fed_big{{instance="{instance}",job="fed",site="eu"}} 1.234567e+06 "#);
    assert!(lines[1].starts_with(&big), "{body}");
    assert_eq!(lines[2], "# TYPE fed_requests_total untyped", "{body}");
    assert!(lines[3].starts_with(&format!(r#"fed_requests_total{{instance="{instance}",job="fed",path="/a",site="eu"}} 7 "#)), "{body}");
    assert_eq!(lines.len(), 4, "{body}");
    let (code, bad) = get(port, "/federate?match[]=%7B");
    assert_eq!(code, 400, "{bad}");

    let md = json(port, "/api/v1/metadata");
    assert_eq!(md["data"]["fed_requests_total"], serde_json::json!([{"type": "counter", "help": "Requests.", "unit": ""}]), "{md}");
    let one = json(port, "/api/v1/metadata?metric=fed_requests_total");
    assert_eq!(one["data"].as_object().unwrap().len(), 1, "{one}");
    let none = json(port, "/api/v1/metadata?limit=0");
    assert_eq!(none["data"], serde_json::json!({}), "{none}");
    let (code, bad) = get(port, "/api/v1/metadata?limit=x");
    assert_eq!(code, 400, "{bad}");
    assert!(bad.contains(r#""error":"limit must be a number""#), "{bad}");
}

#[test]
fn runtime_information() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let port = free_port();
    let _narthex = start_narthex(&cfg, port, &dir.path().join("data"), &["--storage.tsdb.retention.time=30d", "--storage.tsdb.retention.size=1GB"]);
    wait_for(port, "/-/ready", "narthex did not become ready", |b| b.contains("Ready"));
    let v = json(port, "/api/v1/status/runtimeinfo");
    let d = &v["data"];
    assert_eq!(d["storageRetention"], "30d or 1GiB", "{v}");
    assert_eq!(d["reloadConfigSuccess"], true, "{v}");
    assert_eq!(d["corruptionCount"], 0, "{v}");
    let start = d["startTime"].as_str().unwrap();
    assert!(start.starts_with("20") && start.ends_with('Z'), "{v}");
    assert!(d["lastConfigTime"].as_str().unwrap() >= start, "{v}");
    assert!(d["goroutineCount"].as_u64().unwrap() > 0 && d["GOMAXPROCS"].as_u64().unwrap() > 0, "{v}");
    assert!(!d["CWD"].as_str().unwrap().is_empty(), "{v}");
}
