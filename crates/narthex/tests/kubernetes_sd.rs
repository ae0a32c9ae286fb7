//! Kubernetes discovery through the binary, against a stand-in for the API
//! server: narthex lists pods, finds one whose IP is 127.0.0.1 and whose
//! container declares the port a test target serves, scrapes it and shows
//! the `__meta_kubernetes_pod_*` labels.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// Answers pod lists in namespace `apps` with one pod, and watches with an
/// empty stream after a pause (as a quiet cluster does); records each
/// request line and bearer token.
fn fake_api_server(target: u16) -> (u16, Seen) {
    fake_json_server("authorization", move |path| {
        if path.contains("watch=true") {
            std::thread::sleep(std::time::Duration::from_secs(2));
            return ("200 OK", String::new(), String::new());
        }
        if !path.starts_with("/api/v1/namespaces/apps/pods") {
            return ("404 Not Found", String::new(), r#"{"kind": "Status", "code": 404, "message": "not found"}"#.to_owned());
        }
        let body = format!(
            r#"{{"kind": "PodList", "metadata": {{"resourceVersion": "7"}}, "items": [{{
                "metadata": {{"name": "web-1", "namespace": "apps", "uid": "u1", "labels": {{"app.kubernetes.io/name": "web"}}}},
                "spec": {{"nodeName": "n1", "containers": [{{"name": "app", "image": "app:1", "ports": [{{"name": "metrics", "containerPort": {target}, "protocol": "TCP"}}]}}]}},
                "status": {{"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1", "conditions": [{{"type": "Ready", "status": "True"}}]}}
            }}]}}"#
        );
        ("200 OK", String::new(), body)
    })
}

#[test]
fn kubernetes_pods_are_scraped_with_their_meta_labels() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_metrics("pod_metric 1\n");
    let (api, seen) = fake_api_server(target);
    let (_narthex, port, t) = scrape_one_discovered(
        dir.path(),
        &format!(
            "    kubernetes_sd_configs:\n      - role: pod\n        api_server: 'http://127.0.0.1:{api}'\n        bearer_token: s3cret\n        namespaces: {{names: [apps]}}\n        selectors: [{{role: pod, label: 'app.kubernetes.io/name=web'}}]\n"
        ),
        "pod_metric",
        "k8s",
    );
    assert_eq!(t["labels"]["instance"], format!("127.0.0.1:{target}"));
    assert_discovered(
        &t,
        &[
            ("__meta_kubernetes_namespace", "apps".to_owned()),
            ("__meta_kubernetes_pod_name", "web-1".to_owned()),
            ("__meta_kubernetes_pod_ready", "true".to_owned()),
            ("__meta_kubernetes_pod_phase", "Running".to_owned()),
            ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web".to_owned()),
            ("__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name", "true".to_owned()),
            ("__meta_kubernetes_pod_container_name", "app".to_owned()),
            ("__meta_kubernetes_pod_container_port_name", "metrics".to_owned()),
            ("__meta_kubernetes_pod_container_port_number", target.to_string()),
            ("__meta_kubernetes_pod_container_init", "false".to_owned()),
        ],
    );
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|r| r.ends_with(" bearer s3cret")), "{seen:?}");
    assert!(seen[0].starts_with("get /api/v1/namespaces/apps/pods?") && seen[0].contains("labelselector=app.kubernetes.io%2fname%3dweb"), "{seen:?}");
    let m = http_get(port, "/metrics").unwrap();
    assert!(m.contains(r#"prometheus_sd_kubernetes_events_total{event="add",role="pod"} 1"#), "{m}");
    assert!(m.contains("prometheus_sd_kubernetes_failures_total 0"), "{m}");
    assert!(m.contains(r#"prometheus_sd_kubernetes_http_request_total{status_code="200"}"#), "{m}");
    assert!(m.contains(r#"prometheus_sd_failed_configs{name="scrape"} 0"#), "{m}");
}

/// The `endpointslice` role through the binary: a slice of service `web`
/// whose one endpoint is pod `web-1` at 127.0.0.1, on the port a test
/// target serves; the target carries the slice's, the service's and the
/// pod's labels.
#[test]
fn endpoint_slices_are_scraped_with_service_and_pod_labels() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_metrics("slice_metric 1\n");
    let (api, seen) = fake_json_server("authorization", move |path| {
        if path.contains("watch=true") {
            std::thread::sleep(std::time::Duration::from_secs(2));
            return ("200 OK", String::new(), String::new());
        }
        let items = if path.starts_with("/apis/discovery.k8s.io/v1/namespaces/apps/endpointslices") {
            format!(
                r#"{{"metadata": {{"name": "web-x1", "namespace": "apps", "labels": {{"kubernetes.io/service-name": "web"}}}}, "addressType": "IPv4",
                    "endpoints": [{{"addresses": ["127.0.0.1"], "conditions": {{"ready": true}}, "targetRef": {{"kind": "Pod", "namespace": "apps", "name": "web-1"}}}}],
                    "ports": [{{"name": "metrics", "port": {target}, "protocol": "TCP"}}]}}"#
            )
        } else if path.starts_with("/api/v1/namespaces/apps/services") {
            r#"{"metadata": {"name": "web", "namespace": "apps", "labels": {"team": "a"}}, "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}"#.to_owned()
        } else if path.starts_with("/api/v1/namespaces/apps/pods") {
            format!(
                r#"{{"metadata": {{"name": "web-1", "namespace": "apps"}}, "spec": {{"containers": [{{"name": "app", "image": "app:1", "ports": [{{"name": "metrics", "containerPort": {target}, "protocol": "TCP"}}]}}]}},
                    "status": {{"phase": "Running", "podIP": "127.0.0.1"}}}}"#
            )
        } else {
            return ("404 Not Found", String::new(), r#"{"kind": "Status", "code": 404, "message": "not found"}"#.to_owned());
        };
        ("200 OK", String::new(), format!(r#"{{"metadata": {{"resourceVersion": "3"}}, "items": [{items}]}}"#))
    });
    let (_narthex, _port, t) = scrape_one_discovered(
        dir.path(),
        &format!(
            "    kubernetes_sd_configs:\n      - role: endpointslice\n        api_server: 'http://127.0.0.1:{api}'\n        namespaces: {{names: [apps]}}\n"
        ),
        "slice_metric",
        "k8s",
    );
    assert_eq!(t["labels"]["instance"], format!("127.0.0.1:{target}"));
    assert_discovered(
        &t,
        &[
            ("__meta_kubernetes_endpointslice_name", "web-x1".to_owned()),
            ("__meta_kubernetes_endpointslice_endpoint_conditions_ready", "true".to_owned()),
            ("__meta_kubernetes_endpointslice_port_name", "metrics".to_owned()),
            ("__meta_kubernetes_service_label_team", "a".to_owned()),
            ("__meta_kubernetes_pod_name", "web-1".to_owned()),
            ("__meta_kubernetes_pod_container_port_name", "metrics".to_owned()),
        ],
    );
    let seen = seen.lock().unwrap().clone();
    for collection in ["endpointslices", "services", "pods"] {
        assert!(seen.iter().any(|r| r.contains(&format!("/namespaces/apps/{collection}"))), "{collection}: {seen:?}");
    }
}
