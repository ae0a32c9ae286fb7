//! `kubeconfig_file`: the API server and credentials of the file's current
//! context, turned into the HTTP client config every other request uses.
//! Certificates and keys may be inline (base64 `*-data`) or files relative
//! to the kubeconfig's folder; tokens, token files, basic auth and exec
//! credential plugins are supported. Auth-provider plugins are refused with
//! client-go's own errors, since Prometheus builds in none that still works
//! (client-go's gcp provider is a stub that only points to its exec
//! replacement). Like Prometheus, only the file named is read: neither
//! `$KUBECONFIG` nor `~/.kube/config` is merged in.

use std::path::Path;

use base64::Engine;
use config::http::BasicAuth;
use config::{HttpClientConfig, Secret};
use serde::Deserialize;

use super::exec::{ClusterInfo, ExecConfig};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct KubeConfig {
    current_context: String,
    clusters: Vec<NamedCluster>,
    contexts: Vec<NamedContext>,
    users: Vec<NamedUser>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: String,
    certificate_authority_data: String,
    insecure_skip_tls_verify: bool,
    tls_server_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    token: String,
    #[serde(rename = "tokenFile")]
    token_file: String,
    client_certificate: String,
    client_certificate_data: String,
    client_key: String,
    client_key_data: String,
    username: String,
    password: String,
    exec: Option<ExecConfig>,
    auth_provider: Option<AuthProvider>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthProvider {
    name: String,
}

/// What a kubeconfig says about reaching its current cluster.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) server: String,
    pub(crate) http: HttpClientConfig,
    /// The user's exec plugin, with what it may be told of the cluster.
    pub(crate) exec: Option<(ExecConfig, ClusterInfo)>,
    pub(crate) dir: std::path::PathBuf,
}

/// The API server's URL and the client settings for it.
pub(crate) fn load(path: &str) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading kubeconfig_file {path:?}: {e}"))?;
    let kc: KubeConfig = config::yaml::from_str(&text).map_err(|e| format!("parsing kubeconfig_file {path:?}: {e}"))?;
    let dir = Path::new(path).parent().unwrap_or(Path::new(""));
    from_config(&kc, dir).map_err(|e| format!("kubeconfig_file {path:?}: {e}"))
}

fn from_config(kc: &KubeConfig, dir: &Path) -> Result<Loaded, String> {
    let ctx = &kc.contexts.iter().find(|c| c.name == kc.current_context).ok_or_else(|| format!("context {:?} not found", kc.current_context))?.context;
    let cluster = &kc.clusters.iter().find(|c| c.name == ctx.cluster).ok_or_else(|| format!("cluster {:?} not found", ctx.cluster))?.cluster;
    // A context without a user is anonymous.
    let user = kc.users.iter().find(|u| u.name == ctx.user).map(|u| &u.user);
    if cluster.server.is_empty() {
        return Err(format!("cluster {:?} has no server", ctx.cluster));
    }
    let mut http = HttpClientConfig::default();
    let t = &mut http.tls_config;
    t.ca = decode(&cluster.certificate_authority_data)?;
    t.ca_file = relative(dir, &cluster.certificate_authority);
    t.insecure_skip_verify = cluster.insecure_skip_tls_verify;
    t.server_name = cluster.tls_server_name.clone();
    if let Some(u) = user {
        t.cert = decode(&u.client_certificate_data)?;
        t.cert_file = relative(dir, &u.client_certificate);
        t.key = Secret::new(decode(&u.client_key_data)?);
        t.key_file = relative(dir, &u.client_key);
        http.bearer_token = Secret::new(u.token.clone());
        // client-go prefers an inline token over the file.
        if u.token.is_empty() {
            http.bearer_token_file = relative(dir, &u.token_file);
        }
        if !u.username.is_empty() {
            http.basic_auth = Some(BasicAuth { username: u.username.clone(), password: Secret::new(u.password.clone()), ..BasicAuth::default() });
        }
        if let Some(p) = &u.auth_provider {
            return Err(if p.name == "gcp" {
                "The gcp auth plugin has been removed. Please use the \"gke-gcloud-auth-plugin\" kubectl/client-go credential plugin instead.".to_owned()
            } else {
                format!("no Auth Provider found for name {:?}", p.name)
            });
        }
    }
    http.validate()?;
    let exec = user.and_then(|u| u.exec.clone()).map(|e| {
        let info = ClusterInfo {
            server: cluster.server.clone(),
            tls_server_name: cluster.tls_server_name.clone(),
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
            certificate_authority_data: cluster.certificate_authority_data.clone(),
        };
        (e, info)
    });
    Ok(Loaded { server: cluster.server.clone(), http, exec, dir: dir.to_owned() })
}

fn decode(data: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|e| format!("invalid base64 data: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "base64 data is not PEM text".to_owned())
}

fn relative(dir: &Path, file: &str) -> String {
    if file.is_empty() || Path::new(file).is_absolute() { file.to_owned() } else { dir.join(file).display().to_string() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: prod
  cluster: {server: 'https://prod:6443'}
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: certs/ca.crt
    tls-server-name: kubernetes
contexts:
- name: dev
  context: {cluster: local, user: me, namespace: apps}
users:
- name: me
  user:
    token: abc
    client-key-data: a2V5
    client-certificate: /etc/me.crt
preferences: {}
";

    #[test]
    fn the_current_contexts_cluster_and_user() {
        let kc: KubeConfig = config::yaml::from_str(KUBECONFIG).unwrap();
        let Loaded { server, http, .. } = from_config(&kc, Path::new("/home/me/.kube")).unwrap();
        assert_eq!(server, "https://127.0.0.1:6443");
        assert_eq!(http.tls_config.ca_file, "/home/me/.kube/certs/ca.crt");
        assert_eq!(http.tls_config.server_name, "kubernetes");
        assert_eq!(http.tls_config.cert_file, "/etc/me.crt");
        assert_eq!(http.tls_config.key.expose(), "key");
        let auth = http.authorization.unwrap();
        assert_eq!((auth.kind.as_str(), auth.credentials.expose()), ("Bearer", "abc"));

        let missing: KubeConfig = config::yaml::from_str(&KUBECONFIG.replace("current-context: dev", "current-context: qa")).unwrap();
        assert_eq!(from_config(&missing, Path::new("/")).unwrap_err(), r#"context "qa" not found"#);
        let e = load("/nonexistent/kubeconfig").unwrap_err();
        assert!(e.starts_with(r#"reading kubeconfig_file "/nonexistent/kubeconfig": "#), "{e}");
    }
}
