//! The `endpoints` role: one target per address and port of each subset of
//! an Endpoints object, carrying the labels of the service of the same name
//! and, when the address points at a pod, of that pod and of its container
//! port that serves the endpoint's port. A pod's container ports that no
//! endpoint port covers become targets of their own, so that a metrics port
//! the service does not expose can still be scraped.

use serde::Deserialize;

use super::pod::Pod;
use super::{Cache, Key, Kind, LabelMap, ObjectMeta, Resource, Store, Target, object_meta_labels};
use crate::Group;
use crate::targetgroup::join_host_port;

const E: &str = "__meta_kubernetes_endpoint_";

/// The fields of a v1 Endpoints object that become labels.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Endpoints {
    metadata: ObjectMeta,
    subsets: Vec<Subset>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Subset {
    addresses: Vec<Address>,
    not_ready_addresses: Vec<Address>,
    ports: Vec<EndpointPort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Address {
    ip: String,
    hostname: String,
    node_name: Option<String>,
    target_ref: Option<ObjectReference>,
}

/// A reference from an endpoint to the object behind it (a pod, mostly).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ObjectReference {
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EndpointPort {
    pub(crate) name: String,
    pub(crate) port: i32,
    pub(crate) protocol: String,
}

impl Address {
    /// The node behind the endpoint: the one named, or the one referenced
    /// (a kubelet's endpoints).
    fn node(&self) -> Option<&str> {
        self.node_name.as_deref().or_else(|| self.target_ref.as_ref().filter(|r| r.kind == "Node").map(|r| r.name.as_str()))
    }
}

impl Resource for Endpoints {
    const ROLE: &'static str = "endpoints";
    const PATH: &'static str = "api/v1";
    const PLURAL: &'static str = "endpoints";
    const KIND: Kind = Kind::Endpoints;

    super::stored_in!(endpoints);
}

impl Target for Endpoints {
    fn related(&self, kind: Kind) -> Vec<Key> {
        let addresses = self.subsets.iter().flat_map(|s| s.addresses.iter().chain(&s.not_ready_addresses));
        match kind {
            Kind::Service => vec![self.key()],
            Kind::Pod => addresses.filter_map(|a| a.target_ref.as_ref().filter(|r| r.kind == "Pod")).map(|r| (r.namespace.clone(), r.name.clone())).collect(),
            Kind::Node => addresses.filter_map(Address::node).map(|n| (String::new(), n.to_owned())).collect(),
            _ => Vec::new(),
        }
    }

    fn group(&self, cache: &Cache) -> Group {
        let m = &self.metadata;
        let mut labels = LabelMap::new();
        labels.insert("__meta_kubernetes_namespace".into(), m.namespace.clone());
        object_meta_labels(&mut labels, m, "endpoints");
        service_labels(&mut labels, cache, &m.namespace, &m.name);
        super::namespace::namespace_labels(&mut labels, cache, &m.namespace);
        let mut pods = PodPorts::default();
        let mut targets = Vec::new();
        for subset in &self.subsets {
            for (addresses, ready) in [(&subset.addresses, "true"), (&subset.not_ready_addresses, "false")] {
                for addr in addresses {
                    for port in &subset.ports {
                        let mut t = LabelMap::new();
                        t.insert("__address__".into(), join_host_port(&addr.ip, port.port));
                        t.insert(format!("{E}port_name"), port.name.clone());
                        t.insert(format!("{E}port_protocol"), port.protocol.clone());
                        t.insert(format!("{E}ready"), ready.into());
                        if let Some(r) = &addr.target_ref {
                            t.insert(format!("{E}address_target_kind"), r.kind.clone());
                            t.insert(format!("{E}address_target_name"), r.name.clone());
                        }
                        if let Some(n) = &addr.node_name {
                            t.insert(format!("{E}node_name"), n.clone());
                        }
                        if !addr.hostname.is_empty() {
                            t.insert(format!("{E}hostname"), addr.hostname.clone());
                        }
                        if let Some(n) = addr.node() {
                            super::node_labels(&mut t, cache, n);
                        }
                        pods.add(&mut t, cache, addr.target_ref.as_ref(), Some(port.port));
                        targets.push(t);
                    }
                }
            }
        }
        pods.uncovered(cache, &mut targets);
        super::group(Self::source_of(&self.key()), targets, labels)
    }
}

/// `__meta_kubernetes_service_*` of the service `name`, when it is known.
pub(crate) fn service_labels(l: &mut LabelMap, cache: &Cache, namespace: &str, name: &str) {
    if let Some(svc) = cache.services.get(&(namespace.to_owned(), name.to_owned())) {
        object_meta_labels(l, svc.meta(), "service");
    }
}

/// The pods behind a group's endpoints and the port numbers the
/// endpoints covered, in the order the pods were first seen.
#[derive(Default)]
pub(crate) struct PodPorts<'a> {
    seen: Vec<(&'a Pod, Vec<i32>)>,
}

impl<'a> PodPorts<'a> {
    /// Adds the labels of the pod an endpoint refers to, and of the
    /// container port serving the endpoint's port, to its target. Ports
    /// match by number only; when several containers declare the number,
    /// the last one's labels stay, as in Prometheus.
    pub(crate) fn add(&mut self, t: &mut LabelMap, cache: &'a Cache, target_ref: Option<&ObjectReference>, port: Option<i32>) {
        let Some(r) = target_ref.filter(|r| r.kind == "Pod") else { return };
        let Some(pod) = cache.pods.get(&(r.namespace.clone(), r.name.clone())) else { return };
        let i = match self.seen.iter().position(|(p, _)| std::ptr::eq(*p, pod)) {
            Some(i) => i,
            None => {
                self.seen.push((pod, Vec::new()));
                self.seen.len() - 1
            }
        };
        t.extend(pod.pod_labels_with(cache));
        let Some(port) = port else { return };
        // The first port of a container that matches; when several
        // containers match, the last one's labels stay, as in Prometheus.
        // Container names are unique within a pod.
        let mut matched: Option<&str> = None;
        for (c, init, cport) in pod.container_ports() {
            if i32::from(cport.container_port) == port && matched != Some(c.name()) {
                t.extend(pod.container_labels(c, init, cport, false));
                matched = Some(c.name());
            }
        }
        self.seen[i].1.push(port);
    }

    /// A target for each container port, of the pods seen, whose number no
    /// endpoint covered. A pod without an IP has none.
    pub(crate) fn uncovered(self, cache: &Cache, targets: &mut Vec<LabelMap>) {
        for (pod, covered) in self.seen {
            if pod.ip().is_empty() {
                continue;
            }
            for (c, init, cport) in pod.container_ports() {
                if covered.contains(&i32::from(cport.container_port)) {
                    continue;
                }
                let mut t = pod.pod_labels_with(cache);
                t.extend(pod.container_labels(c, init, cport, false));
                t.insert("__address__".into(), join_host_port(pod.ip(), cport.container_port));
                targets.push(t);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kubernetes::pod::tests::pod_json;
    use crate::kubernetes::service::tests::service_json;

    /// Endpoints `web` in `default`: pod web-1 ready on 8080 and 9001, and
    /// an address without a pod (not ready) on a node.
    pub(crate) fn endpoints_json(pod_ip: &str) -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"note": "x"}},
            "subsets": [{
                "addresses": [{"ip": pod_ip, "nodeName": "n1", "hostname": "web-1", "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}}],
                "notReadyAddresses": [{"ip": "10.9.9.9", "targetRef": {"kind": "Node", "name": "n2"}}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]
            }]
        })
    }

    pub(crate) fn cache_with(objects: &[(Kind, serde_json::Value)]) -> Cache {
        let mut c = Cache::default();
        for (kind, v) in objects {
            match kind {
                Kind::Pod => {
                    let o: Pod = serde_json::from_value(v.clone()).unwrap();
                    c.pods.insert(o.key(), o);
                }
                Kind::Service => {
                    let o: crate::kubernetes::Service = serde_json::from_value(v.clone()).unwrap();
                    c.services.insert(o.key(), o);
                }
                Kind::Node => {
                    let o: crate::kubernetes::Node = serde_json::from_value(v.clone()).unwrap();
                    c.nodes.insert(o.key(), o);
                }
                Kind::Namespace => {
                    let o: crate::kubernetes::Namespace = serde_json::from_value(v.clone()).unwrap();
                    c.namespaces.insert(o.key(), o);
                }
                _ => unreachable!(),
            }
        }
        c
    }

    fn strings(g: &Group) -> Vec<String> {
        g.targets.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn addresses_by_port_with_service_and_pod_labels() {
        let mut pod = pod_json("web-1", "10.1.2.3", 8080);
        pod["metadata"]["labels"] = serde_json::json!({"tier": "front"});
        pod["metadata"]["annotations"] = serde_json::json!({});
        pod["metadata"]["ownerReferences"] = serde_json::json!([]);
        let cache = cache_with(&[(Kind::Pod, pod), (Kind::Service, service_json("web", "ClusterIP", 80))]);
        let ep: Endpoints = serde_json::from_value(endpoints_json("10.1.2.3")).unwrap();
        let g = ep.group(&cache);
        assert_eq!(g.source, "endpoints/default/web");
        assert_eq!(
            g.labels.to_string(),
            concat!(
                r#"{__meta_kubernetes_endpoints_annotation_note="x", __meta_kubernetes_endpoints_annotationpresent_note="true", "#,
                r#"__meta_kubernetes_endpoints_label_app="web", __meta_kubernetes_endpoints_labelpresent_app="true", __meta_kubernetes_endpoints_name="web", "#,
                r#"__meta_kubernetes_namespace="default", __meta_kubernetes_service_annotation_prometheus_io_probe="true", "#,
                r#"__meta_kubernetes_service_annotationpresent_prometheus_io_probe="true", __meta_kubernetes_service_label_team="a", "#,
                r#"__meta_kubernetes_service_labelpresent_team="true", __meta_kubernetes_service_name="web"}"#
            )
        );
        let pod = concat!(
            r#"__meta_kubernetes_pod_host_ip="10.0.0.1", __meta_kubernetes_pod_ip="10.1.2.3", "#,
            r#"__meta_kubernetes_pod_label_tier="front", __meta_kubernetes_pod_labelpresent_tier="true", __meta_kubernetes_pod_name="web-1", "#,
            r#"__meta_kubernetes_pod_node_name="n1", __meta_kubernetes_pod_phase="Running", __meta_kubernetes_pod_ready="true", __meta_kubernetes_pod_uid="u-1""#
        );
        assert_eq!(
            strings(&g),
            [
                format!(
                    concat!(
                        r#"{{__address__="10.1.2.3:8080", __meta_kubernetes_endpoint_address_target_kind="Pod", __meta_kubernetes_endpoint_address_target_name="web-1", "#,
                        r#"__meta_kubernetes_endpoint_hostname="web-1", __meta_kubernetes_endpoint_node_name="n1", __meta_kubernetes_endpoint_port_name="http", "#,
                        r#"__meta_kubernetes_endpoint_port_protocol="TCP", __meta_kubernetes_endpoint_ready="true", __meta_kubernetes_namespace="default", "#,
                        r#"__meta_kubernetes_pod_container_image="app:1", __meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="app", "#,
                        r#"__meta_kubernetes_pod_container_port_name="http", __meta_kubernetes_pod_container_port_number="8080", "#,
                        r#"__meta_kubernetes_pod_container_port_protocol="TCP", {}}}"#
                    ),
                    pod
                ),
                concat!(
                    r#"{__address__="10.9.9.9:8080", __meta_kubernetes_endpoint_address_target_kind="Node", __meta_kubernetes_endpoint_address_target_name="n2", "#,
                    r#"__meta_kubernetes_endpoint_port_name="http", __meta_kubernetes_endpoint_port_protocol="TCP", __meta_kubernetes_endpoint_ready="false"}"#
                )
                .to_owned(),
                // The pod's port 9001 no endpoint covers.
                format!(
                    concat!(
                        r#"{{__address__="10.1.2.3:9001", __meta_kubernetes_namespace="default", __meta_kubernetes_pod_container_image="app:1", "#,
                        r#"__meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="app", "#,
                        r#"__meta_kubernetes_pod_container_port_number="9001", __meta_kubernetes_pod_container_port_protocol="UDP", {}}}"#
                    ),
                    pod
                ),
            ]
        );
        // Without the service and the pod, only the endpoints' own labels.
        let g = ep.group(&Cache::default());
        assert!(g.labels.get("__meta_kubernetes_service_name").is_empty());
        assert_eq!(g.targets.len(), 2);
        assert!(g.targets[0].get("__meta_kubernetes_pod_name").is_empty());
    }

    /// CoreDNS declares port 53 twice in one container (UDP `dns`, TCP
    /// `dns-tcp`): the first one names the target.
    #[test]
    fn the_first_matching_port_of_a_container_counts() {
        let mut pod = pod_json("web-1", "10.1.2.3", 8080);
        pod["spec"]["containers"] = serde_json::json!([{"name": "coredns", "image": "c:1", "ports": [
            {"name": "dns", "containerPort": 8080, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 8080, "protocol": "TCP"}]}]);
        let cache = cache_with(&[(Kind::Pod, pod)]);
        let g = serde_json::from_value::<Endpoints>(endpoints_json("10.1.2.3")).unwrap().group(&cache);
        assert_eq!(g.targets[0].get("__meta_kubernetes_pod_container_port_name"), "dns");
    }

    #[test]
    fn attached_node_metadata_follows_the_address() {
        let node = serde_json::json!({"metadata": {"name": "n1", "labels": {"zone": "a"}, "annotations": {"rack": "7"}}});
        let node2 = serde_json::json!({"metadata": {"name": "n2", "labels": {"zone": "b"}}});
        let cache = cache_with(&[(Kind::Node, node), (Kind::Node, node2)]);
        let g = serde_json::from_value::<Endpoints>(endpoints_json("10.1.2.3")).unwrap().group(&cache);
        let t = &g.targets[0];
        assert_eq!((t.get("__meta_kubernetes_node_name"), t.get("__meta_kubernetes_node_label_zone")), ("n1", "a"));
        assert_eq!((t.get("__meta_kubernetes_node_annotation_rack"), t.get("__meta_kubernetes_node_annotationpresent_rack")), ("7", "true"));
        assert_eq!(g.targets[1].get("__meta_kubernetes_node_label_zone"), "b");
    }
}
