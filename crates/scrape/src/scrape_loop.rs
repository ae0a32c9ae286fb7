//! One target's scrape loop: on its tick, fetch the exposition, turn it into
//! one appender batch (through the series cache, honouring labels, metric
//! relabeling and limits), add the synthetic `up`/`scrape_*` series, write
//! staleness markers for what disappeared, and commit.
//!
//! The appending half ([`Appending`]) takes bytes and a timestamp and knows
//! nothing of time or HTTP, so it is tested directly; the loop half drives
//! it from a [`Scraper`] on a schedule.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::value::stale_nan;
use model::{Labels, LabelsBuilder, ValidationScheme};
use relabel::RelabelConfig;
use storage::{Appender, SeriesRef, StorageError};
use textparse::{Entry, Parser};
use tokio_util::sync::CancellationToken;

use crate::cache::ScrapeCache;
use crate::metrics::ScrapeMetrics;
use crate::target::TargetState;

/// Why a scrape failed; shown as the target's last error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    /// The fetch failed: HTTP status, connection, timeout, body limit.
    #[error("{0}")]
    Fetch(String),
    #[error("{0}")]
    ContentType(#[from] textparse::ContentTypeError),
    #[error("{0}")]
    Parse(#[from] textparse::ParseError),
    #[error("sample limit exceeded")]
    SampleLimit,
    /// The body was larger than `body_size_limit` (Prometheus's wording).
    #[error("body size limit exceeded")]
    BodySizeLimit,
    #[error("{0}")]
    LabelLimit(String),
    #[error("missing metric name (__name__ label)")]
    NameLabelMandatory,
    #[error("invalid metric name or label names: {0}")]
    InvalidNames(String),
    /// The pool's target limit: every target of the pool reports it.
    #[error("target_limit exceeded (number of targets: {0}, limit: {1})")]
    TargetLimit(usize, u64),
    #[error("{0}")]
    Storage(String),
}

/// Fetches one target's exposition into a buffer.
pub trait Scraper: Send + Sync + 'static {
    /// Fills `buf` (cleared first) with the body and returns the response's
    /// `Content-Type`.
    fn scrape(&self, buf: &mut Vec<u8>) -> impl Future<Output = Result<String, ScrapeError>> + Send;
}

/// The limits a scrape is checked against (0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
}

/// How a target's samples are appended: the parts of the scrape config that
/// the loop needs, resolved once per pool.
#[derive(Debug, Clone)]
pub struct AppendOptions {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub metric_relabel: Arc<[RelabelConfig]>,
    pub limits: Limits,
    pub fallback_protocol: Option<textparse::ScrapeProtocol>,
    pub validation: ValidationScheme,
    /// `scrape_timeout_seconds`, `scrape_sample_limit` and
    /// `scrape_body_size_bytes` (Prometheus's extra scrape metrics).
    pub extra_metrics: bool,
}

impl Default for AppendOptions {
    /// Prometheus's defaults for a scrape config that sets nothing.
    fn default() -> Self {
        AppendOptions {
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            metric_relabel: Arc::from(Vec::new()),
            limits: Limits::default(),
            fallback_protocol: None,
            validation: ValidationScheme::Utf8,
            extra_metrics: false,
        }
    }
}

/// The counts a scrape reports through its synthetic series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples in the exposition (`scrape_samples_scraped`).
    pub total: u64,
    /// Samples left after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: u64,
    /// Series not seen by this target's cache before (`scrape_series_added`).
    pub series_added: u64,
}

/// Appends one scrape's samples into a batch. Owns nothing but scratch
/// space; the cache and the appender are lent per call.
#[derive(Debug)]
pub struct Appending {
    opts: AppendOptions,
    /// The target's labels without the reserved `__` ones.
    target: Labels,
    metrics: ScrapeMetrics,
    stale: Vec<(SeriesRef, Labels)>,
    last_stats: AppendStats,
}

impl Appending {
    pub fn new(opts: AppendOptions, target: Labels, metrics: ScrapeMetrics) -> Self {
        Appending { opts, target, metrics, stale: Vec::new(), last_stats: AppendStats::default() }
    }

    /// Appends the samples of `body` at scrape time `ts` (ms). On error the
    /// caller rolls the batch back and calls [`Appending::append_empty`].
    pub fn append(&mut self, app: &mut dyn Appender, cache: &mut ScrapeCache, body: &[u8], content_type: &str, ts: i64) -> Result<AppendStats, ScrapeError> {
        let mut stats = AppendStats::default();
        let r = self.append_counted(app, cache, body, content_type, ts, &mut stats);
        self.last_stats = stats;
        r.map(|()| stats)
    }

    /// The counts of the last [`Appending::append`], also when it failed:
    /// a failed scrape still reports how many samples it had, as
    /// Prometheus does.
    pub fn last_stats(&self) -> AppendStats {
        self.last_stats
    }

    fn append_counted(
        &mut self,
        app: &mut dyn Appender,
        cache: &mut ScrapeCache,
        body: &[u8],
        content_type: &str,
        ts: i64,
        stats: &mut AppendStats,
    ) -> Result<(), ScrapeError> {
        let iter = cache.begin();
        let selected = textparse::parser_for(content_type, body, self.opts.fallback_protocol)?;
        if let Some(w) = &selected.warning {
            tracing::debug!(target_labels = %self.target, warning = %w, "Scrape content type fallback");
        }
        let mut p = selected.parser;
        let mut over_limit = false;
        while let Some(entry) = p.next()? {
            let (raw, value, explicit_ts) = match entry {
                Entry::Series { raw, value, timestamp } => (raw, value, timestamp),
                Entry::Type { metric, kind } => {
                    cache.set_type(metric, kind);
                    continue;
                }
                Entry::Help { metric, text } => {
                    cache.set_help(metric, &text);
                    continue;
                }
                Entry::Unit { metric, unit } => {
                    cache.set_unit(metric, unit);
                    continue;
                }
                Entry::Comment { .. } => continue,
            };
            stats.total += 1;
            let t = match explicit_ts {
                Some(t) if self.opts.honor_timestamps => t,
                _ => ts,
            };
            let tracked = explicit_ts.is_none() || !self.opts.honor_timestamps || self.opts.track_timestamps_staleness;
            let limit = self.opts.limits.sample_limit;
            // The hot path: a series seen before costs one lookup on its
            // raw bytes and the append, with no label work.
            if let Some(e) = cache.get_mut(raw) {
                e.seen = iter;
                if e.dropped() {
                    continue;
                }
                stats.added += 1;
                if limit > 0 && stats.added > limit {
                    // Keep counting so the report says how far over it went.
                    over_limit = true;
                    continue;
                }
                match app.append(e.r, &e.labels, t, value) {
                    Ok(r) => {
                        e.r = r;
                        e.tracked = tracked;
                        if let Some(ex) = p.exemplar() {
                            self.append_exemplar(app, r, &e.labels, ex, t);
                        }
                    }
                    Err(err) => {
                        self.count_rejected(&err)?;
                        // A duplicate line of a series already appended in
                        // this scrape lands here too: it stays live.
                        stats.added -= 1;
                    }
                }
                continue;
            }
            let labels = self.sample_labels(p.labels());
            if labels.is_empty() {
                cache.insert(raw, SeriesRef::UNKNOWN, Labels::empty(), false);
                continue;
            }
            self.check_labels(&labels)?;
            stats.added += 1;
            if limit > 0 && stats.added > limit {
                over_limit = true;
                continue;
            }
            match app.append(SeriesRef::UNKNOWN, &labels, t, value) {
                Ok(r) => {
                    stats.series_added += 1;
                    if let Some(ex) = p.exemplar() {
                        self.append_exemplar(app, r, &labels, ex, t);
                    }
                    cache.insert(raw, r, labels, tracked);
                }
                Err(err) => {
                    self.count_rejected(&err)?;
                    stats.added -= 1;
                    // Cached anyway, so that the next scrape skips relabeling.
                    cache.insert(raw, SeriesRef::UNKNOWN, labels, false);
                }
            }
        }
        if over_limit {
            self.metrics.exceeded_sample_limit.inc();
            return Err(ScrapeError::SampleLimit);
        }
        self.finish(app, cache, ts)
    }

    fn append_exemplar(&self, app: &mut dyn Appender, r: SeriesRef, labels: &Labels, mut ex: model::Exemplar, t: i64) {
        if !ex.has_ts {
            ex.ts = t;
        }
        if let Err(StorageError::OutOfOrderExemplar) = app.append_exemplar(r, labels, &ex) {
            self.metrics.exemplar_out_of_order.inc();
        }
    }

    /// Appends an empty scrape: every series of the last good scrape gets a
    /// staleness marker. Used when a scrape fails.
    pub fn append_empty(&mut self, app: &mut dyn Appender, cache: &mut ScrapeCache, ts: i64) -> Result<(), ScrapeError> {
        cache.begin();
        self.finish(app, cache, ts)
    }

    fn finish(&mut self, app: &mut dyn Appender, cache: &mut ScrapeCache, ts: i64) -> Result<(), ScrapeError> {
        cache.finish(&mut self.stale);
        for (r, labels) in &self.stale {
            match app.append(*r, labels, ts, stale_nan()) {
                // A series whose last sample is newer (explicit timestamps)
                // simply does not get the marker.
                Ok(_) | Err(StorageError::OutOfOrderSample | StorageError::OutOfBounds | StorageError::DuplicateSampleForTimestamp) => {}
                Err(e) => return Err(ScrapeError::Storage(e.to_string())),
            }
        }
        Ok(())
    }

    /// Markers for every series the target last produced, when the target
    /// goes away.
    pub fn append_end_of_run(&mut self, app: &mut dyn Appender, cache: &mut ScrapeCache, ts: i64) -> Result<(), ScrapeError> {
        for (r, labels) in cache.live() {
            match app.append(r, labels, ts, stale_nan()) {
                Ok(_) | Err(StorageError::OutOfOrderSample | StorageError::OutOfBounds | StorageError::DuplicateSampleForTimestamp) => {}
                Err(e) => return Err(ScrapeError::Storage(e.to_string())),
            }
        }
        cache.clear_live();
        Ok(())
    }

    /// The sample's labels with the target's applied, then metric
    /// relabeling; empty means dropped.
    fn sample_labels(&self, scraped: Labels) -> Labels {
        let mut lb = scraped.builder();
        if self.opts.honor_labels {
            for l in &self.target {
                if !scraped.has(l.name) {
                    lb.set(l.name, l.value);
                }
            }
        } else {
            let mut conflicts: Vec<(&str, &str)> = Vec::new();
            for l in &self.target {
                let exposed = scraped.get(l.name);
                if !exposed.is_empty() {
                    conflicts.push((l.name, exposed));
                }
                lb.set(l.name, l.value);
            }
            if !conflicts.is_empty() {
                resolve_conflicts(&mut lb, conflicts);
            }
        }
        if !relabel::process(&mut lb, &self.opts.metric_relabel) {
            return Labels::empty();
        }
        lb.build()
    }

    fn check_labels(&self, labels: &Labels) -> Result<(), ScrapeError> {
        let name = labels.metric_name();
        if name.is_empty() {
            return Err(ScrapeError::NameLabelMandatory);
        }
        let scheme = self.opts.validation;
        if !scheme.is_valid_metric_name(name) || labels.iter().any(|l| !scheme.is_valid_label_name(l.name)) {
            return Err(ScrapeError::InvalidNames(labels.to_string()));
        }
        let limits = &self.opts.limits;
        let met: String = name.chars().take(50).collect();
        if limits.label_limit > 0 && labels.len() as u64 > limits.label_limit {
            self.metrics.exceeded_label_limits.inc();
            return Err(ScrapeError::LabelLimit(format!(
                "label_limit exceeded (metric: {met}, number of labels: {}, limit: {})",
                labels.len(),
                limits.label_limit
            )));
        }
        for l in labels {
            if limits.label_name_length_limit > 0 && l.name.len() as u64 > limits.label_name_length_limit {
                self.metrics.exceeded_label_limits.inc();
                let n: String = l.name.chars().take(50).collect();
                return Err(ScrapeError::LabelLimit(format!(
                    "label_name_length_limit exceeded (metric: {met}, label name: {n}, length: {}, limit: {})",
                    l.name.len(),
                    limits.label_name_length_limit
                )));
            }
            if limits.label_value_length_limit > 0 && l.value.len() as u64 > limits.label_value_length_limit {
                self.metrics.exceeded_label_limits.inc();
                let n: String = l.name.chars().take(50).collect();
                let v: String = l.value.chars().take(50).collect();
                return Err(ScrapeError::LabelLimit(format!(
                    "label_value_length_limit exceeded (metric: {met}, label name: {n}, value: {}, length: {}, limit: {})",
                    model::quote::go_quote(v.as_bytes()),
                    l.value.len(),
                    limits.label_value_length_limit
                )));
            }
        }
        Ok(())
    }

    /// Samples the storage refuses one by one are counted and skipped;
    /// anything else fails the scrape.
    fn count_rejected(&self, e: &StorageError) -> Result<(), ScrapeError> {
        match e {
            StorageError::OutOfOrderSample => self.metrics.sample_out_of_order.inc(),
            StorageError::DuplicateSampleForTimestamp => self.metrics.sample_duplicate.inc(),
            StorageError::OutOfBounds => self.metrics.sample_out_of_bounds.inc(),
            other => return Err(ScrapeError::Storage(other.to_string())),
        };
        Ok(())
    }

    /// Appends the synthetic series of one scrape.
    pub fn report(&self, app: &mut dyn Appender, refs: &mut ReportRefs, r: &Report) -> Result<(), ScrapeError> {
        let mut values = vec![
            (Synthetic::Up, if r.up { 1.0 } else { 0.0 }),
            (Synthetic::Duration, r.duration.as_secs_f64()),
            (Synthetic::SamplesScraped, r.stats.total as f64),
            (Synthetic::PostRelabeling, r.stats.added as f64),
            (Synthetic::SeriesAdded, r.stats.series_added as f64),
        ];
        if self.opts.extra_metrics {
            values.push((Synthetic::Timeout, r.timeout.as_secs_f64()));
            values.push((Synthetic::SampleLimit, self.opts.limits.sample_limit as f64));
            values.push((Synthetic::BodySize, r.body_size as f64));
        }
        for (s, v) in values {
            self.append_report(app, refs, s, r.ts, v)?;
        }
        Ok(())
    }

    /// Staleness markers for the synthetic series, when the target goes away.
    pub fn report_stale(&self, app: &mut dyn Appender, refs: &mut ReportRefs, ts: i64) -> Result<(), ScrapeError> {
        for s in Synthetic::ALL {
            if s.is_extra() && !self.opts.extra_metrics {
                continue;
            }
            self.append_report(app, refs, s, ts, stale_nan())?;
        }
        Ok(())
    }

    fn append_report(&self, app: &mut dyn Appender, refs: &mut ReportRefs, s: Synthetic, ts: i64, v: f64) -> Result<(), ScrapeError> {
        let slot = &mut refs.0[s as usize];
        if slot.1.is_empty() {
            let mut lb = self.target.builder();
            lb.set(model::labels::METRIC_NAME, s.name());
            slot.1 = lb.build();
        }
        match app.append(slot.0, &slot.1, ts, v) {
            Ok(r) => slot.0 = r,
            Err(e) => self.count_rejected(&e)?,
        }
        Ok(())
    }
}

/// Renames scraped labels that clash with target labels to `exported_<name>`
/// (with more prefixes while that name is taken), shortest names first as
/// Prometheus does, so that no label is lost.
fn resolve_conflicts(lb: &mut LabelsBuilder, mut conflicts: Vec<(&str, &str)>) {
    conflicts.sort_by_key(|(n, _)| n.len());
    for (name, value) in conflicts {
        let mut new_name = format!("exported_{name}");
        while !lb.get(&new_name).is_empty() {
            new_name.insert_str(0, "exported_");
        }
        lb.set(&new_name, value);
    }
}

/// The synthetic series, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synthetic {
    Up,
    Duration,
    SamplesScraped,
    PostRelabeling,
    SeriesAdded,
    Timeout,
    SampleLimit,
    BodySize,
}

impl Synthetic {
    const ALL: [Synthetic; 8] = [
        Synthetic::Up,
        Synthetic::Duration,
        Synthetic::SamplesScraped,
        Synthetic::PostRelabeling,
        Synthetic::SeriesAdded,
        Synthetic::Timeout,
        Synthetic::SampleLimit,
        Synthetic::BodySize,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Synthetic::Up => "up",
            Synthetic::Duration => "scrape_duration_seconds",
            Synthetic::SamplesScraped => "scrape_samples_scraped",
            Synthetic::PostRelabeling => "scrape_samples_post_metric_relabeling",
            Synthetic::SeriesAdded => "scrape_series_added",
            Synthetic::Timeout => "scrape_timeout_seconds",
            Synthetic::SampleLimit => "scrape_sample_limit",
            Synthetic::BodySize => "scrape_body_size_bytes",
        }
    }

    fn is_extra(self) -> bool {
        matches!(self, Synthetic::Timeout | Synthetic::SampleLimit | Synthetic::BodySize)
    }
}

/// The series references and labels of a target's synthetic series, built
/// once per loop.
#[derive(Debug, Default)]
pub struct ReportRefs([(SeriesRef, Labels); 8]);

/// What one scrape reports.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub ts: i64,
    pub up: bool,
    pub duration: Duration,
    pub timeout: Duration,
    pub stats: AppendStats,
    pub body_size: usize,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Scrape timestamps within this much of the ideal schedule are moved onto
/// it: equal spacing makes delta-of-delta timestamps zero, which is a bit
/// per sample instead of several in the chunk encoding.
const ALIGN_TOLERANCE_MS: i64 = 2;

fn align(ts: i64, last: i64, interval_ms: i64) -> i64 {
    if last == 0 {
        return ts;
    }
    let tolerance = ALIGN_TOLERANCE_MS.min(interval_ms / 100);
    let ideal = last + interval_ms;
    if (ts - ideal).abs() <= tolerance { ideal } else { ts }
}

/// Hands scrape buffers from loop to loop: only the scrapes in flight hold
/// one, so ten thousand idle targets do not each keep a body's worth of heap.
#[derive(Debug, Default, Clone)]
pub struct BufferPool(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

/// Larger buffers are not pooled, so one huge target does not pin memory.
const MAX_POOLED: usize = 8 << 20;
/// More idle buffers than this are dropped.
const MAX_IDLE: usize = 256;

impl BufferPool {
    pub fn get(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default()
    }

    pub fn put(&self, mut buf: Vec<u8>) {
        if buf.capacity() > MAX_POOLED {
            return;
        }
        buf.clear();
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < MAX_IDLE {
            v.push(buf);
        }
    }
}

/// An error every loop of a pool reports instead of scraping (the pool is
/// over its target limit), shared so that the pool can set and clear it.
#[derive(Debug, Clone, Default)]
pub struct ForcedError(Arc<std::sync::RwLock<Option<ScrapeError>>>);

impl ForcedError {
    pub fn set(&self, e: Option<ScrapeError>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = e;
    }

    pub fn get(&self) -> Option<ScrapeError> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Everything one loop needs besides its scraper.
pub struct LoopContext {
    pub appending: Appending,
    /// Each scrape takes a fresh appender and drops it after the commit:
    /// kept per loop, ten thousand appenders' batch buffers would stay
    /// allocated between scrapes.
    pub appendable: Arc<dyn storage::Appendable>,
    pub cache: ScrapeCache,
    pub state: Arc<TargetState>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Delay before the first scrape, spreading targets over the interval.
    pub offset: Duration,
    pub buffers: BufferPool,
    pub metrics: ScrapeMetrics,
    /// Set while the pool is over its target limit: scrapes are skipped
    /// and reported as failed with this error.
    pub forced_error: ForcedError,
}

impl std::fmt::Debug for LoopContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopContext").field("target", &self.appending.target).field("interval", &self.interval).finish_non_exhaustive()
    }
}

/// How a loop ended, and the cache it leaves for a successor.
#[derive(Debug)]
pub struct LoopExit {
    pub cache: ScrapeCache,
}

/// Runs the loop until `stop` is cancelled. `shutdown` is the server-wide
/// token: when it is cancelled too, the loop ends at once; when only `stop`
/// is (the target went away), it waits as Prometheus does for the next two
/// would-be scrapes and then marks all its series stale. `end_of_run`
/// false skips that (a reload hands the cache to the next loop instead).
pub async fn run<S: Scraper>(
    scraper: S,
    mut cx: LoopContext,
    stop: CancellationToken,
    shutdown: CancellationToken,
    end_of_run: Arc<std::sync::atomic::AtomicBool>,
) -> LoopExit {
    let interval_ms = cx.interval.as_millis() as i64;
    let start = tokio::time::Instant::now() + cx.offset;
    let mut ticker = tokio::time::interval_at(start, cx.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut refs = ReportRefs::default();
    let mut last_ts = 0i64;
    let mut last_start: Option<tokio::time::Instant> = None;
    let interval_label = crate::target::go_duration(cx.interval);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let started = tokio::time::Instant::now();
        if let Some(prev) = last_start {
            cx.metrics.interval_length.observe(&interval_label, started.duration_since(prev).as_secs_f64());
        }
        last_start = Some(started);
        let ts = align(now_ms(), last_ts, interval_ms);
        last_ts = ts;
        scrape_once(&scraper, &mut cx, &mut refs, ts, started, &stop).await;
    }
    // A loop that took over a cache on reload may be stopped before its
    // first scrape; the series it inherited still need their markers.
    let produced = last_ts != 0 || cx.cache.live().next().is_some();
    if shutdown.is_cancelled() || !produced || !end_of_run.load(std::sync::atomic::Ordering::Acquire) {
        return LoopExit { cache: cx.cache };
    }
    // Wait past the next two scheduled scrapes: if the target reappears in
    // another loop, its samples land first and the markers are ignored as
    // out of order.
    let stale_ts;
    tokio::select! {
        _ = shutdown.cancelled() => return LoopExit { cache: cx.cache },
        _ = ticker.tick() => stale_ts = now_ms(),
    }
    tokio::select! {
        _ = shutdown.cancelled() => return LoopExit { cache: cx.cache },
        _ = ticker.tick() => {}
    }
    tokio::select! {
        _ = shutdown.cancelled() => return LoopExit { cache: cx.cache },
        _ = tokio::time::sleep(cx.interval / 10) => {}
    }
    if !end_of_run.load(std::sync::atomic::Ordering::Acquire) {
        return LoopExit { cache: cx.cache };
    }
    let mut appender = cx.appendable.appender();
    let app = appender.as_mut();
    let res = cx.appending.append_end_of_run(app, &mut cx.cache, stale_ts).and_then(|_| cx.appending.report_stale(app, &mut refs, stale_ts));
    match res.and_then(|_| app.commit().map_err(|e| ScrapeError::Storage(e.to_string()))) {
        Ok(()) => {}
        Err(e) => {
            let _ = app.rollback();
            tracing::warn!(err = %e, "Stale markers for a removed target could not be appended");
        }
    }
    LoopExit { cache: cx.cache }
}

async fn scrape_once<S: Scraper>(scraper: &S, cx: &mut LoopContext, refs: &mut ReportRefs, ts: i64, started: tokio::time::Instant, stop: &CancellationToken) {
    let mut buf = cx.buffers.get();
    let forced = cx.forced_error.get();
    let fetched = match forced {
        Some(e) => Err(e),
        None => {
            tokio::select! {
                r = tokio::time::timeout(cx.timeout, scraper.scrape(&mut buf)) => match r {
                    Ok(r) => r,
                    Err(_) => Err(ScrapeError::Fetch("context deadline exceeded".into())),
                },
                // The target is going away mid-scrape: nothing to record.
                _ = stop.cancelled() => {
                    cx.buffers.put(buf);
                    return;
                }
            }
        }
    };
    let mut appender = cx.appendable.appender();
    let app = appender.as_mut();
    let mut stats = AppendStats::default();
    let body_size = buf.len();
    if let Err(ScrapeError::BodySizeLimit) = &fetched {
        cx.metrics.exceeded_body_size_limit.inc();
    }
    let result = match fetched {
        Ok(content_type) => match cx.appending.append(app, &mut cx.cache, &buf, &content_type, ts) {
            Ok(s) => {
                stats = s;
                Ok(())
            }
            Err(e) => {
                // Nothing of a failed scrape is kept, but its counts are
                // reported, as Prometheus does.
                let _ = app.rollback();
                stats = cx.appending.last_stats();
                Err(e)
            }
        },
        Err(e) => Err(e),
    };
    cx.buffers.put(buf);
    if result.is_err() {
        if let Err(e) = cx.appending.append_empty(app, &mut cx.cache, ts) {
            tracing::warn!(err = %e, "Appending staleness markers failed");
        }
    }
    let duration = started.elapsed();
    let report = Report { ts, up: result.is_ok(), duration, timeout: cx.timeout, stats, body_size };
    let committed = cx.appending.report(app, refs, &report).and_then(|_| app.commit().map_err(|e| ScrapeError::Storage(e.to_string())));
    if let Err(e) = &committed {
        let _ = app.rollback();
        tracing::warn!(err = %e, "Appending scrape report failed");
    }
    let health_err = match (&result, &committed) {
        (Err(e), _) | (Ok(()), Err(e)) => Some(e.to_string()),
        _ => None,
    };
    if let Some(e) = &health_err {
        tracing::debug!(target_labels = %cx.appending.target, err = %e, "Scrape failed");
    }
    if cx.cache.take_metadata_changed() {
        cx.state.set_metadata(cx.cache.metadata(None));
    }
    cx.state.record(health_err, ts, duration);
}
