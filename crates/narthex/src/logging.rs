//! Logs in Prometheus's shape: `--log.format=logfmt|json`, keys `ts`,
//! `level`, `component`, `msg`, then the event's own fields.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::flags::{LogFormat, LogLevel};

/// Targets of the workspace's crates (their library names).
const OUR_CRATES: &[&str] =
    &["narthex", "config", "discovery", "httpclient", "model", "promql", "relabel", "remote", "scrape", "storage", "textparse", "tsdb", "web"];

/// Installs the global logger; call once, first thing.
pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    // Third-party libraries speak only when something is wrong; their
    // debug output would drown ours. Our own crates log at the level asked.
    let filter = OUR_CRATES.iter().fold(Targets::new().with_default(level.min(LevelFilter::WARN)), |f, c| f.with_target(*c, level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).event_format(PromFormat { json: format == LogFormat::Json });
    // A second init (tests) keeps the first logger.
    let _ = tracing_subscriber::registry().with(filter).with(fmt).try_init();
}

struct PromFormat {
    json: bool,
}

/// The component a log line is about: an explicit `component` field, else
/// the crate (`narthex_web` → `web`) or the binary's module (`narthex::reload`).
fn component_of(target: &str) -> &str {
    let mut parts = target.split("::");
    let first = parts.next().unwrap_or(target);
    match first.strip_prefix("narthex_") {
        Some(rest) => rest,
        None if first == "narthex" => parts.next().unwrap_or("main"),
        None => first,
    }
}

#[derive(Default)]
struct Fields {
    msg: String,
    component: Option<String>,
    rest: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.msg = value.to_owned(),
            "component" => self.component = Some(value.to_owned()),
            name => self.rest.push((name, value.to_owned())),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.msg = format!("{value:?}"),
            "component" => self.component = Some(format!("{value:?}").trim_matches('"').to_owned()),
            name => self.rest.push((name, format!("{value:?}"))),
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "debug",
    }
}

fn logfmt_value(v: &str) -> String {
    if !v.is_empty() && !v.contains(|c: char| c == ' ' || c == '=' || c == '"' || c.is_control()) {
        return v.to_owned();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl<S, N> FormatEvent<S, N> for PromFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut f = Fields::default();
        event.record(&mut f);
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let level = level_name(event.metadata().level());
        let component = f.component.clone().unwrap_or_else(|| component_of(event.metadata().target()).to_owned());
        if self.json {
            let mut obj = serde_json::Map::new();
            obj.insert("ts".into(), ts.into());
            obj.insert("level".into(), level.into());
            obj.insert("component".into(), component.into());
            obj.insert("msg".into(), f.msg.into());
            for (k, v) in f.rest {
                obj.insert(k.into(), v.into());
            }
            writeln!(w, "{}", serde_json::Value::Object(obj))
        } else {
            write!(w, "ts={ts} level={level} component={} msg={}", logfmt_value(&component), logfmt_value(&f.msg))?;
            for (k, v) in f.rest {
                write!(w, " {k}={}", logfmt_value(&v))?;
            }
            writeln!(w)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_from_targets() {
        assert_eq!(component_of("narthex_web"), "web");
        assert_eq!(component_of("narthex_web::api"), "web");
        assert_eq!(component_of("narthex::reload"), "reload");
        assert_eq!(component_of("narthex"), "main");
        assert_eq!(component_of("hyper::proto"), "hyper");
    }

    #[test]
    fn logfmt_quoting() {
        assert_eq!(logfmt_value("plain"), "plain");
        assert_eq!(logfmt_value("two words"), "\"two words\"");
        assert_eq!(logfmt_value("a\"b\nc"), "\"a\\\"b\\nc\"");
        assert_eq!(logfmt_value(""), "\"\"");
    }
}
