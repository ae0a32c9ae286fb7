//! Interop: a WAL written by Debian's Prometheus 2.42, scraping a real
//! node_exporter and then killed, replays in our head with exactly the
//! series and samples Prometheus's own API returned before it died.
//! Needs `prometheus` and `prometheus-node-exporter`; `scripts/interop.sh`
//! installs them and runs this.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use model::{MatchType, Matcher};
use storage::{Queryable, ValueType};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Some(dechunk(body));
    }
    Some(body.to_owned())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

type SeriesSamples = BTreeMap<String, Vec<(i64, u64)>>;

/// Raw samples of every series, from Prometheus's API (a range selector
/// returns stored samples unchanged).
fn prometheus_samples(port: u16) -> SeriesSamples {
    let body = get(port, "/api/v1/query?query=%7B__name__%3D~%22.%2B%22%7D%5B1h%5D").expect("query Prometheus");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad JSON from Prometheus ({e}): {body:.200}"));
    let mut out = SeriesSamples::new();
    for s in v["data"]["result"].as_array().expect("a matrix") {
        let labels = model::Labels::from_pairs(s["metric"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())));
        let samples = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = match p[1].as_str().unwrap() {
                    "NaN" => f64::NAN,
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    x => x.parse().unwrap(),
                };
                (t, v.to_bits())
            })
            .collect();
        out.insert(labels.to_string(), samples);
    }
    out
}

fn our_samples(head: &std::sync::Arc<Head>) -> SeriesSamples {
    let q = HeadStorage(head.clone()).querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(false, None, &[Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()]);
    let mut out = SeriesSamples::new();
    while let Some(s) = set.next() {
        let mut it = s.iterator();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            let (t, x) = it.at();
            // The API never shows staleness markers.
            if !model::value::is_stale_nan(x) {
                v.push((t, x.to_bits()));
            }
        }
        out.insert(s.labels().to_string(), v);
    }
    out
}

#[test]
#[ignore = "needs Debian's prometheus and prometheus-node-exporter; run by scripts/interop.sh"]
fn interop_prometheus_wal_replays_with_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let ne_port = free_port();
    let _ne = Killed(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{ne_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-node-exporter"),
    );
    let port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, format!("global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{ne_port}']}}]\n")).unwrap();
    let data = dir.path().join("data");
    let mut prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    // A minute of scraping, as a user's first minute would be.
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(60));
    let theirs = prometheus_samples(port);
    // SIGKILL, as after a crash: nothing gets flushed or compacted.
    prom.0.kill().unwrap();
    prom.0.wait().unwrap();
    assert!(start.elapsed() < Duration::from_secs(120));
    assert!(theirs.keys().any(|k| k.contains("node_cpu_seconds_total")), "Prometheus scraped node_exporter");
    assert!(theirs.len() > 100, "only {} series", theirs.len());

    let head = Head::open(HeadOptions { wal_dir: Some(data.join("wal")), ..HeadOptions::default() }, HeadMetrics::new(None)).expect("replay Prometheus's WAL");
    let ours = our_samples(&head);
    let mut problems = Vec::new();
    for (series, samples) in &theirs {
        match ours.get(series) {
            None => problems.push(format!("missing series {series}")),
            Some(mine) => {
                // Prometheus may have appended more after our query, before
                // it was killed: compare up to its last returned sample.
                let last = samples.last().map_or(i64::MIN, |s| s.0);
                let mine: Vec<(i64, u64)> = mine.iter().copied().filter(|(t, _)| *t <= last).collect();
                if &mine != samples {
                    problems.push(format!("{series}: {} samples from Prometheus, {} replayed", samples.len(), mine.len()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} of {} series differ:\n{}", problems.len(), theirs.len(), problems.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));
}
