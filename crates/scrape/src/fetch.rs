//! The HTTP side of a scrape: the request Prometheus sends (its `Accept`,
//! `Accept-Encoding` and timeout headers) and the checks on the response.

use std::time::Duration;

use httpclient::Client;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue};

use crate::scrape_loop::{ScrapeError, Scraper};

/// The request headers of every target of a pool.
pub fn request_headers(accept: &str, enable_compression: bool, timeout: Duration) -> Vec<(HeaderName, HeaderValue)> {
    let mut h = Vec::with_capacity(3);
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.push((ACCEPT, v));
    }
    h.push((ACCEPT_ENCODING, HeaderValue::from_static(if enable_compression { "gzip" } else { "identity" })));
    // Exporters that do expensive work use it to stop in time.
    if let Ok(v) = HeaderValue::from_str(&format_seconds(timeout)) {
        h.push((HeaderName::from_static("x-prometheus-scrape-timeout-seconds"), v));
    }
    h
}

/// Seconds as Go's `strconv.FormatFloat(s, 'f', -1, 64)`: `10`, `0.5`.
fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 { format!("{}", s as u64) } else { format!("{s}") }
}

/// Scrapes one target over HTTP with its pool's client.
#[derive(Debug, Clone)]
pub struct HttpScraper {
    pub client: Client,
    pub url: url::Url,
    pub headers: std::sync::Arc<[(HeaderName, HeaderValue)]>,
    pub timeout: Duration,
    pub body_size_limit: u64,
}

impl Scraper for HttpScraper {
    async fn scrape(&self, buf: &mut Vec<u8>) -> Result<String, ScrapeError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let fetch = |e: httpclient::ClientError| ScrapeError::Fetch(e.to_string());
        let resp = self.client.get(&self.url, &self.headers, self.timeout).await.map_err(fetch)?;
        if resp.status() != StatusCode::OK {
            return Err(fetch(httpclient::status_error(resp.status())));
        }
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        httpclient::read_body(resp, self.body_size_limit, buf, deadline).await.map_err(|e| match e {
            httpclient::ClientError::BodySizeLimit => ScrapeError::BodySizeLimit,
            e => fetch(e),
        })?;
        Ok(content_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header_is_formatted_like_go() {
        assert_eq!(format_seconds(Duration::from_secs(10)), "10");
        assert_eq!(format_seconds(Duration::from_millis(500)), "0.5");
        let h = request_headers("text/plain", false, Duration::from_secs(10));
        assert_eq!(h[1].1, "identity");
        assert_eq!(h[2].1, "10");
    }
}
