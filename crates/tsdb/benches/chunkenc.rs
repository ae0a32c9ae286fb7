//! XOR chunk encode and decode costs for a scrape-like series: 120 samples
//! (one head chunk) at 15 s steps with a little jitter and slowly changing
//! values, the common case the head must make cheap.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use storage::{SampleIterator, ValueType};
use tsdb::chunkenc::XorChunk;

fn scrape_like() -> Vec<(i64, f64)> {
    let mut t = 1_700_000_000_000i64;
    let mut v = 1000.0f64;
    (0..120u32)
        .map(|i| {
            // Deterministic jitter of a few milliseconds and a slow counter.
            t += 15_000 + i64::from(i * 7 % 5) - 2;
            v += f64::from(i % 4);
            (t, v)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let samples = scrape_like();
    c.bench_function("xor_append_120", |b| {
        b.iter(|| {
            let mut chunk = XorChunk::new();
            for &(t, v) in &samples {
                chunk.append(t, v);
            }
            black_box(chunk.bytes().len())
        })
    });

    let mut chunk = XorChunk::new();
    for &(t, v) in &samples {
        chunk.append(t, v);
    }
    c.bench_function("xor_iterate_120", |b| {
        b.iter(|| {
            let mut it = chunk.iter();
            let mut sum = 0.0;
            while it.next() == ValueType::Float {
                sum += it.at().1;
            }
            black_box(sum)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
