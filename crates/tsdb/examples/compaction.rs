//! Head compaction benchmark, side by side with Prometheus
//! (`scripts/bench-compaction.sh` runs both).
//!
//! `compaction gen SERIES HOURS DIR` writes a WAL under `DIR/wal` as a
//! scraping server would: SERIES series scraped every 15 s for HOURS hours
//! ending now, counters growing by random small amounts and gauges moving
//! randomly, so that chunks compress as real data does.
//!
//! `compaction compact DIR` opens the data folder (replaying the WAL),
//! then cuts every compactable range of the head into a block and prints
//! the time writing the blocks took (what Prometheus's "write block" log
//! line times), the peak resident memory compaction added over what the
//! replayed head held (truncation included, as Prometheus's peak includes
//! it), the time truncating the head and WAL took, and the bytes per
//! sample of the blocks written.
//! Prometheus opened on a copy of DIR does the same on its own.

use std::path::Path;
use std::time::Instant;

use model::Labels;
use storage::{Appendable, SeriesRef};
use tsdb::db::{Db, DbMetrics, DbOptions};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

const SCRAPE_MS: i64 = 15_000;
const SERIES_PER_TARGET: usize = 100;

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0);
    (field("VmRSS:"), field("VmHWM:"))
}

/// xorshift64*: reproducible values without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn usage() -> ! {
    eprintln!("usage: compaction gen SERIES HOURS DIR | compaction compact DIR");
    std::process::exit(2)
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 5 => {
            let (Ok(series), Ok(hours)) = (args[2].replace('_', "").parse::<usize>(), args[3].parse::<f64>()) else { usage() };
            generate(series, hours, Path::new(&args[4]));
        }
        Some("compact") if args.len() == 3 => compact(Path::new(&args[2])),
        _ => usage(),
    }
}

fn generate(series: usize, hours: f64, dir: &Path) {
    let opts = HeadOptions { wal_dir: Some(dir.join("wal")), ..HeadOptions::default() };
    let head = Head::open(opts, HeadMetrics::new(None)).unwrap_or_else(|e| fail("open", e));
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            let target = i / SERIES_PER_TARGET;
            Labels::from_pairs([
                ("__name__", format!("metric_{}", i % SERIES_PER_TARGET)),
                ("instance", format!("10.0.{}.{}:9100", target / 256, target % 256)),
                ("job", format!("job-{}", target % 10)),
                ("pod", format!("pod-{target}")),
            ])
        })
        .collect();
    let samples = (hours * 3600.0 * 1000.0 / SCRAPE_MS as f64) as i64;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let start_ms = now - samples * SCRAPE_MS;
    let mut refs = vec![SeriesRef::UNKNOWN; series];
    let mut values: Vec<f64> = (0..series).map(|i| (i % 1000) as f64).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let store = HeadStorage(head.clone());
    let mut app = store.appender();
    let t0 = Instant::now();
    for step in 0..samples {
        // Scrapes of one target are a few milliseconds apart, as jittered
        // scrape offsets make them.
        let t = start_ms + step * SCRAPE_MS;
        for target in 0..series.div_ceil(SERIES_PER_TARGET) {
            let ts = t + (target % 1000) as i64;
            for i in target * SERIES_PER_TARGET..((target + 1) * SERIES_PER_TARGET).min(series) {
                let r = rng.next();
                if i % 5 == 0 {
                    // A gauge: a random walk in whole units.
                    values[i] = (values[i] + ((r >> 8) % 21) as f64 - 10.0).max(0.0);
                } else if r % 4 != 0 {
                    values[i] += ((r >> 8) % 16) as f64;
                }
                match app.append(refs[i], &labels[i], ts, values[i]) {
                    Ok(r) => refs[i] = r,
                    Err(e) => fail("append", e),
                }
            }
            app.commit().unwrap_or_else(|e| fail("commit", e));
        }
    }
    head.close().unwrap_or_else(|e| fail("close", e));
    println!("wrote {series} series x {samples} samples in {:.1} s", t0.elapsed().as_secs_f64());
}

fn compact(dir: &Path) {
    let t0 = Instant::now();
    let db = Db::open(dir, DbOptions::default(), HeadMetrics::new(None), DbMetrics::new(None)).unwrap_or_else(|e| fail("open", e));
    let replay = t0.elapsed();
    // Peak memory from here on: writing 5 to clear_refs resets VmHWM.
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak RSS ({e}); the peak below includes the replay");
    }
    let (base, _) = rss_kib();
    let stats = db.compact().unwrap_or_else(|e| fail("compact", e));
    let (_, peak) = rss_kib();
    let blocks = db.blocks();
    let samples: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
    let bytes: u64 = blocks.iter().map(|b| b.size()).sum();
    println!("replayed {} series in {:.2} s; head RSS {} MiB", db.head().num_series(), replay.as_secs_f64(), base / 1024);
    println!(
        "compaction: {} block(s) in {:.2} s, peak RSS over the head {} MiB (then head and WAL truncation {:.2} s)",
        stats.head_blocks,
        stats.head_write.as_secs_f64(),
        peak.saturating_sub(base) / 1024,
        stats.head_truncate.as_secs_f64()
    );
    println!("blocks: {samples} samples in {bytes} bytes, {:.3} bytes/sample", bytes as f64 / samples.max(1) as f64);
}
