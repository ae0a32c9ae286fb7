//! Resident memory of the head per active series: the number the
//! architecture budgets at 1 KiB (docs/architecture.md, docs/benchmarks.md).
//!
//! ```text
//! cargo run --release -p narthex-tsdb --example head_memory -- [SERIES] [SAMPLES]
//! ```
//!
//! Creates SERIES series (default 1,000,000) with eight realistic labels
//! each and appends SAMPLES samples (default 120, one full head chunk) to
//! each, 15 s apart, through the head's appender in scrape-sized batches
//! (one commit per target per scrape), without a write-ahead log. Values
//! are counters that grow by small random amounts, so chunks hold what real
//! scrapes give them. It then reads the process's own VmRSS and VmHWM from
//! /proc/self/status and reports them net of the RSS measured before the
//! first series was created.

use std::time::Instant;

use model::Labels;
use storage::{Appendable, SeriesRef};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage, MemSeries};

/// Series each target exposes (one scrape, one commit).
const SERIES_PER_TARGET: usize = 100;
const SCRAPE_INTERVAL_MS: i64 = 15_000;
/// A multiple of the 2 h chunk range, so that 120 samples fill one chunk
/// without crossing a range boundary.
const START_MS: i64 = 1_699_999_200_000;

const METRIC_NAMES: [&str; 10] = [
    "http_requests_total",
    "http_request_duration_seconds_count",
    "http_request_duration_seconds_sum",
    "process_cpu_seconds_total",
    "go_gc_duration_seconds_count",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_cpu_usage_seconds_total",
    "grpc_server_handled_total",
    "kube_pod_container_status_restarts_total",
];
const ZONES: [&str; 3] = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
const JOBS: [&str; 10] = [
    "kubernetes-pods",
    "kubernetes-nodes",
    "kubernetes-service-endpoints",
    "api-gateway",
    "payments",
    "checkout",
    "search",
    "recommendations",
    "inventory",
    "notifications",
];

/// The labels of the `i`th series of target `target`: eight labels, about
/// 150 bytes of names and values, like a Kubernetes pod's metrics.
fn series_labels(target: usize, i: usize) -> Labels {
    let node = target / 20;
    let namespace = target % 40;
    Labels::from_pairs([
        ("__name__", format!("{}_{}", METRIC_NAMES[i % METRIC_NAMES.len()], i / METRIC_NAMES.len())),
        ("container", format!("app-{}", target % 7)),
        ("instance", format!("10.{}.{}.{}:8080", target >> 16, (target >> 8) & 0xff, target & 0xff)),
        ("job", JOBS[target % JOBS.len()].to_owned()),
        ("namespace", format!("team-{namespace}")),
        ("node", format!("ip-10-0-{}-{}.eu-west-1.compute.internal", node >> 8, node & 0xff)),
        ("pod", format!("{}-7d9f8b6c5-{:05x}", JOBS[target % JOBS.len()], target)),
        ("zone", ZONES[node % ZONES.len()].to_owned()),
    ])
}

/// xorshift64*: reproducible value churn without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `VmRSS` and `VmHWM` (peak RSS) of this process, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn arg(args: &[String], i: usize, default: usize) -> usize {
    match args.get(i) {
        None => default,
        Some(a) => a.replace('_', "").parse().unwrap_or_else(|_| {
            eprintln!("usage: head_memory [SERIES] [SAMPLES]  (got {a:?})");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n_series = arg(&args, 1, 1_000_000);
    let n_samples = arg(&args, 2, 120);
    let targets = n_series.div_ceil(SERIES_PER_TARGET);

    let metrics = HeadMetrics::new(None);
    let head = Head::open(HeadOptions::default(), metrics.clone()).expect("a head without a WAL opens");
    let storage = HeadStorage(head.clone());
    // The scrape loops' reference caches belong to the harness, not the
    // head: allocate and touch them before the baseline so that they do not
    // count.
    let mut refs = vec![SeriesRef(u64::MAX); n_series];
    let mut values = vec![0u64; n_series];
    for (i, v) in values.iter_mut().enumerate() {
        *v = i as u64 % 1000;
    }
    let (baseline, _) = rss();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut label_bytes = 0usize;
    let mut app = storage.appender();
    let no_labels = Labels::empty();
    let start = Instant::now();
    let mut first_scrape = None;
    for s in 0..n_samples {
        let t = START_MS + s as i64 * SCRAPE_INTERVAL_MS;
        for target in 0..targets {
            let first = target * SERIES_PER_TARGET;
            let last = (first + SERIES_PER_TARGET).min(n_series);
            for i in first..last {
                // Most counters move a little each scrape; some stand still.
                let r = rng.next();
                if r % 4 != 0 {
                    values[i] += (r >> 8) % 16;
                }
                let v = values[i] as f64;
                if s == 0 {
                    let labels = series_labels(target, i - first);
                    label_bytes += labels.as_bytes().len();
                    refs[i] = app.append(SeriesRef::UNKNOWN, &labels, t, v).expect("append to a new series");
                } else {
                    // A cached reference is enough, as for a scrape loop.
                    app.append(refs[i], &no_labels, t, v).expect("append by reference");
                }
            }
            app.commit().expect("commit");
        }
        if s == 0 {
            first_scrape = Some(start.elapsed());
        }
    }
    let elapsed = start.elapsed();
    drop(app);

    let (rss_now, hwm) = rss();
    let used = rss_now.saturating_sub(baseline);
    let peak = hwm.saturating_sub(baseline);
    let series = head.num_series();
    let chunks = metrics.chunks.get();
    let per_series = used as f64 / series.max(1) as f64;

    // Sizes of the chunks now held, to explain where the bytes go. Reading
    // them copies each open chunk briefly; this runs after RSS was taken.
    let (mut chunk_bytes, mut open_chunks) = (0usize, 0usize);
    let mut len_hist = [0usize; 4];
    for r in &refs {
        if let Some(s) = head.series_by_ref(r.0) {
            let chunks = s.lock().chunks(i64::MIN, i64::MAX, None);
            for c in chunks {
                chunk_bytes += c.bytes.len();
                open_chunks += 1;
                len_hist[match c.bytes.len() {
                    0..=128 => 0,
                    129..=256 => 1,
                    257..=512 => 2,
                    _ => 3,
                }] += 1;
            }
        }
    }

    println!("series x samples:        {n_series} x {n_samples} ({} samples), {targets} targets of {SERIES_PER_TARGET}", n_series * n_samples);
    println!("head series / chunks:    {series} / {chunks}");
    println!(
        "time:                    {:.1} s total, first scrape (series creation) {:.1} s, {:.0} ns per sample",
        elapsed.as_secs_f64(),
        first_scrape.unwrap_or_default().as_secs_f64(),
        elapsed.as_nanos() as f64 / (n_series * n_samples).max(1) as f64
    );
    println!("baseline RSS:            {:.1} MiB", mib(baseline));
    println!("RSS (VmRSS) - baseline:  {:.1} MiB", mib(used));
    println!("peak (VmHWM) - baseline: {:.1} MiB", mib(peak));
    println!("RSS per series:          {per_series:.0} bytes ({:.2} KiB)", per_series / 1024.0);
    println!("peak per series:         {:.0} bytes", peak as f64 / series.max(1) as f64);
    println!(
        "packed labels per series: {:.0} bytes (plus the Arc's 16), size_of::<MemSeries>() = {} (plus the Arc's 16)",
        label_bytes as f64 / n_series.max(1) as f64,
        std::mem::size_of::<MemSeries>()
    );
    println!(
        "chunk bytes per series:  {:.0} bytes encoded; chunk lengths <=128: {}, <=256: {}, <=512: {}, more: {} (of {open_chunks})",
        chunk_bytes as f64 / n_series.max(1) as f64,
        len_hist[0],
        len_hist[1],
        len_hist[2],
        len_hist[3]
    );
}
