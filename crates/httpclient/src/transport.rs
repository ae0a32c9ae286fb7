//! The reqwest client under a [`crate::Client`] (and under the OAuth2 token
//! requests): TLS, proxy, redirects, HTTP/2, pooling, and its rebuild when a
//! TLS file changes on disk.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use config::http::{ProxyConfig, TlsConfig};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::tls::{self, Material};

/// Go's Transport keeps idle connections 90 s; Prometheus raises it to
/// 5 minutes so that targets scraped every minute or two keep theirs.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Go's dialer values, which Prometheus keeps.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);
/// Go's http.Client stops after 10 redirects.
const MAX_REDIRECTS: usize = 10;

pub(crate) struct Settings {
    pub tls: TlsConfig,
    pub proxy: ProxyConfig,
    pub follow_redirects: bool,
    pub http2: bool,
    /// Where errors say the TLS settings came from (`tls_config`, `oauth2.tls_config`).
    pub field: &'static str,
    /// Who uses the client, for logs.
    pub name: String,
}

/// The identity of one file as far as a cheap `stat` tells: a rewrite, an
/// atomic rename or a Kubernetes symlink swap all change one of these.
#[derive(PartialEq, Eq, Clone, Debug)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

fn stamp(path: &str) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
        },
    })
}

struct State {
    client: reqwest::Client,
    stamps: Vec<Option<Stamp>>,
    material: Material,
}

pub(crate) struct Transport {
    settings: Settings,
    proxy: Option<reqwest::Proxy>,
    /// The TLS files to watch; empty when all TLS material is inline.
    files: Vec<String>,
    /// A std mutex, never held across an await: only the stat, and on a
    /// change the file reads and the (synchronous) rebuild, happen under it.
    state: Mutex<State>,
}

impl Transport {
    pub(crate) fn new(settings: Settings) -> Result<Transport, String> {
        tls::check(&settings.tls, settings.field)?;
        let proxy = proxy(&settings.proxy)?;
        let files: Vec<String> = settings.tls.files().into_iter().map(str::to_owned).collect();
        let stamps = files.iter().map(|f| stamp(f)).collect();
        let material = Material::load(&settings.tls)?;
        let client = build(&settings, proxy.as_ref(), &material)?;
        Ok(Transport { settings, proxy, files, state: Mutex::new(State { client, stamps, material }) })
    }

    /// The client to send with, rebuilt first if a TLS file changed since the
    /// last call. Prometheus re-reads these files on each request, so a
    /// renewed certificate is used without a restart; a `stat` per file is
    /// what that costs here, the files themselves being read only when their
    /// stamp moved. A file that cannot be read or used fails the request,
    /// and the next request tries again.
    pub(crate) fn client(&self) -> Result<reqwest::Client, String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.files.is_empty() {
            return Ok(state.client.clone());
        }
        let stamps: Vec<Option<Stamp>> = self.files.iter().map(|f| stamp(f)).collect();
        if stamps == state.stamps {
            return Ok(state.client.clone());
        }
        let material = Material::load(&self.settings.tls)?;
        if material != state.material {
            state.client = build(&self.settings, self.proxy.as_ref(), &material)?;
            state.material = material;
            tracing::info!(client = %self.settings.name, files = ?self.files, "TLS files changed, new connections use the new material");
        }
        state.stamps = stamps;
        Ok(state.client.clone())
    }
}

fn build(s: &Settings, proxy: Option<&reqwest::Proxy>, material: &Material) -> Result<reqwest::Client, String> {
    let alpn: Vec<Vec<u8>> = if s.http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    let tls = tls::client_config(&s.tls, material, alpn, s.field)?;
    let redirects = if s.follow_redirects { reqwest::redirect::Policy::limited(MAX_REDIRECTS) } else { reqwest::redirect::Policy::none() };
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(redirects)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(TCP_KEEPALIVE);
    if !s.http2 {
        b = b.http1_only();
    }
    // Without an explicit proxy reqwest would read the environment's, which
    // Prometheus only does when proxy_from_environment asks for it.
    b = match proxy {
        Some(p) => b.proxy(p.clone()),
        None => b.no_proxy(),
    };
    b.build().map_err(|e| format!("building the HTTP client: {e}"))
}

/// The reqwest proxy for `proxy_url` or `proxy_from_environment`, built once
/// at `Client::new` (Go reads the environment once per process too).
fn proxy(cfg: &ProxyConfig) -> Result<Option<reqwest::Proxy>, String> {
    let headers = connect_headers(cfg)?;
    let proxy = match &cfg.proxy_url {
        Some(u) if !u.is_empty() => {
            if !matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") {
                return Err(format!("proxy_url {u}: unsupported proxy scheme {:?} (http, https, socks5 and socks5h are)", u.scheme()));
            }
            let mut p = reqwest::Proxy::all(u.as_str()).map_err(|e| format!("proxy_url {u}: {e}"))?;
            if !cfg.no_proxy.is_empty() {
                p = p.no_proxy(reqwest::NoProxy::from_string(&cfg.no_proxy));
            }
            p
        }
        _ if cfg.proxy_from_environment => {
            let http = env_proxy(&["HTTP_PROXY", "http_proxy"])?;
            let https = env_proxy(&["HTTPS_PROXY", "https_proxy"])?;
            if http.is_none() && https.is_none() {
                return Ok(None);
            }
            // Go picks the variable by the request's scheme and, unlike
            // reqwest's own environment support, ignores ALL_PROXY.
            reqwest::Proxy::custom(move |u| match u.scheme() {
                "https" => https.clone(),
                "http" => http.clone(),
                _ => None,
            })
            .no_proxy(reqwest::NoProxy::from_env())
        }
        _ => return Ok(None),
    };
    Ok(Some(if headers.is_empty() { proxy } else { proxy.headers(headers) }))
}

fn env_proxy(names: &[&str]) -> Result<Option<url::Url>, String> {
    let Some((name, value)) = names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()).map(|v| (*n, v))) else {
        return Ok(None);
    };
    // Go accepts a bare host:port and means http.
    let full = if value.contains("://") { value } else { format!("http://{value}") };
    url::Url::parse(&full).map(Some).map_err(|e| format!("invalid proxy address in {name}: {e}"))
}

/// `proxy_connect_header` as a header map. reqwest sends these on the
/// CONNECT request of HTTPS targets (Go's ProxyConnectHeader) and, for plain
/// HTTP targets, on the request forwarded through the proxy, where a header
/// with several values keeps only its last one.
fn connect_headers(cfg: &ProxyConfig) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, values) in &cfg.proxy_connect_header {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("proxy_connect_header: invalid header name {name:?}"))?;
        for v in values {
            let mut hv = HeaderValue::from_str(v.expose()).map_err(|_| format!("proxy_connect_header: invalid value for header {name:?}"))?;
            hv.set_sensitive(true);
            map.append(n.clone(), hv);
        }
    }
    Ok(map)
}
