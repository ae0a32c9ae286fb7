//! TLS against local servers with certificates made at test time: CAs,
//! server names, client certificates, skipping verification, and rotation of
//! the files without a new client.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Ca, Reply, TIMEOUT, cfg, handler, https, opts, replace_file, server_config, server_tls};
use httpclient::Client;

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[tokio::test]
async fn ca_file_trusts_the_server_and_its_absence_does_not() {
    let ca = Ca::new("test CA");
    let srv = https(server_tls(&ca.server(&["127.0.0.1", "localhost"]), None), handler(|_| Reply::ok("secure"))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);

    let c = Client::new(&cfg(&format!("tls_config: {{ca_file: {}}}\n", ca_file.display())), opts()).unwrap();
    let resp = c.get(&srv.url("/metrics"), &[], TIMEOUT).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = srv.last();
    // HTTP/2 is offered by default; an IP address is never sent as SNI.
    assert_eq!(seen.alpn, ["h2", "http/1.1"]);
    assert_eq!(seen.sni, None);
    c.get(&srv.url_localhost("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().sni.as_deref(), Some("localhost"));

    // The same CA given inline.
    let c = Client::new(&cfg(&format!("tls_config:\n  ca: |\n{}\n", indent(&ca.pem))), opts()).unwrap();
    assert_eq!(c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);

    // Without it the system roots do not know the test CA.
    let c = Client::new(&cfg("{}"), opts()).unwrap();
    let err = c.get(&srv.url("/metrics"), &[], TIMEOUT).await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("Get \"{}\": ", srv.url("/metrics"))), "{err}");
    assert!(err.contains("invalid peer certificate: UnknownIssuer"), "{err}");
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_certificate() {
    let ca = Ca::new("unknown CA");
    let srv = https(server_tls(&ca.server(&["elsewhere.test"]), None), handler(|_| Reply::ok(""))).await;
    let c = Client::new(&cfg("tls_config: {insecure_skip_verify: true}\n"), opts()).unwrap();
    assert_eq!(c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);
}

#[tokio::test]
async fn server_name_is_verified_instead_of_the_url_host() {
    let ca = Ca::new("test CA");
    let srv = https(server_tls(&ca.server(&["narthex.test"]), None), handler(|_| Reply::ok(""))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);

    let plain = Client::new(&cfg(&format!("tls_config: {{ca_file: {}}}\n", ca_file.display())), opts()).unwrap();
    let err = plain.get(&srv.url("/"), &[], TIMEOUT).await.unwrap_err().to_string();
    assert!(err.contains("certificate not valid for name \"127.0.0.1\""), "{err}");

    let named = Client::new(&cfg(&format!("tls_config: {{ca_file: {}, server_name: narthex.test}}\n", ca_file.display())), opts()).unwrap();
    assert_eq!(named.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);
}

#[tokio::test]
async fn http2_disabled_offers_only_http1() {
    let ca = Ca::new("test CA");
    let srv = https(server_tls(&ca.server(&["127.0.0.1"]), None), handler(|_| Reply::ok(""))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let c = Client::new(&cfg(&format!("enable_http2: false\ntls_config: {{ca_file: {}}}\n", ca_file.display())), opts()).unwrap();
    c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(srv.last().alpn, ["http/1.1"]);
}

#[tokio::test]
async fn tls13_only_still_connects() {
    let ca = Ca::new("test CA");
    let srv = https(server_tls(&ca.server(&["127.0.0.1"]), None), handler(|_| Reply::ok(""))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let c = Client::new(&cfg(&format!("tls_config: {{ca_file: {}, min_version: TLS13}}\n", ca_file.display())), opts()).unwrap();
    assert_eq!(c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);
}

#[tokio::test]
async fn mtls_needs_the_client_certificate() {
    let ca = Ca::new("test CA");
    let client_ca = Ca::new("client CA");
    let srv = https(server_tls(&ca.server(&["127.0.0.1"]), Some(&client_ca)), handler(|_| Reply::ok("hello client"))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);

    let without = Client::new(&cfg(&format!("tls_config: {{ca_file: {}}}\n", ca_file.display())), opts()).unwrap();
    assert!(without.get(&srv.url("/"), &[], TIMEOUT).await.is_err());
    assert_eq!(srv.hits(), 0);

    let leaf = client_ca.client("narthex");
    let cert = write(dir.path(), "client.pem", &leaf.cert);
    let key = write(dir.path(), "client.key", &leaf.key);
    let yaml = format!("tls_config: {{ca_file: {}, cert_file: {}, key_file: {}}}\n", ca_file.display(), cert.display(), key.display());
    let with = Client::new(&cfg(&yaml), opts()).unwrap();
    let resp = with.get(&srv.url("/"), &[], TIMEOUT).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(srv.hits(), 1);

    // A certificate from another CA is refused too.
    let other = Ca::new("other CA").client("narthex");
    replace_file(&cert, &other.cert);
    replace_file(&key, &other.key);
    assert!(with.get(&srv.url("/"), &[], TIMEOUT).await.is_err());
    assert_eq!(srv.hits(), 1);
}

#[tokio::test]
async fn rotated_ca_file_is_used_without_a_new_client() {
    let old_ca = Ca::new("old CA");
    let tls = server_tls(&old_ca.server(&["127.0.0.1"]), None);
    let srv = https(tls.clone(), handler(|_| Reply::ok(""))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &old_ca.pem);
    let c = Client::new(&cfg(&format!("tls_config: {{ca_file: {}}}\n", ca_file.display())), opts()).unwrap();
    assert_eq!(c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);

    // The server moves to a certificate from a new CA: refused until the
    // CA file follows.
    let new_ca = Ca::new("new CA");
    *tls.lock().unwrap() = server_config(&new_ca.server(&["127.0.0.1"]), None);
    let err = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap_err().to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");

    replace_file(&ca_file, &new_ca.pem);
    assert_eq!(c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);

    // A file rewritten in place (same inode) is noticed too.
    *tls.lock().unwrap() = server_config(&old_ca.server(&["127.0.0.1"]), None);
    std::fs::write(&ca_file, format!("{}\n", old_ca.pem)).unwrap();
    assert_eq!(c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);

    // An unusable file fails requests, naming it, until it is fixed.
    std::fs::remove_file(&ca_file).unwrap();
    let err = c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap_err().to_string();
    assert!(err.ends_with(&format!("unable to read CA cert: open {0}: no such file or directory", ca_file.display())), "{err}");
    replace_file(&ca_file, &old_ca.pem);
    assert_eq!(c.get(&srv.url("/"), &[], TIMEOUT).await.unwrap().status(), 200);
}
