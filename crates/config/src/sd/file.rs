//! `file_sd_configs`: target groups read from JSON or YAML files.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "file.plain", deny_unknown_fields, default)]
pub struct FileSdConfig {
    /// Paths whose last segment may hold a `*` glob.
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

impl Default for FileSdConfig {
    fn default() -> Self {
        FileSdConfig { files: Vec::new(), refresh_interval: Duration::from_secs(300) }
    }
}

/// Prometheus's pattern `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`:
/// a known extension, and no directory after the first `*`.
fn is_valid_pattern(name: &str) -> bool {
    const EXTENSIONS: [&str; 6] = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"];
    let Some(stem) = EXTENSIONS.iter().find_map(|ext| name.strip_suffix(ext)) else {
        return false;
    };
    stem.find('*').is_none_or(|star| !stem[star..].contains('/'))
}

impl FileSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        if let Some(bad) = self.files.iter().find(|f| !is_valid_pattern(f)) {
            return Err(format!("path name {} is not valid for file discovery", super::quote(bad)));
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        for file in &mut self.files {
            crate::join_dir(dir, file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for ok in ["a.json", "foo/*.slow.yml", "x/y*z.YAML", "a*b*.yaml"] {
            assert!(is_valid_pattern(ok), "{ok}");
        }
        for bad in ["a.txt", "a*/b.json", "a.Json", "*"] {
            assert!(!is_valid_pattern(bad), "{bad}");
        }
        let mut c = FileSdConfig { files: vec!["a.txt".into()], ..FileSdConfig::default() };
        assert_eq!(c.validate().unwrap_err(), r#"path name "a.txt" is not valid for file discovery"#);
        let mut c = FileSdConfig::default();
        assert_eq!(c.validate().unwrap_err(), "file service discovery config must contain at least one path name");
    }
}
