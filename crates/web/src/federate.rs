//! `/federate`: the newest sample of every series the `match[]` selectors
//! pick, within the lookback delta, in the text exposition format, so that
//! another Prometheus can scrape this one. As in Prometheus, each series
//! gets the external labels it lacks (and `instance=""` without one), every
//! metric is `untyped`, and samples keep their timestamps.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::Labels;
use storage::{SelectHints, ValueType};

use crate::{AppState, Params};

/// The text format's content type, as Prometheus answers federation.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn plain(status: StatusCode, msg: String) -> Response {
    (status, msg).into_response()
}

pub(crate) async fn federate(State(s): State<Arc<AppState>>, Params(params): Params) -> Response {
    let Some(h) = s.handles.query.clone() else { return plain(StatusCode::SERVICE_UNAVAILABLE, "storage not available\n".into()) };
    let mut selectors = Vec::new();
    for (k, v) in &params {
        if k == "match[]" {
            match promql::parser::parse_metric_selector(v) {
                Ok(ms) => selectors.push(ms),
                Err(e) => return plain(StatusCode::BAD_REQUEST, format!("parse error: {e}\n")),
            }
        }
    }
    let mut external: Vec<(String, String)> =
        s.handles.external_labels.read().map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    if !external.iter().any(|(k, _)| k == "instance") {
        external.push(("instance".into(), String::new()));
        external.sort();
    }
    let lookback = h.lookback_delta_ms;
    let result = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let maxt = crate::query::now_ms();
        let mint = maxt - lookback;
        let q = h.queryable.querier(mint, maxt).map_err(|e| e.to_string())?;
        let hints = SelectHints { start: mint, end: maxt, ..Default::default() };
        // Series picked by several selectors are given once.
        let mut picked: std::collections::BTreeMap<Labels, (i64, f64)> = std::collections::BTreeMap::new();
        for m in &selectors {
            let mut set = q.select(true, Some(&hints), m);
            while let Some(series) = set.next() {
                if picked.contains_key(series.labels()) {
                    continue;
                }
                let newest = series.latest().or_else(|| {
                    let mut it = series.iterator();
                    let mut last = None;
                    while it.next() == ValueType::Float {
                        last = Some(it.at());
                    }
                    last
                });
                match newest {
                    Some((t, v)) if t >= mint && t <= maxt && !model::value::is_stale_nan(v) => {
                        picked.insert(series.labels().clone(), (t, v));
                    }
                    _ => {}
                }
            }
            if let Some(e) = set.err() {
                return Err(e.to_string());
            }
        }
        Ok(render(picked, &external))
    })
    .await;
    match result {
        Ok(Ok(body)) => {
            let mut resp = body.into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
            resp
        }
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("federation failed: {e}\n")),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("federation failed: {e}\n")),
    }
}

/// The samples as families by metric name, the external labels a series
/// lacks after its own.
fn render(picked: std::collections::BTreeMap<Labels, (i64, f64)>, external: &[(String, String)]) -> String {
    let mut by_name: Vec<(&str, &Labels, (i64, f64))> = picked.iter().map(|(l, s)| (l.get("__name__"), l, *s)).collect();
    by_name.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    let mut family = None;
    for (name, labels, (t, v)) in by_name {
        if family != Some(name) {
            let _ = writeln!(out, "# TYPE {name} untyped");
            family = Some(name);
        }
        out.push_str(name);
        let own = labels.iter().filter(|l| l.name != "__name__" && !l.value.is_empty()).map(|l| (l.name, l.value));
        let added = external.iter().filter(|(k, _)| labels.get(k).is_empty()).map(|(k, v)| (k.as_str(), v.as_str()));
        let mut first = true;
        for (k, val) in own.chain(added) {
            out.push(if first { '{' } else { ',' });
            first = false;
            let _ = write!(out, "{k}=\"");
            escape(&mut out, val);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        let _ = writeln!(out, " {} {t}", format_value(v));
    }
    out
}

fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A value as the text format writes it: Go's shortest `%g`, which turns
/// to exponent form (`1e+06`, `1.5e-07`) below 1e-4 and from 1e6 on, with
/// the format's names for the specials.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_go_writes_them() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (-2.5e21, "-2.5e+21"),
        ];
        for (v, want) in cases {
            assert_eq!(format_value(v), want, "{v}");
        }
        assert_eq!((format_value(f64::NAN), format_value(f64::NEG_INFINITY)), ("NaN".to_owned(), "-Inf".to_owned()));
    }

    #[test]
    fn families_by_name_with_the_external_labels_a_series_lacks() {
        let mut picked = std::collections::BTreeMap::new();
        picked.insert(Labels::from_pairs([("__name__", "up"), ("instance", "a:9100"), ("job", "node")]), (1000, 1.0));
        picked.insert(Labels::from_pairs([("__name__", "up"), ("instance", "b:9100"), ("job", "node"), ("zone", "x")]), (2000, 0.0));
        picked.insert(Labels::from_pairs([("__name__", "load"), ("path", "a\"b\\c\nd")]), (3000, 1.5e-7));
        let external = [("instance".to_owned(), String::new()), ("zone".to_owned(), "eu".to_owned())];
        assert_eq!(
            render(picked, &external),
            concat!(
                "# TYPE load untyped\n",
                "load{path=\"a\\\"b\\\\c\\nd\",instance=\"\",zone=\"eu\"} 1.5e-07 3000\n",
                "# TYPE up untyped\n",
                "up{instance=\"a:9100\",job=\"node\",zone=\"eu\"} 1 1000\n",
                "up{instance=\"b:9100\",job=\"node\",zone=\"x\"} 0 2000\n",
            )
        );
    }
}
