//! The discovery manager: runs one task per provider, keeps the latest
//! groups each provider reported per (job, provider, source), and hands its
//! consumer (the scrape manager) the full `job -> groups` view at most once
//! per update interval, and only when that view changed, so that a chatty
//! provider never floods the consumer.
//!
//! A reload keeps the providers whose config is unchanged (compared by
//! value; one provider serves every job with an identical config, as in
//! Prometheus), cancels the others and drops their groups at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use config::sd::{ServiceDiscoveryConfigs, TargetGroup};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Group;
use crate::metrics::{SdMetrics, name_label, set_labels};
use crate::provider::{Discoverer, Env, ProviderConfig, provider_configs};

/// Every job's (or Alertmanager set's) current groups.
pub type TargetSets = HashMap<String, Vec<Group>>;

#[derive(Debug, Clone)]
pub struct Options {
    /// `scrape` or `notify`: the `name` label of the metrics.
    pub name: String,
    /// The batching period (Prometheus's fixed 5 s `updatert`).
    pub update_interval: Duration,
    /// Sent by providers that make HTTP requests.
    pub user_agent: String,
    /// The one nameserver DNS discovery asks instead of resolv.conf's (for
    /// tests: Prometheus has no such setting).
    pub dns_nameserver: Option<std::net::SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options { name: "scrape".into(), update_interval: Duration::from_secs(5), user_agent: String::new(), dns_nameserver: None }
    }
}

#[derive(Debug)]
struct Provider {
    /// `<kind>/<n>`, unique over the manager's life.
    name: String,
    config: ProviderConfig,
    /// The jobs that use this provider.
    subs: BTreeSet<String>,
    token: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    providers: Vec<Provider>,
    /// (job, provider name) -> source -> the group's latest non-empty version.
    targets: BTreeMap<(String, String), BTreeMap<String, Group>>,
    next_provider: usize,
    /// Jobs with a `prometheus_sd_discovered_targets` series.
    reported: BTreeSet<String>,
}

#[derive(Debug)]
struct Shared {
    opts: Options,
    metrics: SdMetrics,
    state: Mutex<State>,
    /// Set by every update and by reloads; the sender clears it.
    dirty: AtomicBool,
    out: mpsc::Sender<TargetSets>,
    root: CancellationToken,
    tracker: TaskTracker,
}

/// The manager; cheap to clone.
#[derive(Debug, Clone)]
pub struct Manager {
    shared: Arc<Shared>,
}

/// The receiving end of the manager's batches.
pub type Updates = mpsc::Receiver<TargetSets>;

impl Manager {
    /// Creates the manager and the channel its batches arrive on. Nothing is
    /// sent until [`Manager::run`] runs.
    pub fn new(opts: Options, metrics: SdMetrics) -> (Manager, Updates) {
        metrics.init_manager(&opts.name);
        // One slot: a consumer busy with the previous batch makes the next
        // one wait a period (counted as delayed), never pile up.
        let (out, rx) = mpsc::channel(1);
        let shared =
            Shared { opts, metrics, state: Mutex::default(), dirty: AtomicBool::new(false), out, root: CancellationToken::new(), tracker: TaskTracker::new() };
        (Manager { shared: Arc::new(shared) }, rx)
    }

    /// Sends batches until `token` is cancelled, then stops every provider
    /// and waits for their tasks.
    pub async fn run(&self, token: CancellationToken) {
        let s = &self.shared;
        let mut last_sent: Option<TargetSets> = None;
        let period = s.opts.update_interval.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = ticker.tick() => {}
            }
            if !s.dirty.swap(false, Ordering::AcqRel) {
                continue;
            }
            let sets = self.all_groups();
            if last_sent.as_ref() == Some(&sets) {
                continue;
            }
            match s.out.try_send(sets.clone()) {
                Ok(()) => {
                    s.metrics.sent_updates.get_or_create(&name_label(&s.opts.name)).inc();
                    last_sent = Some(sets);
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.metrics.delayed_updates.get_or_create(&name_label(&s.opts.name)).inc();
                    tracing::debug!(component = "discovery manager", name = %s.opts.name, "Discovery receiver's channel was full so will retry the next cycle");
                    s.dirty.store(true, Ordering::Release);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
        s.root.cancel();
        s.tracker.close();
        s.tracker.wait().await;
    }

    /// Applies the discovery blocks of every job (or Alertmanager set).
    /// Providers whose config is unchanged keep running with their groups;
    /// the others stop and their groups go. Kinds not implemented yet are
    /// logged and counted in `prometheus_sd_failed_configs`.
    pub fn apply_config(&self, sets: &BTreeMap<String, ServiceDiscoveryConfigs>) {
        let s = &self.shared;
        let env = Env { metrics: s.metrics.clone(), user_agent: s.opts.user_agent.clone(), dns_nameserver: s.opts.dns_nameserver };
        let mut state = s.state.lock().unwrap_or_else(|p| p.into_inner());
        let old = std::mem::take(&mut state.providers);
        let mut new_subs: Vec<BTreeSet<String>> = vec![BTreeSet::new(); old.len()];
        let mut started: Vec<(Provider, Discoverer)> = Vec::new();
        let mut failed = 0i64;
        for (set, sd) in sets {
            let (mut cfgs, unsupported) = provider_configs(sd);
            for kind in unsupported {
                failed += 1;
                tracing::error!(component = "discovery manager", config = %set, kind, "Cannot create service discovery: not implemented yet");
            }
            let mut added = false;
            if cfgs.is_empty() {
                // An empty group makes the job show up with no targets, so
                // that its consumer drops any it had.
                cfgs.push(ProviderConfig::Static(vec![TargetGroup::default()]));
            }
            for cfg in cfgs {
                if let Some(i) = old.iter().position(|p| p.config == cfg) {
                    new_subs[i].insert(set.clone());
                    added = true;
                    continue;
                }
                if let Some((p, _)) = started.iter_mut().find(|(p, _)| p.config == cfg) {
                    p.subs.insert(set.clone());
                    added = true;
                    continue;
                }
                match Discoverer::build(&cfg, &env) {
                    Ok(d) => {
                        let name = format!("{}/{}", cfg.kind(), state.next_provider);
                        state.next_provider += 1;
                        let token = s.root.child_token();
                        started.push((Provider { name, config: cfg, subs: BTreeSet::from([set.clone()]), token }, d));
                        added = true;
                    }
                    Err(e) => {
                        failed += 1;
                        tracing::error!(component = "discovery manager", config = %set, kind = cfg.kind(), err = %e, "Cannot create service discovery");
                    }
                }
            }
            if !added {
                let cfg = ProviderConfig::Static(vec![TargetGroup::default()]);
                if let Ok(d) = Discoverer::build(&cfg, &env) {
                    let name = format!("static/{}", state.next_provider);
                    state.next_provider += 1;
                    started.push((Provider { name, config: cfg, subs: BTreeSet::from([set.clone()]), token: s.root.child_token() }, d));
                }
            }
        }
        s.metrics.failed_configs.get_or_create(&name_label(&s.opts.name)).set(failed);

        let mut kept = Vec::new();
        for (mut p, subs) in old.into_iter().zip(new_subs) {
            if subs.is_empty() {
                // Cancelled under the lock that updates take, so that no
                // update of this provider lands after its groups are gone.
                p.token.cancel();
                for sub in &p.subs {
                    state.targets.remove(&(sub.clone(), p.name.clone()));
                }
                continue;
            }
            // A job newly using a running provider starts from the groups
            // the provider already reported.
            let reference = p.subs.iter().next().and_then(|sub| state.targets.get(&(sub.clone(), p.name.clone()))).cloned();
            for gone in p.subs.difference(&subs) {
                state.targets.remove(&(gone.clone(), p.name.clone()));
            }
            if let Some(reference) = reference {
                for added in subs.difference(&p.subs) {
                    state.targets.insert((added.clone(), p.name.clone()), reference.clone());
                }
            }
            p.subs = subs;
            kept.push(p);
        }
        for gone in state.reported.iter().filter(|set| !sets.contains_key(*set)) {
            s.metrics.discovered_targets.remove(&set_labels(&s.opts.name, gone));
        }
        state.reported.retain(|set| sets.contains_key(set));
        for set in sets.keys() {
            if state.reported.insert(set.clone()) {
                s.metrics.discovered_targets.get_or_create(&set_labels(&s.opts.name, set)).set(0);
            }
        }
        state.providers = kept;
        for (p, d) in started {
            self.start(&p, d);
            state.providers.push(p);
        }
        // Consumers expect the full state after a reload, and dropped jobs'
        // targets should go without waiting for a provider to speak.
        s.dirty.store(true, Ordering::Release);
    }

    /// Spawns the provider's task and the task that files its updates.
    fn start(&self, p: &Provider, d: Discoverer) {
        tracing::debug!(component = "discovery manager", provider = %p.name, subs = ?p.subs, "Starting provider");
        let (tx, rx) = mpsc::channel::<Vec<Group>>(1);
        let token = p.token.clone();
        self.shared.tracker.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = d.run(tx) => {}
            }
        });
        self.file_updates(p, rx);
    }

    /// Files what the provider sends until it is cancelled or done.
    fn file_updates(&self, p: &Provider, mut rx: mpsc::Receiver<Vec<Group>>) {
        let token = p.token.clone();
        let name = p.name.clone();
        let me = self.clone();
        self.shared.tracker.spawn(async move {
            loop {
                let groups = tokio::select! {
                    _ = token.cancelled() => return,
                    g = rx.recv() => g,
                };
                // A closed channel (a static provider that has sent its
                // list) leaves its groups in place.
                let Some(groups) = groups else { return };
                me.update(&name, &token, groups);
            }
        });
    }

    fn update(&self, provider: &str, token: &CancellationToken, groups: Vec<Group>) {
        let s = &self.shared;
        s.metrics.received_updates.get_or_create(&name_label(&s.opts.name)).inc();
        let mut state = s.state.lock().unwrap_or_else(|p| p.into_inner());
        if token.is_cancelled() {
            return;
        }
        let Some(subs) = state.providers.iter().find(|p| p.name == provider).map(|p| p.subs.clone()) else { return };
        for sub in subs {
            let by_source = state.targets.entry((sub, provider.to_owned())).or_default();
            for g in &groups {
                if g.targets.is_empty() {
                    by_source.remove(&g.source);
                } else {
                    by_source.insert(g.source.clone(), g.clone());
                }
            }
        }
        drop(state);
        s.dirty.store(true, Ordering::Release);
    }

    /// The full view: every job that has a provider, with its groups (an
    /// empty list for a job whose providers found nothing, so that its
    /// consumer drops stale targets).
    fn all_groups(&self) -> TargetSets {
        let s = &self.shared;
        let state = s.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut sets: TargetSets = HashMap::new();
        for p in &state.providers {
            for sub in &p.subs {
                let list = sets.entry(sub.clone()).or_default();
                if let Some(by_source) = state.targets.get(&(sub.clone(), p.name.clone())) {
                    list.extend(by_source.values().cloned());
                }
            }
        }
        for (set, groups) in &sets {
            let n: usize = groups.iter().map(|g| g.targets.len()).sum();
            s.metrics.discovered_targets.get_or_create(&set_labels(&s.opts.name, set)).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        sets
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use model::Labels;

    const PERIOD: Duration = Duration::from_millis(200);

    fn manager() -> (Manager, Updates, SdMetrics, CancellationToken) {
        let metrics = SdMetrics::default();
        let (m, rx) = Manager::new(Options { update_interval: PERIOD, ..Options::default() }, metrics.clone());
        let token = CancellationToken::new();
        let runner = m.clone();
        let t = token.clone();
        tokio::spawn(async move { runner.run(t).await });
        (m, rx, metrics, token)
    }

    fn sd(yaml: &str) -> ServiceDiscoveryConfigs {
        config::yaml::from_str(yaml).unwrap()
    }

    fn sets(pairs: &[(&str, &str)]) -> BTreeMap<String, ServiceDiscoveryConfigs> {
        pairs.iter().map(|(job, y)| ((*job).to_owned(), sd(y))).collect()
    }

    async fn next(rx: &mut Updates) -> TargetSets {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a batch in time").expect("open")
    }

    fn addresses(sets: &TargetSets, job: &str) -> Vec<String> {
        let mut out: Vec<String> = sets[job].iter().flat_map(|g| g.targets.iter().map(|t| t.get("__address__").to_owned())).collect();
        out.sort();
        out
    }

    fn provider_names(m: &Manager) -> Vec<String> {
        m.shared.state.lock().unwrap().providers.iter().map(|p| p.name.clone()).collect()
    }

    /// A provider fed by the test, as Prometheus's StartCustomProvider.
    fn custom(m: &Manager, job: &str) -> mpsc::Sender<Vec<Group>> {
        let (tx, rx) = mpsc::channel(1);
        let p = Provider {
            name: "custom/0".into(),
            config: ProviderConfig::Static(Vec::new()),
            subs: BTreeSet::from([job.to_owned()]),
            token: m.shared.root.child_token(),
        };
        m.file_updates(&p, rx);
        m.shared.state.lock().unwrap().providers.push(p);
        tx
    }

    fn group(source: &str, addrs: &[&str]) -> Group {
        Group { targets: addrs.iter().map(|a| Labels::from_pairs([("__address__", *a)])).collect(), labels: Labels::default(), source: source.into() }
    }

    #[tokio::test]
    async fn static_configs_reach_the_consumer_with_metrics() {
        let (m, mut rx, metrics, token) = manager();
        m.apply_config(&sets(&[("a", "static_configs: [{targets: ['x:1', 'y:2']}]\n"), ("empty", "{}")]));
        let batch = next(&mut rx).await;
        assert_eq!(addresses(&batch, "a"), ["x:1", "y:2"]);
        assert!(batch["empty"].is_empty());
        assert_eq!(metrics.discovered_targets.get_or_create(&set_labels("scrape", "a")).get(), 2);
        assert_eq!(metrics.sent_updates.get_or_create(&name_label("scrape")).get(), 1);
        assert!(metrics.received_updates.get_or_create(&name_label("scrape")).get() >= 2);
        token.cancel();
    }

    #[tokio::test]
    async fn two_quick_updates_make_one_batch_and_nothing_is_sent_without_change() {
        let (m, mut rx, metrics, token) = manager();
        let tx = custom(&m, "job");
        tx.send(vec![group("s1", &["a:1"])]).await.unwrap();
        tx.send(vec![group("s2", &["b:1"])]).await.unwrap();
        let batch = next(&mut rx).await;
        assert_eq!(addresses(&batch, "job"), ["a:1", "b:1"]);
        // The same groups again change nothing: no batch.
        tx.send(vec![group("s2", &["b:1"])]).await.unwrap();
        assert!(tokio::time::timeout(PERIOD * 3, rx.recv()).await.is_err());
        // An empty group removes its source.
        tx.send(vec![group("s1", &[])]).await.unwrap();
        assert_eq!(addresses(&next(&mut rx).await, "job"), ["b:1"]);
        assert_eq!(metrics.sent_updates.get_or_create(&name_label("scrape")).get(), 2);
        token.cancel();
    }

    #[tokio::test]
    async fn a_busy_consumer_gets_the_latest_view_later() {
        let (m, mut rx, metrics, token) = manager();
        let tx = custom(&m, "job");
        tx.send(vec![group("s1", &["a:1"])]).await.unwrap();
        // Nobody reads: the first batch fills the slot, the next is delayed.
        tokio::time::sleep(PERIOD * 2).await;
        tx.send(vec![group("s1", &["a:2"])]).await.unwrap();
        while metrics.delayed_updates.get_or_create(&name_label("scrape")).get() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(addresses(&next(&mut rx).await, "job"), ["a:1"]);
        assert_eq!(addresses(&next(&mut rx).await, "job"), ["a:2"]);
        token.cancel();
    }

    #[tokio::test]
    async fn unchanged_providers_survive_a_reload_and_removed_ones_lose_their_groups() {
        let (m, mut rx, metrics, token) = manager();
        let a = "static_configs: [{targets: ['a:1']}]\n";
        let b = "static_configs: [{targets: ['b:1']}]\n";
        m.apply_config(&sets(&[("a", a), ("b", b)]));
        let batch = next(&mut rx).await;
        assert_eq!((addresses(&batch, "a"), addresses(&batch, "b")), (vec!["a:1".to_owned()], vec!["b:1".to_owned()]));
        let before = provider_names(&m);
        assert_eq!(before.len(), 2);

        // `a` unchanged, `b` gone, `c` shares `a`'s config: one provider,
        // still the same one, and `c` starts from its groups.
        m.apply_config(&sets(&[("a", a), ("c", a)]));
        assert_eq!(provider_names(&m), before[..1]);
        let batch = next(&mut rx).await;
        assert!(!batch.contains_key("b"));
        assert_eq!(addresses(&batch, "a"), ["a:1"]);
        assert_eq!(addresses(&batch, "c"), ["a:1"]);
        assert!(!metrics.discovered_targets.remove(&set_labels("scrape", "b")));

        // A changed config is a new provider; the old one's groups go.
        m.apply_config(&sets(&[("a", b)]));
        let after = provider_names(&m);
        assert_eq!(after.len(), 1);
        assert_ne!(after, before[..1]);
        let batch = next(&mut rx).await;
        assert_eq!(batch.len(), 1);
        assert_eq!(addresses(&batch, "a"), ["b:1"]);
        token.cancel();
    }

    #[tokio::test]
    async fn unsupported_kinds_count_as_failed_configs_and_leave_the_job_empty() {
        let (m, mut rx, metrics, token) = manager();
        m.apply_config(&sets(&[("k", "eureka_sd_configs: [{server: 'http://localhost:8761/eureka'}]\n")]));
        assert_eq!(metrics.failed_configs.get_or_create(&name_label("scrape")).get(), 1);
        let batch = next(&mut rx).await;
        assert!(batch["k"].is_empty());
        token.cancel();
    }

    #[tokio::test]
    async fn stopping_ends_every_provider_task() {
        let (m, _rx) = Manager::new(Options { update_interval: PERIOD, ..Options::default() }, SdMetrics::default());
        let token = CancellationToken::new();
        let runner = m.clone();
        let t = token.clone();
        let run = tokio::spawn(async move { runner.run(t).await });
        let dir = tempfile::tempdir().unwrap();
        m.apply_config(&sets(&[("f", &format!("file_sd_configs: [{{files: ['{}/*.json']}}]\n", dir.path().display()))]));
        assert!(!m.shared.tracker.is_empty());
        token.cancel();
        tokio::time::timeout(Duration::from_secs(10), run).await.unwrap().unwrap();
        assert!(m.shared.tracker.is_closed() && m.shared.tracker.is_empty());
    }
}
