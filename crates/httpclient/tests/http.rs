//! Requests over plain HTTP against local servers: headers, auth, OAuth2,
//! bodies, timeouts, redirects and proxies.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::time::Duration;

use base64::Engine as _;
use common::{Reply, TIMEOUT, cfg, handler, http, opts, replace_file};
use httpclient::{Client, ClientError, read_body, status_error};
use reqwest::header::{HeaderName, HeaderValue};
use tokio::time::Instant;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn body_of(resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, ClientError> {
    let mut buf = vec![b'x'; 3];
    read_body(resp, limit, &mut buf, Instant::now() + TIMEOUT).await.map(|()| buf)
}

#[tokio::test]
async fn get_sends_user_agent_extra_and_config_headers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h");
    std::fs::write(&file, "from-file\n").unwrap();
    let srv = http(handler(|_| Reply::ok("hello"))).await;
    let c = Client::new(&cfg(&format!("http_headers:\n  X-Multi:\n    values: [a, b]\n    secrets: [s]\n    files: [{}]\n", file.display())), opts()).unwrap();
    let extra = [
        (HeaderName::from_static("accept"), HeaderValue::from_static("text/plain")),
        (HeaderName::from_static("x-prometheus-scrape-timeout-seconds"), HeaderValue::from_static("10")),
    ];
    let resp = c.get(&srv.url("/metrics?x=1"), &extra, TIMEOUT).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(body_of(resp, 0).await.unwrap(), b"hello");
    let seen = srv.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("GET", "/metrics?x=1"));
    assert_eq!(seen.header("user-agent"), Some("Narthex/test"));
    assert_eq!(seen.header("accept"), Some("text/plain"));
    assert_eq!(seen.header("x-prometheus-scrape-timeout-seconds"), Some("10"));
    assert_eq!(seen.all("x-multi"), ["a", "b", "s", "from-file"]);
    // No compression is asked for unless the caller asks.
    assert_eq!(seen.header("accept-encoding"), None);
    assert!(seen.header("authorization").is_none());
}

#[tokio::test]
async fn non_2xx_is_a_response_and_status_error_words_it() {
    let srv = http(handler(|_| Reply::status(404))).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let resp = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(status_error(resp.status()).to_string(), "server returned HTTP status 404 Not Found");
    assert_eq!(status_error(reqwest::StatusCode::SERVICE_UNAVAILABLE).to_string(), "server returned HTTP status 503 Service Unavailable");
}

#[tokio::test]
async fn connection_refused_names_url_and_cause() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    let err = c.get(&url, &[], TIMEOUT).await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("Get \"http://127.0.0.1:{port}/metrics\": ")), "{err}");
    assert!(err.ends_with("connection refused"), "{err}");
}

#[tokio::test]
async fn timeout_is_context_deadline_exceeded() {
    let srv = http(handler(|_| Reply { delay: Duration::from_secs(30), ..Reply::ok("late") })).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let started = std::time::Instant::now();
    let err = c.get(&srv.url("/slow"), &[], Duration::from_millis(200)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), format!("Get \"{}\": context deadline exceeded", srv.url("/slow")));
}

#[tokio::test]
async fn bearer_from_rotated_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "token-one\n").unwrap();
    let srv = http(handler(|_| Reply::ok(""))).await;
    let c = Client::new(&cfg(&format!("bearer_token_file: {}\n", file.display())), opts()).unwrap();
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some("Bearer token-one"));
    std::fs::write(&file, "  token-two  \n").unwrap();
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some("Bearer token-two"));

    std::fs::remove_file(&file).unwrap();
    let err = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap_err().to_string();
    let path = file.display();
    assert!(err.ends_with(&format!("unable to read authorization credentials file {path}: open {path}: no such file or directory")), "{err}");
}

#[tokio::test]
async fn authorization_inline_with_custom_type() {
    let srv = http(handler(|_| Reply::ok(""))).await;
    let c = Client::new(&cfg("authorization: {type: Token, credentials: abc}\n"), opts()).unwrap();
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some("Token abc"));
    let c = Client::new(&cfg("bearer_token: xyz\n"), opts()).unwrap();
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some("Bearer xyz"));
}

#[tokio::test]
async fn basic_auth_with_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "s3cret\n").unwrap();
    let srv = http(handler(|_| Reply::ok(""))).await;
    let c = Client::new(&cfg(&format!("basic_auth: {{username: alice, password_file: {}}}\n", file.display())), opts()).unwrap();
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some(format!("Basic {}", b64("alice:s3cret")).as_str()));
    replace_file(&file, "n3w");
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some(format!("Basic {}", b64("alice:n3w")).as_str()));
}

#[tokio::test]
async fn url_credentials_become_basic_auth() {
    let srv = http(handler(|_| Reply::ok(""))).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let mut url = srv.url("/x");
    url.set_username("bob").unwrap();
    url.set_password(Some("p@ss")).unwrap();
    c.get(&url, &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some(format!("Basic {}", b64("bob:p@ss")).as_str()));
}

fn token_server_reply(seen: &common::Seen, accept_header_auth: bool) -> Reply {
    let header_ok = seen.header("authorization") == Some(format!("Basic {}", b64("my-id:my%2Bsecret")).as_str());
    let form = seen.form();
    let params_ok = form.contains(&("client_id".into(), "my-id".into())) && form.contains(&("client_secret".into(), "my+secret".into()));
    if (accept_header_auth && header_ok) || (!accept_header_auth && params_ok) {
        let secret_tag = if header_ok { "h" } else { "p" };
        Reply::ok(format!(r#"{{"access_token":"tok-{secret_tag}","token_type":"bearer","expires_in":3600}}"#)).header("Content-Type", "application/json")
    } else {
        Reply::status(401).header("Content-Type", "application/json")
    }
}

#[tokio::test]
async fn oauth2_client_credentials_cached_token() {
    let tokens = http(handler(|s| token_server_reply(s, true))).await;
    let srv = http(handler(|_| Reply::ok(""))).await;
    let yaml = format!(
        "oauth2:\n  client_id: my-id\n  client_secret: my+secret\n  token_url: {}\n  scopes: [read, write]\n  endpoint_params: {{audience: narthex}}\n",
        tokens.url("/token")
    );
    let c = Client::new(&cfg(&yaml), opts()).unwrap();
    for _ in 0..2 {
        let resp = c.get(&srv.url("/metrics"), &[], TIMEOUT).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(srv.last().header("authorization"), Some("Bearer tok-h"));
    }
    assert_eq!(tokens.hits(), 1, "the token is cached");
    let t = tokens.last();
    assert_eq!((t.method.as_str(), t.target.as_str()), ("POST", "/token"));
    assert_eq!(t.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(t.header("user-agent"), Some("Narthex/test"));
    let mut form = t.form();
    form.sort();
    let want: Vec<(String, String)> =
        [("audience", "narthex"), ("grant_type", "client_credentials"), ("scope", "read write")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(form, want);
}

#[tokio::test]
async fn oauth2_falls_back_to_form_credentials_and_refetches_on_secret_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "my+secret\n").unwrap();
    let tokens = http(handler(|s| token_server_reply(s, false))).await;
    let srv = http(handler(|_| Reply::ok(""))).await;
    let yaml = format!("oauth2:\n  client_id: my-id\n  client_secret_file: {}\n  token_url: {}\n", file.display(), tokens.url("/token"));
    let c = Client::new(&cfg(&yaml), opts()).unwrap();
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("authorization"), Some("Bearer tok-p"));
    // Basic auth first, then the form fields, as Go's auto-detection does.
    assert_eq!(tokens.hits(), 2);
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(tokens.hits(), 2);

    // A new secret drops the cached token; the endpoint now refuses it.
    replace_file(&file, "other");
    let err = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap_err().to_string();
    assert!(err.contains("oauth2: cannot fetch token: 401 Unauthorized"), "{err}");
    assert_eq!(tokens.hits(), 3, "the style that worked is remembered");
}

#[tokio::test]
async fn gzip_body_is_decoded() {
    let text = "metric 1\n".repeat(1000);
    let packed = gzip(text.as_bytes());
    let srv = http(handler(move |_| Reply::ok(packed.clone()).header("Content-Encoding", "gzip"))).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let accept = [(HeaderName::from_static("accept-encoding"), HeaderValue::from_static("gzip"))];
    let resp = c.get(&srv.url("/"), &accept, TIMEOUT).await.unwrap();
    assert_eq!(srv.last().header("accept-encoding"), Some("gzip"));
    assert_eq!(body_of(resp, 0).await.unwrap(), text.as_bytes());
    // The limit counts decompressed bytes, and exactly the limit is fine.
    let resp = c.get(&srv.url("/"), &accept, TIMEOUT).await.unwrap();
    assert_eq!(body_of(resp, text.len() as u64).await.unwrap().len(), text.len());
}

#[tokio::test]
async fn body_over_limit() {
    let srv = http(handler(|_| Reply::ok(vec![b'a'; 1000]))).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let resp = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    let err = body_of(resp, 999).await.unwrap_err();
    assert!(matches!(err, ClientError::BodySizeLimit));
    assert_eq!(err.to_string(), "body size limit exceeded");
    let resp = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(body_of(resp, 1000).await.unwrap().len(), 1000);
}

#[tokio::test]
async fn gzip_body_over_limit_counts_decompressed_bytes() {
    // 8 MiB of zeros compress to a few KiB: a small bomb.
    let packed = gzip(&vec![0u8; 8 << 20]);
    assert!(packed.len() < 100_000);
    let srv = http(handler(move |_| Reply::ok(packed.clone()).header("Content-Encoding", "gzip"))).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let resp = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    let mut buf = Vec::new();
    let err = read_body(resp, 100_000, &mut buf, Instant::now() + TIMEOUT).await.unwrap_err();
    assert_eq!(err.to_string(), "body size limit exceeded");
    assert!(buf.len() <= 100_000);
}

#[tokio::test]
async fn limit_stops_reading_without_waiting_for_the_rest() {
    // The server announces a gigabyte, sends 1 MiB and then stalls: only a
    // reader that stops at the limit returns before the deadline.
    let srv = http(handler(|_| Reply { content_length: Some(1 << 30), hold: Duration::from_secs(60), ..Reply::ok(vec![b'a'; 1 << 20]) })).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let resp = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    let mut buf = Vec::new();
    let err = read_body(resp, 64 << 10, &mut buf, Instant::now() + Duration::from_secs(20)).await.unwrap_err();
    assert!(matches!(err, ClientError::BodySizeLimit), "{err}");
}

#[tokio::test]
async fn body_deadline() {
    let srv = http(handler(|_| Reply { content_length: Some(100), hold: Duration::from_secs(60), ..Reply::ok("partial") })).await;
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let resp = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    let mut buf = Vec::new();
    let err = read_body(resp, 0, &mut buf, Instant::now() + Duration::from_millis(300)).await.unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "context deadline exceeded");
}

#[tokio::test]
async fn redirects_followed_or_returned() {
    let srv = http(handler(|s| if s.target == "/old" { Reply::status(302).header("Location", "/new") } else { Reply::ok("moved here") })).await;
    let no = Client::new(&cfg("follow_redirects: false\n"), opts()).unwrap();
    let resp = no.get(&srv.url("/old"), &[], TIMEOUT).await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers().get("location").unwrap(), "/new");
    assert_eq!(srv.hits(), 1);

    let yes = Client::new(&cfg("{}"), opts()).unwrap();
    let resp = yes.get(&srv.url("/old"), &[], TIMEOUT).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(body_of(resp, 0).await.unwrap(), b"moved here");
}

#[tokio::test]
async fn proxy_url_sees_the_request() {
    let proxy = http(handler(|_| Reply::ok("via proxy"))).await;
    let yaml = format!("proxy_url: {}\nproxy_connect_header:\n  X-Proxy-Token: [pt]\n", proxy.url(""));
    let c = Client::new(&cfg(&yaml), opts()).unwrap();
    let target = url::Url::parse("http://target.invalid:9100/metrics").unwrap();
    let resp = c.get(&target, &[], TIMEOUT).await.unwrap();
    assert_eq!(body_of(resp, 0).await.unwrap(), b"via proxy");
    let seen = proxy.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "http://target.invalid:9100/metrics");
    assert_eq!(seen.header("host"), Some("target.invalid:9100"));
    assert_eq!(seen.header("user-agent"), Some("Narthex/test"));
    assert_eq!(seen.header("x-proxy-token"), Some("pt"));
}

#[tokio::test]
async fn proxy_connect_header_goes_on_connect_for_https_targets() {
    // The proxy refuses the tunnel; what matters is what it was asked.
    let proxy = http(handler(|_| Reply::status(403))).await;
    let yaml = format!("proxy_url: {}\nproxy_connect_header:\n  X-Proxy-Token: [pt]\n", proxy.url(""));
    let c = Client::new(&cfg(&yaml), opts()).unwrap();
    let target = url::Url::parse("https://target.invalid:9100/metrics").unwrap();
    assert!(c.get(&target, &[], TIMEOUT).await.is_err());
    let seen = proxy.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("CONNECT", "target.invalid:9100"));
    assert_eq!(seen.header("x-proxy-token"), Some("pt"));
}

#[tokio::test]
async fn no_proxy_goes_direct() {
    let proxy = http(handler(|_| Reply::ok("via proxy"))).await;
    let direct = http(handler(|_| Reply::ok("direct"))).await;
    let c = Client::new(&cfg(&format!("proxy_url: {}\nno_proxy: 127.0.0.0/8,example.com\n", proxy.url(""))), opts()).unwrap();
    let resp = c.get(&direct.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(body_of(resp, 0).await.unwrap(), b"direct");
    assert_eq!(proxy.hits(), 0);
}

#[tokio::test]
async fn execute_applies_auth_and_keeps_callers_headers() {
    let srv = http(handler(|_| Reply::status(204))).await;
    let c = Client::new(&cfg("authorization: {credentials: abc}\n"), opts()).unwrap();
    let mut req = reqwest::Request::new(reqwest::Method::POST, srv.url("/api/v1/write"));
    req.headers_mut().insert("user-agent", HeaderValue::from_static("Narthex-RW/1"));
    *req.body_mut() = Some("payload".into());
    let resp = c.execute(req).await.unwrap();
    assert_eq!(resp.status(), 204);
    let seen = srv.last();
    assert_eq!((seen.method.as_str(), seen.body.as_slice()), ("POST", b"payload".as_slice()));
    assert_eq!(seen.header("authorization"), Some("Bearer abc"));
    assert_eq!(seen.header("user-agent"), Some("Narthex-RW/1"));
}

#[tokio::test]
async fn clones_share_one_client_across_tasks() {
    let srv = http(handler(|_| Reply::ok("x"))).await;
    let c = Client::new(&cfg("bearer_token: t\n"), opts()).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (c, url) = (c.clone(), srv.url("/"));
        tasks.push(tokio::spawn(async move { c.get(&url, &[], TIMEOUT).await.map(|r| r.status()) }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(srv.hits(), 20);
}

#[test]
fn config_problems_fail_at_new() {
    let cases = [
        ("tls_config: {ca_file: /nonexistent/ca.pem}\n", "unable to read CA cert: open /nonexistent/ca.pem: no such file or directory"),
        ("tls_config: {min_version: TLS10}\n", "tls_config.min_version TLS10 is not supported: the TLS library speaks only TLS12 and TLS13"),
        ("tls_config: {ca_ref: vault}\n", "tls_config.ca_ref: secret references are not supported (no secret manager is configured)"),
        ("authorization: {credentials_ref: vault}\n", "authorization.credentials_ref: secret references are not supported (no secret manager is configured)"),
        ("proxy_url: ftp://proxy:21\n", r#"proxy_url ftp://proxy:21: unsupported proxy scheme "ftp" (http, https, socks5 and socks5h are)"#),
        ("oauth2: {client_id: a, token_url: 'not a url'}\n", r#"oauth2.token_url "not a url": relative URL without a base"#),
    ];
    for (yaml, want) in cases {
        let err = Client::new(&cfg(yaml), opts()).unwrap_err();
        assert!(matches!(err, ClientError::Config(_)));
        assert_eq!(err.to_string(), want, "{yaml}");
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let err = Client::new(&cfg(&format!("tls_config: {{ca_file: {}}}\n", ca.display())), opts()).unwrap_err();
    assert_eq!(err.to_string(), format!("unable to load specified CA cert {}", ca.display()));
    // socks5 proxies are supported.
    Client::new(&cfg("proxy_url: socks5://127.0.0.1:1080\n"), opts()).unwrap();
}
