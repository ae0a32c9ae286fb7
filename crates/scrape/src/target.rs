//! Building a target's labels from a discovered target and its scrape
//! config, exactly as Prometheus does: the scrape defaults go in as
//! `__`-labels, target relabeling runs, then the result is checked and
//! completed (`instance` defaults to the address, `__meta_*` go away).

use std::sync::{Arc, Mutex};

use config::ScrapeConfig;
use config::duration::Duration;
use model::{Labels, LabelsBuilder, Metadata};
use xxhash_rust::xxh3::xxh3_64;

pub const ADDRESS: &str = "__address__";
pub const SCHEME: &str = "__scheme__";
pub const METRICS_PATH: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
pub const PARAM_PREFIX: &str = "__param_";
pub const INSTANCE: &str = "instance";
pub const JOB: &str = "job";

/// Why a target was refused after relabeling; Prometheus's wording, shown
/// on the targets page of dropped targets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no address")]
    NoAddress,
    #[error("error parsing scrape interval: {0}")]
    Interval(String),
    #[error("scrape interval cannot be 0")]
    ZeroInterval,
    #[error("error parsing scrape timeout: {0}")]
    Timeout(String),
    #[error("scrape timeout cannot be 0")]
    ZeroTimeout,
    #[error("scrape timeout cannot be greater than scrape interval ({0:?} > {1:?})")]
    TimeoutAboveInterval(String, String),
}

/// The outcome for one discovered target.
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    /// To be scraped: the full label set (reserved `__` labels included,
    /// which the scrape uses and then strips from series).
    Active(Labels),
    /// Dropped by relabeling; the labels before relabeling are kept for
    /// the targets page.
    Dropped,
}

/// The labels of one target: `group` labels overlaid by the target's own
/// (`target`), the config's defaults for what neither sets, then target
/// relabeling and Prometheus's checks. Returns the outcome and the labels as
/// discovered (before relabeling), which the targets API shows.
pub fn populate_labels(target: &Labels, group: &Labels, cfg: &ScrapeConfig) -> (Result<Populated, TargetError>, Labels) {
    let mut lb = LabelsBuilder::new();
    for l in group {
        lb.set(l.name, l.value);
    }
    for l in target {
        lb.set(l.name, l.value);
    }
    let interval = cfg.scrape_interval.to_string();
    let timeout = cfg.scrape_timeout.to_string();
    let defaults =
        [(JOB, cfg.job_name.as_str()), (SCRAPE_INTERVAL, &interval), (SCRAPE_TIMEOUT, &timeout), (METRICS_PATH, &cfg.metrics_path), (SCHEME, &cfg.scheme)];
    for (name, value) in defaults {
        if lb.get(name).is_empty() {
            lb.set(name, value);
        }
    }
    for (name, values) in &cfg.params {
        let key = format!("{PARAM_PREFIX}{name}");
        if let Some(first) = values.first() {
            if lb.get(&key).is_empty() {
                lb.set(&key, first);
            }
        }
    }
    let discovered = lb.build();
    if !relabel::process(&mut lb, &cfg.relabel_configs) {
        return (Ok(Populated::Dropped), discovered);
    }
    (check_and_complete(lb), discovered)
}

fn check_and_complete(mut lb: LabelsBuilder) -> Result<Populated, TargetError> {
    let address = lb.get(ADDRESS).to_owned();
    if address.is_empty() {
        return Err(TargetError::NoAddress);
    }
    let interval_text = lb.get(SCRAPE_INTERVAL).to_owned();
    let interval: Duration = interval_text.parse().map_err(|e: config::duration::DurationError| TargetError::Interval(e.to_string()))?;
    if interval.is_zero() {
        return Err(TargetError::ZeroInterval);
    }
    let timeout_text = lb.get(SCRAPE_TIMEOUT).to_owned();
    let timeout: Duration = timeout_text.parse().map_err(|e: config::duration::DurationError| TargetError::Timeout(e.to_string()))?;
    if timeout.is_zero() {
        return Err(TargetError::ZeroTimeout);
    }
    if timeout > interval {
        return Err(TargetError::TimeoutAboveInterval(timeout_text, interval_text));
    }
    // Discovery metadata has done its job once relabeling is over.
    lb.retain(|name, _| !name.starts_with(model::labels::META_PREFIX));
    if lb.get(INSTANCE).is_empty() {
        lb.set(INSTANCE, &address);
    }
    Ok(Populated::Active(lb.build()))
}

/// The labels a target's series get: everything but the reserved
/// `__`-prefixed ones.
pub fn public_labels(target: &Labels) -> Labels {
    Labels::from_sorted_pairs(target.iter().filter(|l| !l.name.starts_with(model::labels::RESERVED_PREFIX)).map(|l| (l.name, l.value)))
}

/// The URL a target is scraped at: `scheme://address/path?params`, with
/// `__param_*` labels overriding the config's first value of each param and
/// adding params of their own.
pub fn scrape_url(target: &Labels, cfg: &ScrapeConfig) -> String {
    let mut params: Vec<(String, Vec<String>)> = cfg.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for l in target {
        if let Some(name) = l.name.strip_prefix(PARAM_PREFIX) {
            match params.iter_mut().find(|(k, _)| k == name) {
                Some((_, values)) if !values.is_empty() => values[0] = l.value.to_owned(),
                Some((_, values)) => values.push(l.value.to_owned()),
                None => params.push((name.to_owned(), vec![l.value.to_owned()])),
            }
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = params.iter().flat_map(|(k, vs)| vs.iter().map(move |v| format!("{}={}", encode(k), encode(v)))).collect();
    let mut url = format!("{}://{}{}", target.get(SCHEME), target.get(ADDRESS), target.get(METRICS_PATH));
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

/// Query-string escaping as Go's `url.QueryEscape` does it.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A target's health as the targets page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of a target's last scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LastScrape {
    pub health: Health,
    pub error: String,
    /// Scrape timestamp in ms since the epoch; 0 before the first scrape.
    pub at_ms: i64,
    pub duration: std::time::Duration,
}

/// What the loop of a target publishes for the API: written once per
/// scrape, read by API requests.
#[derive(Debug, Default)]
pub struct TargetState {
    last: Mutex<LastScrape>,
    metadata: Mutex<Arc<Vec<(String, Metadata)>>>,
}

impl TargetState {
    pub fn record(&self, err: Option<String>, at_ms: i64, duration: std::time::Duration) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.health = if err.is_some() { Health::Down } else { Health::Up };
        last.error = err.unwrap_or_default();
        last.at_ms = at_ms;
        last.duration = duration;
    }

    pub fn last(&self) -> LastScrape {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_metadata(&self, m: Vec<(String, Metadata)>) {
        *self.metadata.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(m);
    }

    /// Metric family metadata from the last scrape, sorted by family name.
    pub fn metadata(&self) -> Arc<Vec<(String, Metadata)>> {
        self.metadata.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// An active target: its labels (reserved ones included), what discovery
/// said before relabeling, and its live state.
#[derive(Debug)]
pub struct Target {
    pub labels: Labels,
    pub discovered: Labels,
    pub scrape_url: String,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    pub state: Arc<TargetState>,
    hash: u64,
}

impl Target {
    /// Builds an active target from populated labels; interval and timeout
    /// come from the (already checked) `__scrape_*__` labels.
    pub fn new(labels: Labels, discovered: Labels, cfg: &ScrapeConfig) -> Target {
        let interval = labels.get(SCRAPE_INTERVAL).parse::<Duration>().unwrap_or(cfg.scrape_interval).as_std();
        let timeout = labels.get(SCRAPE_TIMEOUT).parse::<Duration>().unwrap_or(cfg.scrape_timeout).as_std();
        let scrape_url = scrape_url(&labels, cfg);
        let hash = xxh3_64(labels.as_bytes()) ^ xxh3_64(scrape_url.as_bytes());
        Target { labels, discovered, scrape_url, interval, timeout, state: Arc::default(), hash }
    }

    /// Identifies the target within its pool: equal labels and URL are one
    /// target, however many times discovery lists it.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The delay before this target's first scrape, so that a pool's
    /// targets spread evenly over the interval and a target keeps the same
    /// phase across restarts (`seed` differs per server, so that HA pairs
    /// do not scrape in lockstep).
    pub fn offset(&self, seed: u64, now: std::time::SystemTime) -> std::time::Duration {
        let interval = self.interval.as_nanos().max(1) as u64;
        let now = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let base = interval - now % interval;
        let mut next = base + (self.hash ^ seed) % interval;
        if next >= interval {
            next -= interval;
        }
        std::time::Duration::from_nanos(next)
    }
}

/// Go's `time.Duration.String()` for whole milliseconds (`15s`, `1m0s`,
/// `1h30m0s`, `500ms`), which Prometheus uses as the `interval` label.
pub fn go_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, ms / 60_000 % 60);
    let secs = (ms % 60_000) as f64 / 1000.0;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{secs}s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(extra: &str) -> ScrapeConfig {
        let text = format!("scrape_configs:\n- job_name: node\n  scrape_interval: 15s\n{extra}");
        let mut cfg = config::Config::load(&text).unwrap();
        cfg.scrape_configs.remove(0)
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn active(r: (Result<Populated, TargetError>, Labels)) -> Labels {
        match r.0 {
            Ok(Populated::Active(l)) => l,
            other => panic!("not active: {other:?}"),
        }
    }

    #[test]
    fn go_duration_strings() {
        let s = std::time::Duration::from_secs;
        assert_eq!(go_duration(s(15)), "15s");
        assert_eq!(go_duration(s(60)), "1m0s");
        assert_eq!(go_duration(s(5400)), "1h30m0s");
        assert_eq!(go_duration(std::time::Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(std::time::Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn offsets_spread_within_the_interval_and_keep_their_phase() {
        let cfg = job("");
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let mut phases = Vec::new();
        for i in 0..100 {
            let labels = active(populate_labels(&l(&[(ADDRESS, &format!("h{i}:1"))]), &Labels::empty(), &cfg));
            let t = Target::new(labels, Labels::empty(), &cfg);
            let off = t.offset(7, now);
            assert!(off < t.interval);
            // One interval later the target is at the same point of its cycle.
            assert_eq!(t.offset(7, now + t.interval), off);
            phases.push(off.as_secs());
        }
        phases.sort_unstable();
        phases.dedup();
        assert!(phases.len() > 8, "offsets should spread over the 15 s: {phases:?}");
    }

    #[test]
    fn defaults_and_instance() {
        let cfg = job("");
        let got = active(populate_labels(&l(&[(ADDRESS, "h:9100")]), &l(&[("env", "prod"), ("__meta_x", "y")]), &cfg));
        assert_eq!(
            got.to_string(),
            r#"{__address__="h:9100", __metrics_path__="/metrics", __scheme__="http", __scrape_interval__="15s", __scrape_timeout__="10s", env="prod", instance="h:9100", job="node"}"#
        );
        assert_eq!(public_labels(&got).to_string(), r#"{env="prod", instance="h:9100", job="node"}"#);
        assert_eq!(scrape_url(&got, &cfg), "http://h:9100/metrics");
    }

    #[test]
    fn target_labels_win_over_group_and_defaults() {
        let cfg = job("");
        let got = active(populate_labels(&l(&[(ADDRESS, "h:1"), ("env", "dev"), (JOB, "custom"), (METRICS_PATH, "/m")]), &l(&[("env", "prod")]), &cfg));
        assert_eq!(got.get("env"), "dev");
        assert_eq!(got.get(JOB), "custom");
        assert_eq!(got.get(METRICS_PATH), "/m");
    }

    #[test]
    fn relabeling_can_drop_rewrite_and_set_instance() {
        let cfg = job(
            "  relabel_configs:\n  - source_labels: [__meta_role]\n    regex: skip\n    action: drop\n  - source_labels: [__meta_name]\n    target_label: instance\n",
        );
        let (r, discovered) = populate_labels(&l(&[(ADDRESS, "h:1"), ("__meta_role", "skip")]), &Labels::empty(), &cfg);
        assert_eq!(r, Ok(Populated::Dropped));
        assert_eq!(discovered.get("__meta_role"), "skip", "dropped targets keep their discovered labels");
        let got = active(populate_labels(&l(&[(ADDRESS, "h:1"), ("__meta_name", "web-1")]), &Labels::empty(), &cfg));
        assert_eq!(got.get(INSTANCE), "web-1");
        assert_eq!(got.get("__meta_name"), "", "meta labels go after relabeling");
    }

    #[test]
    fn checks_after_relabeling() {
        let cfg = job("  relabel_configs:\n  - target_label: __scrape_timeout__\n    replacement: 1m\n");
        let (r, _) = populate_labels(&l(&[(ADDRESS, "h:1")]), &Labels::empty(), &cfg);
        assert_eq!(r.unwrap_err().to_string(), r#"scrape timeout cannot be greater than scrape interval ("1m" > "15s")"#);
        let cfg =
            job("  relabel_configs:\n  - target_label: __address__\n    replacement: ''\n    action: replace\n    regex: (.*)\n    source_labels: [nothing]\n");
        let (r, _) = populate_labels(&l(&[(ADDRESS, "h:1")]), &Labels::empty(), &cfg);
        assert_eq!(r, Err(TargetError::NoAddress));
        let cfg = job("  relabel_configs:\n  - target_label: __scrape_interval__\n    replacement: soon\n");
        let (r, _) = populate_labels(&l(&[(ADDRESS, "h:1")]), &Labels::empty(), &cfg);
        assert_eq!(r.unwrap_err().to_string(), r#"error parsing scrape interval: not a valid duration string: "soon""#);
    }

    #[test]
    fn params_become_labels_and_url_query() {
        let cfg = job("  params:\n    module: [http_2xx, other]\n    target: [a b]\n");
        let got = active(populate_labels(&l(&[(ADDRESS, "bb:9115"), ("__param_target", "https://x.example/?q=1")]), &Labels::empty(), &cfg));
        assert_eq!(got.get("__param_module"), "http_2xx");
        assert_eq!(scrape_url(&got, &cfg), "http://bb:9115/metrics?module=http_2xx&module=other&target=https%3A%2F%2Fx.example%2F%3Fq%3D1");
    }
}
