//! Test servers on 127.0.0.1: a minimal HTTP/1.1 responder (one request per
//! connection) over TCP or TLS that records what it saw, and certificates
//! made at test time.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub method: String,
    /// The request target: a path, or an absolute URL when sent to a proxy.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// TLS only: the SNI and the ALPN protocols the client offered.
    pub sni: Option<String>,
    pub alpn: Vec<String>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait before answering.
    pub delay: Duration,
    /// Announce this Content-Length instead of the body's, and keep the
    /// connection open for `hold` after writing the body.
    pub content_length: Option<u64>,
    pub hold: Duration,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply { status: 200, headers: Vec::new(), body: body.into(), delay: Duration::ZERO, content_length: None, hold: Duration::ZERO }
    }

    pub fn status(status: u16) -> Reply {
        Reply { status, ..Reply::ok("") }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

pub fn handler(f: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Handler {
    Arc::new(f)
}

/// The server's TLS config, swappable while it runs (to rotate its certificate).
pub type SharedTls = Arc<Mutex<Arc<ServerConfig>>>;

pub struct Server {
    pub addr: SocketAddr,
    tls: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// A URL on this server with the given path, by IP.
    pub fn url(&self, path: &str) -> url::Url {
        let scheme = if self.tls { "https" } else { "http" };
        url::Url::parse(&format!("{scheme}://{}{path}", self.addr)).unwrap()
    }

    /// The same by the name `localhost`.
    pub fn url_localhost(&self, path: &str) -> url::Url {
        let scheme = if self.tls { "https" } else { "http" };
        url::Url::parse(&format!("{scheme}://localhost:{}{path}", self.addr.port())).unwrap()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the server saw no request")
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

pub async fn http(h: Handler) -> Server {
    start(None, h).await
}

pub async fn https(tls: SharedTls, h: Handler) -> Server {
    start(Some(tls), h).await
}

async fn start(tls: Option<SharedTls>, h: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let is_tls = tls.is_some();
    let recorded = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (h, seen, tls) = (h.clone(), recorded.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve(tcp, Seen::default(), h, seen).await,
                    Some(tls) => {
                        let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
                        let Ok(start) = acceptor.await else { return };
                        let hello = start.client_hello();
                        let base = Seen {
                            sni: hello.server_name().map(str::to_owned),
                            alpn: hello.alpn().map(|it| it.map(|p| String::from_utf8_lossy(p).into_owned()).collect()).unwrap_or_default(),
                            ..Seen::default()
                        };
                        let config = tls.lock().unwrap().clone();
                        // A failed handshake (unknown CA, missing client certificate) just ends the connection.
                        if let Ok(stream) = start.into_stream(config).await {
                            serve(stream, base, h, seen).await;
                        }
                    }
                }
            });
        }
    });
    Server { addr, tls: is_tls, seen, task }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, mut req: Seen, h: Handler, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    req.method = first.next().unwrap_or("").to_owned();
    req.target = first.next().unwrap_or("").to_owned();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            req.headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let want: usize = req.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < want {
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    req.body = body;
    let reply = h(&req);
    seen.lock().unwrap().push(req);
    tokio::time::sleep(reply.delay).await;
    let reason = reqwest::StatusCode::from_u16(reply.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Whatever");
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", reply.status);
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n", reply.content_length.unwrap_or(reply.body.len() as u64)));
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if s.write_all(out.as_bytes()).await.is_err() || s.write_all(&reply.body).await.is_err() {
        return;
    }
    let _ = s.flush().await;
    tokio::time::sleep(reply.hold).await;
    let _ = s.shutdown().await;
}

/// A test certificate authority.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    pub pem: String,
}

/// A certificate and its key, PEM encoded.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), cert, key }
    }

    /// A certificate for these names (IP addresses become IP SANs).
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// A server TLS config presenting `leaf`, requiring a client certificate
/// signed by `client_ca` when given.
pub fn server_tls(leaf: &Leaf, client_ca: Option<&Ca>) -> SharedTls {
    Arc::new(Mutex::new(server_config(leaf, client_ca)))
}

pub fn server_config(leaf: &Leaf, client_ca: Option<&Ca>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(leaf.cert.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(builder.with_single_cert(certs, key).unwrap())
}

/// Writes `content` to `path` by renaming a new file over it, as secret
/// rotation tools do.
pub fn replace_file(path: &std::path::Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// An HTTP client config from YAML, validated as the config loader does.
pub fn cfg(yaml: &str) -> config::HttpClientConfig {
    let mut c: config::HttpClientConfig = config::yaml::from_str(yaml).unwrap();
    c.validate().unwrap();
    c
}

pub fn opts() -> httpclient::ClientOptions {
    httpclient::ClientOptions { user_agent: "Narthex/test".into(), name: "test".into() }
}

pub const TIMEOUT: Duration = Duration::from_secs(10);
