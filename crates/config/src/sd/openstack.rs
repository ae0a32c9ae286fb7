//! `openstack_sd_configs`: Nova hypervisors or instances, or Octavia load
//! balancers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{Secret, TlsConfig};

string_enum!(
    /// The kind of OpenStack object whose instances become targets.
    OpenStackRole,
    "unknown OpenStack SD role {}",
    {
        Hypervisor => "hypervisor",
        Instance => "instance",
        LoadBalancer => "loadbalancer",
    }
);

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "openstack.plain", deny_unknown_fields, default)]
pub struct OpenStackSdConfig {
    pub identity_endpoint: String,
    pub username: String,
    pub userid: String,
    pub password: Secret,
    pub project_name: String,
    pub project_id: String,
    pub domain_name: String,
    pub domain_id: String,
    pub application_credential_name: String,
    pub application_credential_id: String,
    pub application_credential_secret: Secret,
    pub role: Option<OpenStackRole>,
    pub region: String,
    pub refresh_interval: Duration,
    pub port: i64,
    /// List the instances of every project (instance role; needs admin).
    pub all_tenants: bool,
    pub tls_config: TlsConfig,
    /// Which endpoint of the service catalog to use.
    pub availability: String,
}

impl Default for OpenStackSdConfig {
    fn default() -> Self {
        OpenStackSdConfig {
            identity_endpoint: String::new(),
            username: String::new(),
            userid: String::new(),
            password: Secret::default(),
            project_name: String::new(),
            project_id: String::new(),
            domain_name: String::new(),
            domain_id: String::new(),
            application_credential_name: String::new(),
            application_credential_id: String::new(),
            application_credential_secret: Secret::default(),
            role: None,
            region: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            all_tenants: false,
            tls_config: TlsConfig::default(),
            availability: "public".into(),
        }
    }
}

impl OpenStackSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if !matches!(self.availability.as_str(), "public" | "internal" | "admin") {
            return Err(format!("unknown availability {}, must be one of admin, internal or public", self.availability));
        }
        if self.role.is_none() {
            return Err("role missing (one of: instance, hypervisor, loadbalancer)".into());
        }
        if self.region.is_empty() {
            return Err("openstack SD configuration requires a region".into());
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn availability_role_region() {
        let e = yaml::from_str::<OpenStackSdConfig>("role: invalid\n").unwrap_err();
        assert!(e.to_string().contains(r#"unknown OpenStack SD role "invalid""#), "{e}");
        let mut c: OpenStackSdConfig = yaml::from_str("availability: invalid\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "unknown availability invalid, must be one of admin, internal or public");
        let mut c: OpenStackSdConfig = yaml::from_str("role: instance\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "openstack SD configuration requires a region");
        let mut c: OpenStackSdConfig = yaml::from_str("role: loadbalancer\nregion: RegionOne\n").unwrap();
        assert!(c.validate().is_ok());
    }
}
