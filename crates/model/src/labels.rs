//! The label set: the identity of a series.
//!
//! Millions of series each hold one, so a [`Labels`] is a single shared
//! allocation holding every name and value packed together
//! (`varint(len) name varint(len) value ...`, sorted by name). Cloning bumps a
//! reference count, hashing and equality run over one byte slice, and there is
//! no per-label allocation.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";
/// Prefix of labels that exist only during relabeling.
pub const RESERVED_PREFIX: &str = "__";
/// Prefix of discovery metadata labels, dropped after target relabeling.
pub const META_PREFIX: &str = "__meta_";
/// Prefix of temporary labels users may set in relabeling.
pub const TMP_PREFIX: &str = "__tmp_";

/// One label, borrowed from a [`Labels`] or owned by a builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// A sorted set of labels with unique names. Immutable; build one with
/// [`Labels::from_pairs`] or [`LabelsBuilder`].
#[derive(Clone, Default)]
pub struct Labels {
    // `None` for the empty set, so that it costs no allocation.
    packed: Option<Arc<[u8]>>,
}

impl Labels {
    /// The empty label set.
    pub const fn empty() -> Self {
        Labels { packed: None }
    }

    /// Builds a label set from pairs in any order. Later duplicates of a name
    /// replace earlier ones; empty values are dropped, since a label with an
    /// empty value is the same as no label in Prometheus's data model.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Builds from pairs already sorted by name with unique names and no empty
    /// values; the fast path for decoders that read sorted data (WAL, index).
    /// Falls back to sorting when the input is not in order.
    pub fn from_sorted_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut buf = Vec::new();
        let mut last: Option<&str> = None;
        let mut sorted = true;
        let mut collected = Vec::new();
        for (n, v) in pairs {
            if let Some(prev) = last {
                if prev >= n {
                    sorted = false;
                }
            }
            last = Some(n);
            collected.push((n, v));
            if !v.is_empty() {
                put_str(&mut buf, n);
                put_str(&mut buf, v);
            }
        }
        if !sorted {
            return Labels::from_pairs(collected);
        }
        Labels::from_packed(buf)
    }

    fn from_packed(buf: Vec<u8>) -> Self {
        if buf.is_empty() { Labels::empty() } else { Labels { packed: Some(Arc::from(buf)) } }
    }

    fn bytes(&self) -> &[u8] {
        self.packed.as_deref().unwrap_or(&[])
    }

    /// An identity for this very value and its clones (0 for the empty
    /// set): equal identities mean equal labels while either is alive, so
    /// a caller holding a clone may key a cache by it.
    pub fn identity(&self) -> usize {
        self.packed.as_ref().map_or(0, |a| Arc::as_ptr(a) as *const u8 as usize)
    }

    /// The packed encoding, for hashing by stores that key series by it.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_none()
    }

    /// Number of labels. Walks the set; cache it if it is needed often.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: self.bytes() }
    }

    /// The value of `name`, or `""` when absent (Prometheus's convention).
    pub fn get(&self, name: &str) -> &str {
        for l in self.iter() {
            match l.name.cmp(name) {
                Ordering::Equal => return l.value,
                Ordering::Greater => break,
                Ordering::Less => {}
            }
        }
        ""
    }

    pub fn has(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// The metric name, `""` when the series has none.
    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    /// A builder seeded with these labels, for modification.
    pub fn builder(&self) -> LabelsBuilder {
        let mut b = LabelsBuilder::new();
        b.labels.extend(self.iter().map(|l| (l.name.to_owned(), l.value.to_owned())));
        b
    }

    /// Bytes held by this set on the heap, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.packed.as_ref().map_or(0, |p| p.len() + 2 * std::mem::size_of::<usize>())
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        if let (Some(a), Some(b)) = (&self.packed, &other.packed)
            && Arc::ptr_eq(a, b)
        {
            return true;
        }
        // The encoding is canonical (sorted, unique, no empty values).
        self.bytes() == other.bytes()
    }
}
impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state)
    }
}

impl Ord for Labels {
    /// Prometheus's order: label by label, name then value, bytewise; a set
    /// that is a prefix of another sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.iter();
        let mut b = other.iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let o = x.name.cmp(y.name).then_with(|| x.value.cmp(y.value));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
            }
        }
    }
}
impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// Prometheus's `{a="1", b="2"}` form, values escaped as Go's `%q` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if crate::names::is_valid_legacy_label_name(l.name) {
                f.write_str(l.name)?;
            } else {
                f.write_str(&crate::quote::go_quote(l.name.as_bytes()))?;
            }
            f.write_str("=")?;
            f.write_str(&crate::quote::go_quote(l.value.as_bytes()))?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Iterator over the labels of a [`Labels`], in name order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let name = take_str(&mut self.rest);
        let value = take_str(&mut self.rest);
        Some(Label { name, value })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    let mut n = s.len();
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(s.as_bytes());
}

fn take_str<'a>(rest: &mut &'a [u8]) -> &'a str {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = rest[i];
        i += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    let bytes = &rest[i..i + n];
    *rest = &rest[i + n..];
    // SAFETY: `put_str` is the only writer of the packed buffer and it copies
    // bytes from `&str`s whole, and `take_str` reads back exactly the spans it
    // wrote, so every span is valid UTF-8. Checking again would tax every label
    // read on the query and scrape paths.
    #[allow(unsafe_code)]
    unsafe {
        std::str::from_utf8_unchecked(bytes)
    }
}

/// A mutable label set, for relabeling and for building series labels.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<(String, String)>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        LabelsBuilder::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        if let Some(slot) = self.labels.iter_mut().find(|(n, _)| n == name) {
            slot.1.clear();
            slot.1.push_str(value);
        } else {
            self.labels.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|(n, _)| n != name);
        self
    }

    pub fn get(&self, name: &str) -> &str {
        self.labels.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    /// Keeps only the labels for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) -> &mut Self {
        self.labels.retain(|(n, v)| keep(n, v));
        self
    }

    /// Current labels, unsorted, empty values included.
    pub fn iter(&self) -> impl Iterator<Item = Label<'_>> {
        self.labels.iter().map(|(n, v)| Label { name: n, value: v })
    }

    pub fn build(&self) -> Labels {
        let mut sorted: Vec<&(String, String)> = self.labels.iter().filter(|(_, v)| !v.is_empty()).collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut buf = Vec::with_capacity(sorted.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
        for (n, v) in sorted {
            put_str(&mut buf, n);
            put_str(&mut buf, v);
        }
        Labels::from_packed(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_deduplicated() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        let pairs: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(pairs, vec![("a", "1"), ("b", "3")]);
        assert_eq!(l.get("b"), "3");
        assert_eq!(l.get("c"), "");
        assert_eq!(l.len(), 2);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
    }

    #[test]
    fn long_values_survive_varint_lengths() {
        let long = "x".repeat(100_000);
        let l = Labels::from_pairs([("__name__", "m"), ("long", long.as_str())]);
        assert_eq!(l.get("long").len(), 100_000);
        assert_eq!(l.metric_name(), "m");
    }

    #[test]
    fn ordering_matches_prometheus() {
        let a = Labels::from_pairs([("a", "1")]);
        let ab = Labels::from_pairs([("a", "1"), ("b", "1")]);
        let a2 = Labels::from_pairs([("a", "2")]);
        let b = Labels::from_pairs([("b", "0")]);
        assert!(a < ab, "prefix sorts first");
        assert!(ab < a2, "value decides before later labels");
        assert!(a2 < b, "name decides before value");
        assert_eq!(Labels::empty().cmp(&Labels::empty()), Ordering::Equal);
        assert!(Labels::empty() < a);
    }

    #[test]
    fn from_sorted_pairs_falls_back_when_unsorted() {
        let l = Labels::from_sorted_pairs([("b", "1"), ("a", "2")]);
        assert_eq!(l, Labels::from_pairs([("a", "2"), ("b", "1")]));
        let s = Labels::from_sorted_pairs([("a", "2"), ("b", "1")]);
        assert_eq!(s, l);
    }

    #[test]
    fn builder_round_trip() {
        let l = Labels::from_pairs([("job", "x"), ("instance", "y")]);
        let mut b = l.builder();
        b.set("job", "z").del("instance").set("new", "v");
        assert_eq!(b.build().to_string(), r#"{job="z", new="v"}"#);
    }

    #[test]
    fn display_quotes_odd_names_and_values() {
        let l = Labels::from_pairs([("a.b", "x\"y\n")]);
        assert_eq!(l.to_string(), r#"{"a.b"="x\"y\n"}"#);
    }
}
