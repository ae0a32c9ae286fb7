//! The HTTP client made from a config's HTTP client settings
//! (`config::HttpClientConfig`), Narthex's counterpart of Prometheus's
//! `common/config` client: TLS and mTLS with files re-read when they change,
//! basic auth, `authorization`, OAuth2 client credentials, extra headers,
//! proxies, redirects and HTTP/2 choice, plus body reading under a size
//! limit with gzip decoding.
//!
//! It owns how a request is sent and authenticated; it does not decide what
//! to request or judge the answer (status codes, content types and timeouts
//! are the caller's: the scraper, discovery, the notifier, remote write),
//! and it never parses or changes the configuration, which the `config`
//! crate has already validated.
//!
//! Limits against Prometheus, all due to reqwest 0.12:
//! - `server_name` is what the certificate is verified against, but the SNI
//!   sent is still the URL's host (none for an IP address), since reqwest
//!   gives no way to set it.
//! - `proxy_connect_header` goes on the CONNECT of HTTPS targets as in Go,
//!   and for plain-HTTP targets also on the request forwarded through the
//!   proxy (a header with several values then keeps its last one).
//! - Redirects are followed inside reqwest, which drops `Authorization` when
//!   the redirect leaves the host; Go's round trippers would add the
//!   credentials again on every hop.
//! - Rotating TLS files replaces the connection pool, so existing keep-alive
//!   connections are not reused after a change (Go keeps them).
//! - `tls_config.min_version`/`max_version` TLS10 and TLS11 are refused at
//!   [`Client::new`]: rustls speaks only TLS 1.2 and 1.3.
//! - `*_ref` secret references are refused at [`Client::new`]: there is no
//!   secret manager.
//! - `tls_config.next_protos` is not used: ALPN follows `enable_http2`.

mod auth;
mod body;
mod error;
mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{Method, Request, Response};

pub use body::read_body;
pub use error::{ClientError, status_error};

use auth::{Auth, ConfigHeaders};
use transport::{Settings, Transport};

/// Options that are not in the YAML config.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Sent as `User-Agent` on requests that do not set their own; empty sends none.
    pub user_agent: String,
    /// Who uses the client (e.g. the scrape job), for logs.
    pub name: String,
}

/// A client for one config: cheap to clone and to share between tasks, all
/// clones using the same connection pool, credentials and token cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    user_agent: Option<HeaderValue>,
    transport: Transport,
    headers: ConfigHeaders,
    auth: Option<Auth>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client, reading the TLS files once so that a missing or
    /// unusable file fails here, at config load, rather than at each request.
    pub fn new(cfg: &config::HttpClientConfig, opts: ClientOptions) -> Result<Client, ClientError> {
        let user_agent = if opts.user_agent.is_empty() {
            None
        } else {
            Some(HeaderValue::from_str(&opts.user_agent).map_err(|_| ClientError::Config(format!("invalid user agent {:?}", opts.user_agent)))?)
        };
        let transport = Transport::new(Settings {
            tls: cfg.tls_config.clone(),
            proxy: cfg.proxy.clone(),
            follow_redirects: cfg.follow_redirects,
            http2: cfg.enable_http2,
            field: "tls_config",
            name: opts.name.clone(),
        })
        .map_err(ClientError::Config)?;
        let headers = ConfigHeaders::new(&cfg.http_headers).map_err(ClientError::Config)?;
        let auth = Auth::new(cfg, user_agent.as_ref(), &opts.name).map_err(ClientError::Config)?;
        Ok(Client { inner: Arc::new(Inner { name: opts.name, user_agent, transport, headers, auth }) })
    }

    /// Sends a GET to `url` with the given extra headers (e.g. `Accept`,
    /// `Accept-Encoding`, `X-Prometheus-Scrape-Timeout-Seconds`), applying
    /// auth, the config's `http_headers` and the User-Agent. Everything up to
    /// the response headers, OAuth2 token request included, must finish
    /// within `timeout`; the body is read with [`read_body`] and its own
    /// deadline. A non-2xx status is not an error here: see [`status_error`].
    pub async fn get(&self, url: &url::Url, headers: &[(HeaderName, HeaderValue)], timeout: Duration) -> Result<Response, ClientError> {
        let mut req = Request::new(Method::GET, url.clone());
        for (name, value) in headers {
            req.headers_mut().append(name.clone(), value.clone());
        }
        match tokio::time::timeout(timeout, self.execute(req)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::timeout(&Method::GET, url)),
        }
    }

    /// Sends any request (e.g. remote write's POST) with auth, the config's
    /// headers, the User-Agent and TLS applied. A timeout set on the request
    /// is honoured; none is added.
    pub async fn execute(&self, mut req: Request) -> Result<Response, ClientError> {
        let method = req.method().clone();
        let url = req.url().clone();
        let fail = |cause: String| ClientError::request(&method, &url, cause);
        let inner = &self.inner;
        auth::url_userinfo(&mut req).map_err(fail)?;
        inner.headers.apply(req.headers_mut()).map_err(fail)?;
        if let Some(a) = &inner.auth {
            a.apply(req.headers_mut()).await.map_err(fail)?;
        }
        if let Some(ua) = &inner.user_agent {
            req.headers_mut().entry(header::USER_AGENT).or_insert_with(|| ua.clone());
        }
        let client = inner.transport.client().map_err(fail)?;
        client.execute(req).await.map_err(|e| ClientError::from_reqwest(&method, &url, &e))
    }
}
