//! The `pod` role: one target per declared container port, or one per
//! container that declares none (its address is the bare pod IP, for
//! relabelling to add a port). Init containers count too, marked with
//! `__meta_kubernetes_pod_container_init="true"`. A pod without an IP yet
//! (pending, evicted) is sent as an empty group under its source.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Cache, Key, Kind, LabelMap, ObjectMeta, Resource, Store, Target, object_meta_labels};
use crate::Group;
use crate::targetgroup::join_host_port;

const P: &str = "__meta_kubernetes_pod_";

/// The fields of a Pod that become labels; everything else is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Pod {
    metadata: ObjectMeta,
    spec: PodSpec,
    status: PodStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodSpec {
    node_name: String,
    containers: Vec<Container>,
    init_containers: Vec<Container>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Container {
    name: String,
    image: String,
    ports: Vec<ContainerPort>,
}

impl Container {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ContainerPort {
    name: String,
    pub(crate) container_port: u16,
    protocol: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodStatus {
    phase: String,
    #[serde(rename = "podIP")]
    pod_ip: String,
    #[serde(rename = "hostIP")]
    host_ip: String,
    conditions: Vec<Condition>,
    container_statuses: Vec<ContainerStatus>,
    init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ContainerStatus {
    name: String,
    #[serde(rename = "containerID")]
    container_id: String,
}

impl Resource for Pod {
    const ROLE: &'static str = "pod";
    const PATH: &'static str = "api/v1";
    const PLURAL: &'static str = "pods";

    const KIND: Kind = Kind::Pod;

    super::stored_in!(pods);

    /// An endpoint's target carries the pod's labels and its container
    /// ports.
    fn same_for_users(&self, other: &Self) -> bool {
        // Containers and ports with everything their labels show.
        let ports = |p: &Pod| {
            p.container_ports()
                .map(|(c, init, port)| (c.name.clone(), c.image.clone(), init, port.name.clone(), port.container_port, port.protocol.clone()))
                .collect::<Vec<_>>()
        };
        self.pod_labels() == other.pod_labels() && ports(self) == ports(other)
    }
}

impl Target for Pod {
    fn related(&self, kind: Kind) -> Vec<Key> {
        let m = &self.metadata;
        let owner = |k: &str| m.controller_of_kind(k).map(|n| (m.namespace.clone(), n.to_owned())).into_iter().collect();
        match kind {
            Kind::Node => vec![(String::new(), self.spec.node_name.clone())],
            Kind::ReplicaSet => owner("ReplicaSet"),
            Kind::Job => owner("Job"),
            _ => Vec::new(),
        }
    }

    fn group(&self, cache: &Cache) -> Group {
        let source = Self::source_of(&self.key());
        let ip = self.status.pod_ip.as_str();
        if ip.is_empty() {
            return Group::empty(source);
        }
        // With node metadata, a pod on a node the node selector filtered
        // out (or on no node yet) has no targets.
        if cache.attach.node && !cache.nodes.contains_key(&(String::new(), self.spec.node_name.clone())) {
            return Group::empty(source);
        }
        let mut labels = self.pod_labels_with(cache);
        super::node_labels(&mut labels, cache, &self.spec.node_name);
        super::namespace::namespace_labels(&mut labels, cache, &self.metadata.namespace);
        let mut targets = Vec::new();
        for (c, init) in self.containers() {
            if c.ports.is_empty() {
                let mut t = self.container_common(c, init);
                t.insert("__address__".into(), ip.to_owned());
                targets.push(t);
                continue;
            }
            for port in &c.ports {
                let mut t = self.container_labels(c, init, port, true);
                t.insert("__address__".into(), join_host_port(ip, port.container_port));
                targets.push(t);
            }
        }
        super::group(source, targets, labels)
    }
}

impl Pod {
    pub(crate) fn ip(&self) -> &str {
        &self.status.pod_ip
    }

    /// The app containers, then the init containers (marked true).
    fn containers(&self) -> impl Iterator<Item = (&Container, bool)> {
        self.spec.containers.iter().map(|c| (c, false)).chain(self.spec.init_containers.iter().map(|c| (c, true)))
    }

    /// Every declared container port with its container.
    pub(crate) fn container_ports(&self) -> impl Iterator<Item = (&Container, bool, &ContainerPort)> {
        self.containers().flat_map(|(c, init)| c.ports.iter().map(move |p| (c, init, p)))
    }

    /// The labels of a container, whatever its ports. Only the pod role
    /// gives the container's ID.
    fn container_common(&self, c: &Container, init: bool) -> LabelMap {
        let mut t = self.container_basics(c, init);
        let statuses = if init { &self.status.init_container_statuses } else { &self.status.container_statuses };
        // A container that has not started yet has no status and so no ID.
        let id = statuses.iter().find(|s| s.name == c.name).map_or("", |s| s.container_id.as_str());
        t.insert(format!("{P}container_id"), id.to_owned());
        t
    }

    fn container_basics(&self, c: &Container, init: bool) -> LabelMap {
        let mut t = LabelMap::new();
        t.insert(format!("{P}container_name"), c.name.clone());
        t.insert(format!("{P}container_image"), c.image.clone());
        t.insert(format!("{P}container_init"), init.to_string());
        t
    }

    /// The labels of one port of a container: with its ID for the pod
    /// role, without for the endpoints roles.
    pub(crate) fn container_labels(&self, c: &Container, init: bool, port: &ContainerPort, with_id: bool) -> LabelMap {
        let mut t = if with_id { self.container_common(c, init) } else { self.container_basics(c, init) };
        t.insert(format!("{P}container_port_number"), port.container_port.to_string());
        t.insert(format!("{P}container_port_name"), port.name.clone());
        t.insert(format!("{P}container_port_protocol"), port.protocol.clone());
        t
    }

    /// The pod's labels with those of the workloads it belongs to, as far
    /// as `attach_metadata` asks for them and the cache knows them.
    pub(crate) fn pod_labels_with(&self, cache: &Cache) -> LabelMap {
        let mut l = self.pod_labels();
        let (a, m) = (cache.attach, &self.metadata);
        let Some(c) = m.controller() else { return l };
        let key = (m.namespace.clone(), c.name.clone());
        match c.kind.as_str() {
            "ReplicaSet" if a.deployment => {
                if let Some(d) = cache.replicasets.get(&key).and_then(|rs| rs.metadata.controller_of_kind("Deployment")) {
                    l.insert(format!("{P}deployment_name"), d.to_owned());
                }
            }
            "Job" => {
                if a.job {
                    l.insert(format!("{P}job_name"), c.name.clone());
                }
                if a.cronjob
                    && let Some(cj) = cache.jobs.get(&key).and_then(|j| j.metadata.controller_of_kind("CronJob"))
                {
                    l.insert(format!("{P}cronjob_name"), cj.to_owned());
                }
            }
            _ => {}
        }
        l
    }

    pub(crate) fn pod_labels(&self) -> LabelMap {
        let (st, m) = (&self.status, &self.metadata);
        let mut l = BTreeMap::new();
        l.insert("__meta_kubernetes_namespace".to_owned(), m.namespace.clone());
        l.insert(format!("{P}ip"), st.pod_ip.clone());
        l.insert(format!("{P}ready"), self.ready().to_owned());
        l.insert(format!("{P}phase"), st.phase.clone());
        l.insert(format!("{P}node_name"), self.spec.node_name.clone());
        l.insert(format!("{P}host_ip"), st.host_ip.clone());
        l.insert(format!("{P}uid"), m.uid.clone());
        object_meta_labels(&mut l, m, "pod");
        // Only the owner marked as the controller counts, as client-go's
        // GetControllerOf decides; empty fields are left out.
        if let Some(owner) = m.controller() {
            if !owner.kind.is_empty() {
                l.insert(format!("{P}controller_kind"), owner.kind.clone());
            }
            if !owner.name.is_empty() {
                l.insert(format!("{P}controller_name"), owner.name.clone());
            }
        }
        l
    }

    /// The Ready condition's status in lower case; `unknown` without one.
    fn ready(&self) -> String {
        self.status.conditions.iter().find(|c| c.kind == "Ready").map_or_else(|| "unknown".to_owned(), |c| c.status.to_lowercase())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn pod_json(name: &str, ip: &str, port: u16) -> serde_json::Value {
        serde_json::json!({
            "metadata": {
                "name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "5",
                "labels": {"app.kubernetes.io/name": "web"},
                "annotations": {"prometheus.io/scrape": "true"},
                "ownerReferences": [
                    {"kind": "Node", "name": "n0"},
                    {"kind": "ReplicaSet", "name": "web-abc", "controller": true}
                ]
            },
            "spec": {
                "nodeName": "n1",
                "containers": [
                    {"name": "app", "image": "app:1", "ports": [
                        {"name": "http", "containerPort": port, "protocol": "TCP"},
                        {"containerPort": 9001, "protocol": "UDP"}
                    ]},
                    {"name": "sidecar", "image": "side:2"}
                ],
                "initContainers": [{"name": "setup", "image": "init:3"}]
            },
            "status": {
                "phase": "Running", "podIP": ip, "hostIP": "10.0.0.1",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "containerID": "containerd://abc"}],
                "initContainerStatuses": [{"name": "setup", "containerID": "containerd://def"}]
            }
        })
    }

    /// Empty values (an unnamed port, a container without status) are
    /// absent labels, as in Prometheus once a target's labels are built.
    #[test]
    fn one_target_per_port_or_portless_container_with_prometheus_labels() {
        let pod: Pod = serde_json::from_value(pod_json("web-1", "10.1.2.3", 8080)).unwrap();
        let g = pod.group(&Cache::default());
        assert_eq!(g.source, "pod/default/web-1");
        assert_eq!(
            g.labels.to_string(),
            concat!(
                r#"{__meta_kubernetes_namespace="default", __meta_kubernetes_pod_annotation_prometheus_io_scrape="true", "#,
                r#"__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape="true", __meta_kubernetes_pod_controller_kind="ReplicaSet", "#,
                r#"__meta_kubernetes_pod_controller_name="web-abc", __meta_kubernetes_pod_host_ip="10.0.0.1", __meta_kubernetes_pod_ip="10.1.2.3", "#,
                r#"__meta_kubernetes_pod_label_app_kubernetes_io_name="web", __meta_kubernetes_pod_labelpresent_app_kubernetes_io_name="true", "#,
                r#"__meta_kubernetes_pod_name="web-1", __meta_kubernetes_pod_node_name="n1", __meta_kubernetes_pod_phase="Running", "#,
                r#"__meta_kubernetes_pod_ready="true", __meta_kubernetes_pod_uid="u-1"}"#
            )
        );
        let t: Vec<String> = g.targets.iter().map(ToString::to_string).collect();
        assert_eq!(
            t,
            [
                concat!(
                    r#"{__address__="10.1.2.3:8080", __meta_kubernetes_pod_container_id="containerd://abc", __meta_kubernetes_pod_container_image="app:1", "#,
                    r#"__meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="app", __meta_kubernetes_pod_container_port_name="http", "#,
                    r#"__meta_kubernetes_pod_container_port_number="8080", __meta_kubernetes_pod_container_port_protocol="TCP"}"#
                ),
                concat!(
                    r#"{__address__="10.1.2.3:9001", __meta_kubernetes_pod_container_id="containerd://abc", __meta_kubernetes_pod_container_image="app:1", "#,
                    r#"__meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="app", "#,
                    r#"__meta_kubernetes_pod_container_port_number="9001", __meta_kubernetes_pod_container_port_protocol="UDP"}"#
                ),
                concat!(
                    r#"{__address__="10.1.2.3", __meta_kubernetes_pod_container_image="side:2", "#,
                    r#"__meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="sidecar"}"#
                ),
                concat!(
                    r#"{__address__="10.1.2.3", __meta_kubernetes_pod_container_id="containerd://def", __meta_kubernetes_pod_container_image="init:3", "#,
                    r#"__meta_kubernetes_pod_container_init="true", __meta_kubernetes_pod_container_name="setup"}"#
                ),
            ]
        );
    }

    #[test]
    fn workloads_name_the_deployment_job_and_cron_job() {
        use crate::kubernetes::controller::Attach;
        use crate::kubernetes::workload::{Job, ReplicaSet};
        let mut cache = Cache { attach: Attach { deployment: true, job: true, cronjob: true, node: false }, ..Cache::default() };
        let owned = |name: &str, kind: &str, owner: &str| serde_json::json!({"metadata": {"name": name, "namespace": "default", "ownerReferences": [{"kind": kind, "name": owner, "controller": true}]}});
        cache.replicasets.insert(("default".into(), "web-abc".into()), serde_json::from_value::<ReplicaSet>(owned("web-abc", "Deployment", "web")).unwrap());
        cache.jobs.insert(("default".into(), "nightly-1".into()), serde_json::from_value::<Job>(owned("nightly-1", "CronJob", "nightly")).unwrap());
        let pod: Pod = serde_json::from_value(pod_json("web-1", "10.1.2.3", 8080)).unwrap();
        let g = pod.group(&cache);
        assert_eq!(g.labels.get("__meta_kubernetes_pod_deployment_name"), "web");
        assert_eq!(g.labels.get("__meta_kubernetes_pod_job_name"), "");
        let mut v = pod_json("batch-1", "10.1.2.4", 8080);
        v["metadata"]["ownerReferences"] = serde_json::json!([{"kind": "Job", "name": "nightly-1", "controller": true}]);
        let g = serde_json::from_value::<Pod>(v).unwrap().group(&cache);
        assert_eq!((g.labels.get("__meta_kubernetes_pod_job_name"), g.labels.get("__meta_kubernetes_pod_cronjob_name")), ("nightly-1", "nightly"));
        // Not asked for: not there.
        let g = pod.group(&Cache { attach: Attach::default(), ..cache });
        assert_eq!(g.labels.get("__meta_kubernetes_pod_deployment_name"), "");
    }

    #[test]
    fn pods_without_an_ip_or_ready_condition() {
        let mut v = pod_json("p", "", 80);
        let pod: Pod = serde_json::from_value(v.clone()).unwrap();
        let g = pod.group(&Cache::default());
        assert!(g.targets.is_empty() && g.labels.is_empty() && g.source == "pod/default/p");
        v["status"]["podIP"] = "fd00::1".into();
        v["status"]["conditions"] = serde_json::json!([]);
        let g = serde_json::from_value::<Pod>(v).unwrap().group(&Cache::default());
        assert_eq!(g.labels.get("__meta_kubernetes_pod_ready"), "unknown");
        assert_eq!(g.targets[0].get("__address__"), "[fd00::1]:80");
    }
}
