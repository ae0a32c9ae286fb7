//! The command line: Prometheus's server flags, with its names and defaults,
//! plus `promtool`-style subcommands.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "narthex", version, about = "A Prometheus-compatible monitoring server.", disable_help_subcommand = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub server: ServerFlags,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the resources named, as `promtool check` does.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Run tsdb commands, as `promtool tsdb` does.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
}

#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// List tsdb blocks.
    List(TsdbListArgs),
    /// Dump samples from a TSDB.
    Dump(TsdbDumpArgs),
    /// Analyze churn, label pair cardinality and compaction efficiency.
    Analyze(TsdbAnalyzeArgs),
    /// [Experimental] Import samples from input and produce TSDB blocks.
    #[command(name = "create-blocks-from", subcommand)]
    CreateBlocksFrom(CreateBlocksFromCommand),
}

#[derive(Debug, Subcommand)]
pub enum CreateBlocksFromCommand {
    /// Import samples from OpenMetrics input and produce TSDB blocks.
    #[command(name = "openmetrics")]
    OpenMetrics(CreateBlocksFromOpenMetricsArgs),
}

#[derive(Debug, Args)]
pub struct CreateBlocksFromOpenMetricsArgs {
    /// Print human readable values.
    #[arg(short = 'r', long = "human-readable")]
    pub human_readable: bool,
    /// Do not print created blocks.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// OpenMetrics file to read samples from.
    #[arg(value_name = "input file")]
    pub input: PathBuf,
    /// Output directory for generated blocks.
    #[arg(value_name = "output directory", default_value = "data/")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct TsdbListArgs {
    /// Print human readable values.
    #[arg(short = 'r', long = "human-readable")]
    pub human_readable: bool,
    /// Database path.
    #[arg(value_name = "db path", default_value = "data/")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct TsdbDumpArgs {
    /// Minimum timestamp to dump.
    #[arg(long = "min-time", default_value_t = i64::MIN, allow_negative_numbers = true)]
    pub min_time: i64,
    /// Maximum timestamp to dump.
    #[arg(long = "max-time", default_value_t = i64::MAX, allow_negative_numbers = true)]
    pub max_time: i64,
    /// Series selector.
    #[arg(long = "match", default_value = "{__name__=~'(?s:.*)'}")]
    pub matcher: String,
    /// Database path.
    #[arg(value_name = "db path", default_value = "data/")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct TsdbAnalyzeArgs {
    /// How many items to show in each list.
    #[arg(long = "limit", default_value_t = 20, allow_negative_numbers = true)]
    pub limit: i64,
    /// Series selector to analyze (Prometheus 3.x's flag; only one
    /// selector).
    #[arg(long = "match", default_value = "")]
    pub matcher: String,
    /// Database path.
    #[arg(value_name = "db path", default_value = "data/")]
    pub path: PathBuf,
    /// Block to analyze (default is the last block).
    #[arg(value_name = "block id")]
    pub block_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check whether config files are valid.
    Config(CheckConfigArgs),
    /// Check whether rule files are valid.
    Rules(CheckRulesArgs),
}

#[derive(Debug, Args)]
pub struct CheckRulesArgs {
    /// Linting checks to apply: duplicate-rules, or none.
    #[arg(long = "lint", default_value = "duplicate-rules", value_parser = ["duplicate-rules", "all", "none"])]
    pub lint: String,
    /// Make lint errors exit with exit code 3.
    #[arg(long = "lint-fatal")]
    pub lint_fatal: bool,
    /// The rule files to check.
    #[arg(required = true, value_name = "rule-files")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Only check the config file syntax, ignoring the files it names
    /// (certificates, credentials, rule files).
    #[arg(long = "syntax-only")]
    pub syntax_only: bool,
    /// Check the config as agent mode would load it.
    #[arg(long = "agent")]
    pub agent: bool,
    /// The config files to check.
    #[arg(required = true, value_name = "config-files")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// The server's flags. Every flag Prometheus's server has that users set in
/// practice is here with its name and default; [`ServerFlags::unimplemented`]
/// lists those that are accepted but have no effect yet.
#[derive(Debug, Args)]
pub struct ServerFlags {
    /// Prometheus configuration file path.
    #[arg(long = "config.file", default_value = "prometheus.yml", global = true)]
    pub config_file: PathBuf,

    /// Address to listen on for UI, API, and telemetry.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub web_listen_address: Vec<String>,
    /// Path to configuration file that can enable TLS or authentication.
    #[arg(long = "web.config.file", default_value = "")]
    pub web_config_file: String,
    /// Maximum duration before timing out read of the request.
    #[arg(long = "web.read-timeout", default_value = "5m")]
    pub web_read_timeout: String,
    /// Maximum number of simultaneous connections across all listeners.
    #[arg(long = "web.max-connections", default_value_t = 512)]
    pub web_max_connections: u32,
    /// The URL under which Prometheus is externally reachable.
    #[arg(long = "web.external-url", default_value = "")]
    pub web_external_url: String,
    /// Prefix for the internal routes of web endpoints; defaults to the path
    /// of --web.external-url.
    #[arg(long = "web.route-prefix")]
    pub web_route_prefix: Option<String>,
    /// Path to static asset directory, available at /user.
    #[arg(long = "web.user-assets", default_value = "")]
    pub web_user_assets: String,
    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle")]
    pub web_enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions.
    #[arg(long = "web.enable-admin-api")]
    pub web_enable_admin_api: bool,
    /// Enable API endpoint accepting remote write requests.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub web_enable_remote_write_receiver: bool,
    /// Enable API endpoint accepting OTLP write requests.
    #[arg(long = "web.enable-otlp-receiver")]
    pub web_enable_otlp_receiver: bool,
    /// Path to the console template directory.
    #[arg(long = "web.console.templates", default_value = "consoles")]
    pub web_console_templates: String,
    /// Path to the console library directory.
    #[arg(long = "web.console.libraries", default_value = "console_libraries")]
    pub web_console_libraries: String,
    /// Document title of Prometheus instance.
    #[arg(long = "web.page-title", default_value = "Prometheus Time Series Collection and Processing Server")]
    pub web_page_title: String,
    /// Regex for CORS origin. It is fully anchored.
    #[arg(long = "web.cors.origin", default_value = ".*")]
    pub web_cors_origin: String,

    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    pub storage_tsdb_path: PathBuf,
    /// How long to retain samples in storage (default 15d when no size is set).
    #[arg(long = "storage.tsdb.retention.time")]
    pub storage_tsdb_retention_time: Option<String>,
    /// Maximum number of bytes that can be stored for blocks.
    #[arg(long = "storage.tsdb.retention.size")]
    pub storage_tsdb_retention_size: Option<String>,
    /// Do not create lockfile in data directory.
    #[arg(long = "storage.tsdb.no-lockfile")]
    pub storage_tsdb_no_lockfile: bool,
    /// Compress the tsdb WAL.
    #[arg(long = "storage.tsdb.wal-compression", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub storage_tsdb_wal_compression: bool,
    /// Disable WAL compression.
    #[arg(long = "no-storage.tsdb.wal-compression")]
    pub no_storage_tsdb_wal_compression: bool,
    /// Minimum duration of a data block before being persisted.
    #[arg(long = "storage.tsdb.min-block-duration", default_value = "2h", hide = true)]
    pub storage_tsdb_min_block_duration: String,
    /// Maximum duration compacted blocks may span.
    #[arg(long = "storage.tsdb.max-block-duration", hide = true)]
    pub storage_tsdb_max_block_duration: Option<String>,
    /// Base path for metrics storage in agent mode.
    #[arg(long = "storage.agent.path", default_value = "data-agent/")]
    pub storage_agent_path: PathBuf,
    /// How long to wait flushing sample on shutdown or config reload.
    #[arg(long = "storage.remote.flush-deadline", default_value = "1m")]
    pub storage_remote_flush_deadline: String,
    /// Maximum overall number of samples to return via the remote read interface.
    #[arg(long = "storage.remote.read-sample-limit", default_value_t = 50_000_000)]
    pub storage_remote_read_sample_limit: u64,
    /// Maximum number of bytes in a single frame for streaming remote read
    /// response types before marshalling.
    #[arg(long = "storage.remote.read-max-bytes-in-frame", default_value_t = 1_048_576)]
    pub storage_remote_read_max_bytes_in_frame: u64,
    /// Maximum number of concurrent remote read calls.
    #[arg(long = "storage.remote.read-concurrent-limit", default_value_t = 10)]
    pub storage_remote_read_concurrent_limit: u64,

    /// Minimum duration between alert and restored "for" state.
    #[arg(long = "rules.alert.for-outage-tolerance", default_value = "1h")]
    pub rules_alert_for_outage_tolerance: String,
    /// Minimum duration between alert and restored "for" state, for alerts with a long "for".
    #[arg(long = "rules.alert.for-grace-period", default_value = "10m")]
    pub rules_alert_for_grace_period: String,
    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m")]
    pub rules_alert_resend_delay: String,
    /// Global concurrency limit for independent rules that can run concurrently.
    #[arg(long = "rules.max-concurrent-evals", default_value_t = 4)]
    pub rules_max_concurrent_evals: u64,

    /// The capacity of the queue for pending Alertmanager notifications.
    #[arg(long = "alertmanager.notification-queue-capacity", default_value_t = 10_000)]
    pub alertmanager_notification_queue_capacity: u64,
    /// The maximum number of notifications per batch to send to the Alertmanager.
    #[arg(long = "alertmanager.notification-batch-size", default_value_t = 256)]
    pub alertmanager_notification_batch_size: u64,

    /// The maximum lookback duration for retrieving metrics during expression evaluations.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    pub query_lookback_delta: String,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m")]
    pub query_timeout: String,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub query_max_concurrency: u64,
    /// Maximum number of samples a single query can load into memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub query_max_samples: u64,

    /// Comma separated feature names to enable.
    #[arg(long = "enable-feature", value_delimiter = ',')]
    pub enable_feature: Vec<String>,
    /// Run in agent mode.
    #[arg(long = "agent")]
    pub agent: bool,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
}

/// Flags that have an effect today; the rest are accepted for
/// compatibility and announced at start-up when set.
const IMPLEMENTED: &[&str] = &[
    "config.file",
    "storage.tsdb.path",
    "storage.tsdb.wal-compression",
    "no-storage.tsdb.wal-compression",
    "storage.tsdb.retention.time",
    "storage.tsdb.retention.size",
    "storage.tsdb.no-lockfile",
    "storage.tsdb.min-block-duration",
    "storage.tsdb.max-block-duration",
    "web.listen-address",
    "web.external-url",
    "web.route-prefix",
    "web.enable-lifecycle",
    "web.enable-admin-api",
    "web.enable-remote-write-receiver",
    "log.level",
    "log.format",
    "query.lookback-delta",
    "query.max-samples",
    "query.timeout",
    "query.max-concurrency",
    "enable-feature",
    "agent",
];

impl ServerFlags {
    /// Flags the user set that do nothing yet.
    pub fn unimplemented(matches: &ArgMatches) -> Vec<String> {
        Self::all_flag_ids(matches)
            .into_iter()
            .filter(|(id, long)| matches.value_source(id) == Some(ValueSource::CommandLine) && !IMPLEMENTED.contains(&long.as_str()))
            .map(|(_, long)| format!("--{long}"))
            .collect()
    }

    /// Every flag with its value, for `/api/v1/status/flags` (Prometheus
    /// lists all flags, set or defaulted).
    pub fn as_map(matches: &ArgMatches) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (id, long) in Self::all_flag_ids(matches) {
            let v = matches.get_raw(&id).map(|vals| vals.map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(",")).unwrap_or_default();
            let v = if v.is_empty() && matches!(matches.value_source(&id), Some(ValueSource::CommandLine)) { "true".to_owned() } else { v };
            out.insert(long, if v.is_empty() { "false".to_owned() } else { v });
        }
        out
    }

    fn all_flag_ids(matches: &ArgMatches) -> Vec<(String, String)> {
        use clap::CommandFactory;
        let cmd = Cli::command();
        cmd.get_arguments()
            .filter_map(|a| {
                let long = a.get_long()?;
                let id = a.get_id().as_str().to_owned();
                matches.try_contains_id(&id).ok()?;
                Some((id, long.to_owned()))
            })
            .filter(|(_, long)| long != "help" && long != "version")
            .collect()
    }

    /// The route prefix in force: the flag, else the external URL's path.
    pub fn route_prefix(&self) -> String {
        if let Some(p) = &self.web_route_prefix {
            return p.clone();
        }
        url_path(&self.web_external_url)
    }
}

fn url_path(u: &str) -> String {
    match u.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| rest[i..].to_owned()).unwrap_or_default(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn parse(args: &[&str]) -> (Cli, ArgMatches) {
        let m = Cli::command().try_get_matches_from(args).unwrap();
        (Cli::from_arg_matches(&m).unwrap(), m)
    }

    #[test]
    fn prometheus_flag_names_and_defaults() {
        let (cli, _) = parse(&["narthex"]);
        let f = cli.server;
        assert_eq!(f.config_file, PathBuf::from("prometheus.yml"));
        assert_eq!(f.web_listen_address, vec!["0.0.0.0:9090"]);
        assert_eq!(f.storage_tsdb_path, PathBuf::from("data/"));
        assert_eq!(f.query_max_samples, 50_000_000);
        assert_eq!(f.query_timeout, "2m");
        assert!(!f.web_enable_lifecycle);
        let (cli, _) = parse(&["narthex", "--config.file=x.yml", "--web.enable-lifecycle", "--enable-feature=a,b", "--log.format=json"]);
        assert_eq!(cli.server.config_file, PathBuf::from("x.yml"));
        assert!(cli.server.web_enable_lifecycle);
        assert_eq!(cli.server.enable_feature, vec!["a", "b"]);
        assert_eq!(cli.server.log_format, LogFormat::Json);
    }

    #[test]
    fn unimplemented_flags_are_listed_when_set() {
        let (_, m) = parse(&["narthex", "--web.enable-lifecycle", "--rules.alert.resend-delay=2m", "--query.timeout=1m", "--storage.tsdb.retention.time=1d"]);
        let un = ServerFlags::unimplemented(&m);
        assert!(un.contains(&"--rules.alert.resend-delay".to_owned()));
        assert!(!un.iter().any(|f| f == "--query.timeout"), "the query flags take effect");
        assert!(!un.iter().any(|f| f == "--storage.tsdb.retention.time"), "retention takes effect");
        assert!(!un.iter().any(|f| f == "--web.enable-lifecycle"));
        let (_, admin) = parse(&["narthex", "--web.enable-admin-api"]);
        assert!(ServerFlags::unimplemented(&admin).is_empty(), "the admin API flag takes effect");
        let (_, storage) = parse(&["narthex", "--storage.tsdb.path=/x", "--no-storage.tsdb.wal-compression"]);
        assert!(ServerFlags::unimplemented(&storage).is_empty(), "storage flags take effect");
        let map = ServerFlags::as_map(&m);
        assert_eq!(map["query.timeout"], "1m");
        assert_eq!(map["web.enable-lifecycle"], "true");
        assert_eq!(map["web.enable-admin-api"], "false");
    }

    #[test]
    fn check_config_subcommand() {
        let (cli, _) = parse(&["narthex", "check", "config", "--syntax-only", "a.yml", "b.yml"]);
        match cli.command {
            Some(Command::Check(CheckCommand::Config(a))) => {
                assert!(a.syntax_only && !a.agent);
                assert_eq!(a.files.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tsdb_subcommands() {
        let (cli, _) = parse(&["narthex", "tsdb", "list", "-r", "d"]);
        assert!(
            matches!(cli.command, Some(Command::Tsdb(TsdbCommand::List(TsdbListArgs { human_readable: true, ref path }))) if path == std::path::Path::new("d"))
        );
        let (cli, _) = parse(&["narthex", "tsdb", "create-blocks-from", "openmetrics", "-q", "in.om", "out"]);
        assert!(matches!(
            cli.command,
            Some(Command::Tsdb(TsdbCommand::CreateBlocksFrom(CreateBlocksFromCommand::OpenMetrics(CreateBlocksFromOpenMetricsArgs {
                quiet: true,
                human_readable: false,
                ..
            }))))
        ));
        let (cli, _) = parse(&["narthex", "tsdb", "dump", "--min-time=-5", "--match", "up"]);
        match cli.command {
            Some(Command::Tsdb(TsdbCommand::Dump(a))) => {
                assert_eq!((a.min_time, a.max_time, a.matcher.as_str()), (-5, i64::MAX, "up"));
                assert_eq!(a.path, std::path::Path::new("data/"));
            }
            other => panic!("{other:?}"),
        }
        let (cli, _) = parse(&["narthex", "tsdb", "analyze", "--limit=5", "--match", "up", "d", "01M84V575P2NVXAST39WYZZ3FN"]);
        match cli.command {
            Some(Command::Tsdb(TsdbCommand::Analyze(a))) => {
                assert_eq!((a.limit, a.matcher.as_str(), a.block_id.as_deref()), (5, "up", Some("01M84V575P2NVXAST39WYZZ3FN")));
                assert_eq!(a.path, std::path::Path::new("d"));
            }
            other => panic!("{other:?}"),
        }
        let (cli, _) = parse(&["narthex", "tsdb", "analyze"]);
        match cli.command {
            Some(Command::Tsdb(TsdbCommand::Analyze(a))) => {
                assert_eq!((a.limit, a.matcher.as_str(), a.block_id), (20, "", None));
                assert_eq!(a.path, std::path::Path::new("data/"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn route_prefix_follows_external_url() {
        let (cli, _) = parse(&["narthex", "--web.external-url=http://h:9090/prom/"]);
        assert_eq!(cli.server.route_prefix(), "/prom/");
    }
}
