//! A scrape pool: one per job. It turns the job's target groups into
//! targets, runs one loop per active target, keeps the dropped ones for the
//! targets page, and restarts its loops when its config changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use config::ScrapeConfig;
use discovery::Group;
use model::Labels;
use reqwest::header::{HeaderName, HeaderValue};
use storage::Appendable;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::ScrapeCache;
use crate::fetch::{HttpScraper, request_headers};
use crate::metrics::{ScrapeMetrics, job_label};
use crate::scrape_loop::{self, AppendOptions, Appending, BufferPool, ForcedError, Limits, LoopContext, LoopExit, ScrapeError};
use crate::target::{Populated, Target, populate_labels, public_labels};

/// Why a pool could not be created or reloaded.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("error creating HTTP client: {0}")]
    Client(#[from] httpclient::ClientError),
    #[error("invalid metric name escaping scheme, {0}")]
    Escaping(String),
}

/// A target that relabeling dropped, as the targets page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTarget {
    pub discovered: Labels,
}

/// What the server-wide manager gives every pool.
#[derive(Clone)]
pub struct PoolEnv {
    pub appendable: Arc<dyn Appendable>,
    pub metrics: ScrapeMetrics,
    pub buffers: BufferPool,
    /// Cancelled when the server stops: loops end without staleness markers.
    pub shutdown: CancellationToken,
    pub offset_seed: u64,
    pub user_agent: String,
    /// `--enable-feature=extra-scrape-metrics`.
    pub extra_metrics: bool,
}

impl std::fmt::Debug for PoolEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolEnv").field("offset_seed", &self.offset_seed).finish_non_exhaustive()
    }
}

struct LoopHandle {
    stop: CancellationToken,
    end_of_run: Arc<AtomicBool>,
    join: JoinHandle<LoopExit>,
}

/// The settings derived from a scrape config that every loop of the pool
/// shares.
struct Shared {
    cfg: Arc<ScrapeConfig>,
    client: httpclient::Client,
    append: AppendOptions,
    accept: String,
}

impl Shared {
    fn new(cfg: Arc<ScrapeConfig>, env: &PoolEnv) -> Result<Shared, PoolError> {
        let client =
            httpclient::Client::new(&cfg.http_client_config, httpclient::ClientOptions { user_agent: env.user_agent.clone(), name: cfg.job_name.clone() })?;
        let validation = cfg.validation_scheme();
        let escaping = match cfg.metric_name_escaping_scheme {
            Some(config::global::EscapingScheme::AllowUtf8) if validation == model::ValidationScheme::Legacy => {
                return Err(PoolError::Escaping("utf8 names are not allowed with legacy name validation".into()));
            }
            Some(config::global::EscapingScheme::AllowUtf8) => textparse::EscapingScheme::AllowUtf8,
            Some(config::global::EscapingScheme::Underscores) => textparse::EscapingScheme::Underscores,
            Some(config::global::EscapingScheme::Dots) => textparse::EscapingScheme::Dots,
            Some(config::global::EscapingScheme::Values) => textparse::EscapingScheme::Values,
            None if validation == model::ValidationScheme::Legacy => textparse::EscapingScheme::Underscores,
            None => textparse::EscapingScheme::AllowUtf8,
        };
        let protocols: Vec<textparse::ScrapeProtocol> = match &cfg.scrape_protocols {
            Some(p) => p.iter().filter_map(|p| p.protocol().ok()).collect(),
            None => textparse::ScrapeProtocol::DEFAULT.to_vec(),
        };
        let accept = textparse::accept_header(&protocols, escaping);
        let append = AppendOptions {
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            track_timestamps_staleness: cfg.track_timestamps_staleness,
            metric_relabel: cfg.metric_relabel_configs.clone().into(),
            limits: Limits {
                sample_limit: cfg.sample_limit,
                label_limit: cfg.label_limit,
                label_name_length_limit: cfg.label_name_length_limit,
                label_value_length_limit: cfg.label_value_length_limit,
            },
            fallback_protocol: cfg.fallback_scrape_protocol.as_ref().and_then(|p| p.protocol().ok()),
            validation,
            extra_metrics: env.extra_metrics || cfg.extra_scrape_metrics.unwrap_or(false),
        };
        Ok(Shared { cfg, client, append, accept })
    }
}

/// Whether a loop's cache stays valid under a new config: the cache maps
/// raw series text to final labels, so anything that shapes those labels
/// must be unchanged.
fn cache_reusable(old: &ScrapeConfig, new: &ScrapeConfig) -> bool {
    old.honor_labels == new.honor_labels
        && old.honor_timestamps == new.honor_timestamps
        && old.track_timestamps_staleness == new.track_timestamps_staleness
        && old.metric_relabel_configs == new.metric_relabel_configs
        && old.metric_name_validation_scheme == new.metric_name_validation_scheme
}

/// One job's targets and loops.
pub struct ScrapePool {
    shared: Shared,
    env: PoolEnv,
    groups: Vec<Group>,
    active: HashMap<u64, Arc<Target>>,
    loops: HashMap<u64, LoopHandle>,
    dropped: Vec<Arc<DroppedTarget>>,
    dropped_count: usize,
    forced: ForcedError,
    /// Loops started over the pool's life: what a target-set change costs,
    /// which tests check is only the changed targets.
    loops_started: u64,
}

impl std::fmt::Debug for ScrapePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapePool").field("job", &self.shared.cfg.job_name).field("targets", &self.active.len()).finish_non_exhaustive()
    }
}

impl ScrapePool {
    pub fn new(cfg: Arc<ScrapeConfig>, env: PoolEnv) -> Result<ScrapePool, PoolError> {
        env.metrics.pools_total.inc();
        let shared = Shared::new(cfg, &env).inspect_err(|_| {
            env.metrics.pools_failed.inc();
        })?;
        env.metrics.pool_target_limit.get_or_create(&job_label(&shared.cfg.job_name)).set(shared.cfg.target_limit as i64);
        Ok(ScrapePool {
            shared,
            env,
            groups: Vec::new(),
            active: HashMap::new(),
            loops: HashMap::new(),
            dropped: Vec::new(),
            dropped_count: 0,
            forced: ForcedError::default(),
            loops_started: 0,
        })
    }

    pub fn config(&self) -> &Arc<ScrapeConfig> {
        &self.shared.cfg
    }

    pub fn active_targets(&self) -> Vec<Arc<Target>> {
        self.active.values().cloned().collect()
    }

    pub fn dropped_targets(&self) -> (Vec<Arc<DroppedTarget>>, usize) {
        (self.dropped.clone(), self.dropped_count)
    }

    pub fn loops_started(&self) -> u64 {
        self.loops_started
    }

    /// Takes the job's full set of target groups: starts loops for new
    /// targets and stops those of targets that are gone (which then write
    /// their staleness markers).
    pub fn sync(&mut self, groups: Vec<Group>) {
        let start = Instant::now();
        let job = self.shared.cfg.job_name.clone();
        self.groups = groups;
        let wanted = self.populate();
        let gone: Vec<u64> = self.active.keys().filter(|h| !wanted.contains_key(h)).copied().collect();
        for h in gone {
            self.active.remove(&h);
            if let Some(l) = self.loops.remove(&h) {
                // The loop writes its end-of-run markers in the background.
                l.stop.cancel();
            }
        }
        for (h, t) in wanted {
            if self.active.contains_key(&h) {
                continue;
            }
            self.start_loop(h, t, ScrapeCache::new());
        }
        self.refresh_target_limit();
        let label = job_label(&job);
        self.env.metrics.pool_targets.get_or_create(&label).set(self.active.len() as i64);
        self.env.metrics.pool_syncs.get_or_create(&label).inc();
        self.env.metrics.sync_length.observe(&job, start.elapsed().as_secs_f64());
    }

    /// Applies a changed config: every loop is restarted with it, keeping
    /// its cache when the cache stays valid, and the targets are rebuilt
    /// from the last groups (relabeling may have changed).
    pub async fn reload(&mut self, cfg: Arc<ScrapeConfig>) -> Result<(), PoolError> {
        let start = Instant::now();
        self.env.metrics.pool_reloads.inc();
        let shared = Shared::new(cfg, &self.env).inspect_err(|_| {
            self.env.metrics.pool_reloads_failed.inc();
        })?;
        let reuse = cache_reusable(&self.shared.cfg, &shared.cfg);
        self.shared = shared;
        let job = self.shared.cfg.job_name.clone();
        self.env.metrics.pool_target_limit.get_or_create(&job_label(&job)).set(self.shared.cfg.target_limit as i64);
        let wanted = self.populate();
        let old: Vec<(u64, LoopHandle)> = self.loops.drain().collect();
        self.active.clear();
        let mut handover = Vec::new();
        for (h, l) in old {
            if wanted.contains_key(&h) {
                // The successor takes over its series: no end-of-run markers.
                l.end_of_run.store(false, Ordering::Release);
                l.stop.cancel();
                handover.push((h, l.join));
            } else {
                l.stop.cancel();
            }
        }
        let mut caches = HashMap::new();
        for (h, join) in handover {
            if let Ok(exit) = join.await {
                if reuse {
                    caches.insert(h, exit.cache);
                }
            }
        }
        for (h, t) in wanted {
            let cache = caches.remove(&h).unwrap_or_default();
            self.start_loop(h, t, cache);
        }
        self.refresh_target_limit();
        self.env.metrics.pool_targets.get_or_create(&job_label(&job)).set(self.active.len() as i64);
        self.env.metrics.reload_length.observe(&crate::target::go_duration(self.shared.cfg.scrape_interval.as_std()), start.elapsed().as_secs_f64());
        Ok(())
    }

    /// Stops every loop without staleness markers (the server is stopping
    /// or the job left the config, as Prometheus does) and waits for them.
    pub async fn stop(&mut self) {
        let loops: Vec<LoopHandle> = self.loops.drain().map(|(_, l)| l).collect();
        for l in &loops {
            l.end_of_run.store(false, Ordering::Release);
            l.stop.cancel();
        }
        for l in loops {
            let _ = l.join.await;
        }
        self.active.clear();
        let label = job_label(&self.shared.cfg.job_name);
        self.env.metrics.pool_targets.remove(&label);
        self.env.metrics.pool_target_limit.remove(&label);
        self.env.metrics.sync_length.remove(&self.shared.cfg.job_name);
    }

    /// The active targets the groups describe, by hash; dropped ones are
    /// recorded on the pool.
    fn populate(&mut self) -> HashMap<u64, Arc<Target>> {
        let cfg = &self.shared.cfg;
        let mut wanted: HashMap<u64, Arc<Target>> = HashMap::new();
        self.dropped.clear();
        self.dropped_count = 0;
        let mut failures = 0u64;
        for g in &self.groups {
            for t in &g.targets {
                let (res, discovered) = populate_labels(t, &g.labels, cfg);
                match res {
                    Ok(Populated::Active(labels)) => {
                        let target = Target::new(labels, discovered, cfg);
                        let h = target.hash();
                        // A target listed twice is scraped once; an already
                        // running one keeps its state.
                        let existing = self.active.get(&h).cloned();
                        wanted.entry(h).or_insert_with(|| existing.unwrap_or_else(|| Arc::new(target)));
                    }
                    Ok(Populated::Dropped) => {
                        if cfg.keep_dropped_targets == 0 || (self.dropped.len() as u64) < cfg.keep_dropped_targets {
                            self.dropped.push(Arc::new(DroppedTarget { discovered }));
                        }
                        self.dropped_count += 1;
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::error!(component = "scrape manager", scrape_pool = %cfg.job_name, err = %e, "Creating target failed");
                    }
                }
            }
        }
        if failures > 0 {
            self.env.metrics.sync_failed.get_or_create(&job_label(&cfg.job_name)).inc_by(failures);
        }
        wanted
    }

    fn start_loop(&mut self, h: u64, target: Arc<Target>, cache: ScrapeCache) {
        self.loops_started += 1;
        let shared = &self.shared;
        let url = match url::Url::parse(&target.scrape_url) {
            Ok(u) => u,
            Err(e) => {
                target.state.record(Some(format!("invalid scrape URL {:?}: {e}", target.scrape_url)), 0, std::time::Duration::ZERO);
                self.active.insert(h, target);
                return;
            }
        };
        let headers: Arc<[(HeaderName, HeaderValue)]> = request_headers(&shared.accept, shared.cfg.enable_compression, target.timeout).into();
        let scraper =
            HttpScraper { client: shared.client.clone(), url, headers, timeout: target.timeout, body_size_limit: shared.cfg.body_size_limit.0.max(0) as u64 };
        let cx = LoopContext {
            appending: Appending::new(shared.append.clone(), public_labels(&target.labels), self.env.metrics.clone()),
            appendable: self.env.appendable.clone(),
            cache,
            state: target.state.clone(),
            interval: target.interval,
            timeout: target.timeout,
            offset: target.offset(self.env.offset_seed, std::time::SystemTime::now()),
            buffers: self.env.buffers.clone(),
            metrics: self.env.metrics.clone(),
            forced_error: self.forced.clone(),
        };
        let stop = self.env.shutdown.child_token();
        let end_of_run = Arc::new(AtomicBool::new(true));
        let join = tokio::spawn(scrape_loop::run(scraper, cx, stop.clone(), self.env.shutdown.clone(), end_of_run.clone()));
        self.loops.insert(h, LoopHandle { stop, end_of_run, join });
        self.active.insert(h, target);
    }

    /// Over the target limit, every loop of the pool reports the error
    /// instead of scraping, as Prometheus does; back under it, they resume.
    fn refresh_target_limit(&mut self) {
        let limit = self.shared.cfg.target_limit;
        let n = self.active.len();
        if limit > 0 && n as u64 > limit {
            if self.forced.get().is_none() {
                self.env.metrics.exceeded_target_limit.inc();
            }
            self.forced.set(Some(ScrapeError::TargetLimit(n, limit)));
        } else {
            self.forced.set(None);
        }
    }
}
