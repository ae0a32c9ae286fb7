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

/// Reads a request's line and headers from a stand-in server's connection,
/// lower-cased so that tests match header names as HTTP compares them.
pub fn read_request_head(conn: &mut TcpStream) -> String {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&req).to_lowercase()
}

/// Requests a stand-in server saw: each request line with the value of
/// the header it was asked to log.
pub type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A stand-in JSON API: every connection is answered on a thread of its
/// own (so that a held watch blocks nobody) with `answer(path)`'s status
/// line, extra header lines and body; `header` (lower case) is logged.
pub fn fake_json_server(header: &'static str, answer: impl Fn(&str) -> (&'static str, String, String) + Send + Sync + 'static) -> (u16, Seen) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("local address").port();
    let seen = Seen::default();
    let log = seen.clone();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let (log, answer) = (log.clone(), answer.clone());
            std::thread::spawn(move || {
                let req = read_request_head(&mut conn);
                let line = req.lines().next().unwrap_or_default().to_owned();
                let value = req.lines().find_map(|l| l.strip_prefix(header)?.strip_prefix(": ")).unwrap_or_default().to_owned();
                log.lock().expect("request log").push(format!("{line} {value}"));
                let (status, headers, body) = answer(line.split_whitespace().nth(1).unwrap_or_default());
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (port, seen)
}

/// Starts narthex with `config` (discovery batches every 200 ms instead of
/// 5 s), waits until `metric` is scraped under `job` and returns the
/// running server, its port and its only active target.
pub fn scrape_one_discovered(dir: &Path, config: &str, metric: &str, job: &str) -> (Killed, u16, serde_json::Value) {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, format!("global: {{scrape_interval: 200ms, scrape_timeout: 150ms}}\nscrape_configs:\n  - job_name: {job}\n{config}"))
        .expect("write the config");
    let port = free_port();
    let narthex = start_narthex_with_env(&cfg, port, &dir.join("data"), &[], &[("NARTHEX_SD_UPDATE_INTERVAL", "200ms")]);
    wait_for(port, &format!("/api/v1/query?query={metric}"), &format!("{metric} scraped"), |b| b.contains(&format!(r#""job":"{job}""#)));
    let t = active_targets(port);
    assert_eq!(t.len(), 1, "{t:?}");
    (narthex, port, t[0].clone())
}

/// Checks a target's discovered labels.
pub fn assert_discovered(target: &serde_json::Value, expected: &[(&str, String)]) {
    let d = &target["discoveredLabels"];
    for (name, value) in expected {
        assert_eq!(d[*name], *value, "{name} in {d}");
    }
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

/// Polls `cond` every 100 ms until it holds; fails the test after 30 s.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
