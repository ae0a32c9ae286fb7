//! Service discovery in prometheus.yml: every `*_sd_configs` block a scrape
//! config or an Alertmanager config accepts, `static_configs`, and the
//! target group type, with Prometheus's field names, defaults, validation
//! rules and error texts.
//!
//! Each provider's struct is named after the Go type that go-yaml reports in
//! `field X not found in type T` errors (usually `<package>.plain`, the alias
//! Prometheus decodes into), and offers `validate` (the checks and
//! normalisations Prometheus runs while decoding) and `set_directory`
//! (relative file paths made absolute against the config file's folder).

use std::path::Path;

/// A string-valued Go type whose `UnmarshalYAML` accepts a fixed set of
/// values; anything else fails at decoding time with `$err` (its `{}` is the
/// Go-quoted value).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $err:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                match s.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(<D::Error as serde::de::Error>::custom(format!($err, crate::sd::quote(&s)))),
                }
            }
        }
    };
}

mod aws;
mod azure;
mod consul;
mod digitalocean;
mod dns;
mod eureka;
mod file;
mod gce;
mod go_url;
mod hetzner;
mod http_sd;
mod ionos;
mod k8s_selector;
mod kubernetes;
mod kuma;
mod linode;
mod marathon;
mod moby;
mod nomad;
mod oci;
mod openstack;
mod outscale;
mod ovhcloud;
mod puppetdb;
mod scaleway;
mod stackit;
mod targetgroup;
mod triton;
mod uyuni;
mod vultr;
mod zookeeper;

pub use aws::{AwsFilter, AwsRole, AwsSdConfig, Ec2Filter, Ec2SdConfig, EcsSdConfig, ElasticacheSdConfig, LightsailSdConfig, MskSdConfig, RdsSdConfig};
pub use azure::AzureSdConfig;
pub use consul::ConsulSdConfig;
pub use digitalocean::DigitalOceanSdConfig;
pub use dns::DnsSdConfig;
pub use eureka::EurekaSdConfig;
pub use file::FileSdConfig;
pub use gce::GceSdConfig;
pub use hetzner::{HetznerRole, HetznerSdConfig};
pub use http_sd::HttpSdConfig;
pub use ionos::IonosSdConfig;
pub use kubernetes::{AttachMetadataConfig, KubernetesRole, KubernetesSdConfig, NamespaceDiscovery, SelectorConfig};
pub use kuma::KumaSdConfig;
pub use linode::LinodeSdConfig;
pub use marathon::MarathonSdConfig;
pub use moby::{DockerFilter, DockerSdConfig, DockerSwarmSdConfig};
pub use nomad::NomadSdConfig;
pub use oci::OciSdConfig;
pub use openstack::{OpenStackRole, OpenStackSdConfig};
pub use outscale::OutscaleSdConfig;
pub use ovhcloud::OvhcloudSdConfig;
pub use puppetdb::PuppetDbSdConfig;
pub use scaleway::{ScalewayRole, ScalewaySdConfig};
pub use stackit::StackitSdConfig;
pub use targetgroup::TargetGroup;
pub use triton::TritonSdConfig;
pub use uyuni::UyuniSdConfig;
pub use vultr::VultrSdConfig;
pub use zookeeper::{NerveSdConfig, ServersetSdConfig};

/// Go's `%q` of a string, the form Prometheus's messages quote values in.
pub(crate) fn quote(s: &str) -> String {
    model::quote::go_quote(s.as_bytes())
}

/// What the container needs from each kind of entry.
trait Entry {
    fn validate_entry(&mut self) -> Result<(), String>;
    fn set_entry_directory(&mut self, dir: &Path);
}

impl Entry for TargetGroup {
    fn validate_entry(&mut self) -> Result<(), String> {
        Ok(())
    }

    fn set_entry_directory(&mut self, _dir: &Path) {}
}

macro_rules! providers {
    ($($ty:ty),+ $(,)?) => {
        $(
            impl Entry for $ty {
                fn validate_entry(&mut self) -> Result<(), String> {
                    self.validate()
                }

                fn set_entry_directory(&mut self, dir: &Path) {
                    self.set_directory(dir)
                }
            }
        )+
    };
}

providers!(
    AwsSdConfig,
    AzureSdConfig,
    ConsulSdConfig,
    DigitalOceanSdConfig,
    DnsSdConfig,
    DockerSdConfig,
    DockerSwarmSdConfig,
    Ec2SdConfig,
    EcsSdConfig,
    ElasticacheSdConfig,
    EurekaSdConfig,
    FileSdConfig,
    GceSdConfig,
    HetznerSdConfig,
    HttpSdConfig,
    IonosSdConfig,
    KubernetesSdConfig,
    KumaSdConfig,
    LightsailSdConfig,
    LinodeSdConfig,
    MarathonSdConfig,
    MskSdConfig,
    NerveSdConfig,
    NomadSdConfig,
    OciSdConfig,
    OpenStackSdConfig,
    OutscaleSdConfig,
    OvhcloudSdConfig,
    PuppetDbSdConfig,
    RdsSdConfig,
    ScalewaySdConfig,
    ServersetSdConfig,
    StackitSdConfig,
    TritonSdConfig,
    UyuniSdConfig,
    VultrSdConfig,
);

/// Declares the container. Fields are in the order of their YAML keys,
/// which is the order Prometheus prints them in and looks for null entries.
macro_rules! sd_configs {
    ($($field:ident: $ty:ty),+ $(,)?) => {
        /// Every discovery block of one scrape or Alertmanager config; it is
        /// inlined into its parent. A `null` list element stays `None` until
        /// [`ServiceDiscoveryConfigs::validate`] rejects it.
        #[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
        #[serde(default, deny_unknown_fields, rename = "config.plain")]
        pub struct ServiceDiscoveryConfigs {
            $(
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub $field: Vec<Option<$ty>>,
            )+
        }

        impl ServiceDiscoveryConfigs {
            fn validate_entries(&mut self) -> Result<(), String> {
                $(
                    for entry in self.$field.iter_mut().flatten() {
                        entry.validate_entry()?;
                    }
                )+
                Ok(())
            }

            /// The key of the first list holding a `null` element.
            fn first_null_section(&self) -> Option<&'static str> {
                $(
                    if self.$field.iter().any(Option::is_none) {
                        return Some(stringify!($field));
                    }
                )+
                None
            }

            /// Makes every relative file path in the discovery configs
            /// absolute against `dir`, the config file's folder.
            pub fn set_directory(&mut self, dir: &Path) {
                $(
                    for entry in self.$field.iter_mut().flatten() {
                        entry.set_entry_directory(dir);
                    }
                )+
            }

            /// The keys of the discovery blocks that hold entries, in YAML
            /// order (for callers that implement only some of them).
            pub fn configured_kinds(&self) -> Vec<&'static str> {
                let mut kinds = Vec::new();
                $(
                    if !self.$field.is_empty() {
                        kinds.push(stringify!($field));
                    }
                )+
                kinds
            }

            /// True when no discovery of any kind is configured.
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_empty())+
            }
        }
    };
}

sd_configs!(
    aws_sd_configs: AwsSdConfig,
    azure_sd_configs: AzureSdConfig,
    consul_sd_configs: ConsulSdConfig,
    digitalocean_sd_configs: DigitalOceanSdConfig,
    dns_sd_configs: DnsSdConfig,
    docker_sd_configs: DockerSdConfig,
    dockerswarm_sd_configs: DockerSwarmSdConfig,
    ec2_sd_configs: Ec2SdConfig,
    ecs_sd_configs: EcsSdConfig,
    elasticache_sd_configs: ElasticacheSdConfig,
    eureka_sd_configs: EurekaSdConfig,
    file_sd_configs: FileSdConfig,
    gce_sd_configs: GceSdConfig,
    hetzner_sd_configs: HetznerSdConfig,
    http_sd_configs: HttpSdConfig,
    ionos_sd_configs: IonosSdConfig,
    kubernetes_sd_configs: KubernetesSdConfig,
    kuma_sd_configs: KumaSdConfig,
    lightsail_sd_configs: LightsailSdConfig,
    linode_sd_configs: LinodeSdConfig,
    marathon_sd_configs: MarathonSdConfig,
    msk_sd_configs: MskSdConfig,
    nerve_sd_configs: NerveSdConfig,
    nomad_sd_configs: NomadSdConfig,
    oci_sd_configs: OciSdConfig,
    openstack_sd_configs: OpenStackSdConfig,
    outscale_sd_configs: OutscaleSdConfig,
    ovhcloud_sd_configs: OvhcloudSdConfig,
    puppetdb_sd_configs: PuppetDbSdConfig,
    rds_sd_configs: RdsSdConfig,
    scaleway_sd_configs: ScalewaySdConfig,
    serverset_sd_configs: ServersetSdConfig,
    stackit_sd_configs: StackitSdConfig,
    static_configs: TargetGroup,
    triton_sd_configs: TritonSdConfig,
    uyuni_sd_configs: UyuniSdConfig,
    vultr_sd_configs: VultrSdConfig,
);

impl ServiceDiscoveryConfigs {
    /// Runs each provider's checks and normalisations, then rejects `null`
    /// list elements, as Prometheus does (it checks providers while decoding
    /// and null elements afterwards). Static target groups get their source,
    /// their index among the job's groups.
    ///
    /// The check that static targets are not URLs is left to the scrape
    /// config, which skips it when relabeling may rewrite the address.
    pub fn validate(&mut self) -> Result<(), String> {
        self.validate_entries()?;
        if let Some(key) = self.first_null_section() {
            return Err(format!("empty or null section in {key}"));
        }
        for (i, tg) in self.static_configs.iter_mut().flatten().enumerate() {
            tg.source = i.to_string();
        }
        Ok(())
    }

    /// The static target groups, in order.
    pub fn static_groups(&self) -> impl Iterator<Item = &TargetGroup> {
        self.static_configs.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn load(text: &str) -> Result<ServiceDiscoveryConfigs, String> {
        let mut c: ServiceDiscoveryConfigs = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn null_entries_are_rejected_by_key() {
        assert_eq!(load("static_configs:\n  -\n").unwrap_err(), "empty or null section in static_configs");
        assert_eq!(load("kubernetes_sd_configs:\n  - ~\n").unwrap_err(), "empty or null section in kubernetes_sd_configs");
        // Provider errors come first, as Prometheus reports them while decoding.
        assert_eq!(load("file_sd_configs: [null]\ndns_sd_configs: [{names: []}]\n").unwrap_err(), "DNS-SD config must contain at least one SRV record name");
    }

    #[test]
    fn static_groups_get_their_index_as_source() {
        let c = load("static_configs:\n  - targets: [a]\n  - targets: [b]\n").unwrap();
        let sources: Vec<&str> = c.static_groups().map(|g| g.source.as_str()).collect();
        assert_eq!(sources, ["0", "1"]);
        assert!(!c.is_empty());
        assert!(ServiceDiscoveryConfigs::default().is_empty());
    }

    #[test]
    fn unknown_keys_name_the_container() {
        let e = load("consult_sd_configs: []\n").unwrap_err();
        assert!(e.contains("field consult_sd_configs not found in type config.plain"), "{e}");
    }

    #[test]
    fn empty_lists_are_not_printed() {
        let c = load("dns_sd_configs:\n  - names: [a.example]\n").unwrap();
        let text = yaml::to_string(&c).unwrap();
        assert!(text.starts_with("dns_sd_configs:\n- names:\n  - a.example\n"), "{text}");
        assert!(!text.contains("static_configs"), "{text}");
    }

    #[test]
    fn display_reloads_to_the_same_config() {
        let text = "\
kubernetes_sd_configs:
  - role: pod
    api_server: https://k:6443
    bearer_token: t
    selectors: [{role: node, label: 'a in (b, c)'}]
consul_sd_configs:
  - token: t
    services: [web]
ec2_sd_configs:
  - region: us-east-1
    filters: [{name: 'tag:env', values: [prod]}]
marathon_sd_configs:
  - servers: ['https://m:443']
    auth_token_file: token
static_configs:
  - targets: ['a:1']
    labels: {x: y}
";
        let c = load(text).unwrap();
        let shown = yaml::to_string(&c).unwrap();
        let mut back = load(&shown).unwrap();
        // Secrets read back as their mask; everything else must survive.
        back.kubernetes_sd_configs = c.kubernetes_sd_configs.clone();
        back.consul_sd_configs = c.consul_sd_configs.clone();
        assert_eq!(back, c, "{shown}");
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let mut c = load("file_sd_configs:\n  - files: [targets/*.json, /abs/x.yml]\n").unwrap();
        c.set_directory(Path::new("/etc/prometheus"));
        let files = c.file_sd_configs[0].as_ref().map(|f| f.files.clone()).unwrap_or_default();
        assert_eq!(files, ["/etc/prometheus/targets/*.json", "/abs/x.yml"]);
    }
}
