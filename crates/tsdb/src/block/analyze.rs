//! What `promtool tsdb analyze` reports of a block: its label pairs and
//! names ranked by churn, by frequency, by value length and by
//! cardinality. Only numbers are computed here; ranking ties and printing
//! belong to the caller.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use model::Matcher;

use super::{Block, BlockError, BlockQuerier};

/// A key (`name=value` or a label name) and the number reported for it.
pub type Ranked = Vec<(String, u64)>;

/// The numbers of one block, each list sorted by number (largest first),
/// ties by key, so that output is the same on every run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockAnalysis {
    /// Series selected by the matchers, when matchers were given.
    pub matched_series: Option<usize>,
    pub label_names: usize,
    /// Distinct `name=value` pairs among the selected series.
    pub label_pairs: usize,
    /// Label pairs summed over the selected series.
    pub label_pair_entries: usize,
    /// Per pair, how many block lengths of time its series did not cover
    /// (series that come and go score high).
    pub pair_churn: Ranked,
    pub name_churn: Ranked,
    /// Per pair, how many selected series carry it.
    pub pair_series: Ranked,
    /// Per label name, the summed byte length of its distinct values.
    pub name_value_bytes: Ranked,
    /// Per label name, the number of distinct values.
    pub name_values: Ranked,
    /// Per metric name, the number of selected series.
    pub metric_series: Ranked,
}

/// Analyses the series of `block` that `matchers` select (all series when
/// `None`), as promtool does: churn is measured from each series' first
/// chunk start to last chunk end against the block's half-open range.
pub fn analyze_block(block: &Arc<Block>, matchers: Option<&[Matcher]>) -> Result<BlockAnalysis, BlockError> {
    let index = block.index();
    let ids = match matchers {
        None => index.all_postings()?,
        Some(ms) => BlockQuerier::new(block.clone(), i64::MIN, i64::MAX).postings_for_matchers(ms)?,
    };
    let meta = block.meta();
    let span = meta.max_time.wrapping_sub(meta.min_time);

    let mut pair_uncovered: HashMap<String, u64> = HashMap::new();
    let mut name_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pair_series: HashMap<String, u64> = HashMap::new();
    // Names and values of the selected series, for when matchers narrow
    // the set and the index's own lists would say too much.
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut metric_series: HashMap<String, u64> = HashMap::new();
    let mut entries = 0usize;
    for &id in &ids {
        let (labels, chunks) = index.series(id)?;
        let covered = match (chunks.first(), chunks.last()) {
            (Some(first), Some(last)) => last.max_time.wrapping_sub(first.min_time),
            // A series without chunks covers nothing; promtool would crash.
            _ => 0,
        };
        // Unsigned and wrapping, as promtool computes it, so that the
        // numbers agree even for a series that overhangs its block.
        let uncovered = (span as u64).wrapping_sub(covered as u64);
        for l in labels.iter() {
            let key = format!("{}={}", l.name, l.value);
            let n = name_uncovered.entry(l.name.to_owned()).or_default();
            *n = n.wrapping_add(uncovered);
            let p = pair_uncovered.entry(key.clone()).or_default();
            *p = p.wrapping_add(uncovered);
            *pair_series.entry(key).or_default() += 1;
            entries += 1;
            seen.entry(l.name.to_owned()).or_default().insert(l.value.to_owned());
        }
        *metric_series.entry(labels.metric_name().to_owned()).or_default() += 1;
    }

    // Without matchers (or with an empty selector, which selects nothing
    // but narrows nothing either) names and values come from the index.
    let narrowed = matchers.is_some_and(|ms| !ms.is_empty());
    let names_values: Vec<(String, Vec<String>)> = if narrowed {
        seen.into_iter().map(|(n, vs)| (n, vs.into_iter().collect())).collect()
    } else {
        index.label_names().into_iter().map(|n| (n.to_owned(), index.label_values(n).into_iter().map(str::to_owned).collect())).collect()
    };
    let metric_names: Vec<String> = names_values.iter().find(|(n, _)| n == model::labels::METRIC_NAME).map(|(_, vs)| vs.clone()).unwrap_or_default();

    let per_span = |total: u64| -> u64 {
        if span <= 0 {
            return 0;
        }
        // Truncated after a float division, as promtool does.
        (total as f64 / span as f64) as u64
    };
    Ok(BlockAnalysis {
        matched_series: matchers.map(|_| ids.len()),
        label_names: names_values.len(),
        label_pairs: pair_uncovered.len(),
        label_pair_entries: entries,
        pair_churn: ranked(pair_uncovered.into_iter().map(|(k, v)| (k, per_span(v)))),
        name_churn: ranked(name_uncovered.into_iter().map(|(k, v)| (k, per_span(v)))),
        pair_series: ranked(pair_series),
        name_value_bytes: ranked(names_values.iter().map(|(n, vs)| (n.clone(), vs.iter().map(|v| v.len() as u64).sum()))),
        name_values: ranked(names_values.iter().map(|(n, vs)| (n.clone(), vs.len() as u64))),
        metric_series: ranked(metric_names.into_iter().map(|n| {
            let c = metric_series.get(&n).copied().unwrap_or(0);
            (n, c)
        })),
    })
}

fn ranked(items: impl IntoIterator<Item = (String, u64)>) -> Ranked {
    let mut v: Ranked = items.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use model::{Labels, MatchType};

    use super::*;
    use crate::block::{SeriesSamples, write_block};

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
        SeriesSamples { labels: Labels::from_pairs(pairs.iter().copied()), samples: samples.to_vec() }
    }

    /// The block of the input promtool 2.42 analysed for the expected
    /// numbers below (`promtool tsdb create-blocks-from openmetrics`, then
    /// `promtool tsdb analyze`).
    fn block(dir: &std::path::Path) -> Arc<Block> {
        let meta = write_block(
            dir,
            vec![
                series(&[("__name__", "up"), ("job", "a"), ("instance", "x:1")], &[(1_000_000, 1.0), (2_000_000, 1.0)]),
                series(&[("__name__", "up"), ("job", "a"), ("instance", "x:2")], &[(1_500_000, 1.0)]),
                series(&[("__name__", "up"), ("job", "b"), ("instance", "y:1")], &[(1_000_000, 1.0)]),
                series(&[("__name__", "http_requests_total"), ("job", "a"), ("code", "200")], &[(1_000_000, 5.0), (3_000_000, 7.0)]),
                series(&[("__name__", "http_requests_total"), ("job", "a"), ("code", "500")], &[(1_800_000, 5.0)]),
            ],
        )
        .unwrap();
        Arc::new(Block::open(&dir.join(meta.ulid)).unwrap())
    }

    fn r(items: &[(&str, u64)]) -> Ranked {
        items.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn numbers_match_promtool() {
        let dir = tempfile::tempdir().unwrap();
        let a = analyze_block(&block(dir.path()), None).unwrap();
        assert_eq!((a.matched_series, a.label_names, a.label_pairs, a.label_pair_entries), (None, 4, 9, 15));
        assert_eq!(
            a.pair_churn,
            r(&[
                ("__name__=up", 2),
                ("job=a", 2),
                ("__name__=http_requests_total", 1),
                ("code=500", 1),
                ("instance=x:2", 1),
                ("instance=y:1", 1),
                ("job=b", 1),
                ("code=200", 0),
                ("instance=x:1", 0)
            ])
        );
        assert_eq!(a.name_churn, r(&[("__name__", 3), ("job", 3), ("instance", 2), ("code", 1)]));
        assert_eq!(a.pair_series[..3], r(&[("job=a", 4), ("__name__=up", 3), ("__name__=http_requests_total", 2)]));
        assert_eq!(a.name_value_bytes, r(&[("__name__", 21), ("instance", 9), ("code", 6), ("job", 2)]));
        assert_eq!(a.name_values, r(&[("instance", 3), ("__name__", 2), ("code", 2), ("job", 2)]));
        assert_eq!(a.metric_series, r(&[("up", 3), ("http_requests_total", 2)]));
    }

    #[test]
    fn matchers_narrow_every_list() {
        let dir = tempfile::tempdir().unwrap();
        let b = block(dir.path());
        let ms = [Matcher::new(MatchType::Equal, "job", "a").unwrap()];
        let a = analyze_block(&b, Some(&ms)).unwrap();
        assert_eq!((a.matched_series, a.label_names, a.label_pairs, a.label_pair_entries), (Some(4), 4, 7, 12));
        assert_eq!(a.name_values, r(&[("__name__", 2), ("code", 2), ("instance", 2), ("job", 1)]));
        assert_eq!(a.metric_series, r(&[("http_requests_total", 2), ("up", 2)]));

        // An empty selector selects nothing but narrows no name list, as
        // promtool's index reader answers for no matchers.
        let a = analyze_block(&b, Some(&[])).unwrap();
        assert_eq!((a.matched_series, a.label_names, a.label_pair_entries), (Some(0), 4, 0));
        assert_eq!(a.metric_series, r(&[("http_requests_total", 0), ("up", 0)]));
    }
}
