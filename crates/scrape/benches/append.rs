//! The scrape hot path: one exposition body turned into one appender batch.
//! `hit` runs with a warm series cache (every scrape after the first),
//! `miss` with a cold one (label parsing, target labels, relabeling).
//! `null` appends into an appender that drops everything, isolating the
//! scrape engine's own cost; `head` appends into the real in-memory head.
//! Throughput is reported per sample.
#![allow(clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use model::{Exemplar, Labels, Metadata};
use scrape::{AppendOptions, Appending, ScrapeCache, ScrapeMetrics};
use storage::{Appendable, Appender, SeriesRef, StorageError};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

struct Null(u64);

impl Appender for Null {
    fn append(&mut self, hint: SeriesRef, _: &Labels, _: i64, _: f64) -> Result<SeriesRef, StorageError> {
        if hint != SeriesRef::UNKNOWN {
            return Ok(hint);
        }
        self.0 += 1;
        Ok(SeriesRef(self.0))
    }
    fn append_exemplar(&mut self, hint: SeriesRef, _: &Labels, _: &Exemplar) -> Result<SeriesRef, StorageError> {
        Ok(hint)
    }
    fn update_metadata(&mut self, hint: SeriesRef, _: &Labels, _: &Metadata) -> Result<SeriesRef, StorageError> {
        Ok(hint)
    }
    fn commit(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
}

fn text_body(series: usize) -> String {
    let mut out = String::new();
    for f in 0..series.div_ceil(10) {
        out.push_str(&format!("# HELP bench_metric_{f} A benchmark metric.\n# TYPE bench_metric_{f} gauge\n"));
        for s in 0..10 {
            out.push_str(&format!("bench_metric_{f}{{series_id=\"{s}\",zone=\"zone-{}\",path=\"/api/v1/things\"}} {}.5\n", s % 4, f * 10 + s));
        }
    }
    out
}

fn om_body(series: usize) -> String {
    let mut b = text_body(series);
    b.push_str("# EOF\n");
    b
}

fn opts() -> AppendOptions {
    AppendOptions::default()
}

fn target() -> Labels {
    Labels::from_pairs([("instance", "10.1.2.3:9100"), ("job", "node")])
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("scrape_append");
    for series in [200usize, 10_000] {
        for (format, body, ct) in
            [("text", text_body(series), "text/plain; version=0.0.4"), ("openmetrics", om_body(series), "application/openmetrics-text; version=1.0.0")]
        {
            g.throughput(Throughput::Elements(series as u64));
            let mut appending = Appending::new(opts(), target(), ScrapeMetrics::new(None));
            let mut app = Null(0);
            let mut cache = ScrapeCache::new();
            let mut ts = 0;
            g.bench_function(BenchmarkId::new(format!("null_hit/{format}"), series), |b| {
                b.iter(|| {
                    ts += 1;
                    appending.append(&mut app, &mut cache, body.as_bytes(), ct, ts).unwrap();
                })
            });
            g.bench_function(BenchmarkId::new(format!("null_miss/{format}"), series), |b| {
                b.iter(|| {
                    let mut cold = ScrapeCache::new();
                    appending.append(&mut app, &mut cold, body.as_bytes(), ct, 1).unwrap();
                })
            });
            let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
            let mut app = HeadStorage(head).appender();
            let mut cache = ScrapeCache::new();
            let mut ts = 0;
            g.bench_function(BenchmarkId::new(format!("head_hit/{format}"), series), |b| {
                b.iter(|| {
                    ts += 15_000;
                    appending.append(app.as_mut(), &mut cache, body.as_bytes(), ct, ts).unwrap();
                    app.commit().unwrap();
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
