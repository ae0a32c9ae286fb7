//! The `endpointslice` role (discovery.k8s.io/v1): one target per endpoint
//! and port of each EndpointSlice, carrying the labels of the service the
//! slice belongs to (its `kubernetes.io/service-name` label) and, when the
//! endpoint points at a pod, of that pod and of the container port serving
//! the endpoint's port. As for `endpoints`, the pods' container ports that
//! no endpoint covers become targets of their own.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::endpoints::{ObjectReference, PodPorts, service_labels};
use super::{Cache, Key, Kind, LabelMap, ObjectMeta, Resource, Store, Target, object_meta_labels};
use crate::Group;
use crate::targetgroup::{join_host_port, sanitize_label_name};

const S: &str = "__meta_kubernetes_endpointslice_";
/// The label linking a slice to its service.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EndpointSlice {
    metadata: ObjectMeta,
    address_type: String,
    endpoints: Vec<Endpoint>,
    ports: Vec<Port>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Endpoint {
    addresses: Vec<String>,
    conditions: Conditions,
    hostname: Option<String>,
    target_ref: Option<ObjectReference>,
    node_name: Option<String>,
    zone: Option<String>,
    deprecated_topology: BTreeMap<String, String>,
}

/// Unset conditions are unknown, and get no label.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Conditions {
    ready: Option<bool>,
    serving: Option<bool>,
    terminating: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Port {
    name: Option<String>,
    port: Option<i32>,
    protocol: Option<String>,
    app_protocol: Option<String>,
}

impl Endpoint {
    /// The node behind the endpoint. A referenced node comes first here,
    /// unlike for `endpoints`.
    fn node(&self) -> Option<&str> {
        self.target_ref.as_ref().filter(|r| r.kind == "Node").map(|r| r.name.as_str()).or(self.node_name.as_deref())
    }
}

impl Resource for EndpointSlice {
    const ROLE: &'static str = "endpointslice";
    const PATH: &'static str = "apis/discovery.k8s.io/v1";
    const PLURAL: &'static str = "endpointslices";
    const KIND: Kind = Kind::EndpointSlice;

    super::stored_in!(endpointslices);
}

impl EndpointSlice {
    fn service_name(&self) -> Option<&str> {
        self.metadata.labels.get(SERVICE_NAME).map(String::as_str)
    }
}

impl EndpointSlice {
    fn target<'a>(&self, cache: &'a Cache, pods: &mut PodPorts<'a>, ep: &Endpoint, port: &Port, addr: &str) -> LabelMap {
        let mut t = LabelMap::new();
        let address = port.port.map_or_else(|| addr.to_owned(), |p| join_host_port(addr, p));
        t.insert("__address__".into(), address);
        if let Some(n) = &port.name {
            t.insert(format!("{S}port_name"), n.clone());
        }
        if let Some(p) = &port.protocol {
            t.insert(format!("{S}port_protocol"), p.clone());
        }
        if let Some(p) = port.port {
            t.insert(format!("{S}port"), p.to_string());
        }
        if let Some(p) = &port.app_protocol {
            t.insert(format!("{S}port_app_protocol"), p.clone());
        }
        let c = &ep.conditions;
        for (name, value) in [("ready", c.ready), ("serving", c.serving), ("terminating", c.terminating)] {
            if let Some(v) = value {
                t.insert(format!("{S}endpoint_conditions_{name}"), v.to_string());
            }
        }
        if let Some(h) = &ep.hostname {
            t.insert(format!("{S}endpoint_hostname"), h.clone());
        }
        if let Some(r) = &ep.target_ref {
            t.insert(format!("{S}address_target_kind"), r.kind.clone());
            t.insert(format!("{S}address_target_name"), r.name.clone());
        }
        if let Some(n) = &ep.node_name {
            t.insert(format!("{S}endpoint_node_name"), n.clone());
        }
        if let Some(z) = &ep.zone {
            t.insert(format!("{S}endpoint_zone"), z.clone());
        }
        for (k, v) in &ep.deprecated_topology {
            let k = sanitize_label_name(k);
            t.insert(format!("{S}endpoint_topology_{k}"), v.clone());
            t.insert(format!("{S}endpoint_topology_present_{k}"), "true".into());
        }
        if let Some(n) = ep.node() {
            super::node_labels(&mut t, cache, n);
        }
        pods.add(&mut t, cache, ep.target_ref.as_ref(), port.port);
        t
    }
}

impl Target for EndpointSlice {
    fn related(&self, kind: Kind) -> Vec<Key> {
        match kind {
            Kind::Service => self.service_name().map(|n| (self.metadata.namespace.clone(), n.to_owned())).into_iter().collect(),
            Kind::Pod => {
                self.endpoints.iter().filter_map(|e| e.target_ref.as_ref().filter(|r| r.kind == "Pod")).map(|r| (r.namespace.clone(), r.name.clone())).collect()
            }
            Kind::Node => self.endpoints.iter().filter_map(Endpoint::node).map(|n| (String::new(), n.to_owned())).collect(),
            _ => Vec::new(),
        }
    }

    fn group(&self, cache: &Cache) -> Group {
        let m = &self.metadata;
        let service = self.service_name().and_then(|n| cache.services.get(&(m.namespace.clone(), n.to_owned())));
        if service.and_then(|s| s.primary_family()).is_some_and(|f| f != self.address_type) {
            return Group::empty(Self::source_of(&self.key()));
        }
        let mut labels = LabelMap::new();
        labels.insert("__meta_kubernetes_namespace".into(), m.namespace.clone());
        labels.insert(format!("{S}address_type"), self.address_type.clone());
        object_meta_labels(&mut labels, m, "endpointslice");
        if let Some(svc) = self.service_name() {
            service_labels(&mut labels, cache, &m.namespace, svc);
        }
        super::namespace::namespace_labels(&mut labels, cache, &m.namespace);
        let mut pods = PodPorts::default();
        let mut targets = Vec::new();
        for ep in &self.endpoints {
            for port in &self.ports {
                for addr in &ep.addresses {
                    let t = self.target(cache, &mut pods, ep, port, addr);
                    targets.push(t);
                }
            }
        }
        pods.uncovered(cache, &mut targets);
        super::group(Self::source_of(&self.key()), targets, labels)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kubernetes::endpoints::tests::cache_with;
    use crate::kubernetes::pod::tests::pod_json;
    use crate::kubernetes::service::tests::service_json;

    /// Slice `web-abc` of service `web`: pod web-1 (ready, two addresses)
    /// and an endpoint on a node with no conditions set.
    pub(crate) fn slice_json(ready: bool) -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": "web-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.2.3", "10.1.2.4"], "conditions": {"ready": ready, "serving": true, "terminating": false},
                 "hostname": "web-1", "nodeName": "n1", "zone": "z1", "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"},
                 "deprecatedTopology": {"topology.kubernetes.io/region": "r1"}},
                {"addresses": ["10.9.9.9"], "targetRef": {"kind": "Node", "name": "n2"}}
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]
        })
    }

    #[test]
    fn endpoints_by_port_and_address_with_service_and_pod_labels() {
        let cache = cache_with(&[(Kind::Pod, pod_json("web-1", "10.1.2.3", 8080)), (Kind::Service, service_json("web", "ClusterIP", 80))]);
        let g = serde_json::from_value::<EndpointSlice>(slice_json(true)).unwrap().group(&cache);
        assert_eq!(g.source, "endpointslice/default/web-abc");
        assert_eq!(g.labels.get("__meta_kubernetes_endpointslice_address_type"), "IPv4");
        assert_eq!(g.labels.get("__meta_kubernetes_endpointslice_name"), "web-abc");
        assert_eq!(g.labels.get("__meta_kubernetes_endpointslice_label_kubernetes_io_service_name"), "web");
        assert_eq!(g.labels.get("__meta_kubernetes_service_label_team"), "a");
        let t: Vec<String> = g
            .targets
            .iter()
            .map(|t| model::Labels::from_pairs(t.iter().filter(|l| !l.name.starts_with("__meta_kubernetes_pod_")).map(|l| (l.name, l.value))).to_string())
            .collect();
        let first = |addr: &str| {
            format!(
                concat!(
                    r#"{{__address__="{}:8080", __meta_kubernetes_endpointslice_address_target_kind="Pod", __meta_kubernetes_endpointslice_address_target_name="web-1", "#,
                    r#"__meta_kubernetes_endpointslice_endpoint_conditions_ready="true", __meta_kubernetes_endpointslice_endpoint_conditions_serving="true", "#,
                    r#"__meta_kubernetes_endpointslice_endpoint_conditions_terminating="false", __meta_kubernetes_endpointslice_endpoint_hostname="web-1", "#,
                    r#"__meta_kubernetes_endpointslice_endpoint_node_name="n1", __meta_kubernetes_endpointslice_endpoint_topology_present_topology_kubernetes_io_region="true", "#,
                    r#"__meta_kubernetes_endpointslice_endpoint_topology_topology_kubernetes_io_region="r1", __meta_kubernetes_endpointslice_endpoint_zone="z1", "#,
                    r#"__meta_kubernetes_endpointslice_port="8080", __meta_kubernetes_endpointslice_port_app_protocol="http", "#,
                    r#"__meta_kubernetes_endpointslice_port_name="http", __meta_kubernetes_endpointslice_port_protocol="TCP", __meta_kubernetes_namespace="default"}}"#
                ),
                addr
            )
        };
        assert_eq!(t[0], first("10.1.2.3"));
        assert_eq!(t[1], first("10.1.2.4"));
        assert_eq!(
            t[2],
            concat!(
                r#"{__address__="10.9.9.9:8080", __meta_kubernetes_endpointslice_address_target_kind="Node", __meta_kubernetes_endpointslice_address_target_name="n2", "#,
                r#"__meta_kubernetes_endpointslice_port="8080", __meta_kubernetes_endpointslice_port_app_protocol="http", "#,
                r#"__meta_kubernetes_endpointslice_port_name="http", __meta_kubernetes_endpointslice_port_protocol="TCP"}"#
            )
        );
        assert_eq!(g.targets[0].get("__meta_kubernetes_pod_container_port_name"), "http");
        assert_eq!(g.targets[0].get("__meta_kubernetes_pod_name"), "web-1");
        // Port 9001 of the pod, which the slice does not list.
        assert_eq!(g.targets.len(), 4);
        assert_eq!(g.targets[3].get("__address__"), "10.1.2.3:9001");
        assert_eq!(g.targets[3].get("__meta_kubernetes_endpointslice_port"), "");
    }

    /// Kubernetes makes one slice per family of a dual-stack service: only
    /// the first family's slices give targets.
    #[test]
    fn dual_stack_services_keep_their_primary_family() {
        for (policy, families, targets) in
            [("PreferDualStack", ["IPv6", "IPv4"], 0), ("RequireDualStack", ["IPv4", "IPv6"], 3), ("SingleStack", ["IPv6", "IPv4"], 3)]
        {
            let mut svc = service_json("web", "ClusterIP", 80);
            svc["spec"]["ipFamilyPolicy"] = policy.into();
            svc["spec"]["ipFamilies"] = serde_json::json!(families);
            let cache = cache_with(&[(Kind::Service, svc)]);
            let g = serde_json::from_value::<EndpointSlice>(slice_json(true)).unwrap().group(&cache);
            assert_eq!(g.targets.len(), targets, "{policy} {families:?}");
        }
    }

    #[test]
    fn a_port_without_number_leaves_the_bare_address() {
        let mut v = slice_json(false);
        v["ports"] = serde_json::json!([{"name": "any"}]);
        let g = serde_json::from_value::<EndpointSlice>(v).unwrap().group(&Cache::default());
        assert_eq!(g.targets[0].get("__address__"), "10.1.2.3");
        assert_eq!(g.targets[0].get("__meta_kubernetes_endpointslice_endpoint_conditions_ready"), "false");
        assert_eq!(g.targets[0].get("__meta_kubernetes_endpointslice_port"), "");
        assert_eq!(g.targets[0].get("__meta_kubernetes_endpointslice_port_name"), "any");
    }
}
