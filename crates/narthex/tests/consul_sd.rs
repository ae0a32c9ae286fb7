//! Consul discovery through the binary, against a stand-in for Consul's
//! HTTP API (Debian has no Consul server): narthex finds a service in the
//! catalog, scrapes its instance and shows the `__meta_consul_*` labels.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::*;

/// Answers the three endpoints discovery uses with one service, `app`,
/// whose one instance is `127.0.0.1:<target>`; records each request line
/// and token.
fn fake_consul(target: u16) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&req).to_lowercase();
            let line = req.lines().next().unwrap_or_default().to_owned();
            let token = req.lines().find_map(|l| l.strip_prefix("x-consul-token: ")).unwrap_or_default().to_owned();
            log.lock().unwrap().push(format!("{line} token={token}"));
            let path = line.split_whitespace().nth(1).unwrap_or_default();
            let body = if path.starts_with("/v1/agent/self") {
                r#"{"Config": {"Datacenter": "dc9"}}"#.to_owned()
            } else if path.starts_with("/v1/catalog/services") {
                r#"{"app": ["metrics"]}"#.to_owned()
            } else if path.starts_with("/v1/health/service/app") {
                format!(
                    r#"[{{"Node": {{"Node": "n1", "Address": "127.0.0.1", "Meta": {{"rack": "r1"}}}}, "Service": {{"ID": "app-1", "Service": "app", "Tags": ["metrics"], "Port": {target}, "Meta": {{"team": "a"}}}}, "Checks": [{{"CheckID": "c", "Status": "passing"}}]}}]"#
                )
            } else {
                "null".to_owned()
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 7\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[test]
fn consul_services_are_scraped_with_their_meta_labels() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_metrics("app_metric 1\n");
    let (consul, seen) = fake_consul(target);
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 200ms, scrape_timeout: 150ms}}\nscrape_configs:\n  - job_name: consul\n    consul_sd_configs: [{{server: '127.0.0.1:{consul}', token: s3cret, refresh_interval: 1s}}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _narthex = start_narthex_with_env(&cfg, port, &dir.path().join("data"), &[], &[("NARTHEX_SD_UPDATE_INTERVAL", "200ms")]);

    wait_for(port, "/api/v1/query?query=app_metric", "the Consul service scraped", |b| b.contains(r#""job":"consul""#));
    let t = active_targets(port);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["labels"]["instance"], format!("127.0.0.1:{target}"));
    let d = &t[0]["discoveredLabels"];
    for (name, value) in [
        ("__meta_consul_service", "app".to_owned()),
        ("__meta_consul_dc", "dc9".to_owned()),
        ("__meta_consul_tags", ",metrics,".to_owned()),
        ("__meta_consul_health", "passing".to_owned()),
        ("__meta_consul_node", "n1".to_owned()),
        ("__meta_consul_service_id", "app-1".to_owned()),
        ("__meta_consul_service_port", target.to_string()),
        ("__meta_consul_metadata_rack", "r1".to_owned()),
        ("__meta_consul_service_metadata_team", "a".to_owned()),
    ] {
        assert_eq!(d[name], value, "{name} in {d}");
    }
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|r| r.ends_with("token=s3cret")), "{seen:?}");
    assert!(seen.iter().any(|r| r.starts_with("get /v1/health/service/app?stale=&wait=120000ms")), "{seen:?}");
    let m = http_get(port, "/metrics").unwrap();
    assert!(m.contains("prometheus_sd_consul_rpc_failures_total 0"), "{m}");
    assert!(m.contains(r#"prometheus_sd_failed_configs{name="scrape"} 0"#), "{m}");
}
