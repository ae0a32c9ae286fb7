//! A kubeconfig user's `exec` credential plugin, run as client-go runs it:
//! the command prints an `ExecCredential` whose token (or client
//! certificate) is used until it expires or the API server answers 401,
//! and is then asked again. The plugin never gets a terminal: a server is
//! not interactive.

use std::path::Path;
use std::time::Duration;

use config::{HttpClientConfig, Secret};
use httpclient::{Client, ClientOptions};
use serde::Deserialize;

/// A plugin that hangs must not stop discovery for ever.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// The `exec` section of a kubeconfig user.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ExecConfig {
    pub(crate) api_version: String,
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<EnvVar>,
    pub(crate) provide_cluster_info: bool,
    pub(crate) interactive_mode: String,
    pub(crate) install_hint: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct EnvVar {
    name: String,
    value: String,
}

/// What the plugin is told about the cluster with `provideClusterInfo`.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ClusterInfo {
    pub(crate) server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) tls_server_name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) insecure_skip_tls_verify: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) certificate_authority_data: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    status: Option<ExecStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ExecStatus {
    token: String,
    client_certificate_data: String,
    client_key_data: String,
    expiration_timestamp: Option<String>,
}

/// Credentials the plugin gave and the client that uses them.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) token: Option<String>,
    /// Built with the plugin's client certificate, or the plain client.
    pub(crate) client: Client,
    /// Milliseconds since the epoch; never without one.
    expires_ms: Option<i64>,
}

/// One discovery's plugin and its cached credentials.
#[derive(Debug)]
pub(crate) struct ExecAuth {
    cfg: ExecConfig,
    /// The kubeconfig's folder, against which a relative command is found.
    dir: std::path::PathBuf,
    cluster: ClusterInfo,
    /// The client settings from the kubeconfig, to which a certificate
    /// from the plugin is added.
    http: HttpClientConfig,
    opts: ClientOptions,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl ExecAuth {
    pub(crate) fn new(cfg: ExecConfig, dir: &Path, cluster: ClusterInfo, http: HttpClientConfig, opts: ClientOptions) -> Result<ExecAuth, String> {
        if cfg.command.is_empty() {
            return Err("exec plugin: command is required".into());
        }
        if cfg.interactive_mode == "Always" {
            return Err("exec plugin cannot support interactive mode: standard input is not a terminal".into());
        }
        Ok(ExecAuth { cfg, dir: dir.to_owned(), cluster, http, opts, cached: tokio::sync::Mutex::new(None) })
    }

    /// The current credentials, asking the plugin when there are none or
    /// they expired. `plain` is the client without a plugin certificate.
    pub(crate) async fn credentials(&self, plain: &Client) -> Result<Credentials, String> {
        let mut cached = self.cached.lock().await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        if let Some(c) = cached.as_ref().filter(|c| c.expires_ms.is_none_or(|e| e > now)) {
            return Ok(c.clone());
        }
        let c = self.run(plain).await?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// Forgets the credentials after the server refused them.
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn run(&self, plain: &Client) -> Result<Credentials, String> {
        let cmd = &self.cfg.command;
        // client-go finds a relative path with a separator next to the
        // kubeconfig; a bare name is looked up in PATH.
        let program = if cmd.contains('/') && !Path::new(cmd).is_absolute() { self.dir.join(cmd) } else { cmd.into() };
        let mut spec = serde_json::json!({"interactive": false});
        if self.cfg.provide_cluster_info {
            spec["cluster"] = serde_json::to_value(&self.cluster).map_err(|e| e.to_string())?;
        }
        let info = serde_json::json!({"apiVersion": self.cfg.api_version, "kind": "ExecCredential", "spec": spec});
        let mut command = tokio::process::Command::new(&program);
        command.args(&self.cfg.args).env("KUBERNETES_EXEC_INFO", info.to_string()).stdin(std::process::Stdio::null()).kill_on_drop(true);
        for e in &self.cfg.env {
            command.env(&e.name, &e.value);
        }
        let hint = if self.cfg.install_hint.is_empty() { String::new() } else { format!("\n\n{}", self.cfg.install_hint) };
        let out = tokio::time::timeout(EXEC_TIMEOUT, command.output())
            .await
            .map_err(|_| format!("exec plugin {cmd:?} did not finish within {EXEC_TIMEOUT:?}"))?
            .map_err(|e| format!("exec: executable {cmd} failed: {e}{hint}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("exec: executable {cmd} failed with {}: {}", out.status, stderr.trim()));
        }
        let cred: ExecCredential = serde_json::from_slice(&out.stdout).map_err(|e| format!("decoding stdout of exec plugin {cmd}: {e}"))?;
        if cred.kind != "ExecCredential" || cred.api_version != self.cfg.api_version {
            return Err(format!(
                "exec plugin {cmd} is configured to use API version {}, plugin returned version {} of kind {:?}",
                self.cfg.api_version, cred.api_version, cred.kind
            ));
        }
        let status = cred.status.ok_or_else(|| format!("exec plugin {cmd} didn't return a status field"))?;
        let (cert, key) = (&status.client_certificate_data, &status.client_key_data);
        if status.token.is_empty() && (cert.is_empty() || key.is_empty()) {
            return Err(format!("exec plugin {cmd} didn't return a token or cert/key pair"));
        }
        if cert.is_empty() != key.is_empty() {
            return Err(format!("exec plugin {cmd} returned only certificate or key, not both"));
        }
        let expires_ms = match &status.expiration_timestamp {
            Some(t) => Some(model::time::parse_rfc3339_ms(t).ok_or_else(|| format!("exec plugin {cmd}: invalid expirationTimestamp {t:?}"))?),
            None => None,
        };
        let client = if cert.is_empty() {
            plain.clone()
        } else {
            let mut http = self.http.clone();
            http.tls_config.cert = cert.clone();
            http.tls_config.key = Secret::new(key.clone());
            (http.tls_config.cert_file, http.tls_config.key_file) = (String::new(), String::new());
            Client::new(&http, self.opts.clone()).map_err(|e| format!("exec plugin {cmd}: {e}"))?
        };
        let token = Some(status.token).filter(|t| !t.is_empty());
        Ok(Credentials { token, client, expires_ms })
    }
}
