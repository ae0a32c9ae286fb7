//! Typical dashboard queries over the in-memory head: 100,000 counter
//! series (1,000 jobs x 100 instances) with one hour of 15 s samples, a
//! classic histogram, and a 24-hour range query at a 60 s step over 1,000
//! series.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use model::Labels;
use promql::engine::Engine;
use storage::{Appendable, SeriesRef};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

const HOUR_MS: i64 = 3_600_000;

fn load(series: usize, hours: i64, histogram: bool) -> HeadStorage {
    let head = Head::open(HeadOptions { chunk_range: 48 * HOUR_MS, ..HeadOptions::default() }, HeadMetrics::new(None)).unwrap();
    let st = HeadStorage(head);
    let labels: Vec<Labels> = (0..series)
        .map(|i| Labels::from_pairs([("__name__", "http_requests_total"), ("job", &format!("job-{}", i / 100)), ("instance", &format!("i-{}", i % 100))]))
        .collect();
    let buckets: Vec<Labels> = ["0.1", "0.5", "1", "5", "+Inf"]
        .iter()
        .flat_map(|le| (0..20).map(move |i| Labels::from_pairs([("__name__", "latency_seconds_bucket"), ("le", *le), ("instance", &format!("i-{i}"))])))
        .collect();
    let mut refs = vec![SeriesRef::UNKNOWN; series];
    let mut brefs = vec![SeriesRef::UNKNOWN; buckets.len()];
    let steps = hours * 240;
    for k in 0..steps {
        let mut app = st.appender();
        let t = k * 15_000;
        for (i, l) in labels.iter().enumerate() {
            refs[i] = app.append(refs[i], l, t, (k * (1 + i as i64 % 7)) as f64).unwrap();
        }
        if histogram {
            for (i, l) in buckets.iter().enumerate() {
                let le_rank = (i / 20) as i64 + 1;
                brefs[i] = app.append(brefs[i], l, t, (k * le_rank) as f64).unwrap();
            }
        }
        app.commit().unwrap();
    }
    st
}

fn bench(c: &mut Criterion) {
    let engine = Engine::default();
    let st = load(100_000, 1, true);
    let t = HOUR_MS - 15_000;
    let mut g = c.benchmark_group("promql_100k");
    g.sample_size(10);
    g.bench_function("sum_by_job_rate_5m", |b| b.iter(|| engine.instant(&st, "sum by (job) (rate(http_requests_total[5m]))", t).unwrap()));
    g.bench_function("histogram_quantile_99", |b| {
        b.iter(|| engine.instant(&st, "histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket[5m])))", t).unwrap())
    });
    g.bench_function("topk_10_rate", |b| b.iter(|| engine.instant(&st, "topk(10, rate(http_requests_total[5m]))", t).unwrap()));
    g.finish();
    drop(st);

    let st = load(1_000, 24, false);
    let mut g = c.benchmark_group("promql_range_24h");
    g.sample_size(10);
    g.bench_function("sum_rate_1k_series_60s_step", |b| {
        b.iter(|| engine.range(&st, "sum(rate(http_requests_total[5m]))", 0, 24 * HOUR_MS - 15_000, 60_000).unwrap())
    });
    g.bench_function("avg_by_job_1k_series_60s_step", |b| {
        b.iter(|| engine.range(&st, "avg by (job) (http_requests_total)", 0, 24 * HOUR_MS - 15_000, 60_000).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
