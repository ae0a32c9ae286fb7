//! What the head, block and database queriers share to answer the label
//! APIs from the series a matcher selected.

use model::Labels;

/// The values of label `name` among `series` (absent ones left out).
pub(crate) fn values_of(series: &[Labels], name: &str) -> Vec<String> {
    series.iter().map(|l| l.get(name)).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

/// The label names among `series`.
pub(crate) fn names_of(series: &[Labels]) -> Vec<String> {
    series.iter().flat_map(|l| l.iter().map(|l| l.name.to_owned())).collect()
}

/// Sorted, each once, at most `limit` (zero: no limit), as the label APIs
/// answer.
pub(crate) fn sorted_unique(mut v: Vec<String>, limit: usize) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    if limit > 0 {
        v.truncate(limit);
    }
    v
}
