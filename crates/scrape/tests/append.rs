//! The appending half of a scrape loop against the real head: labels,
//! honor_labels, metric relabeling, limits, staleness and the synthetic
//! series, checked by querying what the head holds.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use model::{Labels, Matcher, MetricType};
use scrape::scrape_loop::{Report, ReportRefs};
use scrape::{AppendOptions, Appending, Limits, ScrapeCache, ScrapeError, ScrapeMetrics};
use storage::{Appendable, Appender, Queryable, ValueType};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

const TEXT: &str = "text/plain; version=0.0.4";
const OM: &str = "application/openmetrics-text; version=1.0.0";

struct Rig {
    head: Arc<Head>,
    app: Box<dyn Appender>,
    appending: Appending,
    cache: ScrapeCache,
    metrics: ScrapeMetrics,
}

fn opts() -> AppendOptions {
    AppendOptions::default()
}

fn rig(o: AppendOptions) -> Rig {
    let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
    let app = HeadStorage(head.clone()).appender();
    let metrics = ScrapeMetrics::new(None);
    let target = Labels::from_pairs([("instance", "h:9100"), ("job", "node")]);
    Rig { head, app, appending: Appending::new(o, target, metrics.clone()), cache: ScrapeCache::new(), metrics }
}

impl Rig {
    fn scrape(&mut self, body: &str, ct: &str, ts: i64) -> Result<scrape::AppendStats, ScrapeError> {
        let r = self.appending.append(self.app.as_mut(), &mut self.cache, body.as_bytes(), ct, ts);
        match &r {
            Ok(_) => self.app.commit().unwrap(),
            Err(_) => {
                self.app.rollback().unwrap();
                self.appending.append_empty(self.app.as_mut(), &mut self.cache, ts).unwrap();
                self.app.commit().unwrap();
            }
        }
        r
    }

    /// Every series as `labels => [(t, v)]`, stale markers shown as "stale".
    fn dump(&self) -> Vec<(String, Vec<(i64, String)>)> {
        let q = HeadStorage(self.head.clone()).querier(i64::MIN, i64::MAX).unwrap();
        let mut set = q.select(true, None, &[Matcher::new(model::MatchType::Regexp, "__name__", ".+").unwrap()]);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let mut it = s.iterator();
            let mut points = Vec::new();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                points.push((t, if model::value::is_stale_nan(v) { "stale".to_owned() } else { v.to_string() }));
            }
            out.push((s.labels().to_string(), points));
        }
        out
    }

    fn points(&self, labels: &str) -> Vec<(i64, String)> {
        self.dump().into_iter().find(|(l, _)| l == labels).map(|(_, p)| p).unwrap_or_else(|| panic!("no series {labels} in {:#?}", self.dump()))
    }
}

#[test]
fn target_labels_are_attached_and_repeats_hit_the_cache() {
    let mut r = rig(opts());
    let body = "# TYPE a counter\n# HELP a The a.\na 1\nb{x=\"1\"} 2\nb{x=\"2\"} 3\n";
    let s = r.scrape(body, TEXT, 1000).unwrap();
    assert_eq!((s.total, s.added, s.series_added), (3, 3, 3));
    let s = r.scrape(body, TEXT, 2000).unwrap();
    assert_eq!((s.total, s.added, s.series_added), (3, 3, 0), "a repeated scrape adds no series");
    assert_eq!(r.cache.len(), 3);
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#), vec![(1000, "1".into()), (2000, "1".into())]);
    assert_eq!(r.points(r#"{__name__="b", instance="h:9100", job="node", x="2"}"#).len(), 2);
    let md = r.cache.metadata(Some("a"));
    assert_eq!(md[0].1.metric_type, MetricType::Counter);
    assert_eq!(md[0].1.help, "The a.");
}

#[test]
fn clashing_labels_are_exported_unless_honored() {
    let body = "m{job=\"app\",exported_job=\"older\",instance=\"pod\"} 1\n";
    let mut r = rig(opts());
    r.scrape(body, TEXT, 1000).unwrap();
    let names: Vec<String> = r.dump().into_iter().map(|(l, _)| l).collect();
    assert_eq!(names, vec![r#"{__name__="m", exported_exported_job="app", exported_instance="pod", exported_job="older", instance="h:9100", job="node"}"#]);

    let mut r = rig(AppendOptions { honor_labels: true, ..opts() });
    r.scrape("m{job=\"app\"} 1\n", TEXT, 1000).unwrap();
    let names: Vec<String> = r.dump().into_iter().map(|(l, _)| l).collect();
    assert_eq!(names, vec![r#"{__name__="m", instance="h:9100", job="app"}"#]);
}

#[test]
fn metric_relabeling_drops_and_rewrites() {
    let cfg = config::Config::load(
        "scrape_configs:\n- job_name: j\n  metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: go_.*\n    action: drop\n  - source_labels: [x]\n    target_label: y\n",
    )
    .unwrap();
    let rules: Arc<[relabel::RelabelConfig]> = cfg.scrape_configs[0].metric_relabel_configs.clone().into();
    let mut r = rig(AppendOptions { metric_relabel: rules, ..opts() });
    let body = "go_goroutines 5\nkept{x=\"v\"} 1\n";
    for ts in [1000, 2000] {
        let s = r.scrape(body, TEXT, ts).unwrap();
        assert_eq!((s.total, s.added), (2, 1));
    }
    let names: Vec<String> = r.dump().into_iter().map(|(l, _)| l).collect();
    assert_eq!(names, vec![r#"{__name__="kept", instance="h:9100", job="node", x="v", y="v"}"#]);
}

#[test]
fn disappearing_series_get_one_staleness_marker() {
    let mut r = rig(opts());
    r.scrape("a 1\nb 2\n", TEXT, 1000).unwrap();
    r.scrape("a 1\n", TEXT, 2000).unwrap();
    r.scrape("a 1\n", TEXT, 3000).unwrap();
    assert_eq!(r.points(r#"{__name__="b", instance="h:9100", job="node"}"#), vec![(1000, "2".into()), (2000, "stale".into())]);
    // It comes back: a plain sample again.
    r.scrape("a 1\nb 5\n", TEXT, 4000).unwrap();
    assert_eq!(r.points(r#"{__name__="b", instance="h:9100", job="node"}"#).last(), Some(&(4000, "5".into())));
}

#[test]
fn a_failed_scrape_commits_nothing_and_marks_everything_stale() {
    let mut r = rig(opts());
    r.scrape("a 1\nb 2\n", TEXT, 1000).unwrap();
    let err = r.scrape("a 3\nb{ 4\n", TEXT, 2000).unwrap_err();
    assert!(matches!(err, ScrapeError::Parse(_)), "{err}");
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#), vec![(1000, "1".into()), (2000, "stale".into())]);
    assert_eq!(r.points(r#"{__name__="b", instance="h:9100", job="node"}"#), vec![(1000, "2".into()), (2000, "stale".into())]);
    // Recovery: samples flow again.
    r.scrape("a 5\n", TEXT, 3000).unwrap();
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#).last(), Some(&(3000, "5".into())));
}

#[test]
fn sample_limit_fails_the_whole_scrape() {
    let mut r = rig(AppendOptions { limits: Limits { sample_limit: 2, ..Limits::default() }, ..opts() });
    r.scrape("a 1\nb 1\n", TEXT, 1000).unwrap();
    let err = r.scrape("a 1\nb 1\nc 1\n", TEXT, 2000).unwrap_err();
    assert_eq!(err.to_string(), "sample limit exceeded");
    assert_eq!(r.metrics.exceeded_sample_limit.get(), 1);
    let dump = r.dump();
    assert!(dump.iter().all(|(l, _)| !l.contains("\"c\"")), "nothing of the failed scrape is kept: {dump:?}");
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#).last(), Some(&(2000, "stale".into())));
}

#[test]
fn label_limits_have_prometheus_messages() {
    let cases = [
        (Limits { label_limit: 2, ..Limits::default() }, "label_limit exceeded (metric: m, number of labels: 3, limit: 2)"),
        (Limits { label_name_length_limit: 4, ..Limits::default() }, "label_name_length_limit exceeded (metric: m, label name: __name__, length: 8, limit: 4)"),
        (
            Limits { label_value_length_limit: 5, ..Limits::default() },
            r#"label_value_length_limit exceeded (metric: m, label name: instance, value: "h:9100", length: 6, limit: 5)"#,
        ),
    ];
    for (limits, want) in cases {
        let mut r = rig(AppendOptions { limits, ..opts() });
        let err = r.scrape("m 1\n", TEXT, 1000).unwrap_err();
        assert_eq!(err.to_string(), want);
        assert_eq!(r.metrics.exceeded_label_limits.get(), 1);
    }
}

#[test]
fn explicit_timestamps_are_honoured_and_not_marked_stale() {
    let mut r = rig(opts());
    r.scrape("a 1 500\nb 2\n", TEXT, 1000).unwrap();
    r.scrape("b 2\n", TEXT, 2000).unwrap();
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#), vec![(500, "1".into())]);

    let mut r = rig(AppendOptions { track_timestamps_staleness: true, ..opts() });
    r.scrape("a 1 500\n", TEXT, 1000).unwrap();
    r.scrape("", TEXT, 2000).unwrap();
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#), vec![(500, "1".into()), (2000, "stale".into())]);

    let mut r = rig(AppendOptions { honor_timestamps: false, ..opts() });
    r.scrape("a 1 500\n", TEXT, 1000).unwrap();
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#), vec![(1000, "1".into())]);
}

#[test]
fn out_of_order_and_duplicates_are_counted_not_fatal() {
    let mut r = rig(opts());
    r.scrape("a 1 5000\n", TEXT, 1000).unwrap();
    let s = r.scrape("a 1 4000\nb 1\nb 2\n", TEXT, 2000).unwrap();
    assert_eq!(r.metrics.sample_out_of_order.get(), 1);
    assert_eq!(r.metrics.sample_duplicate.get(), 1);
    assert_eq!(s.added, 1, "only b's first sample went in");
}

#[test]
fn openmetrics_metadata_and_unit() {
    let mut r = rig(opts());
    let body =
        "# TYPE req_seconds counter\n# UNIT req_seconds seconds\n# HELP req_seconds Requests.\nreq_seconds_total 3 # {trace_id=\"abc\"} 1.0 1.5\n# EOF\n";
    r.scrape(body, OM, 1000).unwrap();
    let md = r.cache.metadata(Some("req_seconds"));
    assert_eq!((md[0].1.metric_type, md[0].1.unit.as_str(), md[0].1.help.as_str()), (MetricType::Counter, "seconds", "Requests."));
    assert_eq!(r.points(r#"{__name__="req_seconds_total", instance="h:9100", job="node"}"#), vec![(1000, "3".into())]);
}

#[test]
fn report_and_end_of_run_markers() {
    let mut r = rig(AppendOptions { extra_metrics: true, ..opts() });
    let stats = r.scrape("a 1\n", TEXT, 1000).unwrap();
    let mut refs = ReportRefs::default();
    let report = Report { ts: 1000, up: true, duration: Duration::from_millis(12), timeout: Duration::from_secs(10), stats, body_size: 4 };
    r.appending.report(r.app.as_mut(), &mut refs, &report).unwrap();
    r.app.commit().unwrap();
    let t = r#"instance="h:9100", job="node"}"#;
    assert_eq!(r.points(&format!(r#"{{__name__="up", {t}"#)), vec![(1000, "1".into())]);
    assert_eq!(r.points(&format!(r#"{{__name__="scrape_duration_seconds", {t}"#)), vec![(1000, "0.012".into())]);
    assert_eq!(r.points(&format!(r#"{{__name__="scrape_samples_scraped", {t}"#)), vec![(1000, "1".into())]);
    assert_eq!(r.points(&format!(r#"{{__name__="scrape_samples_post_metric_relabeling", {t}"#)), vec![(1000, "1".into())]);
    assert_eq!(r.points(&format!(r#"{{__name__="scrape_series_added", {t}"#)), vec![(1000, "1".into())]);
    assert_eq!(r.points(&format!(r#"{{__name__="scrape_timeout_seconds", {t}"#)), vec![(1000, "10".into())]);
    assert_eq!(r.points(&format!(r#"{{__name__="scrape_body_size_bytes", {t}"#)), vec![(1000, "4".into())]);

    r.appending.append_end_of_run(r.app.as_mut(), &mut r.cache, 9000).unwrap();
    r.appending.report_stale(r.app.as_mut(), &mut refs, 9000).unwrap();
    r.app.commit().unwrap();
    for (labels, points) in r.dump() {
        assert_eq!(points.last().map(|p| p.1.as_str()), Some("stale"), "{labels} has no end-of-run marker: {points:?}");
    }
}

#[test]
fn invalid_content_type_fails_with_prometheus_text() {
    let mut r = rig(opts());
    let err = r.scrape("a 1\n", "", 1000).unwrap_err();
    assert_eq!(err.to_string(), "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target");
    let mut r = rig(AppendOptions { fallback_protocol: Some(textparse::ScrapeProtocol::PrometheusText0_0_4), ..opts() });
    r.scrape("a 1\n", "", 1000).unwrap();
}

#[test]
fn a_series_repeated_within_a_scrape_stays_live() {
    let mut r = rig(opts());
    r.scrape("a 1\n", TEXT, 1000).unwrap();
    r.scrape("a 1\na 2\n", TEXT, 2000).unwrap();
    assert_eq!(r.points(r#"{__name__="a", instance="h:9100", job="node"}"#), vec![(1000, "1".into()), (2000, "1".into())]);
    assert_eq!(r.metrics.sample_duplicate.get(), 1);
}
