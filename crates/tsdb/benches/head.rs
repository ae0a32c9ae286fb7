//! Head costs on the paths that decide whether Narthex keeps up: a
//! scrape's commit (with and without the write-ahead log), postings
//! selection over a million series, and finding a series by reference
//! among a million.
//!
//! The scrape cases cache series references from the first scrape, as a
//! scrape loop does, so that they measure the steady state: a lookup by
//! reference, the order check, the WAL record and the chunk append. Timings
//! are only ever reported here, never asserted in tests.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use model::{Labels, MatchType, Matcher};
use storage::{Appendable, Appender, SeriesRef};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage, MemPostings};

/// Samples in one scrape: a small exporter's worth.
const SCRAPE_SAMPLES: usize = 200;
const SCRAPE_INTERVAL_MS: i64 = 15_000;

/// Series of the postings and lookup benchmarks.
const POSTINGS_SERIES: usize = 1_000_000;
/// References looked up per iteration of the lookup benchmark.
const LOOKUPS: usize = 1000;

fn scrape_labels() -> Vec<Labels> {
    (0..SCRAPE_SAMPLES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("node_exporter_metric_{}_total", i / 4)),
                ("instance", "10.0.12.34:9100".to_owned()),
                ("job", "node".to_owned()),
                ("cpu", (i % 4).to_string()),
            ])
        })
        .collect()
}

/// A head holding one scrape's series, the scrape's references, and the
/// timestamp of the next scrape.
struct Scrape {
    app: Box<dyn Appender>,
    labels: Vec<Labels>,
    refs: Vec<SeriesRef>,
    t: i64,
    // Kept so that the head (and the WAL directory) outlive the appender.
    _head: Arc<Head>,
    _dir: Option<tempfile::TempDir>,
}

impl Scrape {
    fn new(with_wal: bool) -> Self {
        let dir = with_wal.then(|| tempfile::tempdir().expect("tempdir"));
        let opts = HeadOptions { wal_dir: dir.as_ref().map(|d| d.path().join("wal")), ..HeadOptions::default() };
        let head = Head::open(opts, HeadMetrics::new(None)).expect("head opens");
        let mut app = HeadStorage(head.clone()).appender();
        let labels = scrape_labels();
        let t = 1_700_000_000_000;
        let refs = labels.iter().map(|l| app.append(SeriesRef::UNKNOWN, l, t, 0.0).expect("first scrape")).collect();
        app.commit().expect("first commit");
        Scrape { app, labels, refs, t, _head: head, _dir: dir }
    }

    /// One scrape's appends and its commit, with counters that moved.
    fn scrape(&mut self) {
        self.t += SCRAPE_INTERVAL_MS;
        let step = (self.t / SCRAPE_INTERVAL_MS) as f64;
        for (i, (r, l)) in self.refs.iter().zip(&self.labels).enumerate() {
            let v = step * (i % 7 + 1) as f64;
            black_box(self.app.append(*r, l, self.t, v).expect("append"));
        }
        self.app.commit().expect("commit");
    }
}

fn bench_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("head_commit_200");
    g.throughput(Throughput::Elements(SCRAPE_SAMPLES as u64));
    for (name, with_wal) in [("wal", true), ("no_wal", false)] {
        let mut s = Scrape::new(with_wal);
        g.bench_function(name, |b| b.iter(|| s.scrape()));
    }
    g.finish();
}

/// The label set of series `i` among a million: `__name__` has 100 values,
/// `job` 10, `instance` 10,000 (each with all 100 names), `pod` 100,000 and
/// `zone` 3.
fn postings_labels(i: usize) -> Labels {
    let instance = (i / 100) % 10_000;
    Labels::from_pairs([
        ("__name__", format!("metric_{}", i % 100)),
        ("job", format!("job-{}", instance % 10)),
        ("instance", format!("instance-{instance}")),
        ("pod", format!("pod-{}", (i / 10) % 100_000)),
        ("zone", format!("zone-{}", instance % 3)),
    ])
}

fn matcher(kind: MatchType, name: &str, value: &str) -> Matcher {
    Matcher::new(kind, name, value).expect("valid matcher")
}

fn bench_postings(c: &mut Criterion) {
    let mut postings = MemPostings::default();
    for i in 0..POSTINGS_SERIES {
        postings.add(i as u64 + 1, &postings_labels(i));
    }
    use MatchType::{Equal, Regexp};
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        // 10,000 ∩ 100,000 → 1,000 series.
        ("2_eq", vec![matcher(Equal, "__name__", "metric_42"), matcher(Equal, "job", "job-3")]),
        // A literal alternation (looked up value by value) → 2,000 series.
        ("2_regex_alt", vec![matcher(Equal, "__name__", "metric_42"), matcher(Regexp, "job", "job-3|job-7")]),
        // A real regex, run over all 10,000 instance values → 1,111 series.
        ("2_regex_scan", vec![matcher(Equal, "__name__", "metric_42"), matcher(Regexp, "instance", "instance-1.*")]),
        // Five equalities → 1 series.
        (
            "5_eq",
            vec![
                matcher(Equal, "__name__", "metric_42"),
                matcher(Equal, "job", "job-3"),
                matcher(Equal, "instance", "instance-1233"),
                matcher(Equal, "pod", "pod-12334"),
                matcher(Equal, "zone", "zone-0"),
            ],
        ),
        // Two equalities and three regexes, one a scan over 100,000 pods.
        (
            "5_mixed",
            vec![
                matcher(Equal, "__name__", "metric_42"),
                matcher(Regexp, "job", "job-3|job-7"),
                matcher(Regexp, "instance", "instance-1.*"),
                matcher(Regexp, "pod", "pod-1.*"),
                matcher(Equal, "zone", "zone-0"),
            ],
        ),
    ];
    let mut g = c.benchmark_group("postings_select_1m");
    for (name, matchers) in &cases {
        // Printed once so that the document can say how much each selects.
        eprintln!("postings_select_1m/{name}: {} series selected", postings.select(matchers).len());
        g.bench_with_input(BenchmarkId::from_parameter(name), matchers, |b, m| b.iter(|| black_box(postings.select(m))));
    }
    g.finish();
}

/// `Head::series_by_ref` among a million series: the first step of every
/// append by cached reference. The references are spread over the whole
/// head, as the targets of a scrape round are.
fn bench_series_by_ref(c: &mut Criterion) {
    let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).expect("head opens");
    let mut app = HeadStorage(head.clone()).appender();
    let mut refs = Vec::with_capacity(POSTINGS_SERIES);
    for i in 0..POSTINGS_SERIES {
        refs.push(app.append(SeriesRef::UNKNOWN, &postings_labels(i), 1_700_000_000_000, 0.0).expect("append"));
        if i % 1000 == 999 {
            app.commit().expect("commit");
        }
    }
    app.commit().expect("commit");
    let step = POSTINGS_SERIES / LOOKUPS;
    let sample: Vec<u64> = (0..LOOKUPS).map(|i| refs[i * step + i % step].0).collect();
    let mut g = c.benchmark_group("head_1m");
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    g.bench_function("series_by_ref", |b| b.iter(|| sample.iter().filter(|r| head.series_by_ref(**r).is_some()).count()));
    g.finish();
}

criterion_group!(benches, bench_commit, bench_postings, bench_series_by_ref);
criterion_main!(benches);
