//! Consul discovery through the binary, against a stand-in for Consul's
//! HTTP API (Debian has no Consul server): narthex finds a service in the
//! catalog, scrapes its instance and shows the `__meta_consul_*` labels.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// Answers the three endpoints discovery uses with one service, `app`,
/// whose one instance is `127.0.0.1:<target>`; records each request line
/// and token.
fn fake_consul(target: u16) -> (u16, Seen) {
    fake_json_server("x-consul-token", move |path| {
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
        ("200 OK", "X-Consul-Index: 7\r\n".to_owned(), body)
    })
}

#[test]
fn consul_services_are_scraped_with_their_meta_labels() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_metrics("app_metric 1\n");
    let (consul, seen) = fake_consul(target);
    let (_narthex, port, t) = scrape_one_discovered(
        dir.path(),
        &format!("    consul_sd_configs: [{{server: '127.0.0.1:{consul}', token: s3cret, refresh_interval: 1s}}]\n"),
        "app_metric",
        "consul",
    );
    assert_eq!(t["labels"]["instance"], format!("127.0.0.1:{target}"));
    assert_discovered(
        &t,
        &[
            ("__meta_consul_service", "app".to_owned()),
            ("__meta_consul_dc", "dc9".to_owned()),
            ("__meta_consul_tags", ",metrics,".to_owned()),
            ("__meta_consul_health", "passing".to_owned()),
            ("__meta_consul_node", "n1".to_owned()),
            ("__meta_consul_service_id", "app-1".to_owned()),
            ("__meta_consul_service_port", target.to_string()),
            ("__meta_consul_metadata_rack", "r1".to_owned()),
            ("__meta_consul_service_metadata_team", "a".to_owned()),
        ],
    );
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|r| r.ends_with(" s3cret")), "{seen:?}");
    assert!(seen.iter().any(|r| r.starts_with("get /v1/health/service/app?stale=&wait=120000ms")), "{seen:?}");
    let m = http_get(port, "/metrics").unwrap();
    assert!(m.contains("prometheus_sd_consul_rpc_failures_total 0"), "{m}");
    assert!(m.contains(r#"prometheus_sd_failed_configs{name="scrape"} 0"#), "{m}");
}
