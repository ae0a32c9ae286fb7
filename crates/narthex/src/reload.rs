//! Loading and reloading the configuration: read and validate the whole
//! file first, keep the old config when the new one is invalid, then hand a
//! valid one to every component in Prometheus's order.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use config::{Config, Mode};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A component's way of taking a new config. It compares against what it
/// runs now and changes only what differs; it may wait (a scrape pool
/// waits for its old loops to hand over).
pub type ApplyFn = Box<dyn Fn(Arc<Config>) -> ApplyFuture + Send + Sync>;

pub type ApplyFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// An applier that needs no waiting.
pub fn sync_applier(f: impl Fn(&Config) -> Result<(), String> + Send + Sync + 'static) -> ApplyFn {
    Box::new(move |cfg| {
        let r = f(&cfg);
        Box::pin(std::future::ready(r))
    })
}

/// The config in force and the components it is handed to.
pub struct Reloader {
    path: PathBuf,
    mode: Mode,
    appliers: Vec<(&'static str, ApplyFn)>,
    success: Gauge,
    success_time: Gauge<f64, AtomicU64>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").field("path", &self.path).field("appliers", &self.appliers.iter().map(|(n, _)| *n).collect::<Vec<_>>()).finish()
    }
}

impl Reloader {
    pub fn new(path: PathBuf, mode: Mode, registry: &mut Registry) -> Self {
        let success = Gauge::default();
        let success_time = Gauge::<f64, AtomicU64>::default();
        registry.register("prometheus_config_last_reload_successful", "Whether the last configuration reload attempt was successful", success.clone());
        registry.register(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            success_time.clone(),
        );
        Reloader { path, mode, appliers: Vec::new(), success, success_time }
    }

    /// The gauges of the last reload's success and time, for the runtime
    /// status page.
    pub fn status(&self) -> (Gauge, Gauge<f64, AtomicU64>) {
        (self.success.clone(), self.success_time.clone())
    }

    /// Registers a component; components are applied in registration order.
    pub fn register(&mut self, name: &'static str, apply: ApplyFn) {
        self.appliers.push((name, apply));
    }

    /// Reads, validates and applies the config file. On error nothing is
    /// applied and the previous config stays in force.
    pub async fn reload(&self) -> Result<(), String> {
        let start = Instant::now();
        tracing::info!(filename = %self.path.display(), "Loading configuration file");
        let (path, mode) = (self.path.clone(), self.mode);
        let loaded = tokio::task::spawn_blocking(move || Config::load_file(&path, mode)).await.map_err(|e| e.to_string());
        let cfg = match loaded {
            Ok(Ok(cfg)) => Arc::new(cfg),
            Ok(Err(e)) => return self.failed(format!("couldn't load configuration (--config.file={:?}): {e}", self.path.display().to_string())),
            Err(e) => return self.failed(e),
        };
        let mut failed = None;
        for (name, apply) in &self.appliers {
            // Every component gets the new config even if an earlier one
            // refused it, as in Prometheus: a half-applied config is better
            // than components out of step with each other.
            if let Err(e) = apply(cfg.clone()).await {
                tracing::error!(component = *name, err = %e, "Failed to apply configuration");
                failed.get_or_insert(format!(
                    "one or more errors occurred while applying the new configuration (--config.file={:?}): {e}",
                    self.path.display().to_string()
                ));
            }
        }
        if let Some(e) = failed {
            return self.failed(e);
        }
        self.success.set(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        self.success_time.set(now.floor());
        tracing::info!(filename = %self.path.display(), totalDuration = ?start.elapsed(), "Completed loading of configuration file");
        Ok(())
    }

    fn failed(&self, e: String) -> Result<(), String> {
        self.success.set(0);
        tracing::error!(err = %e, "Error reloading config");
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn bad_config_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yml");
        std::fs::write(&path, "scrape_configs: [{job_name: a}]\n").unwrap();
        let mut reg = Registry::default();
        let mut r = Reloader::new(path.clone(), Mode::Server, &mut reg);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        r.register(
            "test",
            sync_applier(move |c| {
                s.lock().unwrap().push(c.scrape_configs[0].job_name.clone());
                Ok(())
            }),
        );
        r.reload().await.unwrap();
        assert_eq!(r.success.get(), 1);
        std::fs::write(&path, "scrape_configs: [{job_name: a, bogus: 1}]\n").unwrap();
        let e = r.reload().await.unwrap_err();
        assert!(e.contains("field bogus not found"), "{e}");
        assert_eq!(r.success.get(), 0);
        std::fs::write(&path, "scrape_configs: [{job_name: b}]\n").unwrap();
        r.reload().await.unwrap();
        assert_eq!(r.success.get(), 1);
        assert_eq!(*seen.lock().unwrap(), ["a", "b"], "the bad config reached no component");
    }
}
