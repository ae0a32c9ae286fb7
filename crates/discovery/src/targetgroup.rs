//! The target group: targets sharing a set of labels, as one provider saw
//! them at one moment. A provider sends a group again, under the same
//! `source`, whenever it changes; an empty group under a known source means
//! its targets are gone.

use config::ScrapeConfig;
use config::sd::TargetGroup;
use model::Labels;

/// Each target is a label set of its own (at least `__address__`); the
/// group's labels apply to every target that does not set them itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub targets: Vec<Labels>,
    pub labels: Labels,
    /// Unique within the provider that produced the group.
    pub source: String,
}

impl Group {
    /// A `static_configs` entry as a group; `index` is its place in the
    /// job's list, which Prometheus uses as the source.
    pub fn from_static(tg: &TargetGroup, index: usize) -> Group {
        Group {
            targets: tg.targets.iter().map(|t| Labels::from_pairs([("__address__", t.as_str())])).collect(),
            labels: Labels::from_pairs(tg.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            source: index.to_string(),
        }
    }
}

/// The groups of a job's `static_configs`. Every other provider is run by
/// the discovery manager.
pub fn static_groups(cfg: &ScrapeConfig) -> Vec<Group> {
    cfg.service_discovery.static_configs.iter().flatten().enumerate().map(|(i, tg)| Group::from_static(tg, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_configs_become_groups_with_index_sources() {
        let text = "scrape_configs:\n- job_name: j\n  static_configs:\n  - targets: [a:1, b:2]\n    labels: {env: prod}\n  - targets: [c:3]\n";
        let cfg = config::Config::load(text).unwrap();
        let groups = static_groups(&cfg.scrape_configs[0]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets[1].to_string(), r#"{__address__="b:2"}"#);
        assert_eq!(groups[0].labels.to_string(), r#"{env="prod"}"#);
        assert_eq!((groups[0].source.as_str(), groups[1].source.as_str()), ("0", "1"));
    }
}
