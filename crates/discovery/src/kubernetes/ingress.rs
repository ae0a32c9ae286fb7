//! The `ingress` role: one target per host and path of each rule, for
//! probing what the ingress serves. The address is the rule's host (no
//! port); the scheme is `https` when a TLS entry covers the host.

use serde::Deserialize;

use super::{Cache, Kind, LabelMap, ObjectMeta, Resource, Store, Target, object_meta_labels};
use crate::Group;

const I: &str = "__meta_kubernetes_ingress_";

/// The fields of a networking.k8s.io/v1 Ingress that become labels.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Ingress {
    metadata: ObjectMeta,
    spec: IngressSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IngressSpec {
    ingress_class_name: Option<String>,
    tls: Vec<IngressTls>,
    rules: Vec<IngressRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IngressTls {
    hosts: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IngressRule {
    host: String,
    /// Absent (not merely empty) means the rule serves every path.
    http: Option<HttpRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HttpRule {
    paths: Vec<HttpPath>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HttpPath {
    path: String,
}

impl Resource for Ingress {
    const ROLE: &'static str = "ingress";
    const PATH: &'static str = "apis/networking.k8s.io/v1";
    const PLURAL: &'static str = "ingresses";

    const KIND: Kind = Kind::Ingress;

    super::stored_in!(ingresses);
}

impl Target for Ingress {
    fn group(&self, cache: &Cache) -> Group {
        let (m, spec) = (&self.metadata, &self.spec);
        let mut labels = LabelMap::new();
        labels.insert("__meta_kubernetes_namespace".into(), m.namespace.clone());
        super::namespace::namespace_labels(&mut labels, cache, &m.namespace);
        object_meta_labels(&mut labels, m, "ingress");
        if let Some(class) = &spec.ingress_class_name {
            labels.insert(format!("{I}class_name"), class.clone());
        }
        let mut targets = Vec::new();
        for rule in &spec.rules {
            let tls = spec.tls.iter().flat_map(|t| &t.hosts).any(|pattern| host_matches(pattern, &rule.host));
            let paths: Vec<&str> = match &rule.http {
                None => vec!["/"],
                Some(h) => h.paths.iter().map(|p| if p.path.is_empty() { "/" } else { p.path.as_str() }).collect(),
            };
            for path in paths {
                let mut t = LabelMap::new();
                t.insert("__address__".into(), rule.host.clone());
                t.insert(format!("{I}scheme"), if tls { "https" } else { "http" }.into());
                t.insert(format!("{I}host"), rule.host.clone());
                t.insert(format!("{I}path"), path.to_owned());
                targets.push(t);
            }
        }
        super::group(Self::source_of(&self.key()), targets, labels)
    }
}

/// Whether a TLS host entry covers `host`: equal, or a `*.` wildcard for
/// exactly one leading label.
fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    // A wildcard stands for exactly the first label: `*.example.com`
    // covers `a.example.com`, and a bare `*` any host without a dot.
    let (p, h): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), host.split('.').collect());
    p.len() == h.len() && p[0] == "*" && p[1..] == h[1..]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_target_per_rule_path_with_the_tls_scheme() {
        let v = serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["*.example.com"]}],
                "rules": [
                    {"host": "a.example.com", "http": {"paths": [{"path": "/api"}, {"path": ""}]}},
                    {"host": "plain.test"},
                    {"host": "b.c.example.com", "http": {"paths": []}}
                ]
            }
        });
        let g = serde_json::from_value::<Ingress>(v).unwrap().group(&Cache::default());
        assert_eq!(g.source, "ingress/default/web");
        assert_eq!(
            g.labels.to_string(),
            concat!(
                r#"{__meta_kubernetes_ingress_class_name="nginx", __meta_kubernetes_ingress_label_app="web", "#,
                r#"__meta_kubernetes_ingress_labelpresent_app="true", __meta_kubernetes_ingress_name="web", __meta_kubernetes_namespace="default"}"#
            )
        );
        let t: Vec<String> = g.targets.iter().map(ToString::to_string).collect();
        assert_eq!(
            t,
            [
                r#"{__address__="a.example.com", __meta_kubernetes_ingress_host="a.example.com", __meta_kubernetes_ingress_path="/api", __meta_kubernetes_ingress_scheme="https"}"#,
                r#"{__address__="a.example.com", __meta_kubernetes_ingress_host="a.example.com", __meta_kubernetes_ingress_path="/", __meta_kubernetes_ingress_scheme="https"}"#,
                r#"{__address__="plain.test", __meta_kubernetes_ingress_host="plain.test", __meta_kubernetes_ingress_path="/", __meta_kubernetes_ingress_scheme="http"}"#,
            ]
        );
        assert!(!host_matches("*.example.com", "b.c.example.com"));
        assert!(host_matches("x.test", "x.test"));
        assert!(host_matches("*", "localhost") && !host_matches("*", "a.b"));
    }
}
