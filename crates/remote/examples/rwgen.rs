//! Remote-writes one synthetic data set, identical sample for sample, to
//! every URL given: the workload of `scripts/bench-promql.sh`, which loads
//! narthex and Prometheus with it and times the same queries on both.
//!
//! The set, ending now:
//! - `bench_requests_total{job,instance,path,code}`: 40,000 counters,
//! - `bench_latency_seconds_bucket{job,instance,le}`: 10,000 histogram
//!   buckets (1,000 classic histograms of 10 buckets),
//! - `bench_gauge{job,instance,shard}`: 50,000 gauges,
//!
//! every 15 s over the last `DASH_MINUTES` (60), and `bench_long{job,
//! instance,i}`: 1,000 gauges every 60 s over the last `LONG_HOURS` (24),
//! for range queries over a day. Samples go out oldest first, as a scraper
//! would have sent them, so Prometheus's head accepts them all.
//!
//! Usage: `cargo run --release -p narthex-remote --example rwgen -- URL...`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use remote::prompb::{Label, Sample, TimeSeries, WriteRequest};

const BATCH: usize = 5_000;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn labels(pairs: &[(&str, String)]) -> Vec<Label> {
    let mut l: Vec<Label> = pairs.iter().map(|(n, v)| Label { name: (*n).to_owned(), value: v.clone() }).collect();
    l.sort_by(|a, b| a.name.cmp(&b.name));
    l
}

/// Every series of the 15 s set: its labels and how its value grows.
fn dash_series() -> Vec<(Vec<Label>, Kind)> {
    let mut out = Vec::new();
    for j in 0..10 {
        for i in 0..100 {
            let (job, inst) = (format!("job-{j}"), format!("10.0.{j}.{i}:9100"));
            for p in 0..20 {
                for code in ["200", "500"] {
                    let rate = if code == "200" { 10.0 + (p * 7 + i) as f64 % 13.0 } else { 0.1 * ((p + j) % 5) as f64 };
                    out.push((
                        labels(&[
                            ("__name__", "bench_requests_total".into()),
                            ("job", job.clone()),
                            ("instance", inst.clone()),
                            ("path", format!("/api/{p}")),
                            ("code", code.into()),
                        ]),
                        Kind::Counter(rate),
                    ));
                }
            }
            for (b, le) in ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"].iter().enumerate() {
                // Cumulative buckets: each bucket counts at least what the one below does.
                let rate = 20.0 * (b + 1) as f64 / 10.0 + (i % 7) as f64;
                out.push((
                    labels(&[("__name__", "bench_latency_seconds_bucket".into()), ("job", job.clone()), ("instance", inst.clone()), ("le", (*le).into())]),
                    Kind::Counter(rate),
                ));
            }
            for s in 0..50 {
                out.push((
                    labels(&[("__name__", "bench_gauge".into()), ("job", job.clone()), ("instance", inst.clone()), ("shard", s.to_string())]),
                    Kind::Gauge((j * 1000 + i * 50 + s) as f64),
                ));
            }
        }
    }
    out
}

fn long_series() -> Vec<(Vec<Label>, Kind)> {
    (0..1000)
        .map(|n| {
            (
                labels(&[
                    ("__name__", "bench_long".into()),
                    ("job", format!("job-{}", n % 10)),
                    ("instance", format!("10.1.0.{}:9100", n / 10)),
                    ("i", n.to_string()),
                ]),
                Kind::Gauge(n as f64),
            )
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Kind {
    /// Per-second rate.
    Counter(f64),
    /// Base value.
    Gauge(f64),
}

impl Kind {
    /// A deterministic value at `step` (the same for every receiver).
    fn value(self, step: i64, salt: usize) -> f64 {
        match self {
            Kind::Counter(rate) => (rate * 15.0 * step as f64 + (salt % 3) as f64).floor(),
            Kind::Gauge(base) => base + ((step as usize * 31 + salt) % 97) as f64,
        }
    }
}

fn post(url: &str, body: &[u8]) -> Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = TcpStream::connect(host).map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let status = resp.split(' ').nth(1).unwrap_or("");
    if status.starts_with('2') { Ok(()) } else { Err(format!("{url}: {}", resp.lines().next().unwrap_or("no answer"))) }
}

fn send(urls: &[String], series: &[(Vec<Label>, Kind)], step: i64, t: i64, salt_base: usize) -> Result<usize, String> {
    let mut sent = 0;
    for (c, chunk) in series.chunks(BATCH).enumerate() {
        let req = WriteRequest {
            timeseries: chunk
                .iter()
                .enumerate()
                .map(|(k, (l, kind))| TimeSeries {
                    labels: l.clone(),
                    samples: vec![Sample { value: kind.value(step, salt_base + c * BATCH + k), timestamp: t }],
                    exemplars: Vec::new(),
                })
                .collect(),
        };
        let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).map_err(|e| e.to_string())?;
        for u in urls {
            post(u, &body)?;
        }
        sent += chunk.len();
    }
    Ok(sent)
}

fn main() {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        eprintln!("usage: rwgen URL...");
        std::process::exit(2);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default();
    // Aligned to the minute, so the two sets share timestamps.
    let end = now / 60_000 * 60_000;
    let long_start = end - env_or("LONG_HOURS", 24) * 3_600_000;
    let dash_start = end - env_or("DASH_MINUTES", 60) * 60_000;
    let (dash, long) = (dash_series(), long_series());
    let mut total = 0usize;
    let mut t = long_start;
    while t <= end {
        let step = (t - long_start) / 15_000;
        let run = || -> Result<usize, String> {
            let mut n = 0;
            if t % 60_000 == 0 {
                n += send(&urls, &long, step, t, 0)?;
            }
            if t >= dash_start {
                n += send(&urls, &dash, step, t, 7)?;
            }
            Ok(n)
        };
        match run() {
            Ok(n) => total += n,
            Err(e) => {
                eprintln!("rwgen: {e}");
                std::process::exit(1);
            }
        }
        t += 15_000;
    }
    println!("rwgen: {total} samples per receiver, {} series, ending at {}", dash.len() + long.len(), end / 1000);
}
