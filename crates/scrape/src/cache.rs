//! The per-target scrape cache: what makes a repeated series cost one hash
//! lookup on its raw exposition bytes instead of a label parse, a
//! relabeling and a storage lookup. It also remembers which series the
//! last scrape produced, which is how series that disappear get their
//! staleness markers, and the metric families' metadata for the API.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use model::{Labels, Metadata, MetricType};
use storage::SeriesRef;

/// Entries unseen for this many scrapes are forgotten, so that a target
/// whose series churn does not grow its cache without bound.
const FORGET_AFTER: u64 = 10;

/// Hashes byte-string keys with xxh3 in one call: the std hasher would feed
/// them through SipHash byte by byte, which costs more than the parse.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BytesHash;

impl BuildHasher for BytesHash {
    type Hasher = BytesHasher;
    fn build_hasher(&self) -> BytesHasher {
        BytesHasher(0)
    }
}

#[derive(Debug)]
pub(crate) struct BytesHasher(u64);

impl Hasher for BytesHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_usize(&mut self, n: usize) {
        // The slice length std feeds before the bytes; the bytes decide.
        self.0 ^= n as u64;
    }
}

/// What one raw series text became.
#[derive(Debug)]
pub(crate) struct Entry {
    pub r: SeriesRef,
    /// The final labels; empty when metric relabeling dropped the series.
    pub labels: Labels,
    /// The scrape (iteration) that last produced this series.
    pub seen: u64,
    /// Whether this series was in the last successful scrape's output and
    /// subject to staleness (series with explicit timestamps are not,
    /// unless `track_timestamps_staleness` is set).
    pub live: bool,
    /// Whether this iteration's occurrence counts for staleness.
    pub tracked: bool,
}

impl Entry {
    pub fn dropped(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A metric family's metadata as the target exposes it.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyMetadata {
    pub metadata: Metadata,
    seen: u64,
}

/// The cache of one target. It outlives a scrape loop when a pool is
/// reloaded with a config that keeps the series identical.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    series: HashMap<Box<[u8]>, Entry, BytesHash>,
    metadata: HashMap<String, FamilyMetadata>,
    iter: u64,
    /// Whether metadata changed since the loop last published it.
    metadata_changed: bool,
    /// Refs produced in the current iteration, kept only while staleness
    /// is being decided (two raw texts may relabel into one series).
    scratch: Vec<u64>,
}

impl ScrapeCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a scrape's bookkeeping: everything touched from now on
    /// belongs to this iteration.
    pub(crate) fn begin(&mut self) -> u64 {
        self.iter += 1;
        self.iter
    }

    pub(crate) fn get_mut(&mut self, raw: &[u8]) -> Option<&mut Entry> {
        self.series.get_mut(raw)
    }

    pub(crate) fn insert(&mut self, raw: &[u8], r: SeriesRef, labels: Labels, tracked: bool) {
        let iter = self.iter;
        self.series.insert(raw.into(), Entry { r, labels, seen: iter, live: false, tracked });
    }

    /// Ends a successful append: series of the previous scrape that this
    /// one did not produce are returned so that they get staleness markers.
    /// A failed scrape ends with an empty append, which makes every series
    /// of the last good scrape stale.
    pub(crate) fn finish(&mut self, stale: &mut Vec<(SeriesRef, Labels)>) {
        let iter = self.iter;
        stale.clear();
        for e in self.series.values_mut() {
            let now = e.seen == iter && e.tracked && !e.dropped();
            if e.live && !now {
                stale.push((e.r, e.labels.clone()));
            }
            e.live = now;
        }
        if !stale.is_empty() {
            // A series still produced under another raw text is not stale.
            self.scratch.clear();
            self.scratch.extend(self.series.values().filter(|e| e.seen == iter && !e.dropped()).map(|e| e.r.0));
            self.scratch.sort_unstable();
            let scratch = &self.scratch;
            stale.retain(|(r, _)| scratch.binary_search(&r.0).is_err());
        }
        self.series.retain(|_, e| e.live || iter - e.seen < FORGET_AFTER);
        let families = self.metadata.len();
        self.metadata.retain(|_, m| iter - m.seen < FORGET_AFTER);
        self.metadata_changed |= families != self.metadata.len();
    }

    /// Every series of the last successful scrape, for the markers written
    /// when the target goes away.
    pub(crate) fn live(&self) -> impl Iterator<Item = (SeriesRef, &Labels)> {
        self.series.values().filter(|e| e.live).map(|e| (e.r, &e.labels))
    }

    /// Forgets which series are live once their markers are written.
    pub(crate) fn clear_live(&mut self) {
        for e in self.series.values_mut() {
            e.live = false;
        }
    }

    pub(crate) fn set_type(&mut self, family: &str, kind: MetricType) {
        let changed = self.family(family).is_some_and(|m| std::mem::replace(&mut m.metadata.metric_type, kind) != kind);
        self.metadata_changed |= changed;
    }

    pub(crate) fn set_help(&mut self, family: &str, help: &str) {
        let changed = self.family(family).is_some_and(|m| set_if_changed(&mut m.metadata.help, help));
        self.metadata_changed |= changed;
    }

    pub(crate) fn set_unit(&mut self, family: &str, unit: &str) {
        let changed = self.family(family).is_some_and(|m| set_if_changed(&mut m.metadata.unit, unit));
        self.metadata_changed |= changed;
    }

    fn family(&mut self, name: &str) -> Option<&mut FamilyMetadata> {
        let iter = self.iter;
        // Looked up by `&str`: the family exists on every scrape but the
        // first, and a key is only allocated then.
        if !self.metadata.contains_key(name) {
            self.metadata.insert(name.to_owned(), FamilyMetadata { metadata: Metadata::default(), seen: iter });
            self.metadata_changed = true;
        }
        let m = self.metadata.get_mut(name)?;
        m.seen = iter;
        Some(m)
    }

    /// The metadata of one family, or of all of them (sorted by name).
    pub fn metadata(&self, family: Option<&str>) -> Vec<(String, Metadata)> {
        let mut out: Vec<(String, Metadata)> = match family {
            Some(f) => self.metadata.get(f).map(|m| (f.to_owned(), m.metadata.clone())).into_iter().collect(),
            None => self.metadata.iter().map(|(k, m)| (k.clone(), m.metadata.clone())).collect(),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether the metadata changed since the last call.
    pub(crate) fn take_metadata_changed(&mut self) -> bool {
        std::mem::take(&mut self.metadata_changed)
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

fn set_if_changed(field: &mut String, value: &str) -> bool {
    if field == value {
        return false;
    }
    value.clone_into(field);
    true
}
