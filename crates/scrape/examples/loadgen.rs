//! A scrape load generator in the spirit of Prometheus's `avalanche`: one
//! HTTP listener on `0.0.0.0:<port>` answers `/metrics` for every target
//! address (`127.10.x.y`: all of 127/8 is loopback on Linux), with
//! `--series` series whose values change every `--value-interval` seconds.
//! It also writes a `prometheus.yml` listing the targets, for narthex and
//! Prometheus to scrape side by side.
//!
//! ```text
//! cargo run --release -p narthex-scrape --example loadgen -- \
//!     --targets 10000 --series 200 --port 9100 --config /tmp/bench/prometheus.yml
//! ```
//!
//! Each scraper keeps one connection per target, so a process serves at
//! most as many targets as its file limit allows: run two with `--first`
//! and `--port` set to split the range.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

struct Args {
    targets: usize,
    first: usize,
    series: usize,
    port: u16,
    value_interval: u64,
    config: Option<String>,
    scrape_interval: String,
    /// Other generator processes' `first:count:port`, for the config only.
    extra: Vec<(usize, usize, u16)>,
}

fn parse_args() -> Args {
    let mut a = Args { targets: 100, first: 0, series: 200, port: 9100, value_interval: 15, config: None, scrape_interval: "15s".into(), extra: vec![] };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--targets" => a.targets = v.parse().unwrap(),
            "--first" => a.first = v.parse().unwrap(),
            "--series" => a.series = v.parse().unwrap(),
            "--port" => a.port = v.parse().unwrap(),
            "--value-interval" => a.value_interval = v.parse().unwrap(),
            "--config" => a.config = Some(v),
            "--scrape-interval" => a.scrape_interval = v,
            "--also" => {
                let p: Vec<&str> = v.split(':').collect();
                a.extra.push((p[0].parse().unwrap(), p[1].parse().unwrap(), p[2].parse().unwrap()));
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn address(i: usize) -> String {
    format!("127.10.{}.{}", i / 250, i % 250 + 1)
}

/// 20 metric families (or fewer) of gauges and counters, `series` in all.
fn body(series: usize, cycle: u64) -> String {
    let families = series.clamp(1, 20);
    let per = series.div_ceil(families);
    let mut out = String::with_capacity(series * 90);
    let mut n = 0;
    for f in 0..families {
        let kind = if f % 2 == 0 { "gauge" } else { "counter" };
        let _ = writeln!(out, "# HELP loadgen_metric_{f} A synthetic {kind}.\n# TYPE loadgen_metric_{f} {kind}");
        for s in 0..per {
            if n == series {
                break;
            }
            n += 1;
            // Deterministic but changing values: counters grow, gauges wander.
            let v = if kind == "counter" { (cycle * (s as u64 + 1)) as f64 } else { ((cycle * 7919 + s as u64 * 104_729) % 1000) as f64 / 10.0 };
            let _ = writeln!(out, "loadgen_metric_{f}{{series_id=\"{s}\",zone=\"zone-{}\"}} {v}", s % 4);
        }
    }
    out
}

fn write_config(a: &Args, path: &str) {
    let mut y = format!("global:\n  scrape_interval: {}\n  scrape_timeout: 10s\nscrape_configs:\n", a.scrape_interval);
    let mut ranges = vec![(a.first, a.targets, a.port)];
    ranges.extend(a.extra.iter().copied());
    for (first, count, port) in ranges {
        let _ = write!(y, "- job_name: loadgen-{port}\n  static_configs:\n  - targets:\n");
        for i in first..first + count {
            let _ = writeln!(y, "    - {}:{port}", address(i));
        }
    }
    std::fs::write(path, y).unwrap();
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    if let Some(path) = &a.config {
        write_config(&a, path);
    }
    let shared = Arc::new(RwLock::new(body(a.series, 1)));
    let s = shared.clone();
    let (series, every) = (a.series, a.value_interval);
    tokio::spawn(async move {
        let mut cycle = 1;
        let mut t = tokio::time::interval(Duration::from_secs(every));
        loop {
            t.tick().await;
            cycle += 1;
            let b = body(series, cycle);
            *s.write().unwrap() = b;
        }
    });
    let app = Router::new().route("/metrics", get(metrics)).with_state(shared);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", a.port)).await.unwrap();
    eprintln!("serving {} targets ({}..{}) with {} series each on port {}", a.targets, address(a.first), address(a.first + a.targets - 1), a.series, a.port);
    axum::serve(listener, app).await.unwrap();
}

async fn metrics(State(s): State<Arc<RwLock<String>>>) -> impl IntoResponse {
    let b = s.read().unwrap().clone();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], b)
}
