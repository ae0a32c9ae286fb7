//! What a request carries besides the caller's own headers: the config's
//! `http_headers` and one of `basic_auth`, `authorization` or `oauth2`.
//! Files are read on every request so that rotated credentials are used by
//! the next request; they are small and a read is a few microseconds, so they
//! are read synchronously rather than through tokio's blocking pool.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use config::http::{Authorization, BasicAuth, Header, HttpClientConfig, OAuth2};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;

use crate::error::{ClientError, cause_chain, file_error};
use crate::transport::{Settings, Transport};

/// A value given inline or read from a file at request time.
pub(crate) enum Source {
    Inline(String),
    File(String),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Inline(_) => f.write_str("<inline>"),
            Source::File(path) => write!(f, "file {path}"),
        }
    }
}

impl Source {
    fn new(inline: &str, file: &str) -> Source {
        if file.is_empty() { Source::Inline(inline.to_owned()) } else { Source::File(file.to_owned()) }
    }

    /// The value; a file's surrounding whitespace (its trailing newline above
    /// all) is dropped, as Prometheus does for every secret file.
    fn read(&self, what: &str) -> Result<String, String> {
        match self {
            Source::Inline(s) => Ok(s.clone()),
            Source::File(path) => {
                std::fs::read_to_string(path).map(|s| s.trim().to_owned()).map_err(|e| format!("unable to read {what} file {path}: {}", file_error(path, &e)))
            }
        }
    }
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value).map_err(|_| format!("{what} contains characters not allowed in an HTTP header"))?;
    v.set_sensitive(true);
    Ok(v)
}

fn basic_header(user: &str, pass: &str) -> Result<HeaderValue, String> {
    sensitive(&format!("Basic {}", BASE64.encode(format!("{user}:{pass}"))), "basic auth")
}

/// Secret-manager references exist in Prometheus's schema, but nothing here
/// resolves them, so a config using one is refused at load time rather than
/// sending requests without credentials.
fn no_ref(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() { Ok(()) } else { Err(format!("{field}: secret references are not supported (no secret manager is configured)")) }
}

/// The config's `http_headers`, in the order Prometheus adds them: for each
/// header its values, then its secrets, then its files.
#[derive(Debug, Default)]
pub(crate) struct ConfigHeaders(Vec<(HeaderName, HeaderSource)>);

#[derive(Debug)]
enum HeaderSource {
    Value(HeaderValue),
    File(String),
}

impl ConfigHeaders {
    pub(crate) fn new(headers: &std::collections::BTreeMap<String, Header>) -> Result<ConfigHeaders, String> {
        let mut out = Vec::new();
        for (name, h) in headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("http_headers: invalid header name {name:?}"))?;
            for v in &h.values {
                let hv = HeaderValue::from_str(v).map_err(|_| format!("http_headers: invalid value for header {name:?}"))?;
                out.push((n.clone(), HeaderSource::Value(hv)));
            }
            for s in &h.secrets {
                out.push((n.clone(), HeaderSource::Value(sensitive(s.expose(), &format!("http_headers: a secret of header {name:?}"))?)));
            }
            for f in &h.files {
                out.push((n.clone(), HeaderSource::File(f.clone())));
            }
        }
        Ok(ConfigHeaders(out))
    }

    pub(crate) fn apply(&self, headers: &mut HeaderMap) -> Result<(), String> {
        for (name, source) in &self.0 {
            let value = match source {
                HeaderSource::Value(v) => v.clone(),
                HeaderSource::File(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| format!("unable to read headers file {path}: {}", file_error(path, &e)))?;
                    // Trimmed: a value cannot hold the file's final newline.
                    sensitive(text.trim(), &format!("headers file {path}"))?
                }
            };
            headers.append(name.clone(), value);
        }
        Ok(())
    }
}

/// The request's credentials, one kind at most (the config's validation
/// guarantees it).
#[derive(Debug)]
pub(crate) enum Auth {
    Basic { user: Source, pass: Source },
    Authorization { kind: String, credentials: Source },
    OAuth2(Box<OAuth2Auth>),
}

impl Auth {
    pub(crate) fn new(cfg: &HttpClientConfig, user_agent: Option<&HeaderValue>, name: &str) -> Result<Option<Auth>, String> {
        if let Some(b) = &cfg.basic_auth {
            return Self::basic(b).map(Some);
        }
        if let Some(a) = &cfg.authorization {
            return Self::authorization(a).map(Some);
        }
        if let Some(o) = &cfg.oauth2 {
            return OAuth2Auth::new(o, user_agent, name).map(|o| Some(Auth::OAuth2(Box::new(o))));
        }
        Ok(None)
    }

    fn basic(b: &BasicAuth) -> Result<Auth, String> {
        no_ref("basic_auth.username_ref", &b.username_ref)?;
        no_ref("basic_auth.password_ref", &b.password_ref)?;
        Ok(Auth::Basic { user: Source::new(&b.username, &b.username_file), pass: Source::new(b.password.expose(), &b.password_file) })
    }

    fn authorization(a: &Authorization) -> Result<Auth, String> {
        no_ref("authorization.credentials_ref", &a.credentials_ref)?;
        // validate() has set the default, but a config built in code may not have run it.
        let kind = if a.kind.trim().is_empty() { "Bearer".to_owned() } else { a.kind.trim().to_owned() };
        Ok(Auth::Authorization { kind, credentials: Source::new(a.credentials.expose(), &a.credentials_file) })
    }

    /// Sets `Authorization` unless the request already has one, which then
    /// wins, as in Prometheus's round trippers.
    pub(crate) async fn apply(&self, headers: &mut HeaderMap) -> Result<(), String> {
        if headers.contains_key(header::AUTHORIZATION) {
            return Ok(());
        }
        let value = match self {
            Auth::Basic { user, pass } => basic_header(&user.read("basic auth username")?, &pass.read("basic auth password")?)?,
            Auth::Authorization { kind, credentials } => {
                let c = credentials.read("authorization credentials")?;
                sensitive(&format!("{kind} {c}"), "authorization credentials")?
            }
            Auth::OAuth2(o) => o.header().await?,
        };
        headers.insert(header::AUTHORIZATION, value);
        Ok(())
    }
}

/// Go's oauth2 package treats a token as expired this long before its
/// stated expiry, so that it does not lapse in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Go's oauth2 package reads at most 1 MiB of a token response.
const TOKEN_BODY_LIMIT: u64 = 1 << 20;

const STYLE_UNKNOWN: u8 = 0;
const STYLE_HEADER: u8 = 1;
const STYLE_PARAMS: u8 = 2;

/// The OAuth2 client-credentials flow, with its token cached until shortly
/// before it expires, and dropped when the client secret changes.
pub(crate) struct OAuth2Auth {
    client_id: String,
    secret: Source,
    token_url: url::Url,
    /// grant_type, scope and endpoint_params, in that order.
    form: Vec<(String, String)>,
    transport: Transport,
    user_agent: Option<HeaderValue>,
    /// How the token endpoint wants the client credentials. Like Go's
    /// AuthStyleAutoDetect: HTTP basic auth is tried first and, if that
    /// fails, form fields; whichever works is kept.
    style: AtomicU8,
    /// An async mutex: held across the token request so that thousands of
    /// targets whose token expired together cause one request, not thousands.
    cache: tokio::sync::Mutex<Option<Token>>,
}

impl std::fmt::Debug for OAuth2Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Auth").field("client_id", &self.client_id).field("token_url", &self.token_url.as_str()).finish_non_exhaustive()
    }
}

struct Token {
    /// The client secret the token was fetched with.
    secret: String,
    header: HeaderValue,
    expiry: Option<Instant>,
}

impl OAuth2Auth {
    fn new(o: &OAuth2, user_agent: Option<&HeaderValue>, name: &str) -> Result<OAuth2Auth, String> {
        no_ref("oauth2.client_secret_ref", &o.client_secret_ref)?;
        let token_url = url::Url::parse(&o.token_url).map_err(|e| format!("oauth2.token_url {:?}: {e}", o.token_url))?;
        if !matches!(token_url.scheme(), "http" | "https") {
            return Err(format!("oauth2.token_url {:?}: the scheme must be http or https", o.token_url));
        }
        let mut form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
        if !o.scopes.is_empty() {
            form.push(("scope".to_owned(), o.scopes.join(" ")));
        }
        for (k, v) in &o.endpoint_params {
            match form.iter_mut().find(|(name, _)| name == k) {
                // Go allows replacing grant_type, for servers that want another one.
                Some(slot) if k == "grant_type" => slot.1 = v.clone(),
                Some(_) => return Err(format!("oauth2: cannot overwrite parameter {k:?}")),
                None => form.push((k.clone(), v.clone())),
            }
        }
        let transport = Transport::new(Settings {
            tls: o.tls_config.clone(),
            proxy: o.proxy.clone(),
            // Go's oauth2 requests go through a default http.Client, which follows redirects.
            follow_redirects: true,
            http2: true,
            field: "oauth2.tls_config",
            name: format!("{name} (oauth2)"),
        })?;
        Ok(OAuth2Auth {
            client_id: o.client_id.clone(),
            secret: Source::new(o.client_secret.expose(), &o.client_secret_file),
            token_url,
            form,
            transport,
            user_agent: user_agent.cloned(),
            style: AtomicU8::new(STYLE_UNKNOWN),
            cache: tokio::sync::Mutex::new(None),
        })
    }

    async fn header(&self) -> Result<HeaderValue, String> {
        let secret = self.secret.read("oauth2 client secret")?;
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref() {
            let fresh = t.expiry.is_none_or(|e| Instant::now() + EXPIRY_MARGIN < e);
            if t.secret == secret && fresh {
                return Ok(t.header.clone());
            }
        }
        *cache = None;
        let token = match self.style.load(Ordering::Relaxed) {
            STYLE_HEADER => self.fetch(&secret, STYLE_HEADER).await?,
            STYLE_PARAMS => self.fetch(&secret, STYLE_PARAMS).await?,
            _ => match self.fetch(&secret, STYLE_HEADER).await {
                Ok(t) => {
                    self.style.store(STYLE_HEADER, Ordering::Relaxed);
                    t
                }
                Err(_) => {
                    let t = self.fetch(&secret, STYLE_PARAMS).await?;
                    self.style.store(STYLE_PARAMS, Ordering::Relaxed);
                    t
                }
            },
        };
        let header = token.header.clone();
        *cache = Some(token);
        Ok(header)
    }

    async fn fetch(&self, secret: &str, style: u8) -> Result<Token, String> {
        let client = self.transport.client()?;
        let mut req = reqwest::Request::new(Method::POST, self.token_url.clone());
        let headers = req.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        if let Some(ua) = &self.user_agent {
            headers.insert(header::USER_AGENT, ua.clone());
        }
        if style == STYLE_HEADER {
            // RFC 6749 2.3.1: the credentials are form-encoded before going into basic auth.
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            headers.insert(header::AUTHORIZATION, basic_header(&enc(&self.client_id), &enc(secret))?);
        }
        // Built in one statement: the serializer is not Send, and this future must be.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.form {
                form.append_pair(k, v);
            }
            if style == STYLE_PARAMS {
                form.append_pair("client_id", &self.client_id);
                if !secret.is_empty() {
                    form.append_pair("client_secret", secret);
                }
            }
            form.finish()
        };
        *req.body_mut() = Some(body.into());
        let failed = |cause: String| ClientError::request(&Method::POST, &self.token_url, cause).to_string();
        let mut resp = client.execute(req).await.map_err(|e| failed(cause_chain(&e)))?;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failed(cause_chain(&e)))? {
            let room = usize::try_from(TOKEN_BODY_LIMIT).unwrap_or(usize::MAX).saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let status = resp.status();
        if !status.is_success() {
            return Err(token_error(status, &body));
        }
        let form_encoded = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .is_some_and(|m| m == "application/x-www-form-urlencoded" || m == "text/plain");
        let parsed = if form_encoded { TokenResponse::from_form(&body) } else { TokenResponse::from_json(&body)? };
        if parsed.access_token.is_empty() {
            return Err("oauth2: server response missing access_token".to_owned());
        }
        let kind = match parsed.token_type.as_str() {
            t if t.eq_ignore_ascii_case("bearer") || t.is_empty() => "Bearer",
            t if t.eq_ignore_ascii_case("mac") => "MAC",
            t if t.eq_ignore_ascii_case("basic") => "Basic",
            t => t,
        };
        let header = sensitive(&format!("{kind} {}", parsed.access_token), "the oauth2 access token")?;
        let expiry = parsed.expires_in.filter(|s| *s > 0).map(|s| Instant::now() + Duration::from_secs(s.unsigned_abs()));
        Ok(Token { secret: secret.to_owned(), header, expiry })
    }
}

/// The endpoint's refusal, in the wording of Go's oauth2 package.
fn token_error(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let code = field("error");
    if code.is_empty() {
        format!("oauth2: cannot fetch token: {status}\nResponse: {}", String::from_utf8_lossy(body))
    } else {
        let desc = field("error_description");
        if desc.is_empty() { format!("oauth2: {code:?}") } else { format!("oauth2: {code:?} {desc:?}") }
    }
}

struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<i64>,
}

#[derive(serde::Deserialize)]
struct TokenJson {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl TokenResponse {
    fn from_json(body: &[u8]) -> Result<TokenResponse, String> {
        let j: TokenJson = serde_json::from_slice(body).map_err(|e| format!("oauth2: cannot parse json: {e}"))?;
        // Some servers send the lifetime as a string.
        let expires_in = match j.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Ok(TokenResponse { access_token: j.access_token, token_type: j.token_type, expires_in })
    }

    fn from_form(body: &[u8]) -> TokenResponse {
        let mut t = TokenResponse { access_token: String::new(), token_type: String::new(), expires_in: None };
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "access_token" => t.access_token = v.into_owned(),
                "token_type" => t.token_type = v.into_owned(),
                "expires_in" => t.expires_in = v.trim().parse().ok(),
                _ => {}
            }
        }
        t
    }
}

/// Credentials in the URL (`https://user:pass@host/`) become basic auth, as
/// Go's client does, and are taken out of the URL so they go nowhere else.
pub(crate) fn url_userinfo(req: &mut reqwest::Request) -> Result<(), String> {
    let url = req.url();
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let (user, pass) = (decode(url.username()), decode(url.password().unwrap_or("")));
    if !req.headers().contains_key(header::AUTHORIZATION) {
        let v = basic_header(&user, &pass)?;
        req.headers_mut().insert(header::AUTHORIZATION, v);
    }
    let url = req.url_mut();
    // These only fail for URLs that cannot have credentials, and this one has some.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        let t = TokenResponse::from_json(br#"{"access_token":"a","token_type":"bearer","expires_in":"60"}"#).unwrap();
        assert_eq!((t.access_token.as_str(), t.expires_in), ("a", Some(60)));
        let t = TokenResponse::from_form(b"access_token=b&token_type=mac&expires_in=5");
        assert_eq!((t.access_token.as_str(), t.token_type.as_str(), t.expires_in), ("b", "mac", Some(5)));
        assert_eq!(token_error(StatusCode::BAD_REQUEST, br#"{"error":"invalid_client"}"#), r#"oauth2: "invalid_client""#);
        assert_eq!(token_error(StatusCode::UNAUTHORIZED, b"no"), "oauth2: cannot fetch token: 401 Unauthorized\nResponse: no");
    }

    #[test]
    fn endpoint_params() {
        let mut o = OAuth2 { client_id: "id".into(), token_url: "http://127.0.0.1:1/token".into(), scopes: vec!["a".into()], ..Default::default() };
        o.endpoint_params.insert("grant_type".into(), "other".into());
        o.endpoint_params.insert("audience".into(), "x".into());
        let a = OAuth2Auth::new(&o, None, "t").unwrap();
        let got: Vec<_> = a.form.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["grant_type=other", "scope=a", "audience=x"]);
        o.endpoint_params.insert("scope".into(), "b".into());
        assert_eq!(OAuth2Auth::new(&o, None, "t").unwrap_err(), r#"oauth2: cannot overwrite parameter "scope""#);
    }
}
