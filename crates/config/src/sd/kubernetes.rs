//! `kubernetes_sd_configs`: nodes, pods, services, endpoints, endpoint
//! slices or ingresses, watched through the Kubernetes API.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::k8s_selector::{check_field_selector, check_label_selector};
use crate::http::{HttpClientConfig, Url};

string_enum!(
    /// The kind of object whose instances become targets.
    KubernetesRole,
    "unknown Kubernetes SD role {}",
    {
        Node => "node",
        Pod => "pod",
        Service => "service",
        Endpoints => "endpoints",
        EndpointSlice => "endpointslice",
        Ingress => "ingress",
    }
);

impl KubernetesRole {
    /// The roles whose selectors a discovery of this role may use (a pod
    /// discovery may filter the nodes it attaches metadata from).
    pub fn allowed_selectors(self) -> &'static [&'static str] {
        match self {
            KubernetesRole::Pod => &["pod", "node"],
            KubernetesRole::Service => &["service"],
            KubernetesRole::EndpointSlice => &["pod", "service", "endpointslice"],
            KubernetesRole::Endpoints => &["pod", "service", "endpoints"],
            KubernetesRole::Node => &["node"],
            KubernetesRole::Ingress => &["ingress"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "kubernetes.plain", deny_unknown_fields, default)]
pub struct KubernetesSdConfig {
    /// Absent: Prometheus runs in the cluster and uses its service account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<Url>,
    pub role: Option<KubernetesRole>,
    pub kubeconfig_file: String,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub namespaces: NamespaceDiscovery,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<SelectorConfig>,
    pub attach_metadata: AttachMetadataConfig,
}

/// Which namespaces to watch; none listed means all of them.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "kubernetes.plain", deny_unknown_fields, default)]
pub struct NamespaceDiscovery {
    /// Adds the namespace Prometheus itself runs in.
    pub own_namespace: bool,
    pub names: Vec<String>,
}

/// Label and field selectors for the objects of one role.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "kubernetes.SelectorConfig", deny_unknown_fields, default)]
pub struct SelectorConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<KubernetesRole>,
    pub label: String,
    pub field: String,
}

/// Metadata of related objects to add to each target.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "kubernetes.AttachMetadataConfig", deny_unknown_fields, default)]
pub struct AttachMetadataConfig {
    /// For the pod, endpoints and endpointslice roles.
    pub node: bool,
    /// For every role but node.
    pub namespace: bool,
    /// The deployment of a pod's ReplicaSet, for the roles with pods.
    pub deployment: bool,
    /// The job that runs a pod.
    pub job: bool,
    /// The cron job of a pod's job.
    pub cronjob: bool,
}

impl KubernetesSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        let Some(role) = self.role else {
            return Err("role missing (one of: pod, service, endpoints, endpointslice, node, ingress)".into());
        };
        self.http_client_config.validate()?;
        let custom_http = self.http_client_config != HttpClientConfig::default();
        let kubeconfig = !self.kubeconfig_file.is_empty();
        let api_server = self.api_server.is_some();
        let own_namespace = self.namespaces.own_namespace;
        if api_server && kubeconfig {
            return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into());
        }
        if kubeconfig && custom_http {
            return Err("cannot use a custom HTTP client configuration together with 'kubeconfig_file'".into());
        }
        // The in-cluster client takes its credentials from the pod.
        if !api_server && custom_http {
            return Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into());
        }
        // Only the in-cluster client knows which namespace it runs in.
        if api_server && own_namespace {
            return Err("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into());
        }
        if kubeconfig && own_namespace {
            return Err("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into());
        }

        let allowed = role.allowed_selectors();
        let mut seen: Vec<&str> = Vec::new();
        for selector in &self.selectors {
            let selector_role = selector.role.map_or("", KubernetesRole::as_str);
            if seen.contains(&selector_role) {
                return Err(format!("duplicated selector role: {selector_role}"));
            }
            seen.push(selector_role);
            if !allowed.contains(&selector_role) {
                return Err(format!("{role} role supports only {} selectors", allowed.join(", ")));
            }
            check_field_selector(&selector.field)?;
            check_label_selector(&selector.label)?;
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        crate::join_dir(dir, &mut self.kubeconfig_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn check(text: &str) -> Result<KubernetesSdConfig, String> {
        let mut c: KubernetesSdConfig = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn role_is_required_and_checked() {
        assert!(check("role: endpoints\n").is_ok());
        assert!(check("api_server: kubernetes:443\nrole: vacation\n").unwrap_err().contains(r#"unknown Kubernetes SD role "vacation""#));
        assert_eq!(check("api_server: https://k\n").unwrap_err(), "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)");
        let e = check("role: endpoints\nnamespaces:\n  foo: bar\n").unwrap_err();
        assert!(e.contains("field foo not found in type kubernetes.plain"), "{e}");
    }

    #[test]
    fn client_sources_exclude_each_other() {
        let e = |t| check(t).unwrap_err();
        assert_eq!(
            e("role: pod\nauthorization:\n  credentials: x\n"),
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"
        );
        assert_eq!(e("role: pod\napi_server: https://k\nkubeconfig_file: /k\n"), "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
        assert_eq!(
            e("role: pod\nkubeconfig_file: /k\nbasic_auth: {username: u}\n"),
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
        );
        assert_eq!(
            e("role: pod\napi_server: https://k\nnamespaces: {own_namespace: true}\n"),
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"
        );
        assert_eq!(
            e("role: pod\nkubeconfig_file: /k\nnamespaces: {own_namespace: true}\n"),
            "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously"
        );
        assert_eq!(
            e("role: pod\napi_server: https://k\nbearer_token: a\nbasic_auth: {username: u}\n"),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
        );
        assert!(check("role: node\napi_server: https://k\ntls_config: {insecure_skip_verify: true}\n").is_ok());
        assert!(check("role: node\nkubeconfig_file: /k\n").is_ok());
    }

    #[test]
    fn selectors_follow_the_role() {
        let sel = |role: &str, sels: &str| check(&format!("role: {role}\nselectors:\n{sels}"));
        let pod = "  - role: pod\n    label: foo=bar\n    field: metadata.status=Running\n";
        let node = "  - role: node\n    label: foo=bar\n";
        let service = "  - role: service\n    label: 'baz=que'\n";
        assert!(sel("pod", pod).is_ok());
        assert!(sel("pod", node).is_ok());
        assert_eq!(sel("pod", &format!("{node}{service}")).unwrap_err(), "pod role supports only pod, node selectors");
        assert_eq!(sel("endpoints", node).unwrap_err(), "endpoints role supports only pod, service, endpoints selectors");
        assert_eq!(sel("endpointslice", node).unwrap_err(), "endpointslice role supports only pod, service, endpointslice selectors");
        assert_eq!(sel("ingress", node).unwrap_err(), "ingress role supports only ingress selectors");
        assert_eq!(sel("node", pod).unwrap_err(), "node role supports only node selectors");
        assert_eq!(sel("service", pod).unwrap_err(), "service role supports only service selectors");
        assert_eq!(sel("endpoints", &format!("{pod}{pod}")).unwrap_err(), "duplicated selector role: pod");
        assert_eq!(
            sel("endpoints", "  - role: pod\n    field: metadata.status-Running\n").unwrap_err(),
            "invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'"
        );
        assert!(sel("pod", "  - role: pod\n    label: foo in (bar,baz)\n").is_ok());
        assert_eq!(sel("pod", "  - label: a=b\n").unwrap_err(), "pod role supports only pod, node selectors");
    }

    #[test]
    fn kubeconfig_follows_the_config_file() {
        let mut c = check("role: pod\nkubeconfig_file: kube/config\n").unwrap();
        c.set_directory(Path::new("/etc/prometheus"));
        assert_eq!(c.kubeconfig_file, "/etc/prometheus/kube/config");
    }
}
