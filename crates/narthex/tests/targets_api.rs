//! The scrape engine through the binary: narthex scrapes itself and a dead
//! address, and `/api/v1/targets`, `/api/v1/targets/metadata` and the
//! scrape self-metrics show it in Prometheus's shapes.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use common::{Killed as Server, free_port, get, json};

#[test]
fn targets_and_metadata_apis() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let dead = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 500ms, scrape_timeout: 400ms}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ['127.0.0.1:{port}'], labels: {{env: test}}}}]
  - job_name: dead
    relabel_configs:
      - source_labels: [__address__]
        regex: 'drop-me:.*'
        action: drop
    static_configs: [{{targets: ['127.0.0.1:{dead}', 'drop-me:1']}}]
"
        ),
    )
    .unwrap();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_narthex"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg("--enable-feature=promql-per-step-stats")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::eventually("both targets scraped", || {
        let (_, body) = get(port, "/api/v1/targets");
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        let active = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        active.len() == 2 && active.iter().all(|t| t["health"] != "unknown")
    });
    let v = json(port, "/api/v1/targets");
    assert_eq!(v["status"], "success");
    let active = v["data"]["activeTargets"].as_array().unwrap();
    let me = active.iter().find(|t| t["scrapePool"] == "self").unwrap();
    assert_eq!(me["health"], "up", "{me}");
    assert_eq!(me["lastError"], "");
    assert_eq!(me["labels"], serde_json::json!({"env": "test", "instance": format!("127.0.0.1:{port}"), "job": "self"}));
    assert_eq!(me["discoveredLabels"]["__address__"], format!("127.0.0.1:{port}"));
    assert_eq!(me["discoveredLabels"]["__scrape_interval__"], "500ms");
    assert_eq!(me["scrapeUrl"], format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!((me["scrapeInterval"].as_str(), me["scrapeTimeout"].as_str()), (Some("500ms"), Some("400ms")));
    assert!(me["lastScrape"].as_str().unwrap().ends_with('Z'), "{me}");
    assert!(me["lastScrapeDuration"].as_f64().unwrap() > 0.0);
    let down = active.iter().find(|t| t["scrapePool"] == "dead").unwrap();
    assert_eq!(down["health"], "down");
    assert!(down["lastError"].as_str().unwrap().contains("connection refused"), "{down}");

    let dropped = v["data"]["droppedTargets"].as_array().unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["discoveredLabels"]["__address__"], "drop-me:1");
    assert_eq!(dropped[0]["scrapePool"], "dead");
    assert_eq!(v["data"]["droppedTargetCounts"], serde_json::json!({"dead": 1, "self": 0}));

    let only_dropped = json(port, "/api/v1/targets?state=dropped");
    assert_eq!(only_dropped["data"]["activeTargets"], serde_json::json!([]));
    assert_eq!(only_dropped["data"]["droppedTargets"].as_array().unwrap().len(), 1);
    let pool = json(port, "/api/v1/targets?scrapePool=self");
    assert_eq!(pool["data"]["activeTargets"].as_array().unwrap().len(), 1);

    let md = json(port, "/api/v1/targets/metadata?metric=prometheus_config_last_reload_successful");
    let entries = md["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{md}");
    assert_eq!(entries[0]["type"], "gauge");
    assert_eq!(entries[0]["help"], "Whether the last configuration reload attempt was successful.");
    assert_eq!(entries[0]["target"]["job"], "self");
    assert!(entries[0].get("metric").is_none(), "metric is omitted when asked for");
    let all = json(port, "/api/v1/targets/metadata?match_target=%7Bjob%3D%22self%22%7D&limit=2");
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    assert!(all["data"][0]["metric"].is_string());
    let (code, body) = get(port, "/api/v1/targets/metadata?match_target=%7Bjob%3D");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(r#""errorType":"bad_data""#), "{body}");

    // The scrape engine's own metrics, under Prometheus's names (intervals
    // need two scrapes of a target).
    common::eventually("interval summary", || get(port, "/metrics").1.contains("prometheus_target_interval_length_seconds{"));
    let (_, metrics) = get(port, "/metrics");
    for name in [
        "prometheus_target_scrape_pool_targets{scrape_job=\"self\"} 1",
        "prometheus_target_scrape_pools_total 2",
        "prometheus_target_interval_length_seconds{interval=\"500ms\",quantile=\"0.99\"}",
        "prometheus_target_scrapes_exceeded_sample_limit_total 0",
        "prometheus_target_sync_length_seconds{scrape_job=\"self\",quantile=\"0.5\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    // The query API over what was scraped.
    let up = json(port, "/api/v1/query?query=up%7Bjob%3D%22self%22%7D");
    assert_eq!(up["data"]["resultType"], "vector", "{up}");
    assert_eq!(up["data"]["result"][0]["metric"]["instance"], format!("127.0.0.1:{port}"));
    assert_eq!(up["data"]["result"][0]["value"][1], "1");
    let sum = json(port, "/api/v1/query?query=sum%20by%20(job)%20(up)");
    assert_eq!(sum["data"]["result"].as_array().unwrap().len(), 2, "{sum}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let range = json(port, &format!("/api/v1/query_range?query=up&start={}&end={now}&step=1", now - 5));
    assert_eq!(range["data"]["resultType"], "matrix", "{range}");
    // `stats`: totals for any value, and per step with `all` (the server
    // runs with --enable-feature=promql-per-step-stats).
    // The end is a second ahead: `now` is truncated, and the only scrape so
    // far may be later than it.
    let stats = json(port, &format!("/api/v1/query_range?query=up&start={}&end={}&step=1&stats=all", now - 5, now + 1));
    let st = &stats["data"]["stats"];
    for k in ["evalTotalTime", "resultSortTime", "queryPreparationTime", "innerEvalTime", "execQueueTime", "execTotalTime"] {
        assert!(st["timings"][k].as_f64().is_some_and(|x| x >= 0.0), "{k} in {stats}");
    }
    let per_step = st["samples"]["totalQueryableSamplesPerStep"].as_array().unwrap();
    assert_eq!(per_step.len(), 7, "one entry per step: {stats}");
    assert_eq!(per_step[0][0].as_f64(), Some((now - 5) as f64), "{stats}");
    let total: u64 = per_step.iter().map(|p| p[1].as_u64().unwrap()).sum();
    assert_eq!(st["samples"]["totalQueryableSamples"].as_u64(), Some(total), "{stats}");
    assert!(total >= 1, "`up` was read: {stats}");
    let totals = json(port, "/api/v1/query?query=up&stats=1");
    assert!(totals["data"]["stats"]["samples"]["totalQueryableSamplesPerStep"].is_null(), "{totals}");
    assert_eq!(totals["data"]["stats"]["samples"]["totalQueryableSamples"], 2, "two `up` series: {totals}");
    assert!(json(port, "/api/v1/query?query=up")["data"]["stats"].is_null());
    let (code, body) = get(port, "/api/v1/query?query=sum(up");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(r#""errorType":"bad_data""#) && body.contains("1:7: parse error: unclosed left parenthesis"), "{body}");
    let (code, body) = get(port, "/api/v1/query_range?query=up&start=10&end=1&step=1");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("end timestamp must not be before start time"), "{body}");

    // Series and label metadata.
    let series = json(port, "/api/v1/series?match%5B%5D=up&match%5B%5D=scrape_duration_seconds%7Bjob%3D%22self%22%7D");
    let list = series["data"].as_array().unwrap();
    assert_eq!(list.len(), 3, "two `up` and one scrape_duration_seconds: {series}");
    assert!(list.iter().any(|s| s["__name__"] == "scrape_duration_seconds" && s["job"] == "self"));
    let labels = json(port, "/api/v1/labels");
    for l in ["__name__", "instance", "job", "env"] {
        assert!(labels["data"].as_array().unwrap().iter().any(|x| x == l), "{l} missing from {labels}");
    }
    let jobs = json(port, "/api/v1/label/job/values");
    assert_eq!(jobs["data"], serde_json::json!(["dead", "self"]));
    let limited = json(port, "/api/v1/label/__name__/values?limit=2");
    assert_eq!(limited["data"].as_array().unwrap().len(), 2);
    assert_eq!(limited["warnings"][0], "results truncated due to limit");
    let (code, body) = get(port, "/api/v1/series");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("no match[] parameter provided"), "{body}");

    // A request's own timeout, capped by --query.timeout.
    let (code, body) = get(port, "/api/v1/query?query=up&timeout=0s");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains(r#""errorType":"timeout""#) && body.contains("query timed out in expression evaluation"), "{body}");

    // The remote-write receiver is off without its flag, as in Prometheus.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "POST /api/v1/write HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    assert!(buf.starts_with("HTTP/1.1 404"), "{buf}");
    assert!(buf.contains("--web.enable-remote-write-receiver"), "{buf}");

    // Form POST, as Grafana sends queries.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let form = "query=up%7Bjob%3D%22self%22%7D";
    write!(
        s,
        "POST /api/v1/query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    assert!(buf.starts_with("HTTP/1.1 200") && buf.contains(r#""resultType":"vector""#) && buf.contains(r#""job":"self""#), "{buf}");

    // A POST with its parameters in the URL and no form body, as
    // `curl -X POST` sends it: Prometheus serves it, and so do we.
    for path in ["/api/v1/query?query=1%2B1", "/api/v1/labels?match[]=up", "/api/v1/series?match[]=up"] {
        let (code, body) = common::http(port, "POST", path, "", b"");
        assert_eq!(code, 200, "{path}: {body}");
    }
    assert!(common::http(port, "POST", "/api/v1/query?query=1%2B1", "", b"").1.contains(r#""2"]"#));
}
