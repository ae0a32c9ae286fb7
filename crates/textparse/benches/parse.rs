//! Text-format parsing throughput, per sample, for a small and a large
//! scrape: the scrape loop's hot path with and without building labels.

use std::fmt::Write;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use textparse::{Entry, PromParser};

fn body(series: usize) -> Vec<u8> {
    let mut s = String::new();
    let per_family = 50;
    for f in 0..series.div_ceil(per_family) {
        let _ = writeln!(s, "# HELP bench_metric_{f}_total A counter for benchmarking.\n# TYPE bench_metric_{f}_total counter");
        for i in 0..per_family.min(series - f * per_family) {
            let _ =
                writeln!(s, "bench_metric_{f}_total{{instance=\"host-{i}.example.org:9100\",job=\"node\",path=\"/api/v1/query\",code=\"200\"}} {}.5", i * 17);
        }
    }
    s.into_bytes()
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("promparse");
    for n in [200usize, 10_000] {
        let b = body(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("entries", n), &b, |bench, b| {
            bench.iter(|| {
                let mut p = PromParser::new(b);
                let mut sum = 0.0;
                while let Ok(Some(e)) = p.next() {
                    if let Entry::Series { value, .. } = e {
                        sum += value;
                    }
                }
                sum
            })
        });
        group.bench_with_input(BenchmarkId::new("entries_and_labels", n), &b, |bench, b| {
            bench.iter(|| {
                let mut p = PromParser::new(b);
                let mut count = 0usize;
                while let Ok(Some(e)) = p.next() {
                    if matches!(e, Entry::Series { .. }) {
                        count += p.labels().len();
                    }
                }
                count
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
