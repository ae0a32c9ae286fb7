//! The manager, pools and loops end to end: real HTTP targets served on
//! loopback, the real head as storage, short intervals. Assertions wait for
//! a condition with a generous deadline instead of timing anything.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use model::Matcher;
use scrape::scrape_loop::BufferPool;
use scrape::{Health, Manager, PoolEnv, ScrapeMetrics};
use storage::{Queryable, ValueType};
use tokio_util::sync::CancellationToken;
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

/// What a test target answers, changeable while it runs.
#[derive(Clone, Default)]
struct Exposition {
    body: Arc<Mutex<(StatusCode, String, Duration)>>,
    seen_headers: Arc<Mutex<Option<HeaderMap>>>,
}

async fn serve(State(e): State<Exposition>, headers: HeaderMap) -> Response {
    *e.seen_headers.lock().unwrap() = Some(headers);
    let (status, body, delay) = e.body.lock().unwrap().clone();
    tokio::time::sleep(delay).await;
    (status, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn target(body: &str) -> (String, Exposition) {
    let e = Exposition::default();
    *e.body.lock().unwrap() = (StatusCode::OK, body.to_owned(), Duration::ZERO);
    let app = Router::new().route("/metrics", get(serve)).with_state(e.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, e)
}

struct Rig {
    head: Arc<Head>,
    manager: Manager,
    metrics: ScrapeMetrics,
    shutdown: CancellationToken,
}

fn rig() -> Rig {
    let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
    let metrics = ScrapeMetrics::new(None);
    let shutdown = CancellationToken::new();
    let manager = Manager::new(PoolEnv {
        appendable: Arc::new(HeadStorage(head.clone())),
        metrics: metrics.clone(),
        buffers: BufferPool::default(),
        shutdown: shutdown.clone(),
        offset_seed: 0,
        user_agent: "narthex-test".into(),
        extra_metrics: false,
    });
    Rig { head, manager, metrics, shutdown }
}

fn config(jobs: &[(&str, &[&str], &str)]) -> config::Config {
    let mut y = String::from("global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\nscrape_configs:\n");
    for (job, targets, extra) in jobs {
        y.push_str(&format!("- job_name: {job}\n  static_configs:\n  - targets: [{}]\n{extra}", targets.join(", ")));
    }
    config::Config::load(&y).unwrap()
}

impl Rig {
    async fn apply(&self, cfg: &config::Config) {
        self.manager.apply_config(cfg).await.unwrap();
        let groups: HashMap<String, Vec<discovery::Group>> =
            cfg.scrape_configs.iter().map(|sc| (sc.job_name.clone(), discovery::targetgroup::static_groups(sc))).collect();
        self.manager.sync(groups).await;
    }

    /// Samples of the series matching `matchers`, stale markers as NaN.
    fn samples(&self, matchers: &[Matcher]) -> Vec<(String, Vec<f64>)> {
        let q = HeadStorage(self.head.clone()).querier(i64::MIN, i64::MAX).unwrap();
        let mut set = q.select(true, None, matchers);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let mut it = s.iterator();
            let mut v = Vec::new();
            while it.next() == ValueType::Float {
                v.push(it.at().1);
            }
            out.push((s.labels().to_string(), v));
        }
        out
    }

    fn last(&self, name: &str, instance: &str) -> Option<f64> {
        self.samples(&[Matcher::equal("__name__", name), Matcher::equal("instance", instance)]).first().and_then(|(_, v)| v.last().copied())
    }
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_targets_with_labels_and_synthetic_series() {
    let (addr, expo) = target("# TYPE node_cpu_seconds_total counter\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n").await;
    let r = rig();
    r.apply(&config(&[("node", &[&addr], "")])).await;
    eventually("up = 1", || r.last("up", &addr) == Some(1.0)).await;
    let got = r.samples(&[Matcher::equal("__name__", "node_cpu_seconds_total")]);
    assert_eq!(got[0].0, format!(r#"{{__name__="node_cpu_seconds_total", cpu="0", instance="{addr}", job="node", mode="idle"}}"#));
    assert_eq!(got[0].1[0], 12.5);
    eventually("series counts", || r.last("scrape_samples_scraped", &addr) == Some(1.0)).await;
    assert_eq!(r.last("scrape_samples_post_metric_relabeling", &addr), Some(1.0));
    assert!(r.last("scrape_duration_seconds", &addr).unwrap() < 0.15);

    let headers = expo.seen_headers.lock().unwrap().clone().unwrap();
    assert_eq!(headers.get("x-prometheus-scrape-timeout-seconds").unwrap(), "0.15");
    assert!(headers.get("accept").unwrap().to_str().unwrap().starts_with("application/openmetrics-text;version=1.0.0"));
    assert_eq!(headers.get("user-agent").unwrap(), "narthex-test");

    let pools = r.manager.pools();
    let t = &pools["node"].active[0];
    assert_eq!(t.scrape_url, format!("http://{addr}/metrics"));
    eventually("health up", || t.state.last().health == Health::Up).await;
    let md = t.state.metadata();
    assert_eq!(md[0].0, "node_cpu_seconds_total");
    r.shutdown.cancel();
    r.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_targets_report_down_and_recover() {
    let (addr, expo) = target("m 1\n").await;
    let r = rig();
    r.apply(&config(&[("j", &[&addr], "")])).await;
    eventually("up", || r.last("up", &addr) == Some(1.0)).await;

    *expo.body.lock().unwrap() = (StatusCode::NOT_FOUND, String::new(), Duration::ZERO);
    eventually("up = 0", || r.last("up", &addr) == Some(0.0)).await;
    let t = r.manager.pools()["j"].active[0].clone();
    eventually("error shown", || t.state.last().error == "server returned HTTP status 404 Not Found").await;
    assert!(r.last("m", &addr).unwrap().is_nan(), "a failed scrape marks the target's series stale");

    *expo.body.lock().unwrap() = (StatusCode::OK, "m 1\n".into(), Duration::from_millis(400));
    eventually("timeout error", || t.state.last().error.contains("context deadline exceeded")).await;

    *expo.body.lock().unwrap() = (StatusCode::OK, "m 2\nbad line here\n".into(), Duration::ZERO);
    eventually("parse error", || t.state.last().error.contains("line 2")).await;

    *expo.body.lock().unwrap() = (StatusCode::OK, "m 3\n".into(), Duration::ZERO);
    eventually("recovered", || r.last("m", &addr) == Some(3.0) && r.last("up", &addr) == Some(1.0)).await;
    r.shutdown.cancel();
    r.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_targets_get_staleness_markers() {
    let (a, _ea) = target("m 1\n").await;
    let (b, _eb) = target("m 2\n").await;
    let r = rig();
    r.apply(&config(&[("j", &[&a, &b], "")])).await;
    eventually("both up", || r.last("up", &a) == Some(1.0) && r.last("up", &b) == Some(1.0)).await;
    r.apply(&config(&[("j", &[&a], "")])).await;
    assert_eq!(r.manager.pools()["j"].active.len(), 1);
    eventually("b's series stale", || r.last("m", &b).is_some_and(f64::is_nan) && r.last("up", &b).is_some_and(f64::is_nan)).await;
    assert_eq!(r.last("up", &a), Some(1.0), "the remaining target keeps going");
    r.shutdown.cancel();
    r.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rebuilds_only_changed_pools() {
    let (a, _ea) = target("m 1\n").await;
    let (b, _eb) = target("m 2\n").await;
    let r = rig();
    r.apply(&config(&[("a", &[&a], ""), ("b", &[&b], "")])).await;
    eventually("both up", || r.last("up", &a) == Some(1.0) && r.last("up", &b) == Some(1.0)).await;
    r.apply(&config(&[("a", &[&a], ""), ("b", &[&b], "")])).await;
    assert_eq!(r.metrics.pool_reloads.get(), 0, "an identical config touches no pool");
    let relabel = "  metric_relabel_configs:\n  - target_label: extra\n    replacement: x\n";
    r.apply(&config(&[("a", &[&a], relabel), ("b", &[&b], "")])).await;
    assert_eq!(r.metrics.pool_reloads.get(), 1, "only the changed pool reloads");
    eventually("new labels", || !r.samples(&[Matcher::equal("extra", "x")]).is_empty()).await;
    // A job that leaves the config stops; its pool goes away.
    r.apply(&config(&[("a", &[&a], relabel)])).await;
    assert!(!r.manager.pools().contains_key("b"));
    r.shutdown.cancel();
    r.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limit_fails_every_target_of_the_pool() {
    let (a, _ea) = target("m 1\n").await;
    let (b, _eb) = target("m 1\n").await;
    let (c, _ec) = target("m 1\n").await;
    let r = rig();
    r.apply(&config(&[("j", &[&a, &b, &c], "  target_limit: 2\n")])).await;
    eventually("all down", || [&a, &b, &c].iter().all(|t| r.last("up", t) == Some(0.0))).await;
    let t = r.manager.pools()["j"].active[0].clone();
    assert_eq!(t.state.last().error, "target_limit exceeded (number of targets: 3, limit: 2)");
    assert_eq!(r.metrics.exceeded_target_limit.get(), 1);
    r.apply(&config(&[("j", &[&a, &b], "  target_limit: 2\n")])).await;
    eventually("back up", || r.last("up", &a) == Some(1.0) && r.last("up", &b) == Some(1.0)).await;
    r.shutdown.cancel();
    r.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabeling_drops_targets_and_keeps_them_for_the_api() {
    let (a, _ea) = target("m 1\n").await;
    let (b, _eb) = target("m 1\n").await;
    let r = rig();
    let relabel = format!("  relabel_configs:\n  - source_labels: [__address__]\n    regex: '{}'\n    action: drop\n", b.replace('.', "\\."));
    r.apply(&config(&[("j", &[&a, &b], &relabel)])).await;
    let pools = r.manager.pools();
    assert_eq!(pools["j"].active.len(), 1);
    assert_eq!(pools["j"].dropped_count, 1);
    assert_eq!(pools["j"].dropped[0].discovered.get("__address__"), b);
    r.shutdown.cancel();
    r.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_and_sample_limits_from_the_config() {
    let (a, _ea) = target("m 1\nn 2\nlonger_series_name_to_pass_the_limit 3\n").await;
    let r = rig();
    r.apply(&config(&[("big", &[&a], "  body_size_limit: 20B\n")])).await;
    let t = r.manager.pools()["big"].active[0].clone();
    eventually("body limit error", || t.state.last().error == "body size limit exceeded").await;
    assert!(r.metrics.exceeded_body_size_limit.get() >= 1);
    assert_eq!(r.last("up", &a), Some(0.0));

    r.apply(&config(&[("big", &[&a], "  sample_limit: 2\n")])).await;
    let t = r.manager.pools()["big"].active[0].clone();
    eventually("sample limit error", || t.state.last().error == "sample limit exceeded").await;
    assert_eq!(r.last("scrape_samples_post_metric_relabeling", &a), Some(3.0), "the report says how many there were");
    r.shutdown.cancel();
    r.manager.stop().await;
}

/// The `i`th of many distinct addresses on loopback ports nothing listens
/// on (scrapes fail at once).
fn loopback_addr(i: usize) -> String {
    format!("127.{}.{}.1:{}", i / 62_500 + 1, (i / 250) % 250 + 1, 20_000 + i % 250)
}

/// `n` targets, the first `changed` of them replaced by others.
fn file_sd_addrs(n: usize, changed: usize) -> Vec<String> {
    (0..n).map(|i| loopback_addr(if i < changed { i + n } else { i })).collect()
}

fn file_sd_targets(n: usize, changed: usize) -> String {
    let quoted: Vec<String> = file_sd_addrs(n, changed).iter().map(|a| format!("\"{a}\"")).collect();
    format!("[{{\"targets\": [{}], \"labels\": {{\"env\": \"test\"}}}}]", quoted.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sd_change_reaches_the_pool_in_one_batch_and_restarts_only_changed_loops() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    let write = |body: String| {
        // Renamed into place, as deployment tools write such files.
        let tmp = dir.path().join("targets.json.tmp");
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    write(file_sd_targets(N, 0));
    let y = format!("global:\n  scrape_interval: 1h\nscrape_configs:\n- job_name: fs\n  file_sd_configs:\n  - files: ['{}']\n", file.display());
    let cfg = config::Config::load(&y).unwrap();
    let r = rig();
    r.manager.apply_config(&cfg).await.unwrap();

    let opts = discovery::Options { update_interval: Duration::from_millis(200), ..discovery::Options::default() };
    let (sd, mut batches) = discovery::Manager::new(opts, discovery::SdMetrics::default());
    sd.apply_config(&cfg.scrape_configs.iter().map(|sc| (sc.job_name.clone(), sc.service_discovery.clone())).collect());
    let token = CancellationToken::new();
    let run = tokio::spawn({
        let (sd, token) = (sd.clone(), token.clone());
        async move { sd.run(token).await }
    });
    let pool = |r: &Rig| r.manager.pools().get("fs").map(|p| (p.active.len(), p.loops_started)).unwrap_or_default();

    // The first batch holds every target.
    let first = tokio::time::timeout(Duration::from_secs(30), batches.recv()).await.unwrap().unwrap();
    r.manager.sync(first.into_iter().collect()).await;
    assert_eq!(pool(&r), (N, N as u64));

    // 1 % of the targets change: the next batch carries the change, and
    // only their loops start (the others keep running).
    write(file_sd_targets(N, N / 100));
    let next = tokio::time::timeout(Duration::from_secs(30), batches.recv()).await.unwrap().unwrap();
    r.manager.sync(next.into_iter().collect()).await;
    assert_eq!(pool(&r), (N, (N + N / 100) as u64));
    let mut active: Vec<String> = r.manager.pools().get("fs").unwrap().active.iter().map(|t| t.labels.get("__address__").to_owned()).collect();
    let mut want = file_sd_addrs(N, N / 100);
    active.sort();
    want.sort();
    assert!(active == want, "the pool's targets are the file's");

    token.cancel();
    run.await.unwrap();
    r.manager.stop().await;
    r.shutdown.cancel();
}
