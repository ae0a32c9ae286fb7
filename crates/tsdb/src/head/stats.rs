//! The head's cardinality statistics, as Prometheus's `/api/v1/status/tsdb`
//! reports them: series, label pairs and chunks of the head, and the
//! label names, values and pairs that account for most series and bytes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use model::labels::METRIC_NAME;

use super::Head;

/// What `/api/v1/status/tsdb` shows of the head. Each list holds at most
/// the requested number of entries, largest first, equal numbers by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadStats {
    pub num_series: u64,
    /// Distinct `name=value` pairs in the label index.
    pub num_label_pairs: u64,
    /// The `prometheus_tsdb_head_chunks` gauge, which Prometheus reads too.
    pub chunk_count: i64,
    /// `i64::MAX` and `i64::MIN` while the head holds no sample, which
    /// Prometheus shows as they are.
    pub min_time: i64,
    pub max_time: i64,
    /// Series per metric name.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Distinct values per label name.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Per label name, the bytes of its values summed over the series that
    /// carry them (a value's length times its series): Prometheus 3.x's
    /// definition, whose `limit` the API takes too; 2.42 summed the
    /// lengths of the distinct values only.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Series per `name=value` pair.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

impl Head {
    /// The head's statistics with the `limit` largest entries of each list.
    /// Reads the label index under its read lock, once, as Prometheus
    /// does; series creation waits meanwhile.
    pub fn stats(&self, limit: usize) -> HeadStats {
        let mut metrics = Top::new(limit);
        let mut names = Top::new(limit);
        let mut bytes = Top::new(limit);
        let mut pairs = Top::new(limit);
        let mut num_label_pairs = 0u64;
        {
            let postings = self.postings();
            for (name, values) in postings.names() {
                // The all-series key, should an index ever hold it.
                if name.is_empty() {
                    continue;
                }
                num_label_pairs += values.len() as u64;
                names.offer(values.len() as u64, || name.to_owned());
                let mut size = 0u64;
                for (value, series) in values {
                    let n = series.len() as u64;
                    size = size.saturating_add((value.len() as u64).saturating_mul(n));
                    if name == METRIC_NAME {
                        metrics.offer(n, || value.clone());
                    }
                    pairs.offer(n, || format!("{name}={value}"));
                }
                bytes.offer(size, || name.to_owned());
            }
        }
        HeadStats {
            num_series: self.num_series() as u64,
            num_label_pairs,
            chunk_count: self.metrics.chunks.get(),
            min_time: self.min_time(),
            max_time: self.max_time(),
            series_count_by_metric_name: metrics.into_sorted(),
            label_value_count_by_label_name: names.into_sorted(),
            memory_in_bytes_by_label_name: bytes.into_sorted(),
            series_count_by_label_value_pair: pairs.into_sorted(),
        }
    }
}

/// The `limit` best `(count, name)` entries seen, without keeping the rest:
/// a head can hold millions of label pairs.
struct Top {
    limit: usize,
    /// Min-heap on (count, reversed name): the root is the entry to drop
    /// first (smallest count, then largest name).
    heap: BinaryHeap<Reverse<(u64, Reverse<String>)>>,
}

impl Top {
    fn new(limit: usize) -> Top {
        Top { limit, heap: BinaryHeap::with_capacity(limit.min(1024) + 1) }
    }

    /// Considers an entry; its name is built only if it may be kept.
    fn offer(&mut self, count: u64, name: impl FnOnce() -> String) {
        if self.limit == 0 {
            return;
        }
        let full = self.heap.len() >= self.limit;
        if full && self.heap.peek().is_some_and(|Reverse((worst, _))| count < *worst) {
            return;
        }
        let key = (count, Reverse(name()));
        if full {
            if self.heap.peek().is_some_and(|Reverse(worst)| key <= *worst) {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Reverse(key));
    }

    fn into_sorted(self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.heap.into_iter().map(|Reverse((count, Reverse(name)))| (name, count)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use model::Labels;
    use storage::{Appendable, SeriesRef};

    use super::*;
    use crate::head::{HeadMetrics, HeadOptions, HeadStorage};

    fn owned(items: &[(&str, u64)]) -> Vec<(String, u64)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn empty_head_reports_open_time_bounds() {
        let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
        let s = head.stats(10);
        assert_eq!(s, HeadStats { min_time: i64::MAX, max_time: i64::MIN, ..HeadStats::default() });
    }

    #[test]
    fn counts_series_pairs_and_bytes_like_prometheus() {
        let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
        let mut app = HeadStorage(head.clone()).appender();
        let series: &[&[(&str, &str)]] = &[
            &[("__name__", "up"), ("job", "api"), ("instance", "a:1")],
            &[("__name__", "up"), ("job", "api"), ("instance", "a:2")],
            &[("__name__", "up"), ("job", "node"), ("instance", "n:1")],
            &[("__name__", "http_requests_total"), ("job", "api"), ("instance", "a:1"), ("code", "200")],
        ];
        for (i, s) in series.iter().enumerate() {
            app.append(SeriesRef::UNKNOWN, &Labels::from_pairs(s.iter().copied()), 1000 + i as i64, 1.0).unwrap();
        }
        app.commit().unwrap();

        let s = head.stats(10);
        assert_eq!((s.num_series, s.num_label_pairs, s.chunk_count, s.min_time, s.max_time), (4, 8, 4, 1000, 1003));
        assert_eq!(s.series_count_by_metric_name, owned(&[("up", 3), ("http_requests_total", 1)]));
        assert_eq!(s.label_value_count_by_label_name, owned(&[("instance", 3), ("__name__", 2), ("job", 2), ("code", 1)]));
        // up: 2 bytes x 3 series, http_requests_total: 19 x 1.
        assert_eq!(s.memory_in_bytes_by_label_name, owned(&[("__name__", 25), ("job", 13), ("instance", 12), ("code", 3)]));
        assert_eq!(s.series_count_by_label_value_pair[..3], owned(&[("__name__=up", 3), ("job=api", 3), ("instance=a:1", 2)])[..]);

        let s = head.stats(2);
        assert_eq!(s.series_count_by_label_value_pair, owned(&[("__name__=up", 3), ("job=api", 3)]), "equal counts by name");
        assert_eq!(s.label_value_count_by_label_name, owned(&[("instance", 3), ("__name__", 2)]));
        assert_eq!(s.num_label_pairs, 8, "the limit cuts lists, not totals");
        assert!(head.stats(0).series_count_by_metric_name.is_empty());
    }

    #[test]
    fn top_keeps_the_largest_whatever_the_order() {
        let mut t = Top::new(3);
        for (n, c) in [("e", 1), ("d", 5), ("c", 5), ("b", 2), ("a", 1), ("f", 7), ("g", 5)] {
            t.offer(c, || n.to_owned());
        }
        assert_eq!(t.into_sorted(), owned(&[("f", 7), ("c", 5), ("d", 5)]));
    }
}
