//! The `narthex` binary: flags, logging, the run group that starts and stops
//! the server's components, reload wiring, and `promtool`-style subcommands.
//!
//! This is the only crate that knows every other one. It builds each
//! component from the flags, registers how each takes a new config, and owns
//! the process: signals, exit codes, and errors as the user sees them.

mod check;
mod flags;
mod logging;
mod process;
mod ready_storage;
mod reload;
mod run_group;
mod tsdb_admin;
mod tsdb_tool;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches};
use config::{Config, Mode};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::flags::{CheckCommand, Cli, Command, CreateBlocksFromCommand, ServerFlags, TsdbCommand};
use crate::reload::Reloader;
use crate::run_group::RunGroup;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long each component may take to stop before we give up on it.
const STOP_GRACE: Duration = Duration::from_secs(4);

/// Components of Prometheus not built yet; announced at start-up so that
/// nobody mistakes their absence for an empty result.
const NOT_YET: &str = "service discovery other than static_configs, file_sd_configs, http_sd_configs, dns_sd_configs, consul_sd_configs and kubernetes_sd_configs (pod, service, node and ingress roles), rules, notifier, remote write and read clients";

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match &cli.command {
        Some(Command::Check(CheckCommand::Config(args))) => ExitCode::from(check::check_config(args) as u8),
        Some(Command::Check(CheckCommand::Rules(args))) => {
            let lint = check::Lint { duplicates: args.lint != "none", fatal: args.lint_fatal };
            ExitCode::from(check::check_rules(&args.files, model::ValidationScheme::default(), lint) as u8)
        }
        Some(Command::Tsdb(TsdbCommand::List(args))) => ExitCode::from(tsdb_tool::list(args) as u8),
        Some(Command::Tsdb(TsdbCommand::Dump(args))) => ExitCode::from(tsdb_tool::dump(args) as u8),
        Some(Command::Tsdb(TsdbCommand::Analyze(args))) => ExitCode::from(tsdb_tool::analyze(args) as u8),
        Some(Command::Tsdb(TsdbCommand::CreateBlocksFrom(CreateBlocksFromCommand::OpenMetrics(args)))) => {
            ExitCode::from(tsdb_tool::create_blocks_from_openmetrics(args) as u8)
        }
        None => match run_server(&cli.server, &matches) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(err = format!("{e:#}"), "Fatal error");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_server(flags: &ServerFlags, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    logging::init(flags.log_level, flags.log_format);
    let mode = if flags.agent { Mode::Agent } else { Mode::Server };
    tracing::info!(version = VERSION, mode = if flags.agent { "agent" } else { "server" }, "Starting Narthex");
    let unimplemented = ServerFlags::unimplemented(matches);
    if !unimplemented.is_empty() {
        tracing::warn!(flags = unimplemented.join(" "), "These flags are accepted but have no effect yet");
    }
    tracing::warn!(missing = NOT_YET, "Running without components that are not implemented yet");
    if !flags.web_config_file.is_empty() {
        // Serving without the TLS or authentication the user asked for
        // would expose what they meant to protect.
        anyhow::bail!("--web.config.file is not supported yet; refusing to serve without the TLS/authentication it configures");
    }
    // Refuse to start on a bad config before anything else starts.
    let initial =
        Config::load_file(&flags.config_file, mode).with_context(|| format!("Error loading config (--config.file={})", flags.config_file.display()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("narthex").build().context("starting the async runtime")?;
    runtime.block_on(serve(flags, matches, mode, &initial))
}

/// The database's settings from the storage flags, with Prometheus's
/// defaults: 15 d of time retention unless a size is given, blocks merged
/// up to a tenth of that (at most 31 d).
/// The retention as Prometheus's runtime information words it.
fn retention_text(o: &tsdb::db::DbOptions) -> String {
    let mut parts = Vec::new();
    if o.retention_duration > 0 {
        parts.push(config::duration::Duration::from_millis(o.retention_duration as u64).to_string());
    }
    if o.max_bytes > 0 {
        parts.push(config::units::ByteSize(i64::try_from(o.max_bytes).unwrap_or(i64::MAX)).to_string());
    }
    parts.join(" or ")
}

fn db_options(flags: &ServerFlags, max_exemplars: i64) -> anyhow::Result<tsdb::db::DbOptions> {
    let duration = |name: &str, v: &str| promql::parser::parse_duration(v).ok_or_else(|| anyhow::anyhow!("invalid --{name} {v:?}: not a duration"));
    let retention_duration = match &flags.storage_tsdb_retention_time {
        Some(v) => duration("storage.tsdb.retention.time", v)?,
        None => 0,
    };
    let max_bytes = match &flags.storage_tsdb_retention_size {
        Some(v) => {
            let b: config::units::ByteSize = v.parse().map_err(|e| anyhow::anyhow!("invalid --storage.tsdb.retention.size {v:?}: {e}"))?;
            u64::try_from(b.0).map_err(|_| anyhow::anyhow!("--storage.tsdb.retention.size must not be negative"))?
        }
        None => 0,
    };
    let retention_duration = if retention_duration == 0 && max_bytes == 0 { 15 * 24 * 3600 * 1000 } else { retention_duration };
    let min_block_duration = duration("storage.tsdb.min-block-duration", &flags.storage_tsdb_min_block_duration)?;
    if min_block_duration <= 0 {
        anyhow::bail!("--storage.tsdb.min-block-duration must be positive");
    }
    let max_block_duration = match &flags.storage_tsdb_max_block_duration {
        Some(v) => duration("storage.tsdb.max-block-duration", v)?,
        None => tsdb::db::DbOptions::default_max_block_duration(retention_duration),
    };
    Ok(tsdb::db::DbOptions {
        retention_duration,
        max_bytes,
        min_block_duration,
        max_block_duration,
        head: tsdb::head::HeadOptions {
            wal_compression: flags.storage_tsdb_wal_compression && !flags.no_storage_tsdb_wal_compression,
            max_exemplars,
            ..Default::default()
        },
        no_lockfile: flags.storage_tsdb_no_lockfile,
    })
}

/// The `--enable-feature` values that change something here.
const FEATURES: &[&str] =
    &["exemplar-storage", "extra-scrape-metrics", "promql-delayed-name-removal", "promql-experimental-functions", "promql-per-step-stats"];

async fn serve(flags: &ServerFlags, matches: &clap::ArgMatches, mode: Mode, initial: &Config) -> anyhow::Result<()> {
    for f in flags.enable_feature.iter().flat_map(|f| f.split(',')).map(str::trim).filter(|f| !f.is_empty() && !FEATURES.contains(f)) {
        tracing::warn!(option = f, "Unknown option for --enable-feature, or a feature not implemented yet");
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(process::ProcessCollector));
    let mut reloader = Reloader::new(flags.config_file.clone(), mode, &mut registry);
    let (reload_success, reload_success_time) = reloader.status();
    let head_metrics = tsdb::head::HeadMetrics::new(Some(&mut registry));
    let db_metrics = tsdb::db::DbMetrics::new(Some(&mut registry));
    // Without the feature the ring has no room: exemplars are neither kept
    // nor logged, and the exemplar API finds none (Prometheus's behaviour).
    let exemplar_storage = feature_enabled(flags, "exemplar-storage");
    if exemplar_storage {
        tracing::info!("Experimental in-memory exemplar storage enabled");
    }
    let max_exemplars = if exemplar_storage { initial.storage.max_exemplars() } else { 0 };
    let db_opts = db_options(flags, max_exemplars)?;
    let storage = ready_storage::ReadyStorage::default();
    if exemplar_storage {
        // First, as Prometheus applies storage's config before the rest.
        let st = storage.clone();
        reloader.register(
            "storage",
            reload::sync_applier(move |cfg| {
                if let Some(db) = st.db() {
                    db.head().set_max_exemplars(cfg.storage.max_exemplars());
                }
                Ok(())
            }),
        );
    }

    let scrape_metrics = scrape::ScrapeMetrics::new(Some(&mut registry));

    let config_yaml = Arc::new(std::sync::RwLock::new(String::new()));
    let external_labels = Arc::new(std::sync::RwLock::new(std::collections::BTreeMap::new()));
    let (shown, external) = (config_yaml.clone(), external_labels.clone());
    reloader.register(
        "web",
        reload::sync_applier(move |cfg| {
            *shown.write().map_err(|_| "config display lock poisoned".to_owned())? = cfg.to_yaml();
            *external.write().map_err(|_| "external labels lock poisoned".to_owned())? = cfg.global.external_labels.clone();
            Ok(())
        }),
    );

    // Cancelled only when the server stops, so that loops then end without
    // staleness markers (a restart carries on where this run stopped).
    let scrape_shutdown = CancellationToken::new();
    let scrape_manager = Arc::new(scrape::Manager::new(scrape::PoolEnv {
        appendable: Arc::new(storage.clone()),
        metrics: scrape_metrics,
        buffers: scrape::scrape_loop::BufferPool::default(),
        shutdown: scrape_shutdown.clone(),
        offset_seed: offset_seed(),
        user_agent: format!("Prometheus/{VERSION} (narthex)"),
        extra_metrics: feature_enabled(flags, "extra-scrape-metrics"),
    }));
    let manager = scrape_manager.clone();
    reloader.register(
        "scrape",
        Box::new(move |cfg| {
            let manager = manager.clone();
            Box::pin(async move { manager.apply_config(&cfg).await.map_err(|e| e.to_string()) })
        }),
    );

    let (discovery, mut target_sets) = discovery::Manager::new(
        discovery::Options {
            name: "scrape".into(),
            update_interval: discovery_update_interval()?,
            user_agent: format!("Prometheus/{VERSION} (narthex)"),
            dns_nameserver: dns_nameserver()?,
        },
        discovery::SdMetrics::new(Some(&mut registry)),
    );
    let sd = discovery.clone();
    reloader.register(
        "scrape discovery",
        reload::sync_applier(move |cfg| {
            sd.apply_config(&cfg.scrape_configs.iter().map(|sc| (sc.job_name.clone(), sc.service_discovery.clone())).collect());
            Ok(())
        }),
    );

    let ready = Arc::new(AtomicBool::new(false));
    let quit = CancellationToken::new();
    let (reload_tx, mut reload_rx) = mpsc::channel::<web::ReloadRequest>(1);
    let web_opts = web::Options {
        // Prometheus 3.x may listen on several addresses; the first is served
        // until multi-listener support lands.
        listen_address: flags.web_listen_address.first().cloned().unwrap_or_else(|| "0.0.0.0:9090".into()),
        route_prefix: flags.route_prefix(),
        enable_lifecycle: flags.web_enable_lifecycle,
        enable_admin_api: flags.web_enable_admin_api,
        flags: ServerFlags::as_map(matches),
        version: VERSION,
        agent: flags.agent,
    };
    let handles = web::Handles {
        ready: ready.clone(),
        reload: reload_tx,
        quit: quit.clone(),
        registry: Arc::new(registry),
        config_yaml,
        external_labels,
        scrape: Some(scrape_manager.clone()),
        query: Some(web::QueryHandle {
            engine: promql::engine::Engine::new(promql::engine::EngineOptions {
                lookback_delta_ms: promql::parser::parse_duration(&flags.query_lookback_delta)
                    .with_context(|| format!("invalid --query.lookback-delta {:?}", flags.query_lookback_delta))?,
                max_samples: usize::try_from(flags.query_max_samples).unwrap_or(usize::MAX),
                delayed_name_removal: feature_enabled(flags, "promql-delayed-name-removal"),
                experimental_functions: feature_enabled(flags, "promql-experimental-functions"),
            }),
            queryable: Arc::new(storage.clone()),
            lookback_delta_ms: promql::parser::parse_duration(&flags.query_lookback_delta)
                .with_context(|| format!("invalid --query.lookback-delta {:?}", flags.query_lookback_delta))?,
            timeout: promql::parser::parse_duration(&flags.query_timeout)
                .map(|ms| Duration::from_millis(ms.max(0) as u64))
                .with_context(|| format!("invalid --query.timeout {:?}", flags.query_timeout))?,
            limiter: Arc::new(tokio::sync::Semaphore::new(usize::try_from(flags.query_max_concurrency).unwrap_or(usize::MAX).max(1))),
            per_step_stats: feature_enabled(flags, "promql-per-step-stats"),
        }),
        exemplars: Some(web::ExemplarSource(Arc::new(storage.clone()))),
        remote_write: flags.web_enable_remote_write_receiver.then(|| web::WriteTarget(Arc::new(storage.clone()))),
        tsdb: Some(Arc::new(tsdb_admin::DbAdmin::new({
            let st = storage.clone();
            move || st.db()
        }))),
        remote_read: Some(web::ReadLimits {
            sample_limit: usize::try_from(flags.storage_remote_read_sample_limit).unwrap_or(usize::MAX),
            max_bytes_in_frame: usize::try_from(flags.storage_remote_read_max_bytes_in_frame).unwrap_or(usize::MAX),
            // 0 is no limit, as in Prometheus.
            concurrency: Arc::new(tokio::sync::Semaphore::new(match usize::try_from(flags.storage_remote_read_concurrent_limit).unwrap_or(usize::MAX) {
                0 => tokio::sync::Semaphore::MAX_PERMITS,
                n => n.min(tokio::sync::Semaphore::MAX_PERMITS),
            })),
        }),
        runtime: Some(web::RuntimeInfo {
            start_time: std::time::SystemTime::now(),
            reload_success,
            reload_success_time,
            storage_retention: retention_text(&db_opts),
        }),
    };

    let mut group = RunGroup::new(STOP_GRACE);
    let data_dir = flags.storage_tsdb_path.clone();

    // First, so that a signal during a slow start-up still stops us cleanly.
    let quit_signal = quit.clone();
    group.add("signals", move |token, started| async move {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        started.up();
        tokio::select! {
            _ = term.recv() => tracing::warn!("Received SIGTERM, exiting gracefully..."),
            _ = int.recv() => tracing::warn!("Received SIGINT, exiting gracefully..."),
            _ = quit_signal.cancelled() => {}
            _ = token.cancelled() => {}
        }
        // Tells the web layer that the server is stopping.
        quit_signal.cancel();
        Ok(())
    });

    // Storage opens first so that nothing writes or reads before the WAL is
    // replayed, and closes last so that the WAL is flushed.
    group.add("storage", move |token, started| async move {
        tracing::info!(component = "tsdb", path = %data_dir.join("wal").display(), "Replaying WAL, this may take a while");
        let dir = data_dir.clone();
        let db = tokio::task::spawn_blocking(move || tsdb::db::Db::open(&dir, db_opts, head_metrics, db_metrics))
            .await?
            .with_context(|| format!("opening storage at {}", data_dir.display()))?;
        let db = Arc::new(db);
        // Appends wake the compactor as soon as the head has a range to
        // cut, besides its periodic check.
        let wake = Arc::new(tokio::sync::Notify::new());
        let w = wake.clone();
        db.head().set_compactable_hook(Box::new(move || w.notify_one()));
        storage.set(db.clone());
        tracing::info!(component = "tsdb", "TSDB started");
        started.up();
        loop {
            // The head may already span enough after replay.
            let d = db.clone();
            match tokio::task::spawn_blocking(move || d.compact()).await? {
                Ok(_) => {}
                Err(e) => tracing::error!(component = "tsdb", err = %e, "compaction failed"),
            }
            tokio::select! {
                _ = token.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
        }
        tokio::task::spawn_blocking(move || db.close()).await??;
        tracing::info!(component = "tsdb", "TSDB closed");
        Ok(())
    });

    // Providers start with the first config (applied by the reloader);
    // they stop after the scrape manager, which consumes their targets.
    group.add("discovery", move |token, started| async move {
        tracing::info!(component = "discovery manager scrape", "Starting scrape discovery manager...");
        started.up();
        discovery.run(token).await;
        tracing::info!(component = "discovery manager scrape", "Scrape discovery manager stopped");
        Ok(())
    });

    // Loops start with the first targets discovered for the first config
    // (applied by the reloader, next); on stop they end before storage
    // closes, without staleness markers.
    group.add("scrape", move |token, started| async move {
        tracing::info!(component = "scrape manager", "Starting scrape manager...");
        started.up();
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                Some(sets) = target_sets.recv() => scrape_manager.sync(sets).await,
            }
        }
        scrape_shutdown.cancel();
        scrape_manager.stop().await;
        tracing::info!(component = "scrape manager", "Scrape manager stopped");
        Ok(())
    });

    // Installed before anything starts: an unhandled SIGHUP would kill the
    // process while storage replays its log.
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    group.add("reloader", move |token, started| async move {
        reloader.reload().await.map_err(|e| anyhow::anyhow!(e))?;
        started.up();
        loop {
            tokio::select! {
                _ = token.cancelled() => return Ok(()),
                _ = hup.recv() => {
                    // The outcome is logged and in the metrics; the old config stays.
                    let _ = reloader.reload().await;
                }
                Some(req) = reload_rx.recv() => {
                    let _ = req.reply.send(reloader.reload().await);
                }
            }
        }
    });

    group.add("web", move |token, started| async move {
        let server = web::Web::bind(web_opts, handles).await?;
        if let Some(addr) = server.local_addr() {
            tracing::info!(component = "web", address = %addr, "Start listening for connections");
        }
        started.up();
        server.run(token).await?;
        Ok(())
    });

    let ready_flag = ready.clone();
    group.add("ready", move |token, started| async move {
        ready_flag.store(true, Ordering::Release);
        tracing::info!("Server is ready to receive web requests.");
        started.up();
        token.cancelled().await;
        ready_flag.store(false, Ordering::Release);
        Ok(())
    });

    let outcome = group.run().await;
    for (name, e) in &outcome.stop_errors {
        tracing::error!(component = *name, err = format!("{e:#}"), "Error while stopping");
    }
    match outcome.first {
        (_, Ok(())) if outcome.stop_errors.is_empty() => {
            tracing::info!("See you next time!");
            Ok(())
        }
        (_, Ok(())) => anyhow::bail!("some components did not stop cleanly"),
        (name, Err(e)) => Err(e.context(format!("{name} failed"))),
    }
}

/// Spreads scrape offsets differently on each host (Prometheus hashes its
/// external labels and hostname), so that two servers scraping the same
/// targets do not hit them at the same instant.
fn offset_seed() -> u64 {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host.trim().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The discovery manager's batching period: Prometheus's fixed 5 s, or
/// `NARTHEX_SD_UPDATE_INTERVAL` (e.g. `200ms`), which exists so that
/// end-to-end tests need not wait 5 s per change; Prometheus has no flag
/// for it, so neither do we.
fn discovery_update_interval() -> anyhow::Result<Duration> {
    match std::env::var("NARTHEX_SD_UPDATE_INTERVAL") {
        Ok(v) => humantime::parse_duration(&v).with_context(|| format!("invalid NARTHEX_SD_UPDATE_INTERVAL {v:?}")),
        Err(_) => Ok(Duration::from_secs(5)),
    }
}

/// `NARTHEX_DNS_NAMESERVER` (`127.0.0.1:5353`): the one nameserver DNS
/// discovery asks instead of resolv.conf's, so that end-to-end tests can
/// serve their own records without touching the machine's resolver.
/// Prometheus has no such setting.
fn dns_nameserver() -> anyhow::Result<Option<std::net::SocketAddr>> {
    match std::env::var("NARTHEX_DNS_NAMESERVER") {
        Ok(v) => v.parse().map(Some).with_context(|| format!("invalid NARTHEX_DNS_NAMESERVER {v:?} (want IP:PORT)")),
        Err(_) => Ok(None),
    }
}

/// Whether `--enable-feature` (repeatable, comma-separated) names `feature`.
fn feature_enabled(flags: &ServerFlags, feature: &str) -> bool {
    flags.enable_feature.iter().any(|f| f.split(',').any(|f| f.trim() == feature))
}
