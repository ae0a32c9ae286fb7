//! `file_sd_configs`: target groups read from JSON or YAML files named by
//! paths whose last segment may be a glob. Files are re-read when inotify
//! reports a change in their folders and every `refresh_interval`, which
//! also catches what the watches missed (a folder created later, an
//! exhausted watch limit).
//!
//! As in Prometheus, each group's source is `<path>:<index>`, each gets
//! `__meta_filepath`, a file that cannot be read or parsed keeps its last
//! good groups (and counts `prometheus_sd_file_read_errors_total`), and the
//! groups of a deleted file, or past the end of a shortened one, are sent
//! empty so that their targets go.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use config::sd::FileSdConfig;
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::Group;
use crate::metrics::SdMetrics;
use crate::targetgroup::{DecodeError, decode_json, decode_yaml};

const FILEPATH_LABEL: &str = "__meta_filepath";

/// Why one file's groups could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("file is not valid UTF-8")]
    NotUtf8,
}

#[derive(Debug)]
pub(crate) struct FileDiscovery {
    patterns: Vec<String>,
    interval: Duration,
    metrics: SdMetrics,
    /// How many groups each file had at the last refresh, to know which
    /// sources to empty when a file shrinks or goes.
    last: BTreeMap<String, usize>,
}

/// The inotify watcher and the folders it already watches; used from
/// blocking threads only, since adding a watch waits on the watcher's own
/// thread.
struct Watches {
    watcher: notify::RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
}

impl FileDiscovery {
    pub(crate) fn new(cfg: &FileSdConfig, metrics: SdMetrics) -> FileDiscovery {
        FileDiscovery { patterns: cfg.files.clone(), interval: cfg.refresh_interval.as_std(), metrics, last: BTreeMap::new() }
    }

    pub(crate) async fn run(mut self, tx: mpsc::Sender<Vec<Group>>) {
        // A capacity of one coalesces a burst of events into one re-read.
        let (changed_tx, mut changed) = mpsc::channel::<()>(1);
        let watches = match notify::recommended_watcher(move |res: notify::Result<Event>| match res {
            Ok(ev) if is_change(&ev) => {
                let _ = changed_tx.try_send(());
            }
            Ok(_) => {}
            Err(e) => tracing::error!(component = "discovery manager", discovery = "file", err = %e, "Error watching file"),
        }) {
            Ok(w) => Some(Arc::new(Mutex::new(Watches { watcher: w, dirs: BTreeSet::new() }))),
            Err(e) => {
                tracing::error!(component = "discovery manager", discovery = "file", err = %e, "Error adding file watcher; relying on refresh_interval");
                None
            }
        };
        if !self.refresh(&tx, watches.as_ref()).await {
            return;
        }
        let start = tokio::time::Instant::now() + self.interval;
        let mut ticker = tokio::time::interval_at(start, self.interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                Some(()) = changed.recv() => {}
            }
            if !self.refresh(&tx, watches.as_ref()).await {
                return;
            }
        }
    }

    /// Re-reads every matching file and sends what changed; false once the
    /// manager no longer listens.
    async fn refresh(&mut self, tx: &mpsc::Sender<Vec<Group>>, watches: Option<&Arc<Mutex<Watches>>>) -> bool {
        let patterns = self.patterns.clone();
        let watches = watches.cloned();
        let read = tokio::task::spawn_blocking(move || {
            let files = list_files(&patterns);
            let read: Vec<(String, Result<Vec<Group>, FileError>)> = files.into_iter().map(|f| (f.clone(), read_file(&f))).collect();
            // After reading, as Prometheus does: a folder created since the
            // last refresh gets its watch now.
            if let Some(w) = watches {
                watch_dirs(&w, &patterns);
            }
            read
        })
        .await;
        let read = match read {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(component = "discovery manager", discovery = "file", err = %e, "File discovery refresh failed");
                return true;
            }
        };
        let mut now = BTreeMap::new();
        let mut update = Vec::new();
        for (path, result) in read {
            match result {
                Ok(groups) => {
                    now.insert(path, groups.len());
                    update.extend(groups);
                }
                Err(e) => {
                    self.metrics.file_read_errors.inc();
                    tracing::error!(component = "discovery manager", discovery = "file", path = %path, err = %e, "Error reading file");
                    // Keeps its last good groups: its sources are neither
                    // re-sent nor emptied.
                    if let Some(n) = self.last.get(&path) {
                        now.insert(path, *n);
                    }
                }
            }
        }
        for (path, &n) in &self.last {
            let m = now.get(path).copied().unwrap_or(0);
            update.extend((m..n).map(|i| Group::empty(source(path, i))));
        }
        self.last = now;
        if update.is_empty() {
            return true;
        }
        tx.send(update).await.is_ok()
    }
}

/// Whether an inotify event may mean new content. Reads (ours included)
/// and permission changes do not; the end of a write does.
fn is_change(ev: &Event) -> bool {
    if ev.paths.is_empty() {
        return false;
    }
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// Go's `filepath.Glob` of each pattern; a bad pattern is logged and
/// skipped. Unreadable entries are skipped as Go's glob skips them.
fn list_files(patterns: &[String]) -> Vec<String> {
    let opts = glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };
    let mut out = Vec::new();
    for p in patterns {
        match glob::glob_with(p, opts) {
            Ok(paths) => out.extend(paths.flatten().filter(|p| p.is_file()).map(|p| p.to_string_lossy().into_owned())),
            Err(e) => tracing::error!(component = "discovery manager", discovery = "file", glob = %p, err = %e, "Error expanding glob"),
        }
    }
    out
}

/// Each pattern's folder (the part before the last `/`), as Prometheus
/// watches folders rather than files so that new and replaced files show.
fn watch_dirs(w: &Mutex<Watches>, patterns: &[String]) {
    let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
    for p in patterns {
        let dir = PathBuf::from(p.rfind('/').map_or("./", |i| if i == 0 { "/" } else { &p[..i] }));
        if w.dirs.contains(&dir) {
            // A folder deleted since loses its watch with it; once it is
            // back, it needs a new one.
            if dir.is_dir() {
                continue;
            }
            w.dirs.remove(&dir);
        }
        match w.watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                w.dirs.insert(dir);
            }
            Err(e) => tracing::error!(component = "discovery manager", discovery = "file", path = %dir.display(), err = %e, "Error adding file watch"),
        }
    }
}

fn source(path: &str, i: usize) -> String {
    format!("{path}:{i}")
}

/// A file's groups, decoded by its extension (validated at config load).
fn read_file(path: &str) -> Result<Vec<Group>, FileError> {
    let bytes = std::fs::read(path)?;
    let ext = Path::new(path).extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let tgs = if ext == "json" { decode_json(&bytes)? } else { decode_yaml(std::str::from_utf8(&bytes).map_err(|_| FileError::NotUtf8)?)? };
    Ok(tgs.into_iter().enumerate().map(|(i, tg)| Group::from_discovered(tg, source(path, i), (FILEPATH_LABEL, path))).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn discovery(patterns: &[String], interval: Duration) -> FileDiscovery {
        let cfg = FileSdConfig { files: patterns.to_vec(), refresh_interval: config::Duration::from_std(interval) };
        FileDiscovery::new(&cfg, SdMetrics::default())
    }

    /// The latest group per source, as the manager would keep them.
    fn apply(state: &mut BTreeMap<String, Group>, update: Vec<Group>) {
        for g in update {
            if g.targets.is_empty() {
                state.remove(&g.source);
            } else {
                state.insert(g.source.clone(), g);
            }
        }
    }

    async fn next(rx: &mut mpsc::Receiver<Vec<Group>>) -> Vec<Group> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an update in time").expect("channel open")
    }

    #[tokio::test]
    async fn targets_appear_change_and_disappear() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        let yaml = dir.path().join("b.yml");
        std::fs::write(&json, r#"[{"targets": ["h1:1", "h2:2"], "labels": {"env": "prod"}}, {"targets": ["h3:3"]}]"#).unwrap();
        std::fs::write(&yaml, "- targets: ['y:9']\n").unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let metrics = SdMetrics::default();
        let mut d = discovery(&[format!("{}/*.json", dir.path().display()), format!("{}/*.yml", dir.path().display())], Duration::from_secs(3600));
        d.metrics = metrics.clone();
        let task = tokio::spawn(d.run(tx));
        let mut state = BTreeMap::new();
        apply(&mut state, next(&mut rx).await);
        let jpath = json.display().to_string();
        let g0 = &state[&format!("{jpath}:0")];
        assert_eq!(g0.targets.len(), 2);
        assert_eq!(g0.labels.get("env"), "prod");
        assert_eq!(g0.labels.get("__meta_filepath"), jpath);
        assert_eq!(state.len(), 3);

        // The watch sees the rewrite: one group fewer, new labels.
        std::fs::write(&json, r#"[{"targets": ["h9:9"], "labels": {"env": "dev"}}]"#).unwrap();
        while state.len() != 2 || state[&format!("{jpath}:0")].labels.get("env") != "dev" {
            apply(&mut state, next(&mut rx).await);
        }

        // A broken file keeps its last good groups and counts an error.
        std::fs::write(&json, "[{").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(u) = rx.try_recv() {
            apply(&mut state, u);
        }
        assert_eq!(state.len(), 2);
        assert!(metrics.file_read_errors.get() >= 1);

        // A deleted file's groups are emptied.
        std::fs::remove_file(&yaml).unwrap();
        while state.keys().any(|k| k.ends_with("b.yml:0")) {
            apply(&mut state, next(&mut rx).await);
        }
        assert_eq!(state.len(), 1);
        task.abort();
    }

    #[tokio::test]
    async fn polling_finds_files_in_a_folder_created_later() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("later");
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(discovery(&[format!("{}/*.yaml", sub.display())], Duration::from_millis(100)).run(tx));
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("t.yaml"), "- targets: ['a:1']\n").unwrap();
        let u = next(&mut rx).await;
        assert_eq!(u[0].targets[0].get("__address__"), "a:1");
        assert!(u[0].source.ends_with("later/t.yaml:0"));
        task.abort();
    }

    #[test]
    fn events_that_mean_new_content() {
        let ev = |kind| Event { kind, paths: vec![PathBuf::from("/x")], attrs: Default::default() };
        assert!(is_change(&ev(EventKind::Create(notify::event::CreateKind::File))));
        assert!(is_change(&ev(EventKind::Access(AccessKind::Close(AccessMode::Write)))));
        assert!(!is_change(&ev(EventKind::Access(AccessKind::Open(AccessMode::Any)))));
        assert!(!is_change(&ev(EventKind::Modify(ModifyKind::Metadata(notify::event::MetadataKind::Permissions)))));
    }
}
