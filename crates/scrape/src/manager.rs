//! The scrape manager: one pool per job of the config. A reload rebuilds
//! only the pools whose config changed; target-group updates (from the
//! discovery manager, or the static configs) are handed to their pool.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use config::{Config, ScrapeConfig};
use discovery::Group;
use tokio::sync::Mutex;

use crate::pool::{DroppedTarget, PoolEnv, PoolError, ScrapePool};
use crate::target::Target;

/// Pools that could not be created or reloaded; the others were applied.
#[derive(Debug, thiserror::Error)]
#[error("error reloading target set: {}", .0.iter().map(|(job, e)| format!("{job}: {e}")).collect::<Vec<_>>().join("; "))]
pub struct ApplyError(pub Vec<(String, PoolError)>);

/// One pool as the targets API shows it.
#[derive(Debug, Clone)]
pub struct PoolView {
    pub config: Arc<ScrapeConfig>,
    pub active: Vec<Arc<Target>>,
    pub dropped: Vec<Arc<DroppedTarget>>,
    pub dropped_count: usize,
    pub loops_started: u64,
}

#[derive(Debug, Default)]
struct Inner {
    pools: BTreeMap<String, ScrapePool>,
    /// The latest groups per job, kept for pools created after them.
    groups: HashMap<String, Vec<Group>>,
}

/// The scrape manager. Mutations are serialised; the API reads a snapshot
/// that is replaced after each of them, so a slow sync never blocks it.
#[derive(Debug)]
pub struct Manager {
    env: PoolEnv,
    inner: Mutex<Inner>,
    view: RwLock<Arc<BTreeMap<String, PoolView>>>,
}

impl Manager {
    pub fn new(env: PoolEnv) -> Manager {
        Manager { env, inner: Mutex::default(), view: RwLock::default() }
    }

    /// Applies the scrape configs: new jobs get a pool, removed jobs lose
    /// theirs, changed ones are reloaded, identical ones are left alone
    /// (their loops and caches keep running).
    pub async fn apply_config(&self, cfg: &Config) -> Result<(), ApplyError> {
        let mut inner = self.inner.lock().await;
        let wanted: BTreeMap<String, Arc<ScrapeConfig>> = cfg.scrape_configs.iter().map(|c| (c.job_name.clone(), Arc::new(c.clone()))).collect();
        let mut failed = Vec::new();
        let removed: Vec<String> = inner.pools.keys().filter(|j| !wanted.contains_key(*j)).cloned().collect();
        for job in removed {
            if let Some(mut p) = inner.pools.remove(&job) {
                p.stop().await;
            }
            inner.groups.remove(&job);
        }
        for (job, sc) in wanted {
            let Inner { pools, groups } = &mut *inner;
            match pools.get_mut(&job) {
                Some(p) if **p.config() == *sc => {}
                Some(p) => {
                    if let Err(e) = p.reload(sc).await {
                        tracing::error!(component = "scrape manager", scrape_pool = %job, err = %e, "error reloading scrape pool");
                        failed.push((job, e));
                    }
                }
                None => match ScrapePool::new(sc, self.env.clone()) {
                    Ok(mut p) => {
                        if let Some(g) = groups.get(&job) {
                            p.sync(g.clone());
                        }
                        pools.insert(job, p);
                    }
                    Err(e) => {
                        tracing::error!(component = "scrape manager", scrape_pool = %job, err = %e, "error creating new scrape pool");
                        failed.push((job, e));
                    }
                },
            }
        }
        self.publish(&inner);
        if failed.is_empty() { Ok(()) } else { Err(ApplyError(failed)) }
    }

    /// Hands each job its full, current list of target groups. Jobs not
    /// mentioned keep theirs.
    pub async fn sync(&self, sets: HashMap<String, Vec<Group>>) {
        let mut inner = self.inner.lock().await;
        for (job, groups) in sets {
            if let Some(p) = inner.pools.get_mut(&job) {
                p.sync(groups.clone());
            }
            inner.groups.insert(job, groups);
        }
        self.publish(&inner);
    }

    /// Stops every pool and waits for their loops.
    pub async fn stop(&self) {
        let mut inner = self.inner.lock().await;
        for p in inner.pools.values_mut() {
            p.stop().await;
        }
        inner.pools.clear();
        self.publish(&inner);
    }

    /// The pools as the last mutation left them, by job name.
    pub fn pools(&self) -> Arc<BTreeMap<String, PoolView>> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn publish(&self, inner: &Inner) {
        let view: BTreeMap<String, PoolView> = inner
            .pools
            .iter()
            .map(|(job, p)| {
                let mut active = p.active_targets();
                active.sort_by(|a, b| a.labels.cmp(&b.labels));
                let (dropped, dropped_count) = p.dropped_targets();
                (job.clone(), PoolView { config: p.config().clone(), active, dropped, dropped_count, loops_started: p.loops_started() })
            })
            .collect();
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
    }
}
