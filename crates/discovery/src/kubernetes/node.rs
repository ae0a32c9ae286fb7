//! The `node` role: one target per node, at its preferred address and the
//! kubelet's port, with `instance` set to the node name. A node with no
//! address is sent as an empty group.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Cache, Key, Kind, LabelMap, ObjectMeta, Resource, Store, Target, object_meta_labels};
use crate::Group;
use crate::targetgroup::{join_host_port, sanitize_label_name};

/// Address types in the order Prometheus prefers them for the target.
const ADDRESS_PREFERENCE: [&str; 6] = ["InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"];

/// The fields of a Node that become labels.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Node {
    metadata: ObjectMeta,
    spec: NodeSpec,
    status: NodeStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodeSpec {
    #[serde(rename = "providerID")]
    provider_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodeStatus {
    addresses: Vec<NodeAddress>,
    daemon_endpoints: DaemonEndpoints,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeAddress {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DaemonEndpoints {
    kubelet_endpoint: KubeletEndpoint,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct KubeletEndpoint {
    port: i32,
}

impl Node {
    /// The first address of the most preferred type.
    fn address(&self) -> Option<&str> {
        ADDRESS_PREFERENCE.iter().find_map(|t| self.status.addresses.iter().find(|a| a.kind == *t)).map(|a| a.address.as_str())
    }
}

impl Resource for Node {
    const ROLE: &'static str = "node";
    const PATH: &'static str = "api/v1";
    const PLURAL: &'static str = "nodes";

    const KIND: Kind = Kind::Node;

    super::stored_in!(nodes);
}

impl Target for Node {
    fn keeps_last_group(&self) -> bool {
        self.address().is_none()
    }

    /// Nodes belong to no namespace.
    fn source_of(key: &Key) -> String {
        format!("node/{}", key.1)
    }

    fn group(&self, _cache: &Cache) -> Group {
        let m = &self.metadata;
        let mut labels = LabelMap::new();
        labels.insert("__meta_kubernetes_node_provider_id".into(), self.spec.provider_id.clone());
        object_meta_labels(&mut labels, m, "node");
        // The first address of each type, as the label for that type.
        let mut by_type: BTreeMap<&str, &str> = BTreeMap::new();
        for a in &self.status.addresses {
            by_type.entry(a.kind.as_str()).or_insert(a.address.as_str());
        }
        let Some(addr) = self.address() else {
            tracing::warn!(component = "discovery manager", discovery = "kubernetes", role = "node", node = %m.name, err = "host address unknown", "No node address found");
            return super::group(Self::source_of(&self.key()), Vec::new(), labels);
        };
        let mut t = LabelMap::new();
        t.insert("__address__".into(), join_host_port(addr, self.status.daemon_endpoints.kubelet_endpoint.port));
        t.insert("instance".into(), m.name.clone());
        for (kind, a) in &by_type {
            t.insert(format!("__meta_kubernetes_node_address_{}", sanitize_label_name(kind)), (*a).to_owned());
        }
        super::group(Self::source_of(&self.key()), vec![t], labels)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn node_json(name: &str, internal_ip: &str) -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"providerID": "aws:///eu-west-1a/i-1"},
            "status": {
                "addresses": [
                    {"type": "Hostname", "address": "host-1"},
                    {"type": "InternalIP", "address": internal_ip},
                    {"type": "InternalIP", "address": "10.0.0.99"}
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
            }
        })
    }

    #[test]
    fn the_preferred_address_and_the_kubelet_port() {
        let g = serde_json::from_value::<Node>(node_json("n1", "10.0.0.1")).unwrap().group(&Cache::default());
        assert_eq!(g.source, "node/n1");
        assert_eq!(
            g.labels.to_string(),
            concat!(
                r#"{__meta_kubernetes_node_label_kubernetes_io_os="linux", __meta_kubernetes_node_labelpresent_kubernetes_io_os="true", "#,
                r#"__meta_kubernetes_node_name="n1", __meta_kubernetes_node_provider_id="aws:///eu-west-1a/i-1"}"#
            )
        );
        assert_eq!(
            g.targets[0].to_string(),
            concat!(
                r#"{__address__="10.0.0.1:10250", __meta_kubernetes_node_address_Hostname="host-1", "#,
                r#"__meta_kubernetes_node_address_InternalIP="10.0.0.1", instance="n1"}"#
            )
        );
        let mut v = node_json("n3", "x");
        v["status"]["addresses"] = serde_json::json!([{"type": "ExternalDNS", "address": "n3.example.com"}, {"type": "ExternalIP", "address": "1.2.3.4"}]);
        let g = serde_json::from_value::<Node>(v).unwrap().group(&Cache::default());
        assert_eq!(g.targets[0].get("__address__"), "1.2.3.4:10250");
        let mut v = node_json("n2", "x");
        v["status"]["addresses"] = serde_json::json!([]);
        let g = serde_json::from_value::<Node>(v).unwrap().group(&Cache::default());
        assert!(g.targets.is_empty() && g.source == "node/n2");
    }
}
