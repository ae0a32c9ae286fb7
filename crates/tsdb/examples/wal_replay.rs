//! WAL replay benchmark, side by side with Prometheus.
//!
//! `wal_replay gen SERIES SAMPLES DIR` writes a WAL under `DIR/wal` as a
//! scraping server would (series records, then one samples record per
//! 100-series target per 15 s scrape). `wal_replay replay DIR` opens a head
//! on it and prints the replay time and the process's peak RSS. The same
//! directory can be given to Prometheus (`--storage.tsdb.path=DIR`), which
//! reads our WAL, to time its replay: see docs/benchmarks.md.

use std::path::Path;
use std::time::Instant;

use model::Labels;
use storage::{Appendable, SeriesRef};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
        .unwrap_or(0)
}

fn usage() -> ! {
    eprintln!("usage: wal_replay gen SERIES SAMPLES DIR | wal_replay replay DIR");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 5 => {
            let (Ok(series), Ok(samples)) = (args[2].parse::<usize>(), args[3].parse::<i64>()) else { usage() };
            generate(series, samples, Path::new(&args[4]));
        }
        Some("replay") if args.len() == 3 => replay(Path::new(&args[2])),
        _ => usage(),
    }
}

fn generate(series: usize, samples: i64, dir: &Path) {
    let opts = HeadOptions { wal_dir: Some(dir.join("wal")), ..HeadOptions::default() };
    let head = match Head::open(opts, HeadMetrics::new(None)) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("open: {e}");
            std::process::exit(1)
        }
    };
    let targets = series.div_ceil(100);
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            let target = i / 100;
            Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 100)),
                ("instance", format!("10.0.{}.{}:9100", target / 256, target % 256)),
                ("job", format!("job-{}", target % 10)),
                ("pod", format!("pod-{target}")),
            ])
        })
        .collect();
    let mut refs = vec![SeriesRef::UNKNOWN; series];
    let store = HeadStorage(head.clone());
    let mut app = store.appender();
    // Start two hours before now, as a server's WAL would be at restart.
    let start_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0) - samples * 15_000;
    let t0 = Instant::now();
    for step in 0..samples {
        let t = start_ms + step * 15_000;
        for target in 0..targets {
            for i in target * 100..((target + 1) * 100).min(series) {
                let v = (step * (i as i64 % 7 + 1)) as f64;
                match app.append(refs[i], &labels[i], t, v) {
                    Ok(r) => refs[i] = r,
                    Err(e) => eprintln!("append: {e}"),
                }
            }
            if let Err(e) = app.commit() {
                eprintln!("commit: {e}");
                std::process::exit(1)
            }
        }
    }
    if let Err(e) = head.close() {
        eprintln!("close: {e}");
    }
    println!("wrote {} series x {} samples in {:.1} s", series, samples, t0.elapsed().as_secs_f64());
}

fn replay(dir: &Path) {
    let t0 = Instant::now();
    let opts = HeadOptions { wal_dir: Some(dir.join("wal")), ..HeadOptions::default() };
    match Head::open(opts, HeadMetrics::new(None)) {
        Ok(head) => println!("replayed {} series in {:.2} s, peak RSS {} MiB", head.num_series(), t0.elapsed().as_secs_f64(), peak_rss_kib() / 1024),
        Err(e) => {
            eprintln!("replay: {e}");
            std::process::exit(1)
        }
    }
}
