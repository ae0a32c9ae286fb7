//! The head's inverted index: label name → value → the sorted references of
//! the series that carry that pair, and the set algebra that turns label
//! matchers into a list of series.

use std::collections::{BTreeMap, HashMap};

use model::{Labels, MatchType, Matcher};

/// A sorted list of series references.
pub type Postings = Vec<u64>;

/// name → value → sorted series references. References are handed out in
/// increasing order, so adding a new series is a push, not an insert. Values
/// are kept sorted so that a regex with a literal prefix visits only the
/// values with that prefix.
#[derive(Debug, Default)]
pub struct MemPostings {
    index: HashMap<String, BTreeMap<String, Postings>>,
    /// Every series, for matchers that also select series without a label.
    all: Postings,
}

impl MemPostings {
    pub fn add(&mut self, r: u64, labels: &Labels) {
        push_sorted(&mut self.all, r);
        for l in labels {
            let values = self.index.entry_ref(l.name);
            push_sorted(values.entry(l.value.to_owned()).or_default(), r);
        }
    }

    /// Removes the given (sorted) references, dropping emptied entries.
    pub fn delete(&mut self, gone: &[u64], labels_of: impl Fn(u64) -> Option<Labels>) {
        if gone.is_empty() {
            return;
        }
        let gone_set: std::collections::HashSet<u64> = gone.iter().copied().collect();
        self.all.retain(|r| !gone_set.contains(r));
        for &r in gone {
            let Some(labels) = labels_of(r) else { continue };
            for l in &labels {
                if let Some(values) = self.index.get_mut(l.name) {
                    if let Some(list) = values.get_mut(l.value) {
                        list.retain(|x| *x != r);
                        if list.is_empty() {
                            values.remove(l.value);
                        }
                    }
                    if values.is_empty() {
                        self.index.remove(l.name);
                    }
                }
            }
        }
    }

    pub fn get(&self, name: &str, value: &str) -> &[u64] {
        self.index.get(name).and_then(|v| v.get(value)).map_or(&[], Vec::as_slice)
    }

    pub fn all(&self) -> &[u64] {
        &self.all
    }

    /// Sorted label names.
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.index.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Sorted values of `name`.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.index.get(name).map(|v| v.keys().cloned().collect()).unwrap_or_default()
    }

    /// Every label name (in no order) with its values and their postings,
    /// for statistics that visit the whole index once.
    pub fn names(&self) -> impl Iterator<Item = (&str, &BTreeMap<String, Postings>)> {
        self.index.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The union of the postings of `name`'s values that `keep` accepts.
    /// Literal alternations (`a|b|c`) and plain equality are looked up
    /// directly instead of scanning every value.
    fn union_of(&self, name: &str, m: &Matcher, want_match: bool) -> Postings {
        let Some(values) = self.index.get(name) else { return Vec::new() };
        if want_match {
            if let Some(literals) = literal_set(m) {
                let lists: Vec<&[u64]> = literals.iter().filter_map(|v| values.get(v.as_str()).map(Vec::as_slice)).collect();
                return merge(&lists);
            }
        }
        // A literal prefix bounds the values a matching regex can reach.
        if want_match {
            if let Some(prefix) = literal_prefix(m) {
                let lists: Vec<&[u64]> = values
                    .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
                    .take_while(|(v, _)| v.starts_with(prefix.as_str()))
                    .filter(|(v, _)| m.matches(v))
                    .map(|(_, p)| p.as_slice())
                    .collect();
                return merge(&lists);
            }
        }
        let lists: Vec<&[u64]> = values.iter().filter(|(v, _)| m.matches(v) == want_match).map(|(_, p)| p.as_slice()).collect();
        merge(&lists)
    }

    /// Series matching every matcher, as sorted references. A matcher that
    /// accepts the empty value also selects series without the label, so it
    /// subtracts the series whose value it rejects instead of intersecting.
    pub fn select(&self, matchers: &[Matcher]) -> Postings {
        if matchers.is_empty() {
            return Vec::new();
        }
        // Equality lists are borrowed from the index; only unions are built.
        let mut intersect: Vec<std::borrow::Cow<'_, [u64]>> = Vec::new();
        let mut subtract: Vec<Postings> = Vec::new();
        if matchers.iter().all(Matcher::matches_empty) {
            intersect.push(std::borrow::Cow::Borrowed(&self.all));
        }
        for m in matchers {
            if m.matches_empty() {
                subtract.push(self.union_of(&m.name, m, false));
            } else if m.kind == MatchType::Equal {
                intersect.push(std::borrow::Cow::Borrowed(self.get(&m.name, &m.value)));
            } else {
                intersect.push(std::borrow::Cow::Owned(self.union_of(&m.name, m, true)));
            }
        }
        // Intersect the shortest lists first: the result only shrinks.
        intersect.sort_by_key(|p| p.len());
        let mut result = match intersect.split_first() {
            Some((first, rest)) => rest.iter().fold(first.to_vec(), |acc, p| intersect_sorted(&acc, p)),
            None => return Vec::new(),
        };
        for s in &subtract {
            if result.is_empty() {
                break;
            }
            result = difference_sorted(&result, s);
        }
        result
    }
}

/// `HashMap::entry` without allocating the key when it exists.
trait EntryRef {
    fn entry_ref(&mut self, key: &str) -> &mut BTreeMap<String, Postings>;
}

impl EntryRef for HashMap<String, BTreeMap<String, Postings>> {
    fn entry_ref(&mut self, key: &str) -> &mut BTreeMap<String, Postings> {
        if !self.contains_key(key) {
            self.insert(key.to_owned(), BTreeMap::new());
        }
        self.get_mut(key).unwrap_or_else(|| unreachable!("inserted above"))
    }
}

fn push_sorted(list: &mut Postings, r: u64) {
    match list.last() {
        Some(&last) if last >= r => {
            if let Err(pos) = list.binary_search(&r) {
                list.insert(pos, r);
            }
        }
        _ => list.push(r),
    }
}

/// The literal text every value a regex matcher accepts must start with
/// (`foo-1.*` → `foo-1`), when there is one.
fn literal_prefix(m: &Matcher) -> Option<String> {
    if m.kind != MatchType::Regexp || m.value.contains('|') {
        return None;
    }
    let special = |c: char| "\\.+*?()|[]{}^$".contains(c);
    let mut prefix: String = m.value.chars().take_while(|c| !special(*c)).collect();
    // A quantifier after the prefix applies to its last character.
    if m.value[prefix.len()..].starts_with(['?', '*', '{']) {
        prefix.pop();
    }
    (!prefix.is_empty()).then_some(prefix)
}

/// The values a regex matcher can match, when it is a plain alternation of
/// literals (`a|b|c`, or a single literal).
fn literal_set(m: &Matcher) -> Option<Vec<String>> {
    if m.kind != MatchType::Regexp {
        return None;
    }
    let special = |c: char| "\\.+*?()|[]{}^$".contains(c);
    let parts: Vec<&str> = m.value.split('|').collect();
    if parts.iter().any(|p| p.is_empty() || p.contains(special)) {
        return None;
    }
    Some(parts.into_iter().map(str::to_owned).collect())
}

/// Union of sorted lists, without duplicates: pairwise linear merges in
/// rounds (a merge-sort tree), sequential in memory whatever the number of
/// lists.
fn merge(lists: &[&[u64]]) -> Postings {
    match lists {
        [] => Vec::new(),
        [one] => one.to_vec(),
        _ => {
            let mut round: Vec<Postings> = lists.chunks(2).map(|pair| merge_two(pair[0], pair.get(1).copied().unwrap_or(&[]))).collect();
            while round.len() > 1 {
                round = round.chunks(2).map(|pair| merge_two(&pair[0], pair.get(1).map_or(&[][..], Vec::as_slice))).collect();
            }
            round.pop().unwrap_or_default()
        }
    }
}

fn merge_two(a: &[u64], b: &[u64]) -> Postings {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Intersection of sorted lists. Each element of the shorter list is found
/// in the longer one by galloping from the previous match: cheap whether
/// the lists are of similar size or very different.
pub fn intersect_sorted(a: &[u64], b: &[u64]) -> Postings {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    let mut lo = 0;
    for &x in small {
        // Exponential search for the first element >= x.
        let mut step = 1;
        let mut hi = lo;
        while hi < large.len() && large[hi] < x {
            lo = hi + 1;
            hi += step;
            step *= 2;
        }
        let hi = hi.min(large.len());
        let i = lo + large[lo..hi].partition_point(|&y| y < x);
        if i < large.len() && large[i] == x {
            out.push(x);
            lo = i + 1;
        } else {
            lo = i;
        }
        if lo >= large.len() {
            break;
        }
    }
    out
}

pub fn difference_sorted(a: &[u64], b: &[u64]) -> Postings {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> MemPostings {
        let mut p = MemPostings::default();
        p.add(1, &Labels::from_pairs([("__name__", "up"), ("job", "api"), ("instance", "a")]));
        p.add(2, &Labels::from_pairs([("__name__", "up"), ("job", "web"), ("instance", "b")]));
        p.add(3, &Labels::from_pairs([("__name__", "up"), ("instance", "c")]));
        p.add(4, &Labels::from_pairs([("__name__", "other"), ("job", "api")]));
        p
    }

    fn m(kind: MatchType, name: &str, value: &str) -> Matcher {
        Matcher::new(kind, name, value).unwrap()
    }

    #[test]
    fn matcher_algebra() {
        let p = index();
        use MatchType::*;
        assert_eq!(p.select(&[m(Equal, "__name__", "up")]), vec![1, 2, 3]);
        assert_eq!(p.select(&[m(Equal, "__name__", "up"), m(Equal, "job", "api")]), vec![1]);
        assert_eq!(p.select(&[m(Equal, "__name__", "up"), m(NotEqual, "job", "api")]), vec![2, 3], "!= keeps series without the label");
        assert_eq!(p.select(&[m(Equal, "__name__", "up"), m(Equal, "job", "")]), vec![3], "= \"\" selects series without the label");
        assert_eq!(p.select(&[m(Equal, "__name__", "up"), m(NotEqual, "job", "")]), vec![1, 2]);
        assert_eq!(p.select(&[m(Regexp, "job", "api|web")]), vec![1, 2, 4]);
        assert_eq!(p.select(&[m(Regexp, "job", "a.*")]), vec![1, 4]);
        assert_eq!(p.select(&[m(Regexp, "instance", "a.*|c")]), vec![1, 3], "an alternation has no single prefix");
        assert_eq!(p.select(&[m(Regexp, "job", "ap?i")]), vec![1, 4], "a quantified last character is not part of the prefix");
        assert_eq!(p.select(&[m(Equal, "__name__", "up"), m(NotRegexp, "instance", "a|b")]), vec![3]);
        assert_eq!(p.select(&[m(Regexp, "job", ".*")]), vec![1, 2, 3, 4], ".* matches every series");
        assert!(p.select(&[m(Equal, "__name__", "missing")]).is_empty());
    }

    #[test]
    fn delete_cleans_up() {
        let mut p = index();
        let labels = |r: u64| match r {
            4 => Some(Labels::from_pairs([("__name__", "other"), ("job", "api")])),
            _ => None,
        };
        p.delete(&[4], labels);
        assert!(p.label_values("__name__") == vec!["up"]);
        assert_eq!(p.get("job", "api"), &[1]);
        assert_eq!(p.all(), &[1, 2, 3]);
    }

    proptest::proptest! {
        #[test]
        fn set_operations_agree_with_naive(a in proptest::collection::btree_set(0u64..500, 0..200), b in proptest::collection::btree_set(0u64..500, 0..200), c in proptest::collection::btree_set(0u64..500, 0..50)) {
            let (a, b, c): (Vec<u64>, Vec<u64>, Vec<u64>) = (a.into_iter().collect(), b.into_iter().collect(), c.into_iter().collect());
            let naive_and: Vec<u64> = a.iter().copied().filter(|x| b.contains(x)).collect();
            proptest::prop_assert_eq!(intersect_sorted(&a, &b), naive_and.clone());
            proptest::prop_assert_eq!(intersect_sorted(&b, &a), naive_and);
            let naive_diff: Vec<u64> = a.iter().copied().filter(|x| !b.contains(x)).collect();
            proptest::prop_assert_eq!(difference_sorted(&a, &b), naive_diff);
            let mut naive_or: Vec<u64> = a.iter().chain(&b).chain(&c).copied().collect();
            naive_or.sort_unstable();
            naive_or.dedup();
            proptest::prop_assert_eq!(merge(&[&a, &b, &c]), naive_or);
        }
    }

    #[test]
    fn set_operations() {
        assert_eq!(intersect_sorted(&[1, 3, 5, 7], &[2, 3, 4, 7, 9]), vec![3, 7]);
        assert_eq!(difference_sorted(&[1, 3, 5, 7], &[3, 4, 7]), vec![1, 5]);
        assert_eq!(merge(&[&[1, 4], &[2, 4, 6]]), vec![1, 2, 4, 6]);
        assert_eq!(literal_set(&Matcher::new(MatchType::Regexp, "a", "x|y").unwrap()), Some(vec!["x".into(), "y".into()]));
        assert_eq!(literal_set(&Matcher::new(MatchType::Regexp, "a", "x.*").unwrap()), None);
        let prefix = |re: &str| literal_prefix(&Matcher::new(MatchType::Regexp, "a", re).unwrap());
        assert_eq!(prefix("foo-1.*"), Some("foo-1".into()));
        assert_eq!(prefix("foob?ar"), Some("foo".into()));
        assert_eq!(prefix("a|b"), None);
        assert_eq!(prefix(".*x"), None);
    }
}
