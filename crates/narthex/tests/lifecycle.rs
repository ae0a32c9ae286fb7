//! End-to-end: start the real binary and drive it as a user would, through
//! HTTP, signals and its config file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

const GOOD: &str = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: first\n    static_configs:\n      - targets: ['localhost:9090']\n";

fn start(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, GOOD).expect("write config");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_narthex"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start narthex");
    let s = Server { child, port, _dir: dir, config };
    wait_until(Duration::from_secs(20), || get(s.port, "/-/ready").map(|(c, _)| c == 200).unwrap_or(false));
    s
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "condition not met within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.1 client, so the test needs no HTTP crate.
fn request(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((code, body))
}

fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    request(port, "GET", path)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, body) = get(port, "/metrics").ok()?;
    // Bodies may be chunked; metric lines survive that intact.
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

fn sighup(s: &Server) {
    let ok = Command::new("kill").arg("-HUP").arg(s.child.id().to_string()).status().expect("kill").success();
    assert!(ok);
}

fn config_shown(port: u16) -> String {
    get(port, "/api/v1/status/config").expect("status/config").1
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("rewrite config");
}

#[test]
fn health_readiness_and_metrics() {
    let s = start(&[]);
    assert_eq!(get(s.port, "/-/healthy").unwrap().0, 200);
    assert_eq!(get(s.port, "/-/ready").unwrap().0, 200);
    let (code, body) = get(s.port, "/metrics").unwrap();
    assert_eq!(code, 200);
    for name in [
        "prometheus_config_last_reload_successful",
        "prometheus_config_last_reload_success_timestamp_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics:\n{body}");
    }
    assert_eq!(metric(s.port, "prometheus_config_last_reload_successful"), Some(1.0));
    assert!(config_shown(s.port).contains("job_name: first"));
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one() {
    let s = start(&[]);
    write(&s.config, "scrape_configs:\n  - job_name: second\n    bogus_field: 1\n");
    sighup(&s);
    wait_until(Duration::from_secs(10), || metric(s.port, "prometheus_config_last_reload_successful") == Some(0.0));
    assert_eq!(get(s.port, "/-/healthy").unwrap().0, 200, "still up");
    let shown = config_shown(s.port);
    assert!(shown.contains("job_name: first") && !shown.contains("second"), "old config in force: {shown}");

    write(&s.config, &GOOD.replace("first", "third"));
    sighup(&s);
    wait_until(Duration::from_secs(10), || metric(s.port, "prometheus_config_last_reload_successful") == Some(1.0));
    assert!(config_shown(s.port).contains("job_name: third"));
}

#[test]
fn lifecycle_endpoints_need_the_flag() {
    let s = start(&[]);
    let (code, body) = request(s.port, "POST", "/-/reload").unwrap();
    assert_eq!(code, 403);
    assert!(body.contains("Lifecycle API is not enabled."));
    assert_eq!(request(s.port, "POST", "/-/quit").unwrap().0, 403);
}

#[test]
fn reload_endpoint_reports_the_outcome() {
    let s = start(&["--web.enable-lifecycle"]);
    assert_eq!(request(s.port, "POST", "/-/reload").unwrap().0, 200);
    write(&s.config, "scrape_configs:\n  - job_name: ''\n");
    let (code, body) = request(s.port, "POST", "/-/reload").unwrap();
    assert_eq!(code, 500);
    assert!(body.contains("job_name is empty"), "{body}");
    assert_eq!(metric(s.port, "prometheus_config_last_reload_successful"), Some(0.0));
}

fn assert_clean_exit_within_5s(s: &mut Server) {
    let start = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().expect("child status") {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "still running after 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_exits_zero_within_five_seconds() {
    let mut s = start(&[]);
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").arg("-TERM").arg(&pid).status().unwrap().success());
    assert_clean_exit_within_5s(&mut s);
}

#[test]
fn quit_endpoint_stops_the_server() {
    let mut s = start(&["--web.enable-lifecycle"]);
    assert_eq!(request(s.port, "POST", "/-/quit").unwrap().0, 200);
    assert_clean_exit_within_5s(&mut s);
}

#[test]
fn a_bad_config_at_start_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n  nonexistent_field: 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_narthex"))
        .arg(format!("--config.file={}", config.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field nonexistent_field not found in type config.plain"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}
