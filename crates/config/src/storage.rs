//! `storage`: the TSDB and exemplar settings that may change on reload.

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::units::ByteSize;

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct StorageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsdb: Option<TsdbConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemplars: Option<ExemplarsConfig>,
}

impl StorageConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        match &self.tsdb {
            Some(t) => t.validate(),
            None => Ok(()),
        }
    }

    /// The exemplar buffer size in force (100,000 unless configured).
    pub fn max_exemplars(&self) -> i64 {
        self.exemplars.as_ref().map_or(DEFAULT_MAX_EXEMPLARS, |e| e.max_exemplars)
    }
}

pub const DEFAULT_MAX_EXEMPLARS: i64 = 100_000;

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct TsdbConfig {
    #[serde(skip_serializing_if = "Duration::is_zero")]
    pub out_of_order_time_window: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_series_compaction_threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_encoding: Option<ChunkEncodingConfig>,
}

impl TsdbConfig {
    fn validate(&self) -> Result<(), String> {
        if let Some(r) = &self.retention {
            if r.size.0 < 0 {
                return Err("'storage.tsdb.retention.size' must be greater than or equal to 0".into());
            }
            if let Some(p) = r.percentage {
                if !(0.0..=100.0).contains(&p) {
                    return Err("'storage.tsdb.retention.percentage' must be in the range [0, 100]".into());
                }
            }
        }
        if let Some(c) = &self.chunk_encoding {
            if !c.floats.is_empty() && c.floats != "xor" && c.floats != "xor2" {
                return Err(format!("'storage.tsdb.chunk_encoding.floats' must be 'xor' or 'xor2', or the field must be omitted entirely, got {:?}", c.floats));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct RetentionConfig {
    #[serde(skip_serializing_if = "Duration::is_zero")]
    pub time: Duration,
    #[serde(skip_serializing_if = "is_zero_size")]
    pub size: ByteSize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<f64>,
}

fn is_zero_size(s: &ByteSize) -> bool {
    s.0 == 0
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct ChunkEncodingConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub floats: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    pub max_exemplars: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig { max_exemplars: DEFAULT_MAX_EXEMPLARS }
    }
}
