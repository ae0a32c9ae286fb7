//! `/api/v1/status/tsdb` and the admin API through the binary: the head's
//! statistics for remote-written series, a snapshot on disk, and the
//! answers without `--web.enable-admin-api`. The ignored test sends the
//! same series to Debian's Prometheus 2.42 and compares the answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use prost::Message;
use serde_json::{Value, json};

use common::{Killed, free_port, get, http, json};

fn start(dir: &Path, extra: &[&str]) -> (Killed, u16) {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let port = free_port();
    let args: Vec<&str> = std::iter::once("--web.enable-remote-write-receiver").chain(extra.iter().copied()).collect();
    let s = common::start_narthex(&cfg, port, &dir.join("data"), &args);
    common::eventually("readiness", || get(port, "/-/ready").0 == 200);
    (s, port)
}

/// Series with distinct counts per metric, label and pair, so that most
/// lists have few ties: metric `m<i>` has `i` series, each with an
/// `instance` and, for some, a `zone`.
fn write_request(now: i64) -> Vec<u8> {
    use remote::prompb;
    let label = |name: &str, value: String| prompb::Label { name: name.into(), value };
    let mut timeseries = Vec::new();
    for m in 1..=12 {
        for i in 0..m {
            let mut labels = vec![label("__name__", format!("m{m}")), label("instance", format!("host-{i}:9100"))];
            if i % 3 == 0 {
                labels.push(label("zone", format!("zone-{}", i % 2)));
            }
            timeseries.push(prompb::TimeSeries {
                labels,
                samples: vec![prompb::Sample { value: f64::from(m), timestamp: now + i64::from(i) }],
                exemplars: vec![],
            });
        }
    }
    snap::raw::Encoder::new().compress_vec(&prompb::WriteRequest { timeseries }.encode_to_vec()).unwrap()
}

fn remote_write(port: u16, body: &[u8]) {
    let headers = "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n";
    let (code, answer) = http(port, "POST", "/api/v1/write", headers, body);
    assert_eq!(code, 204, "{answer}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn post(port: u16, path: &str) -> (u16, Value) {
    let (code, body) = http(port, "POST", path, "", b"");
    (code, if body.is_empty() { Value::Null } else { serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")) })
}

#[test]
fn status_and_snapshot_of_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, port) = start(dir.path(), &["--web.enable-admin-api"]);

    let empty = json(port, "/api/v1/status/tsdb");
    assert_eq!(empty["data"]["headStats"], json!({"numSeries": 0, "numLabelPairs": 0, "chunkCount": 0, "minTime": i64::MAX, "maxTime": i64::MIN}));

    let now = now_ms();
    remote_write(port, &write_request(now));
    let status = json(port, "/api/v1/status/tsdb");
    let data = &status["data"];
    // 78 series; 12 names, 12 instances and 2 zones.
    assert_eq!(data["headStats"], json!({"numSeries": 78, "numLabelPairs": 26, "chunkCount": 78, "minTime": now, "maxTime": now + 11}));
    assert_eq!(data["seriesCountByMetricName"][0], json!({"name": "m12", "value": 12}));
    assert_eq!(data["seriesCountByMetricName"].as_array().unwrap().len(), 10);
    assert_eq!(data["labelValueCountByLabelName"], json!([{"name": "__name__", "value": 12}, {"name": "instance", "value": 12}, {"name": "zone", "value": 2}]));
    let pairs = &data["seriesCountByLabelValuePair"];
    assert_eq!(pairs[0], json!({"name": "zone=zone-0", "value": 18}));
    assert_eq!(pairs[1], json!({"name": "__name__=m12", "value": 12}), "equal values by name");
    assert_eq!(pairs[2], json!({"name": "instance=host-0:9100", "value": 12}));
    // Prometheus 3.x's bytes: each value's length times its series.
    assert_eq!(data["memoryInBytesByLabelName"][2], json!({"name": "zone", "value": 6 * 18 + 6 * 12}));
    let limited = json(port, "/api/v1/status/tsdb?limit=2");
    assert_eq!(limited["data"]["memoryInBytesByLabelName"].as_array().unwrap().len(), 2);

    let (code, body) = post(port, "/api/v1/admin/tsdb/snapshot");
    assert_eq!(code, 200, "{body}");
    let name = body["data"]["name"].as_str().unwrap();
    let snap = dir.path().join("data/snapshots").join(name);
    let blocks: Vec<_> = std::fs::read_dir(&snap).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(blocks.len(), 1, "the head as one block");
    let meta: Value = serde_json::from_slice(&std::fs::read(blocks[0].join("meta.json")).unwrap()).unwrap();
    assert_eq!((meta["minTime"].as_i64(), meta["maxTime"].as_i64(), meta["stats"]["numSeries"].as_u64()), (Some(now), Some(now + 12), Some(78)));

    // Deleting hides the series' samples at once; m12 has 12 series.
    let count = |q: &str| {
        let v = json(port, &format!("/api/v1/query?query={}&time={:.3}", common::url_encode(q), (now + 11) as f64 / 1000.0));
        v["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    };
    assert_eq!(count("count({__name__=~\"m.+\"})").as_deref(), Some("78"));
    assert_eq!(post(port, "/api/v1/admin/tsdb/delete_series?match[]=m12&match[]=m1"), (204, Value::Null));
    assert_eq!(count("count({__name__=~\"m.+\"})").as_deref(), Some("65"));
    assert_eq!(count("count(m12)"), None);
    assert_eq!(post(port, "/api/v1/admin/tsdb/clean_tombstones"), (204, Value::Null));
    let (code, body) = post(port, "/api/v1/admin/tsdb/delete_series?match[]=m1{");
    assert_eq!((code, &body["errorType"]), (400, &json!("bad_data")), "{body}");
}

#[test]
fn admin_api_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, port) = start(dir.path(), &[]);
    for path in ["/api/v1/admin/tsdb/snapshot", "/api/v1/admin/tsdb/clean_tombstones", "/api/v1/admin/tsdb/delete_series?match[]=up"] {
        assert_eq!(post(port, path), (500, json!({"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"})), "{path}");
    }
    assert!(!dir.path().join("data/snapshots").exists());
    assert_eq!(get(port, "/api/v1/status/tsdb").0, 200, "not an admin endpoint");
}

/// A list of `/api/v1/status/tsdb` as `(value, name)`.
fn entries(v: &Value) -> Vec<(u64, String)> {
    v.as_array().unwrap().iter().map(|e| (e["value"].as_u64().unwrap(), e["name"].as_str().unwrap().to_owned())).collect()
}

/// The same series remote-written to both servers: the head statistics
/// agree. Prometheus's lists order equal values at random and cut through
/// them at random, so those lists agree in their values, in order, and in
/// the names above the last value.
#[test]
#[ignore = "needs Debian's prometheus; run by scripts/interop.sh"]
fn status_and_admin_answers_agree_with_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let our_dir = dir.path().join("narthex");
    std::fs::create_dir_all(&our_dir).unwrap();
    let (_narthex, ours) = start(&our_dir, &["--web.enable-admin-api"]);
    let theirs = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(&prom_cfg, "scrape_configs: []\n").unwrap();
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{theirs}"))
            .args(["--web.enable-remote-write-receiver", "--web.enable-admin-api"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Debian's prometheus"),
    );
    common::eventually("Prometheus readiness", || get(theirs, "/-/ready").0 == 200);

    let body = write_request(now_ms());
    remote_write(ours, &body);
    remote_write(theirs, &body);
    let (a, b) = (json(ours, "/api/v1/status/tsdb"), json(theirs, "/api/v1/status/tsdb"));
    assert_eq!(a["data"]["headStats"], b["data"]["headStats"]);
    // Not memoryInBytesByLabelName: 2.42 sums the lengths of a name's
    // distinct values, 3.x (whose `limit` this endpoint takes) weighs each
    // by its series, and so do we.
    for list in ["seriesCountByMetricName", "labelValueCountByLabelName", "seriesCountByLabelValuePair"] {
        let (ours, theirs) = (entries(&a["data"][list]), entries(&b["data"][list]));
        let values = |v: &[(u64, String)]| v.iter().map(|e| e.0).collect::<Vec<_>>();
        assert_eq!(values(&ours), values(&theirs), "{list}");
        let last = ours.last().map_or(0, |e| e.0);
        let above = |v: &[(u64, String)]| {
            let mut names: Vec<String> = v.iter().filter(|e| e.0 > last).map(|e| e.1.clone()).collect();
            names.sort();
            names
        };
        assert_eq!(above(&ours), above(&theirs), "{list}");
    }

    // Errors whose texts are the same in 2.42 and 3.x, byte for byte;
    // others (time and selector parse errors) by status and type.
    for (method, path) in
        [("POST", "/api/v1/admin/tsdb/delete_series"), ("PUT", "/api/v1/admin/tsdb/snapshot?skip_head=maybe"), ("GET", "/api/v1/admin/tsdb/snapshot")]
    {
        assert_eq!(http(ours, method, path, "", b""), http(theirs, method, path, "", b""), "{method} {path}");
    }
    for path in ["/api/v1/admin/tsdb/delete_series?match[]=up%7B", "/api/v1/admin/tsdb/delete_series?match[]=up&start=abc"] {
        let (a, b) = (post(ours, path), post(theirs, path));
        assert_eq!((a.0, &a.1["errorType"]), (b.0, &b.1["errorType"]), "{path}: {a:?} {b:?}");
    }
    let (a, b) = (post(ours, "/api/v1/admin/tsdb/clean_tombstones"), post(theirs, "/api/v1/admin/tsdb/clean_tombstones"));
    assert_eq!(a, b);
    let (a, b) = (post(ours, "/api/v1/admin/tsdb/snapshot?skip_head=true"), post(theirs, "/api/v1/admin/tsdb/snapshot?skip_head=true"));
    assert_eq!(a.0, b.0, "{a:?} {b:?}");
    for name in [&a.1["data"]["name"], &b.1["data"]["name"]] {
        let name = name.as_str().unwrap();
        assert!(name.len() == 33 && name.as_bytes()[15] == b'Z' && name.as_bytes()[16] == b'-', "{name}");
    }
}
