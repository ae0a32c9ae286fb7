//! `http_sd_configs`: the HTTP SD protocol. Every `refresh_interval` (and
//! at start) the URL is fetched with the config's full HTTP client settings;
//! the answer must be `200` with a JSON content type and a JSON list of
//! `{targets, labels}`. Each group's source is `<url>:<index>` and it gets
//! `__meta_url`; groups past the end of a shorter answer are sent empty.
//! A failed refresh sends nothing, so the last good groups stay, and counts
//! `prometheus_sd_http_failures_total` and
//! `prometheus_sd_refresh_failures_total{mechanism="http"}`.

use std::time::Duration;

use config::sd::HttpSdConfig;
use httpclient::{Client, ClientError, ClientOptions};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Group;
use crate::metrics::SdMetrics;
use crate::provider::{BuildError, Env, seconds_text};
use crate::targetgroup::{DecodeError, decode_json};

const URL_LABEL: &str = "__meta_url";

/// Why one refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpSdError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("unsupported content type {}", model::quote::go_quote(.0.as_bytes()))]
    ContentType(String),
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

#[derive(Debug)]
pub(crate) struct HttpDiscovery {
    url: url::Url,
    /// The URL as configured: what sources and `__meta_url` carry.
    url_text: String,
    client: Client,
    interval: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    metrics: SdMetrics,
    /// Groups in the last good answer, to empty the ones that went.
    last_len: usize,
}

impl HttpDiscovery {
    pub(crate) fn new(cfg: &HttpSdConfig, env: &Env) -> Result<HttpDiscovery, BuildError> {
        let url = url::Url::parse(&cfg.url).map_err(|err| BuildError::Url { url: cfg.url.clone(), err })?;
        let client = Client::new(&cfg.http_client_config, ClientOptions { user_agent: env.user_agent.clone(), name: "http".into() })?;
        let interval = cfg.refresh_interval.as_std();
        let mut headers = vec![(ACCEPT, HeaderValue::from_static("application/json"))];
        if let Ok(v) = HeaderValue::from_str(&seconds_text(interval)) {
            headers.push((HeaderName::from_static("x-prometheus-refresh-interval-seconds"), v));
        }
        Ok(HttpDiscovery { url, url_text: cfg.url.clone(), client, interval, headers, metrics: env.metrics.clone(), last_len: 0 })
    }

    pub(crate) async fn run(mut self, tx: mpsc::Sender<Vec<Group>>) {
        let mut ticker = tokio::time::interval(self.interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.refresh().await {
                Ok(groups) => {
                    if tx.send(groups).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    self.metrics.http_failures.inc();
                    self.metrics.refresh_failed("http");
                    tracing::error!(component = "discovery manager", discovery = "http", url = %self.url_text, err = %e, "Unable to refresh target groups");
                }
            }
        }
    }

    async fn refresh(&mut self) -> Result<Vec<Group>, HttpSdError> {
        // The whole exchange must fit in one interval, as Prometheus sets
        // the client's timeout to it.
        let deadline = Instant::now() + self.interval;
        let resp = self.client.get(&self.url, &self.headers, self.interval).await?;
        if resp.status() != StatusCode::OK {
            return Err(httpclient::status_error(resp.status()).into());
        }
        let content_type = resp.headers().get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default();
        if !is_json(content_type.trim()) {
            return Err(HttpSdError::ContentType(content_type));
        }
        let mut body = Vec::new();
        httpclient::read_body(resp, 0, &mut body, deadline).await?;
        let tgs = decode_json(&body)?;
        let n = tgs.len();
        let mut groups: Vec<Group> =
            tgs.into_iter().enumerate().map(|(i, tg)| Group::from_discovered(tg, source(&self.url_text, i), (URL_LABEL, &self.url_text))).collect();
        groups.extend((n..self.last_len).map(|i| Group::empty(source(&self.url_text, i))));
        self.last_len = n;
        Ok(groups)
    }
}

fn source(url: &str, i: usize) -> String {
    format!("{url}:{i}")
}

/// Prometheus's check, `^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$`:
/// JSON with at most a UTF-8 charset parameter, case-insensitively.
fn is_json(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    let Some(rest) = ct.strip_prefix("application/json") else { return false };
    if rest.is_empty() {
        return true;
    }
    let Some(param) = rest.strip_prefix(';') else { return false };
    // Go's `\s` is ASCII whitespace: space, tab, newline, form feed, carriage return.
    let param = param.trim_start_matches([' ', '\t', '\n', '\x0c', '\r']);
    matches!(param, "charset=utf-8" | "charset=\"utf-8\"")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    #[test]
    fn content_types() {
        for ok in ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=\"UTF-8\""] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in ["text/plain", "application/json; charset=latin1", "application/jsonx", "", "application/json;"] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    type Answer = Arc<Mutex<(StatusCode, &'static str, String)>>;

    #[derive(Clone, Default)]
    struct Server {
        answer: Answer,
        headers: Arc<Mutex<Option<HeaderMap>>>,
    }

    async fn sd(State(s): State<Server>, headers: HeaderMap) -> Response {
        *s.headers.lock().unwrap() = Some(headers);
        let (status, ct, body) = s.answer.lock().unwrap().clone();
        (status, [(CONTENT_TYPE, ct)], body).into_response()
    }

    async fn server(body: &str) -> (String, Server) {
        let s = Server::default();
        *s.answer.lock().unwrap() = (StatusCode::OK, "application/json", body.to_owned());
        let app = Router::new().route("/sd", get(sd)).with_state(s.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sd", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (url, s)
    }

    fn discovery(url: &str, metrics: &SdMetrics) -> HttpDiscovery {
        let cfg = HttpSdConfig { url: url.to_owned(), refresh_interval: config::Duration::from_millis(100), ..HttpSdConfig::default() };
        HttpDiscovery::new(&cfg, &Env { metrics: metrics.clone(), user_agent: "Prometheus/test".into(), dns_nameserver: None }).unwrap()
    }

    #[tokio::test]
    async fn targets_appear_change_and_disappear_and_failures_keep_the_last_good_answer() {
        let (url, s) = server(r#"[{"targets": ["a:1", "b:2"], "labels": {"dc": "x"}}, {"targets": ["c:3"]}]"#).await;
        let metrics = SdMetrics::default();
        let mut d = discovery(&url, &metrics);
        let groups = d.refresh().await.unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, format!("{url}:0"));
        assert_eq!(groups[0].labels.to_string(), format!(r#"{{__meta_url="{url}", dc="x"}}"#));
        assert_eq!(groups[1].targets[0].get("__address__"), "c:3");
        let h = s.headers.lock().unwrap().clone().unwrap();
        assert_eq!(h["accept"], "application/json");
        assert_eq!(h["x-prometheus-refresh-interval-seconds"], "0.1");
        assert_eq!(h["user-agent"], "Prometheus/test");

        // One group fewer: the second source is sent empty.
        s.answer.lock().unwrap().2 = r#"[{"targets": ["a:1"]}]"#.into();
        let groups = d.refresh().await.unwrap();
        assert_eq!(groups.len(), 2);
        assert!(groups[1].targets.is_empty() && groups[1].source == format!("{url}:1"));

        // Failures: wrong status, wrong content type, bad JSON.
        *s.answer.lock().unwrap() = (StatusCode::NOT_FOUND, "application/json", "[]".into());
        assert_eq!(d.refresh().await.unwrap_err().to_string(), "server returned HTTP status 404 Not Found");
        *s.answer.lock().unwrap() = (StatusCode::OK, "text/plain", "[]".into());
        assert_eq!(d.refresh().await.unwrap_err().to_string(), r#"unsupported content type "text/plain""#);
        *s.answer.lock().unwrap() = (StatusCode::OK, "application/json", "[null]".into());
        assert_eq!(d.refresh().await.unwrap_err().to_string(), "nil target group item found");
    }

    #[tokio::test]
    async fn the_running_provider_sends_nothing_on_failure() {
        let (url, s) = server(r#"[{"targets": ["a:1"]}]"#).await;
        let metrics = SdMetrics::default();
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(discovery(&url, &metrics).run(tx));
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(first[0].targets.len(), 1);
        s.answer.lock().unwrap().0 = StatusCode::INTERNAL_SERVER_ERROR;
        // Drain what was in flight, then expect silence while it fails.
        let _ = tokio::time::timeout(Duration::from_millis(150), rx.recv()).await;
        while metrics.http_failures.get() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(rx.try_recv().is_err());
        assert_eq!(metrics.refresh_failures.get_or_create(&vec![("mechanism".to_owned(), "http".to_owned())]).get(), metrics.http_failures.get());
        task.abort();
    }
}
