//! The `service` role: one target per service port, addressed by the
//! service's cluster DNS name (`<name>.<namespace>.svc:<port>`), so that
//! probes such as the blackbox exporter's reach it through the cluster.

use serde::Deserialize;

use super::{Cache, Key, Kind, LabelMap, ObjectMeta, Resource, Store, Target, object_meta_labels};
use crate::Group;
use crate::targetgroup::join_host_port;

const S: &str = "__meta_kubernetes_service_";

/// The fields of a Service that become labels.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Service {
    metadata: ObjectMeta,
    spec: ServiceSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ServiceSpec {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "clusterIP")]
    cluster_ip: String,
    external_name: String,
    #[serde(rename = "loadBalancerIP")]
    load_balancer_ip: String,
    ports: Vec<ServicePort>,
    ip_family_policy: Option<String>,
    ip_families: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServicePort {
    name: String,
    port: i32,
    protocol: String,
}

impl Resource for Service {
    const ROLE: &'static str = "service";
    const PATH: &'static str = "api/v1";
    const PLURAL: &'static str = "services";

    const KIND: Kind = Kind::Service;

    super::stored_in!(services);

    /// Endpoints carry the service's labels, and endpoint slices are kept
    /// or dropped by its IP families.
    fn same_for_users(&self, other: &Self) -> bool {
        let (a, b) = (&self.metadata, &other.metadata);
        a.labels == b.labels
            && a.annotations == b.annotations
            && self.spec.ip_family_policy == other.spec.ip_family_policy
            && self.spec.ip_families == other.spec.ip_families
    }
}

impl Service {
    /// The IP family of a dual-stack service's first family, whose slices
    /// are the only ones that count: Kubernetes makes one slice per family,
    /// which would otherwise give each endpoint twice.
    pub(crate) fn primary_family(&self) -> Option<&str> {
        let dual = matches!(self.spec.ip_family_policy.as_deref(), Some("PreferDualStack" | "RequireDualStack"));
        self.spec.ip_families.first().map(String::as_str).filter(|_| dual)
    }
}

impl Target for Service {
    /// Prometheus abbreviates the role in this source only.
    fn source_of(key: &Key) -> String {
        format!("svc/{}/{}", key.0, key.1)
    }

    fn group(&self, cache: &Cache) -> Group {
        let (m, spec) = (&self.metadata, &self.spec);
        let mut labels = LabelMap::new();
        labels.insert("__meta_kubernetes_namespace".into(), m.namespace.clone());
        super::namespace::namespace_labels(&mut labels, cache, &m.namespace);
        object_meta_labels(&mut labels, m, "service");
        let host = format!("{}.{}.svc", m.name, m.namespace);
        let targets = spec
            .ports
            .iter()
            .map(|port| {
                let mut t = LabelMap::new();
                t.insert("__address__".into(), join_host_port(&host, port.port));
                t.insert(format!("{S}port_name"), port.name.clone());
                t.insert(format!("{S}port_number"), port.port.to_string());
                t.insert(format!("{S}port_protocol"), port.protocol.clone());
                t.insert(format!("{S}type"), spec.kind.clone());
                // An ExternalName service is a DNS alias with no cluster IP.
                if spec.kind == "ExternalName" {
                    t.insert(format!("{S}external_name"), spec.external_name.clone());
                } else {
                    t.insert(format!("{S}cluster_ip"), spec.cluster_ip.clone());
                }
                if spec.kind == "LoadBalancer" {
                    t.insert(format!("{S}loadbalancer_ip"), spec.load_balancer_ip.clone());
                }
                t
            })
            .collect();
        super::group(Self::source_of(&self.key()), targets, labels)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn service_json(name: &str, kind: &str, port: i32) -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "labels": {"team": "a"}, "annotations": {"prometheus.io/probe": "true"}},
            "spec": {
                "type": kind, "clusterIP": "10.96.0.10", "externalName": "db.example.com", "loadBalancerIP": "1.2.3.4",
                "ports": [{"name": "http", "port": port, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]
            }
        })
    }

    #[test]
    fn one_target_per_port_at_the_cluster_name() {
        let g = serde_json::from_value::<Service>(service_json("web", "ClusterIP", 80)).unwrap().group(&Cache::default());
        assert_eq!(g.source, "svc/default/web");
        assert_eq!(
            g.labels.to_string(),
            concat!(
                r#"{__meta_kubernetes_namespace="default", __meta_kubernetes_service_annotation_prometheus_io_probe="true", "#,
                r#"__meta_kubernetes_service_annotationpresent_prometheus_io_probe="true", __meta_kubernetes_service_label_team="a", "#,
                r#"__meta_kubernetes_service_labelpresent_team="true", __meta_kubernetes_service_name="web"}"#
            )
        );
        let t: Vec<String> = g.targets.iter().map(ToString::to_string).collect();
        assert_eq!(
            t,
            [
                concat!(
                    r#"{__address__="web.default.svc:80", __meta_kubernetes_service_cluster_ip="10.96.0.10", __meta_kubernetes_service_port_name="http", "#,
                    r#"__meta_kubernetes_service_port_number="80", __meta_kubernetes_service_port_protocol="TCP", __meta_kubernetes_service_type="ClusterIP"}"#
                ),
                concat!(
                    r#"{__address__="web.default.svc:53", __meta_kubernetes_service_cluster_ip="10.96.0.10", "#,
                    r#"__meta_kubernetes_service_port_number="53", __meta_kubernetes_service_port_protocol="UDP", __meta_kubernetes_service_type="ClusterIP"}"#
                ),
            ]
        );
        let ext = serde_json::from_value::<Service>(service_json("db", "ExternalName", 5432)).unwrap().group(&Cache::default());
        assert_eq!(ext.targets[0].get("__meta_kubernetes_service_external_name"), "db.example.com");
        assert_eq!(ext.targets[0].get("__meta_kubernetes_service_cluster_ip"), "");
        let lb = serde_json::from_value::<Service>(service_json("lb", "LoadBalancer", 443)).unwrap().group(&Cache::default());
        assert_eq!(lb.targets[0].get("__meta_kubernetes_service_loadbalancer_ip"), "1.2.3.4");
    }
}
