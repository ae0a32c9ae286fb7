//! A scrape pool taking a new target set from discovery in which 1 % of
//! the targets changed: relabeling every target, diffing against the
//! running ones, stopping the loops of the removed and starting those of
//! the added. Each iteration swaps between two sets, so every one does the
//! same work. Reported per target of the set.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use discovery::Group;
use model::Labels;
use scrape::scrape_loop::BufferPool;
use scrape::{PoolEnv, ScrapeMetrics, ScrapePool};
use tokio_util::sync::CancellationToken;
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

/// `n` targets in groups of 100 (as a file_sd file of services would list
/// them), the first `changed` replaced by others.
fn groups(n: usize, changed: usize) -> Vec<Group> {
    let addr = |i: usize| format!("10.{}.{}.{}:9100", i >> 16 & 0xff, i >> 8 & 0xff, i & 0xff);
    (0..n.div_ceil(100))
        .map(|g| Group {
            targets: (g * 100..((g + 1) * 100).min(n)).map(|i| Labels::from_pairs([("__address__", addr(if i < changed { i + n } else { i }))])).collect(),
            labels: Labels::from_pairs([("env", "prod"), ("team", format!("team-{}", g % 20).as_str())]),
            source: format!("targets.json:{g}"),
        })
        .collect()
}

fn bench_sync(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _guard = rt.enter();
    let y = "global:\n  scrape_interval: 1h\nscrape_configs:\n- job_name: fs\n  relabel_configs:\n  - source_labels: [team]\n    target_label: owner\n";
    let cfg = config::Config::load(y).unwrap();
    let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
    let mut group = c.benchmark_group("pool_sync_1pct_changed");
    group.sample_size(20);
    for n in [10_000usize, 100_000] {
        let shutdown = CancellationToken::new();
        let env = PoolEnv {
            appendable: Arc::new(HeadStorage(head.clone())),
            metrics: ScrapeMetrics::new(None),
            buffers: BufferPool::default(),
            shutdown: shutdown.clone(),
            offset_seed: 0,
            user_agent: "bench".into(),
            extra_metrics: false,
        };
        let mut pool = ScrapePool::new(Arc::new(cfg.scrape_configs[0].clone()), env).unwrap();
        let sets = [groups(n, 0), groups(n, n / 100)];
        pool.sync(sets[0].clone());
        let mut which = 0;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                which ^= 1;
                pool.sync(sets[which].clone());
            })
        });
        shutdown.cancel();
    }
    group.finish();
}

criterion_group!(benches, bench_sync);
criterion_main!(benches);
