//! What the interop tests share: starting the real peers and our binary on
//! free ports, and a dependency-free HTTP GET.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    // HTTP/1.0, so that no server answers in chunks this reader would have
    // to undo.
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// One HTTP/1.1 request with `Connection: close`: the status code (0 when
/// nothing answered) and the body.
pub fn http(port: u16, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    if s.set_read_timeout(Some(Duration::from_secs(10))).is_err() {
        return (0, String::new());
    }
    let head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    if s.write_all(head.as_bytes()).and_then(|()| s.write_all(body)).is_err() {
        return (0, String::new());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// A GET: the status code and the body.
pub fn get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, "", b"")
}

/// A GET that must answer 200 with JSON.
pub fn json(port: u16, path: &str) -> serde_json::Value {
    let (code, body) = get(port, path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Starts our binary on `cfg`, listening on `port`, with its data in `data`.
pub fn start_narthex(cfg: &Path, port: u16, data: &Path, extra: &[&str]) -> Killed {
    start_narthex_with_env(cfg, port, data, extra, &[])
}

/// [`start_narthex`] with extra environment variables (the test-only
/// `NARTHEX_SD_UPDATE_INTERVAL`, `NARTHEX_DNS_NAMESERVER`).
pub fn start_narthex_with_env(cfg: &Path, port: u16, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_narthex"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .args(extra)
            .envs(env.iter().copied())
            .stderr(Stdio::null())
            .spawn()
            .expect("start narthex"),
    )
}

/// Starts Debian's Prometheus on `cfg`, listening on `port`.
pub fn start_prometheus(cfg: &Path, data: &Path, port: u16) -> Killed {
    Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Debian's prometheus (apt-get install prometheus)"),
    )
}

/// Starts Debian's node_exporter, listening on `port`.
pub fn start_node_exporter(port: u16) -> Killed {
    Killed(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Debian's prometheus-node-exporter"),
    )
}

pub fn conformance_dir() -> PathBuf {
    std::env::var("NARTHEX_CONFORMANCE_DIR").map(PathBuf::from).unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"))
}

/// Polls `cond` on a fresh GET of `path` until it holds or a minute passes.
pub fn wait_for(port: u16, path: &str, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let body = http_get(port, path).unwrap_or_default();
        if cond(&body) {
            return body;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{what}: last answer from {path}:\n{body:.2000}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A loopback HTTP server answering every request with `body` as the
/// Prometheus text format, on its own thread; returns its port.
pub fn serve_metrics(body: &'static str) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(conn, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        }
    });
    port
}

/// `/api/v1/targets`' active targets (none while it does not answer).
pub fn active_targets(port: u16) -> Vec<serde_json::Value> {
    let body = http_get(port, "/api/v1/targets").unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]["activeTargets"].as_array().cloned().unwrap_or_default()
}

/// Percent-encodes a query parameter value.
pub fn url_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Wall-clock time in seconds, as the API takes it.
pub fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}
