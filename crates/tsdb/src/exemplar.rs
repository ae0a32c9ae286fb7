//! The in-memory exemplar storage (Prometheus's `CircularExemplarStorage`):
//! one ring of `max_exemplars` slots shared by every series, where the
//! newest exemplar overwrites the oldest once the ring is full, and per
//! series a chain through the ring, oldest to newest, so that a series'
//! exemplars are found without scanning the ring.
//!
//! Exemplars are rare next to samples (at most one per exposed sample, and
//! most samples have none), so one lock around the ring is enough; the
//! sample path never takes it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use model::{EXEMPLAR_MAX_LABEL_SET_LENGTH, Exemplar, Labels, Matcher};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use storage::{ExemplarSeries, StorageError};

/// The exemplar storage's self-metrics, under Prometheus's names.
#[derive(Debug, Clone, Default)]
pub struct ExemplarMetrics {
    pub appended: Counter,
    pub in_storage: Gauge,
    pub series_in_storage: Gauge,
    pub last_timestamp_seconds: Gauge<f64, AtomicU64>,
    pub max_exemplars: Gauge,
    pub out_of_order: Counter,
}

impl ExemplarMetrics {
    /// Creates the metrics, registering them when a registry is given.
    pub fn new(registry: Option<&mut Registry>) -> Self {
        let m = ExemplarMetrics::default();
        if let Some(r) = registry {
            r.register("prometheus_tsdb_exemplar_exemplars_appended", "Total number of appended exemplars", m.appended.clone());
            r.register("prometheus_tsdb_exemplar_exemplars_in_storage", "Number of exemplars currently in circular storage", m.in_storage.clone());
            r.register(
                "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
                "Number of series with exemplars currently in circular storage",
                m.series_in_storage.clone(),
            );
            // Prometheus's help text, missing spaces included, so that the
            // two servers' /metrics read the same.
            r.register(
                "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds",
                "The timestamp of the oldest exemplar stored in circular storage. Useful to check for what timerange the current exemplar buffer limit allows. This usually means the last timestampfor all exemplars for a typical setup. This is not true though if one of the series timestamp is in future compared to rest series",
                m.last_timestamp_seconds.clone(),
            );
            r.register(
                "prometheus_tsdb_exemplar_out_of_order_exemplars",
                "Total number of out of order exemplar ingestion failed attempts",
                m.out_of_order.clone(),
            );
            r.register(
                "prometheus_tsdb_exemplar_max_exemplars",
                "Total number of exemplars the exemplar storage can store, resizeable",
                m.max_exemplars.clone(),
            );
        }
        m
    }
}

/// No further slot in a series' chain.
const END: usize = usize::MAX;

struct Slot {
    series: Labels,
    exemplar: Exemplar,
    /// The slot of the series' next newer exemplar, or [`END`].
    next: usize,
}

/// Where a series' exemplars start and end in the ring.
#[derive(Debug, Clone, Copy)]
struct Chain {
    oldest: usize,
    newest: usize,
}

#[derive(Default)]
struct Ring {
    capacity: usize,
    /// Filled up to `capacity`, then overwritten in place from `next`, so
    /// that nothing is allocated for exemplars that never came.
    slots: Vec<Slot>,
    /// Where the next exemplar goes: the end while filling, then the oldest
    /// slot.
    next: usize,
    chains: HashMap<Labels, Chain>,
}

impl Ring {
    /// Why `e` may not be added to `series`, in Prometheus's order of checks.
    fn check(&self, series: &Labels, e: &Exemplar) -> Result<(), StorageError> {
        if self.capacity == 0 {
            return Err(StorageError::ExemplarsDisabled);
        }
        if e.label_set_length() > EXEMPLAR_MAX_LABEL_SET_LENGTH {
            return Err(StorageError::ExemplarLabelLength);
        }
        let Some(chain) = self.chains.get(series) else { return Ok(()) };
        let newest = &self.slots[chain.newest].exemplar;
        // Scrapes expose the same exemplar again and again: only a change is
        // news.
        if newest.same_as(e) {
            return Err(StorageError::DuplicateExemplar);
        }
        // Equal timestamps are allowed when value (then labels) order them,
        // so that several exemplars of one instant can be kept in order
        // without searching the chain for duplicates.
        let older = e.ts < newest.ts
            || (e.ts == newest.ts && e.value < newest.value)
            || (e.ts == newest.ts && e.value == newest.value && label_order(&e.labels) < label_order(&newest.labels));
        if older {
            return Err(StorageError::OutOfOrderExemplar);
        }
        Ok(())
    }

    /// Stores `exemplar` as the series' newest, overwriting the oldest
    /// exemplar of all when the ring is full. Unchecked.
    fn push(&mut self, series: Labels, exemplar: Exemplar) {
        let pos = self.next;
        if pos < self.slots.len() {
            self.evict(pos);
        }
        let slot = Slot { series: series.clone(), exemplar, next: END };
        if pos < self.slots.len() {
            self.slots[pos] = slot;
        } else {
            self.slots.push(slot);
        }
        match self.chains.get_mut(&series) {
            Some(chain) => {
                // Never `pos` itself: had the evicted slot been the series'
                // newest, it would also have been its oldest and only one,
                // and its chain would be gone.
                self.slots[chain.newest].next = pos;
                chain.newest = pos;
            }
            None => {
                self.chains.insert(series, Chain { oldest: pos, newest: pos });
            }
        }
        self.next = (pos + 1) % self.capacity;
    }

    /// Unlinks the exemplar in slot `pos` before it is overwritten. Slots
    /// are overwritten in the order they were filled, so it is always the
    /// oldest of its series.
    fn evict(&mut self, pos: usize) {
        let slot = &self.slots[pos];
        if slot.next == END {
            self.chains.remove(&slot.series);
        } else if let Some(chain) = self.chains.get_mut(&slot.series) {
            chain.oldest = slot.next;
        }
    }

    /// The oldest exemplar of all, the one the ring overwrites next.
    fn oldest(&self) -> Option<&Exemplar> {
        let i = if self.slots.len() < self.capacity { 0 } else { self.next };
        self.slots.get(i).map(|s| &s.exemplar)
    }

    fn select(&self, start: i64, end: i64, matcher_sets: &[Vec<Matcher>]) -> Vec<ExemplarSeries> {
        let mut out = Vec::new();
        for (series, chain) in &self.chains {
            if self.slots[chain.oldest].exemplar.ts > end || self.slots[chain.newest].exemplar.ts < start {
                continue;
            }
            if !matcher_sets.iter().any(|set| set.iter().all(|m| m.matches(series.get(&m.name)))) {
                continue;
            }
            let mut exemplars = Vec::new();
            let mut i = chain.oldest;
            while i != END {
                let slot = &self.slots[i];
                // A chain is in time order: nothing after this is in range.
                if slot.exemplar.ts > end {
                    break;
                }
                if slot.exemplar.ts >= start {
                    exemplars.push(slot.exemplar.clone());
                }
                i = slot.next;
            }
            if !exemplars.is_empty() {
                out.push(ExemplarSeries { labels: series.clone(), exemplars });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

/// Orders exemplars of one instant with equal values. Prometheus uses its
/// own label hash here; any fixed order serves, since it only decides which
/// of two same-instant exemplars counts as the later one.
fn label_order(l: &Labels) -> u64 {
    xxhash_rust::xxh3::xxh3_64(l.as_bytes())
}

/// The exemplars of every series, `max_exemplars` of them at most.
pub struct CircularExemplarStorage {
    ring: RwLock<Ring>,
    metrics: ExemplarMetrics,
}

impl std::fmt::Debug for CircularExemplarStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.read();
        f.debug_struct("CircularExemplarStorage").field("capacity", &ring.capacity).field("len", &ring.slots.len()).finish()
    }
}

impl CircularExemplarStorage {
    /// A storage for `max_exemplars` exemplars; zero or less disables it
    /// (every add is refused) until a resize.
    pub fn new(max_exemplars: i64, metrics: ExemplarMetrics) -> Self {
        let capacity = usize::try_from(max_exemplars).unwrap_or(0);
        metrics.max_exemplars.set(capacity as i64);
        CircularExemplarStorage { ring: RwLock::new(Ring { capacity, ..Ring::default() }), metrics }
    }

    fn read(&self) -> RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether exemplars are kept at all.
    pub fn enabled(&self) -> bool {
        self.read().capacity > 0
    }

    /// How many exemplars fit.
    pub fn max_exemplars(&self) -> usize {
        self.read().capacity
    }

    /// How many exemplars are held.
    pub fn len(&self) -> usize {
        self.read().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks `e` against what `series` holds without adding it: the
    /// appender's check, so that a batch is refused what its commit would
    /// drop. [`StorageError::DuplicateExemplar`] means "already there".
    pub fn validate(&self, series: &Labels, e: &Exemplar) -> Result<(), StorageError> {
        self.read().check(series, e)
    }

    /// Adds `e` as the newest exemplar of `series`. A duplicate of the
    /// newest is accepted and not stored again.
    pub fn add(&self, series: &Labels, e: Exemplar) -> Result<(), StorageError> {
        let mut ring = self.write();
        match ring.check(series, &e) {
            Ok(()) => {}
            Err(StorageError::DuplicateExemplar) => return Ok(()),
            Err(err) => {
                if matches!(err, StorageError::OutOfOrderExemplar) {
                    self.metrics.out_of_order.inc();
                }
                return Err(err);
            }
        }
        ring.push(series.clone(), e);
        self.metrics.appended.inc();
        self.update_gauges(&ring);
        Ok(())
    }

    /// The exemplars in `[start, end]` of the series matching any of
    /// `matcher_sets`, sorted by series labels, each series' oldest first.
    pub fn select(&self, start: i64, end: i64, matcher_sets: &[Vec<Matcher>]) -> Vec<ExemplarSeries> {
        self.read().select(start, end, matcher_sets)
    }

    /// Changes the capacity, keeping the newest exemplars that fit (in
    /// their order); zero or less disables the storage and drops them all.
    /// Returns how many were kept.
    pub fn resize(&self, max_exemplars: i64) -> usize {
        let capacity = usize::try_from(max_exemplars).unwrap_or(0);
        let mut ring = self.write();
        if capacity == ring.capacity {
            return 0;
        }
        let mut old = std::mem::take(&mut ring.slots);
        // Oldest first: while filling, `next` is the end and this is a no-op.
        old.rotate_left(ring.next);
        let skip = old.len().saturating_sub(capacity);
        *ring = Ring { capacity, slots: Vec::with_capacity(capacity.min(old.len())), next: 0, chains: HashMap::new() };
        let mut migrated = 0;
        for slot in old.into_iter().skip(skip) {
            ring.push(slot.series, slot.exemplar);
            migrated += 1;
        }
        self.update_gauges(&ring);
        self.metrics.max_exemplars.set(capacity as i64);
        migrated
    }

    fn update_gauges(&self, ring: &Ring) {
        self.metrics.series_in_storage.set(ring.chains.len() as i64);
        self.metrics.in_storage.set(ring.slots.len() as i64);
        self.metrics.last_timestamp_seconds.set(ring.oldest().map_or(0.0, |e| e.ts as f64 / 1000.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::MatchType;

    fn series(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("job", "j")])
    }

    fn ex(trace: &str, value: f64, ts: i64) -> Exemplar {
        Exemplar { labels: Labels::from_pairs([("trace_id", trace)]), value, ts, has_ts: true }
    }

    fn storage(n: i64) -> CircularExemplarStorage {
        CircularExemplarStorage::new(n, ExemplarMetrics::default())
    }

    fn all(s: &CircularExemplarStorage, name: &str) -> Vec<i64> {
        let got = s.select(i64::MIN, i64::MAX, &[vec![Matcher::equal("__name__", name)]]);
        got.into_iter().flat_map(|r| r.exemplars).map(|e| e.ts).collect()
    }

    #[test]
    fn wrap_around_evicts_the_oldest_of_all() {
        let s = storage(3);
        s.add(&series("a"), ex("1", 1.0, 1)).unwrap();
        s.add(&series("b"), ex("2", 1.0, 2)).unwrap();
        s.add(&series("a"), ex("3", 1.0, 3)).unwrap();
        assert_eq!((all(&s, "a"), all(&s, "b")), (vec![1, 3], vec![2]));
        s.add(&series("b"), ex("4", 1.0, 4)).unwrap();
        assert_eq!((all(&s, "a"), all(&s, "b")), (vec![3], vec![2, 4]), "a's oldest went first");
        s.add(&series("c"), ex("5", 1.0, 5)).unwrap();
        s.add(&series("c"), ex("6", 1.0, 6)).unwrap();
        assert_eq!((all(&s, "a"), all(&s, "b"), all(&s, "c")), (vec![], vec![4], vec![5, 6]));
        assert_eq!(s.len(), 3);
        assert_eq!(s.metrics.series_in_storage.get(), 2, "a left the index with its last exemplar");
        assert_eq!(s.metrics.in_storage.get(), 3);
        assert_eq!(s.metrics.appended.get(), 6);
        assert_eq!(s.metrics.last_timestamp_seconds.get(), 0.004);
    }

    #[test]
    fn a_series_evicting_itself_keeps_its_chain() {
        let s = storage(2);
        for t in 1..=7 {
            s.add(&series("a"), ex(&t.to_string(), 1.0, t)).unwrap();
        }
        assert_eq!(all(&s, "a"), vec![6, 7]);
        let s = storage(1);
        for t in 1..=3 {
            s.add(&series("a"), ex(&t.to_string(), 1.0, t)).unwrap();
        }
        assert_eq!(all(&s, "a"), vec![3]);
    }

    #[test]
    fn order_duplicates_and_label_length() {
        let s = storage(10);
        let a = series("a");
        s.add(&a, ex("x", 1.0, 100)).unwrap();
        assert!(matches!(s.validate(&a, &ex("y", 1.0, 99)), Err(StorageError::OutOfOrderExemplar)));
        assert_eq!(s.metrics.out_of_order.get(), 0, "a check alone counts nothing");
        assert!(matches!(s.add(&a, ex("y", 1.0, 99)), Err(StorageError::OutOfOrderExemplar)));
        assert_eq!(s.metrics.out_of_order.get(), 1);
        assert!(matches!(s.validate(&a, &ex("x", 1.0, 100)), Err(StorageError::DuplicateExemplar)));
        s.add(&a, ex("x", 1.0, 100)).expect("a duplicate is a no-op");
        // Scraped again without a timestamp: stamped with the new scrape's
        // time, still the same exemplar.
        let unstamped = |ts| Exemplar { has_ts: false, ..ex("z", 2.0, ts) };
        s.add(&a, unstamped(200)).unwrap();
        s.add(&a, unstamped(300)).unwrap();
        assert_eq!(all(&s, "a"), vec![100, 200]);
        // Same instant: a lower value is older, a higher one newer.
        assert!(matches!(s.add(&a, ex("w", 1.0, 200)), Err(StorageError::OutOfOrderExemplar)));
        s.add(&a, ex("w", 3.0, 200)).unwrap();
        assert_eq!(all(&s, "a"), vec![100, 200, 200]);
        // Another series has its own order.
        s.add(&series("b"), ex("x", 1.0, 1)).unwrap();

        let long = "x".repeat(EXEMPLAR_MAX_LABEL_SET_LENGTH - "trace_id".len());
        s.add(&a, ex(&long, 1.0, 1000)).expect("exactly 128 characters is allowed");
        let too_long = format!("{long}é");
        assert!(matches!(s.add(&a, ex(&too_long, 1.0, 2000)), Err(StorageError::ExemplarLabelLength)));
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn zero_capacity_is_disabled() {
        let s = storage(0);
        assert!(!s.enabled());
        assert!(matches!(s.add(&series("a"), ex("x", 1.0, 1)), Err(StorageError::ExemplarsDisabled)));
        assert!(s.select(i64::MIN, i64::MAX, &[vec![]]).is_empty());
        assert!(!storage(-5).enabled());
    }

    #[test]
    fn select_ors_matcher_sets_within_the_time_range() {
        let s = storage(100);
        for (name, job) in [("a", "x"), ("a", "y"), ("b", "x")] {
            let l = Labels::from_pairs([("__name__", name), ("job", job)]);
            for t in [10, 20, 30] {
                s.add(&l, ex(&format!("{name}{job}{t}"), 1.0, t)).unwrap();
            }
        }
        let name = |n: &str| Matcher::equal("__name__", n);
        let job_y = Matcher::new(MatchType::Regexp, "job", "y|z").unwrap();
        let got = s.select(15, 30, &[vec![name("a"), job_y], vec![name("b")]]);
        let summary: Vec<(String, Vec<i64>)> = got.iter().map(|r| (r.labels.to_string(), r.exemplars.iter().map(|e| e.ts).collect())).collect();
        assert_eq!(summary, vec![(r#"{__name__="a", job="y"}"#.to_owned(), vec![20, 30]), (r#"{__name__="b", job="x"}"#.to_owned(), vec![20, 30])]);
        assert_eq!(got[0].exemplars[0].labels.get("trace_id"), "ay20");
        assert!(s.select(31, 40, &[vec![name("a")]]).is_empty(), "after every exemplar");
        assert!(s.select(0, 9, &[vec![name("a")]]).is_empty(), "before every exemplar");
        assert!(s.select(0, 100, &[]).is_empty(), "no selector, nothing");
        assert_eq!(s.select(0, 100, &[vec![Matcher::new(MatchType::NotEqual, "job", "").unwrap()]]).len(), 3);
    }

    /// An operation of the model test: add to a series at a time, or resize.
    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, i64),
        Resize(i64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![10 => (0u8..4, 0i64..40).prop_map(|(s, t)| Op::Add(s, t)), 1 => (0i64..8).prop_map(Op::Resize)]
    }

    proptest::proptest! {
        // The ring against the obvious model: the last `capacity` accepted
        // exemplars, where an exemplar older than its series' newest one
        // still held is refused.
        #[test]
        fn agrees_with_a_bounded_queue(cap in 1i64..8, ops in proptest::collection::vec(op(), 0..120)) {
            let s = storage(cap);
            let mut model: std::collections::VecDeque<(u8, i64, f64)> = std::collections::VecDeque::new();
            let mut cap = cap as usize;
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Add(id, t) => {
                        // Values grow, so that a same-instant exemplar is newer.
                        let value = n as f64;
                        let newest = model.iter().rev().find(|(i, _, _)| *i == id).map(|(_, t, _)| *t);
                        let ok = cap > 0 && newest.is_none_or(|nt| t >= nt);
                        let got = s.add(&series(&id.to_string()), ex(&n.to_string(), value, t));
                        proptest::prop_assert_eq!(got.is_ok(), ok, "{:?}", got);
                        if ok {
                            model.push_back((id, t, value));
                            if model.len() > cap {
                                model.pop_front();
                            }
                        }
                    }
                    Op::Resize(c) => {
                        cap = c as usize;
                        while model.len() > cap {
                            model.pop_front();
                        }
                        s.resize(c);
                    }
                }
                for id in 0u8..4 {
                    let want: Vec<(i64, f64)> = model.iter().filter(|(i, _, _)| *i == id).map(|(_, t, v)| (*t, *v)).collect();
                    let got: Vec<(i64, f64)> = s
                        .select(i64::MIN, i64::MAX, &[vec![Matcher::equal("__name__", id.to_string())]])
                        .into_iter()
                        .flat_map(|r| r.exemplars)
                        .map(|e| (e.ts, e.value))
                        .collect();
                    proptest::prop_assert_eq!(got, want);
                }
                proptest::prop_assert_eq!(s.len(), model.len());
            }
        }
    }

    #[test]
    fn resize_keeps_the_newest_in_order() {
        let s = storage(4);
        for t in 1..=6 {
            let name = if t % 2 == 0 { "even" } else { "odd" };
            s.add(&series(name), ex(&t.to_string(), 1.0, t)).unwrap();
        }
        // Holds 3..=6, wrapped.
        assert_eq!(s.resize(8), 4);
        assert_eq!((all(&s, "odd"), all(&s, "even")), (vec![3, 5], vec![4, 6]));
        s.add(&series("odd"), ex("7", 1.0, 7)).unwrap();
        assert_eq!(s.resize(2), 2);
        assert_eq!((all(&s, "odd"), all(&s, "even")), (vec![7], vec![6]));
        assert_eq!(s.metrics.max_exemplars.get(), 2);
        assert_eq!(s.metrics.series_in_storage.get(), 2);
        s.add(&series("even"), ex("8", 1.0, 8)).unwrap();
        assert_eq!((all(&s, "odd"), all(&s, "even")), (vec![7], vec![8]), "the ring goes on after a resize");
        assert_eq!(s.resize(2), 0, "same size: nothing to do");
        assert_eq!(s.resize(0), 0);
        assert!(!s.enabled() && s.is_empty());
        assert_eq!(s.metrics.series_in_storage.get(), 0);
        assert_eq!(s.resize(3), 0);
        s.add(&series("odd"), ex("9", 1.0, 9)).unwrap();
        assert_eq!(all(&s, "odd"), vec![9]);
    }
}
