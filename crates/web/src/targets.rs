//! `/api/v1/targets`, `/api/v1/targets/metadata` and `/api/v1/metadata`,
//! in Prometheus's JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use model::{Labels, Matcher};
use serde::Serialize;

use crate::{AppState, api, bad_data};

fn labels_map(l: &Labels) -> BTreeMap<&str, &str> {
    l.iter().map(|l| (l.name, l.value)).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget<'a> {
    discovered_labels: BTreeMap<&'a str, &'a str>,
    labels: BTreeMap<&'a str, &'a str>,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: String,
    last_error: String,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: &'a str,
    scrape_timeout: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedTarget<'a> {
    discovered_labels: BTreeMap<&'a str, &'a str>,
    scrape_pool: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery<'a> {
    active_targets: Vec<ActiveTarget<'a>>,
    dropped_targets: Vec<DroppedTarget<'a>>,
    dropped_target_counts: BTreeMap<&'a str, usize>,
}

pub(crate) async fn targets(State(s): State<Arc<AppState>>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let state = q.get("state").map(|s| s.to_lowercase()).unwrap_or_default();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let pool_filter = q.get("scrapePool").filter(|p| !p.is_empty());
    let Some(manager) = &s.handles.scrape else {
        return api(TargetDiscovery { active_targets: vec![], dropped_targets: vec![], dropped_target_counts: BTreeMap::new() });
    };
    let pools = manager.pools();
    let hostname = hostname();
    let mut out = TargetDiscovery { active_targets: vec![], dropped_targets: vec![], dropped_target_counts: BTreeMap::new() };
    for (job, pool) in pools.iter() {
        if pool_filter.is_some_and(|p| p != job) {
            continue;
        }
        out.dropped_target_counts.insert(job, pool.dropped_count);
        if show_active {
            for t in &pool.active {
                let last = t.state.last();
                out.active_targets.push(ActiveTarget {
                    discovered_labels: labels_map(&t.discovered),
                    labels: t.labels.iter().filter(|l| !l.name.starts_with("__")).map(|l| (l.name, l.value)).collect(),
                    scrape_pool: job,
                    scrape_url: &t.scrape_url,
                    global_url: global_url(&t.scrape_url, &hostname),
                    last_error: last.error,
                    last_scrape: rfc3339_ms(last.at_ms),
                    last_scrape_duration: last.duration.as_secs_f64(),
                    health: last.health.as_str(),
                    scrape_interval: t.labels.get("__scrape_interval__"),
                    scrape_timeout: t.labels.get("__scrape_timeout__"),
                });
            }
        }
        if show_dropped {
            for d in &pool.dropped {
                out.dropped_targets.push(DroppedTarget { discovered_labels: labels_map(&d.discovered), scrape_pool: job });
            }
        }
    }
    // Holds borrows of `pools`, so it is encoded before `pools` goes.
    api(out)
}

#[derive(Serialize)]
struct MetadataEntry<'a> {
    target: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    metric: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    help: &'a str,
    unit: &'a str,
}

pub(crate) async fn targets_metadata(State(s): State<Arc<AppState>>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let limit: i64 = match q.get("limit").filter(|l| !l.is_empty()) {
        None => -1,
        Some(l) => match l.parse() {
            Ok(n) => n,
            Err(_) => return bad_data("limit must be a number"),
        },
    };
    let matchers = match q.get("match_target").filter(|m| !m.is_empty()) {
        None => Vec::new(),
        Some(m) => match crate::selector::parse_matchers(m) {
            Ok(ms) => ms,
            Err(e) => return bad_data(&e),
        },
    };
    let metric = q.get("metric").map(String::as_str).unwrap_or_default();
    let Some(manager) = &s.handles.scrape else { return api(Vec::<MetadataEntry>::new()) };
    let pools = manager.pools();
    let mut held = Vec::new();
    for pool in pools.values() {
        for t in &pool.active {
            let public = Labels::from_sorted_pairs(t.labels.iter().filter(|l| !l.name.starts_with("__")).map(|l| (l.name, l.value)));
            if matchers.iter().all(|m: &Matcher| m.matches(public.get(&m.name))) {
                held.push((public, t.state.metadata()));
            }
        }
    }
    let mut out = Vec::new();
    'targets: for (public, md) in &held {
        for (family, m) in md.iter() {
            if limit >= 0 && out.len() as i64 >= limit {
                break 'targets;
            }
            if !metric.is_empty() && family != metric {
                continue;
            }
            out.push(MetadataEntry {
                target: labels_map(public),
                metric: if metric.is_empty() { family } else { "" },
                kind: m.metric_type.as_str(),
                help: &m.help,
                unit: &m.unit,
            });
        }
    }
    api(out)
}

/// One kind of metadata a metric has on some target.
#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct MetricMetadata<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    help: &'a str,
    unit: &'a str,
}

/// A non-negative limit, or none for -1 (the default) or any negative.
fn limit_param(q: &BTreeMap<String, String>, name: &str) -> Result<Option<usize>, String> {
    match q.get(name).filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(l) => l.parse::<i64>().map(|n| usize::try_from(n).ok()).map_err(|_| format!("{name} must be a number")),
    }
}

/// `/api/v1/metadata`: each metric's distinct metadata across the active
/// targets. `limit` caps the metrics (0 gives none, as in Prometheus) and
/// `limit_per_metric` the entries of each (0 is no limit there).
pub(crate) async fn metadata(State(s): State<Arc<AppState>>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let (limit, per_metric) = match (limit_param(&q, "limit"), limit_param(&q, "limit_per_metric")) {
        (Ok(l), Ok(p)) => (l, p.filter(|&n| n > 0)),
        (Err(e), _) | (_, Err(e)) => return bad_data(&e),
    };
    let metric = q.get("metric").map(String::as_str).unwrap_or_default();
    let Some(manager) = &s.handles.scrape else { return api(BTreeMap::<&str, Vec<MetricMetadata>>::new()) };
    let pools = manager.pools();
    let held: Vec<_> = pools.values().flat_map(|p| p.active.iter().map(|t| t.state.metadata())).collect();
    let mut metrics: BTreeMap<&str, Vec<MetricMetadata>> = BTreeMap::new();
    for md in &held {
        for (family, m) in md.iter().filter(|(f, _)| metric.is_empty() || f == metric) {
            let set = metrics.entry(family).or_default();
            let entry = MetricMetadata { kind: m.metric_type.as_str(), help: &m.help, unit: &m.unit };
            if per_metric.is_some_and(|n| set.len() >= n) || set.contains(&entry) {
                continue;
            }
            set.push(entry);
        }
    }
    if let Some(n) = limit {
        metrics = metrics.into_iter().take(n).collect();
    }
    api(metrics)
}

/// The scrape URL as seen from elsewhere: a loopback host is replaced by
/// this machine's name, as Prometheus does for federation and links.
fn global_url(url: &str, hostname: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return url.to_owned() };
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback && !hostname.is_empty() && u.set_host(Some(hostname)).is_ok() {
        return u.to_string();
    }
    url.to_owned()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// A millisecond timestamp as Go marshals a UTC `time.Time`; 0 is Go's
/// zero time (never scraped).
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    if ms == 0 { "0001-01-01T00:00:00Z".into() } else { model::time::format_rfc3339_ms(ms) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_go_marshals_them() {
        assert_eq!(rfc3339_ms(0), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_ms(1_700_000_000_120), "2023-11-14T22:13:20.12Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn loopback_urls_get_the_hostname() {
        assert_eq!(global_url("http://127.0.0.1:9100/metrics", "box"), "http://box:9100/metrics");
        assert_eq!(global_url("http://localhost:9100/metrics?a=b", "box"), "http://box:9100/metrics?a=b");
        assert_eq!(global_url("http://10.0.0.1:9100/metrics", "box"), "http://10.0.0.1:9100/metrics");
    }
}
