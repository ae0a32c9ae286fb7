#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::node::tests::node_json;
use super::pod::tests::pod_json;
use super::service::tests::service_json;
use super::*;

/// A stand-in API server: lists answer the current state, a watch waits
/// (up to 2 s) for queued events, applies them to the state, streams them
/// and closes, so that the client lists again as after any watch end.
/// Objects and events are kept by collection (`pods`, `services`...);
/// those under `*` answer for any collection, for tests of one kind.
#[derive(Clone, Default)]
struct Fake {
    inner: Arc<Mutex<FakeState>>,
}

#[derive(Default)]
struct FakeState {
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    pending: Vec<(String, Value)>,
    rv: u64,
    failing: bool,
    requests: Vec<String>,
    /// When set, requests without this bearer token are refused with 401.
    token: Option<String>,
}

fn object_key(o: &Value) -> String {
    format!("{}/{}", o["metadata"]["namespace"].as_str().unwrap_or_default(), o["metadata"]["name"].as_str().unwrap_or_default())
}

impl Fake {
    fn push(&self, kind: &str, object: Value) {
        self.push_to("*", kind, object);
    }

    fn push_to(&self, plural: &str, kind: &str, object: Value) {
        self.inner.lock().unwrap().pending.push((plural.to_owned(), json!({"type": kind, "object": object})));
    }

    fn insert(&self, plural: &str, object: Value) {
        self.inner.lock().unwrap().objects.entry(plural.to_owned()).or_default().insert(object_key(&object), object);
    }
}

async fn answer(f: &Fake, plural: &str, ns: Option<String>, q: Option<String>, headers: HeaderMap) -> Response {
    let q = q.unwrap_or_default();
    {
        let mut s = f.inner.lock().unwrap();
        s.requests.push(format!("{}?{q}", ns.as_deref().unwrap_or("")));
        if let Some(t) = &s.token
            && headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {t}"))
        {
            return (StatusCode::UNAUTHORIZED, r#"{"kind": "Status", "code": 401, "message": "Unauthorized"}"#).into_response();
        }
        if s.failing {
            return (StatusCode::INTERNAL_SERVER_ERROR, r#"{"kind": "Status", "code": 500, "message": "etcd is down"}"#).into_response();
        }
    }
    let in_ns = |p: &Value| ns.as_deref().is_none_or(|n| p["metadata"]["namespace"] == n);
    let store = |s: &FakeState| if s.objects.contains_key(plural) { plural.to_owned() } else { "*".to_owned() };
    let mine = |p: &str| p == plural || p == "*";
    if !q.contains("watch=true") {
        let s = f.inner.lock().unwrap();
        let items: Vec<&Value> = s.objects.get(&store(&s)).into_iter().flat_map(|m| m.values()).filter(|p| in_ns(p)).collect();
        return json!({"metadata": {"resourceVersion": s.rv.to_string()}, "items": items}).to_string().into_response();
    }
    for _ in 0..100 {
        if f.inner.lock().unwrap().pending.iter().any(|(p, _)| mine(p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = f.inner.lock().unwrap();
    let (events, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut s.pending).into_iter().partition(|(p, _)| mine(p));
    s.pending = rest;
    let key = store(&s);
    let mut body = String::new();
    for (_, mut ev) in events {
        // Every object the API serves has a version, which watches resume
        // from.
        s.rv += 1;
        if ev["object"].get("metadata").is_some() {
            ev["object"]["metadata"]["resourceVersion"] = s.rv.to_string().into();
        }
        let objects = s.objects.entry(key.clone()).or_default();
        match ev["type"].as_str() {
            Some("ADDED" | "MODIFIED") => {
                objects.insert(object_key(&ev["object"]), ev["object"].clone());
            }
            Some("DELETED") => {
                objects.remove(&object_key(&ev["object"]));
            }
            _ => {}
        }
        body.push_str(&ev.to_string());
        body.push('\n');
    }
    body.into_response()
}

async fn all(State(f): State<Fake>, Path(plural): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    answer(&f, &plural, None, q, headers).await
}

async fn namespaced(State(f): State<Fake>, Path((ns, plural)): Path<(String, String)>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    answer(&f, &plural, Some(ns), q, headers).await
}

async fn server(objects: &[Value]) -> (String, Fake) {
    let f = Fake::default();
    for o in objects {
        f.insert("*", o.clone());
    }
    let mut app = Router::new();
    for prefix in ["/api/v1", "/apis/networking.k8s.io/v1", "/apis/discovery.k8s.io/v1", "/apis/apps/v1", "/apis/batch/v1"] {
        app = app.route(&format!("{prefix}/{{plural}}"), get(all)).route(&format!("{prefix}/namespaces/{{ns}}/{{plural}}"), get(namespaced));
    }
    let app = app.with_state(f.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, f)
}

fn discovery(yaml: &str, metrics: &SdMetrics) -> KubernetesDiscovery {
    let mut cfg: KubernetesSdConfig = config::yaml::from_str(yaml).unwrap();
    cfg.validate().unwrap();
    let env = Env { metrics: metrics.clone(), user_agent: "Prometheus/test".into(), dns_nameserver: None };
    KubernetesDiscovery::new(&cfg, &env).unwrap()
}

/// The groups as the manager would hold them, by source.
#[derive(Default)]
struct View(BTreeMap<String, Group>);

impl View {
    async fn until(&mut self, rx: &mut mpsc::Receiver<Vec<Group>>, what: &str, cond: impl Fn(&BTreeMap<String, Group>) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(&self.0) {
            let update = tokio::time::timeout_at(deadline, rx.recv()).await.unwrap_or_else(|_| panic!("timed out waiting for {what}")).unwrap();
            for g in update {
                self.0.insert(g.source.clone(), g);
            }
        }
    }
}

fn address(groups: &BTreeMap<String, Group>, source: &str) -> Option<String> {
    groups.get(source).and_then(|g| g.targets.first()).map(|t| t.get("__address__").to_owned())
}

fn events(m: &SdMetrics, event: &str) -> u64 {
    events_of(m, "pod", event)
}

fn events_of(m: &SdMetrics, role: &str, event: &str) -> u64 {
    m.kubernetes_events.get_or_create(&vec![("event".to_owned(), event.to_owned()), ("role".to_owned(), role.to_owned())]).get()
}

#[tokio::test]
async fn pods_appear_change_go_and_survive_failures() {
    let (url, f) = server(&[pod_json("a", "10.0.0.1", 80)]).await;
    let metrics = SdMetrics::default();
    let d = discovery(&format!("role: pod\napi_server: {url}\nselectors:\n- role: pod\n  label: app=web\n  field: spec.nodeName=n1\n"), &metrics);
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(d.run(tx));
    let mut v = View::default();
    v.until(&mut rx, "the listed pod", |g| address(g, "pod/default/a").as_deref() == Some("10.0.0.1:80")).await;
    assert_eq!(v.0["pod/default/a"].labels.get("__meta_kubernetes_pod_name"), "a");

    f.push("ADDED", pod_json("b", "10.0.0.2", 81));
    v.until(&mut rx, "an added pod", |g| address(g, "pod/default/b").as_deref() == Some("10.0.0.2:81")).await;
    f.push("MODIFIED", pod_json("a", "10.0.0.9", 80));
    v.until(&mut rx, "a moved pod", |g| address(g, "pod/default/a").as_deref() == Some("10.0.0.9:80")).await;
    f.push("DELETED", pod_json("b", "10.0.0.2", 81));
    v.until(&mut rx, "a deleted pod", |g| g["pod/default/b"].targets.is_empty()).await;
    assert!(events(&metrics, "add") >= 2 && events(&metrics, "update") >= 1 && events(&metrics, "delete") == 1);

    // An expired watch means a new list, not a failure.
    f.push(
        "ERROR",
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired", "message": "too old resource version"}),
    );
    f.push("ADDED", pod_json("c", "10.0.0.3", 82));
    v.until(&mut rx, "a pod after the expired watch", |g| address(g, "pod/default/c").is_some()).await;
    assert_eq!(metrics.kubernetes_failures.get(), 0);

    // While the server fails nothing is sent: the last good pods stay.
    {
        let mut s = f.inner.lock().unwrap();
        s.failing = true;
        s.objects.get_mut("*").unwrap().remove("default/a");
    }
    f.push("ADDED", json!({}));
    while metrics.kubernetes_failures.get() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Ok(Some(update)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        assert!(update.iter().all(|g| !g.targets.is_empty()), "{update:?}");
    }
    // Back again, the watch resumes; once it expires, the new list lacks
    // a pod: it is sent empty.
    {
        let mut s = f.inner.lock().unwrap();
        s.failing = false;
        s.pending.clear();
    }
    f.push(
        "ERROR",
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired", "message": "too old resource version"}),
    );
    v.until(&mut rx, "the pod gone while failing", |g| g["pod/default/a"].targets.is_empty()).await;
    assert!(address(&v.0, "pod/default/c").is_some());

    let by_code = |code: &str| metrics.kubernetes_http_requests.get_or_create(&vec![("status_code".to_owned(), code.to_owned())]).get();
    assert!(by_code("200") >= 2 && by_code("500") >= 1, "{} {}", by_code("200"), by_code("500"));
    let requests = f.inner.lock().unwrap().requests.clone();
    let has = |r: &str, parts: &[&str]| parts.iter().all(|p| r.contains(p));
    assert!(has(&requests[0], &["labelSelector=app%3Dweb", "fieldSelector=spec.nodeName%3Dn1"]) && !requests[0].contains("watch"), "{requests:?}");
    assert!(
        has(&requests[1], &["labelSelector=app%3Dweb", "watch=true", "resourceVersion=0", "allowWatchBookmarks=true", "timeoutSeconds=290"]),
        "{requests:?}"
    );
    task.abort();
}

#[tokio::test]
async fn namespaces_are_watched_one_by_one() {
    let mut other = pod_json("x", "10.0.1.1", 90);
    other["metadata"]["namespace"] = "other".into();
    let mut hidden = pod_json("h", "10.0.2.1", 91);
    hidden["metadata"]["namespace"] = "hidden".into();
    let (url, f) = server(&[pod_json("a", "10.0.0.1", 80), other, hidden]).await;
    let metrics = SdMetrics::default();
    let d = discovery(&format!("role: pod\napi_server: {url}\nnamespaces:\n  names: [default, other]\n"), &metrics);
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(d.run(tx));
    let mut v = View::default();
    v.until(&mut rx, "both namespaces", |g| g.contains_key("pod/default/a") && g.contains_key("pod/other/x")).await;
    assert!(!v.0.contains_key("pod/hidden/h"));
    let requests = f.inner.lock().unwrap().requests.clone();
    assert!(requests.iter().all(|r| r.starts_with("default?") || r.starts_with("other?")), "{requests:?}");
    task.abort();
}

fn ingress_json(host: &str) -> Value {
    json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"rules": [{"host": host}]}})
}

#[tokio::test]
async fn services_nodes_and_ingresses_follow_their_objects() {
    for (role, first, changed, source) in [
        ("service", service_json("web", "ClusterIP", 80), service_json("web", "ClusterIP", 8080), "svc/default/web"),
        ("node", node_json("n1", "10.0.0.1"), node_json("n1", "10.0.0.2"), "node/n1"),
        ("ingress", ingress_json("a.test"), ingress_json("b.test"), "ingress/default/web"),
    ] {
        let (url, f) = server(std::slice::from_ref(&first)).await;
        let metrics = SdMetrics::default();
        let d = discovery(&format!("role: {role}\napi_server: {url}\n"), &metrics);
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(d.run(tx));
        let mut v = View::default();
        v.until(&mut rx, "the listed object", |g| g.get(source).is_some_and(|g| !g.targets.is_empty())).await;
        let before = address(&v.0, source);
        f.push("MODIFIED", changed.clone());
        v.until(&mut rx, "the changed object", |g| address(g, source) != before).await;
        f.push("DELETED", changed);
        v.until(&mut rx, "the deleted object", |g| g[source].targets.is_empty()).await;
        assert_eq!((events_of(&metrics, role, "add"), events_of(&metrics, role, "delete")), (1, 1), "{role}");
        let requests = f.inner.lock().unwrap().requests.clone();
        assert!(requests.iter().all(|r| r.starts_with('?')), "{role}: {requests:?}");
        task.abort();
    }
}

#[tokio::test]
async fn kubeconfig_files_name_the_server_and_credentials() {
    let (url, f) = server(&[pod_json("a", "10.0.0.1", 80)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        format!("current-context: c\nclusters: [{{name: k, cluster: {{server: '{url}'}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{token: t0k}}}}]\n"),
    )
    .unwrap();
    let metrics = SdMetrics::default();
    let d = discovery(&format!("role: pod\nkubeconfig_file: {}\n", path.display()), &metrics);
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(d.run(tx));
    View::default().until(&mut rx, "a pod through the kubeconfig", |g| g.contains_key("pod/default/a")).await;
    assert!(!f.inner.lock().unwrap().requests.is_empty());
    task.abort();
}

fn base(d: &KubernetesDiscovery) -> &Transport {
    match &d.source {
        Source::Transport(t) => t,
        Source::Kubeconfig(_) => panic!("not through our client"),
    }
}

#[test]
fn servers_and_roles() {
    let env = Env { metrics: SdMetrics::default(), user_agent: String::new(), dns_nameserver: None };
    let cfg = |y: &str| -> KubernetesSdConfig { config::yaml::from_str(y).unwrap() };
    let uri = |s: &str| -> http::Uri { s.parse().unwrap() };
    let d = KubernetesDiscovery::new(&cfg("role: pod\napi_server: k8s.local:6443\n"), &env).unwrap();
    assert_eq!(base(&d).url(&uri("/api/v1/namespaces/ns/pods?watch=true")).as_str(), "http://k8s.local:6443/api/v1/namespaces/ns/pods?watch=true");
    let d = KubernetesDiscovery::new(&cfg("role: pod\napi_server: k8s.local:6443\ntls_config: {insecure_skip_verify: true}\n"), &env).unwrap();
    assert_eq!(base(&d).url(&uri("/api/v1/pods")).as_str(), "https://k8s.local:6443/api/v1/pods");
    let d = KubernetesDiscovery::new(&cfg("role: pod\napi_server: https://h/prefix/\n"), &env).unwrap();
    assert_eq!(base(&d).url(&uri("/api/v1/pods")).as_str(), "https://h/prefix/api/v1/pods");
    let d = KubernetesDiscovery::new(&cfg("role: node\napi_server: https://h\nnamespaces: {names: [a]}\n"), &env).unwrap();
    assert!(d.namespaces.is_empty());
}

#[tokio::test]
async fn in_cluster_uses_the_service_account() {
    let (url, f) = server(&[pod_json("a", "10.0.0.1", 80)]).await;
    let port = url.rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("namespace"), "default\n").unwrap();
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    let env = Env { metrics: SdMetrics::default(), user_agent: String::new(), dns_nameserver: None };
    let cfg: KubernetesSdConfig = config::yaml::from_str("role: pod\nnamespaces: {own_namespace: true}\n").unwrap();
    let e = KubernetesDiscovery::with_cluster(&cfg, &env, dir.path(), None).unwrap_err();
    assert!(e.to_string().contains("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"), "{e}");
    // No CA file: the client cannot be built, as client-go cannot.
    assert!(KubernetesDiscovery::with_cluster(&cfg, &env, dir.path(), Some(("127.0.0.1".into(), port.clone()))).is_err());
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.cert.pem()).unwrap();
    let d = KubernetesDiscovery::with_cluster(&cfg, &env, dir.path(), Some(("127.0.0.1".into(), port.clone()))).unwrap();
    assert_eq!(d.namespaces, ["default"]);
    assert_eq!(base(&d).base.as_str(), format!("https://127.0.0.1:{port}/"));
    let _ = f;
}

#[tokio::test]
async fn endpoints_follow_their_service_and_pods() {
    use super::endpoints::tests::endpoints_json;
    use super::endpointslice::tests::slice_json;
    for (role, plural, object, source) in [
        ("endpoints", "endpoints", endpoints_json("10.1.2.3"), "endpoints/default/web"),
        ("endpointslice", "endpointslices", slice_json(true), "endpointslice/default/web-abc"),
    ] {
        let (url, f) = server(&[]).await;
        f.insert(plural, object.clone());
        f.insert("services", service_json("web", "ClusterIP", 80));
        f.insert("pods", pod_json("web-1", "10.1.2.3", 8080));
        let metrics = SdMetrics::default();
        let d = discovery(&format!("role: {role}\napi_server: {url}\nnamespaces: {{names: [default]}}\n"), &metrics);
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(d.run(tx));
        let mut v = View::default();
        let label = |g: &BTreeMap<String, Group>, name: &str| g.get(source).map(|g| g.labels.get(name).to_owned()).unwrap_or_default();
        let target_label =
            |g: &BTreeMap<String, Group>, name: &str| g.get(source).and_then(|g| g.targets.first()).map(|t| t.get(name).to_owned()).unwrap_or_default();
        // The first send already has the service's and the pod's labels.
        v.until(&mut rx, "the listed endpoints", |g| g.contains_key(source)).await;
        assert_eq!(label(&v.0, "__meta_kubernetes_service_label_team"), "a", "{role}");
        assert_eq!(target_label(&v.0, "__meta_kubernetes_pod_name"), "web-1", "{role}");

        let mut added = object.clone();
        added["metadata"]["name"] = "web-2".into();
        f.push_to(plural, "ADDED", added);
        let added_source = format!("{role}/default/web-2");
        v.until(&mut rx, "added endpoints", |g| g.get(&added_source).is_some_and(|g| !g.targets.is_empty())).await;

        let mut svc = service_json("web", "ClusterIP", 80);
        svc["metadata"]["labels"]["team"] = "b".into();
        f.push_to("services", "MODIFIED", svc);
        v.until(&mut rx, "the service's new label", |g| label(g, "__meta_kubernetes_service_label_team") == "b").await;

        let mut pod = pod_json("web-1", "10.1.2.3", 8080);
        pod["status"]["phase"] = "Failed".into();
        f.push_to("pods", "MODIFIED", pod);
        v.until(&mut rx, "the pod's new phase", |g| target_label(g, "__meta_kubernetes_pod_phase") == "Failed").await;

        f.push_to("services", "DELETED", service_json("web", "ClusterIP", 80));
        v.until(&mut rx, "the service gone", |g| label(g, "__meta_kubernetes_service_name").is_empty()).await;

        f.push_to(plural, "DELETED", object);
        v.until(&mut rx, "the endpoints gone", |g| g[source].targets.is_empty()).await;
        assert_eq!(events_of(&metrics, "service", "delete"), 1);
        assert_eq!(events_of(&metrics, role, "delete"), 1);
        task.abort();
    }
}

#[tokio::test]
async fn attached_node_and_namespace_metadata_follow_their_objects() {
    let (url, f) = server(&[]).await;
    f.insert("pods", pod_json("web-1", "10.1.2.3", 8080));
    f.insert("nodes", json!({"metadata": {"name": "n1", "labels": {"zone": "a"}}}));
    f.insert("namespaces", json!({"metadata": {"name": "default", "labels": {"team": "x"}, "annotations": {"owner": "ops"}}}));
    let rs = |deployment: &str| json!({"metadata": {"name": "web-abc", "namespace": "default", "ownerReferences": [{"kind": "Deployment", "name": deployment, "controller": true}]}});
    f.insert("replicasets", rs("web"));
    let metrics = SdMetrics::default();
    let d = discovery(&format!("role: pod\napi_server: {url}\nattach_metadata: {{node: true, namespace: true, deployment: true}}\n"), &metrics);
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(d.run(tx));
    let mut v = View::default();
    let label = |g: &BTreeMap<String, Group>, name: &str| g.get("pod/default/web-1").map(|g| g.labels.get(name).to_owned()).unwrap_or_default();
    v.until(&mut rx, "the pod", |g| g.contains_key("pod/default/web-1")).await;
    assert_eq!(label(&v.0, "__meta_kubernetes_node_label_zone"), "a");
    assert_eq!(label(&v.0, "__meta_kubernetes_node_name"), "n1");
    assert_eq!(label(&v.0, "__meta_kubernetes_namespace_label_team"), "x");
    assert_eq!(label(&v.0, "__meta_kubernetes_namespace_annotationpresent_owner"), "true");
    assert_eq!(label(&v.0, "__meta_kubernetes_pod_deployment_name"), "web");

    // A node's status change alone re-sends nothing; a new label does.
    f.push_to("nodes", "MODIFIED", json!({"metadata": {"name": "n1", "labels": {"zone": "a"}}, "status": {"phase": "x"}}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err());
    f.push_to("nodes", "MODIFIED", json!({"metadata": {"name": "n1", "labels": {"zone": "b"}}}));
    v.until(&mut rx, "the node's new label", |g| label(g, "__meta_kubernetes_node_label_zone") == "b").await;
    f.push_to("namespaces", "MODIFIED", json!({"metadata": {"name": "default", "labels": {"team": "y"}}}));
    v.until(&mut rx, "the namespace's new label", |g| label(g, "__meta_kubernetes_namespace_label_team") == "y").await;
    f.push_to("replicasets", "MODIFIED", rs("web2"));
    v.until(&mut rx, "the replica set's new deployment", |g| label(g, "__meta_kubernetes_pod_deployment_name") == "web2").await;
    // The node filtered out (here: deleted), the pod has no targets.
    f.push_to("nodes", "DELETED", json!({"metadata": {"name": "n1"}}));
    v.until(&mut rx, "the pod without its node", |g| g["pod/default/web-1"].targets.is_empty()).await;
    task.abort();
}

/// An exec plugin's token is used, and asked again after a 401.
#[tokio::test]
async fn kubeconfig_exec_plugins_give_the_token() {
    let (url, f) = server(&[pod_json("a", "10.0.0.1", 80)]).await;
    f.inner.lock().unwrap().token = Some("t1".into());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), "t1").unwrap();
    std::fs::create_dir(d.join("bin")).unwrap();
    std::fs::write(
        d.join("bin/cred"),
        format!(
            "#!/bin/sh\necho \"$1 $CRED_ENV\" >> {calls}\necho \"$KUBERNETES_EXEC_INFO\" > {info}\nprintf '{{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": {{\"token\": \"%s\", \"expirationTimestamp\": \"2000-01-01T00:00:00Z\"}}}}' \"$(cat {token})\"\n",
            calls = d.join("calls").display(),
            info = d.join("info").display(),
            token = d.join("token").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("bin/cred"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        d.join("config"),
        format!(
            "current-context: c\nclusters: [{{name: k, cluster: {{server: '{url}'}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\n\
             users: [{{name: u, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: bin/cred, args: [arg1], env: [{{name: CRED_ENV, value: e1}}], provideClusterInfo: true, interactiveMode: Never}}}}}}]\n"
        ),
    )
    .unwrap();
    let metrics = SdMetrics::default();
    let disc = discovery(&format!("role: pod\nkubeconfig_file: {}\n", d.join("config").display()), &metrics);
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(disc.run(tx));
    let mut v = View::default();
    v.until(&mut rx, "a pod with the plugin's token", |g| g.contains_key("pod/default/a")).await;
    let info: Value = serde_json::from_str(&std::fs::read_to_string(d.join("info")).unwrap()).unwrap();
    assert_eq!(info["spec"]["interactive"], false);
    assert_eq!(info["spec"]["cluster"]["server"], url.as_str());
    assert!(std::fs::read_to_string(d.join("calls")).unwrap().starts_with("arg1 e1\n"));

    // The token expired at once, so the plugin is asked again for the next
    // request, which gets the server's new token.
    std::fs::write(d.join("token"), "t2").unwrap();
    f.inner.lock().unwrap().token = Some("t2".into());
    f.push("ADDED", pod_json("b", "10.0.0.2", 81));
    v.until(&mut rx, "a pod after the new token", |g| g.contains_key("pod/default/b")).await;
    // kube's own client is counted too.
    assert!(metrics.kubernetes_http_requests.get_or_create(&vec![("status_code".to_owned(), "200".to_owned())]).get() >= 1);
    task.abort();

    let cfg = std::fs::read_to_string(d.join("config")).unwrap();
    std::fs::write(d.join("config"), cfg.replace("interactiveMode: Never", "interactiveMode: Always")).unwrap();
    let cfg: KubernetesSdConfig = config::yaml::from_str(&format!("role: pod\nkubeconfig_file: {}\n", d.join("config").display())).unwrap();
    let env = Env { metrics: SdMetrics::default(), user_agent: String::new(), dns_nameserver: None };
    let e = KubernetesDiscovery::new(&cfg, &env).unwrap_err();
    assert!(e.to_string().contains("cannot support interactive mode"), "{e}");
    let kc = format!(
        "current-context: c\nclusters: [{{name: k, cluster: {{server: '{url}'}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{auth-provider: {{name: oidc}}}}}}]\n"
    );
    std::fs::write(d.join("config"), kc).unwrap();
    let e = KubernetesDiscovery::new(&cfg, &env).unwrap_err();
    assert!(e.to_string().contains(r#"no Auth Provider found for name "oidc""#), "{e}");
}

/// A node that loses its addresses sends nothing: its last target stays,
/// as in Prometheus, until it has an address again or is deleted.
#[tokio::test]
async fn a_node_without_addresses_keeps_its_last_target() {
    let (url, f) = server(&[node_json("n1", "10.0.0.1")]).await;
    let metrics = SdMetrics::default();
    let d = discovery(&format!("role: node\napi_server: {url}\n"), &metrics);
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(d.run(tx));
    let mut v = View::default();
    v.until(&mut rx, "the node", |g| address(g, "node/n1").is_some()).await;
    let mut bare = node_json("n1", "x");
    bare["status"]["addresses"] = json!([]);
    f.push("MODIFIED", bare);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.try_recv().is_err(), "nothing is sent for a node without addresses");
    f.push("MODIFIED", node_json("n1", "10.0.0.3"));
    v.until(&mut rx, "the node's new address", |g| address(g, "node/n1").as_deref() == Some("10.0.0.3:10250")).await;
    task.abort();
}

/// Go writes lists without `omitempty` as null: an endpoint slice scaled to
/// nothing arrives with `"endpoints": null`.
#[test]
fn nulls_read_as_absent_fields() {
    let mut v = json!({"metadata": {"name": "s", "namespace": "default", "labels": null}, "addressType": "IPv4", "endpoints": null, "ports": null});
    assert!(serde_json::from_value::<EndpointSlice>(v.clone()).is_err());
    strip_nulls(&mut v);
    let slice: EndpointSlice = serde_json::from_value(v).unwrap();
    assert!(slice.group(&Cache::default()).targets.is_empty());
}
