//! DNS discovery against a real DNS server: Debian's dnsmasq serves an SRV
//! record and an A record for the node_exporter, narthex asks it (through
//! the test-only `NARTHEX_DNS_NAMESERVER`) and scrapes what it finds.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};

use common::*;

/// dnsmasq in the foreground on loopback, answering only from its
/// command line: no resolv.conf, no /etc/hosts, no upstream.
fn start_dnsmasq(port: u16, records: &[String]) -> Killed {
    Killed(
        Command::new("dnsmasq")
            // In the foreground it also keeps its user and writes no pid file.
            .arg("--no-daemon")
            .arg(format!("--port={port}"))
            .args(["--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--log-facility=-"])
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Debian's dnsmasq (apt-get install dnsmasq-base)"),
    )
}

#[test]
#[ignore = "needs Debian's dnsmasq and node_exporter; run by scripts/interop.sh"]
fn srv_and_a_records_from_dnsmasq_are_scraped() {
    let dir = tempfile::tempdir().unwrap();
    let ne = free_port();
    let _exporter = start_node_exporter(ne);
    let dns = free_port();
    // The SRV target is `localhost.`, which the scraper resolves through the
    // system as usual; dnsmasq answers it too, for completeness.
    let _dnsmasq = start_dnsmasq(
        dns,
        &[
            format!("--srv-host=_node._tcp.example.test,localhost,{ne}"),
            "--host-record=localhost,127.0.0.1".into(),
            "--host-record=ne.example.test,127.0.0.1".into(),
        ],
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: node\n    dns_sd_configs: [{{names: ['_node._tcp.example.test'], refresh_interval: 1s}}]\n  - job_name: node_a\n    dns_sd_configs: [{{names: [ne.example.test], type: A, port: {ne}, refresh_interval: 1s}}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let nameserver = format!("127.0.0.1:{dns}");
    let _narthex =
        start_narthex_with_env(&cfg, port, &dir.path().join("data"), &[], &[("NARTHEX_SD_UPDATE_INTERVAL", "200ms"), ("NARTHEX_DNS_NAMESERVER", &nameserver)]);

    for job in ["node", "node_a"] {
        let q = format!("/api/v1/query?query={}", url_encode(&format!("up{{job=\"{job}\"}}")));
        wait_for(port, &q, &format!("{job} scraped"), |b| b.contains(r#""1"]"#));
    }
    let targets = active_targets(port);
    assert_eq!(targets.len(), 2, "{targets:?}");
    let by_job = |job: &str| targets.iter().find(|t| t["labels"]["job"] == job).unwrap().clone();
    let srv = by_job("node");
    assert_eq!(srv["labels"]["instance"], format!("localhost:{ne}"));
    let d = &srv["discoveredLabels"];
    assert_eq!(d["__meta_dns_name"], "_node._tcp.example.test");
    assert_eq!(d["__meta_dns_srv_record_target"], "localhost.");
    assert_eq!(d["__meta_dns_srv_record_port"], ne.to_string());
    assert!(d.get("__meta_dns_mx_record_target").is_none(), "{d}");
    let a = by_job("node_a");
    assert_eq!(a["labels"]["instance"], format!("127.0.0.1:{ne}"));
    assert_eq!(a["discoveredLabels"]["__meta_dns_name"], "ne.example.test");
    assert!(a["discoveredLabels"].get("__meta_dns_srv_record_target").is_none());

    let m = http_get(port, "/metrics").unwrap();
    assert!(m.contains("prometheus_sd_dns_lookup_failures_total 0"), "{m}");
    assert!(m.contains(r#"prometheus_sd_failed_configs{name="scrape"} 0"#), "{m}");
    assert!(m.lines().any(|l| l.starts_with("prometheus_sd_dns_lookups_total ") && !l.ends_with(" 0")), "{m}");
}
