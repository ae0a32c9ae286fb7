//! `meta.json`: what a block holds and where it came from, in the JSON shape
//! Prometheus writes (tab-indented, fields in Go's struct order, zero stats
//! left out) so that files compare equal byte for byte.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{BlockError, META_FILENAME};

/// The only meta format version Prometheus has.
pub const META_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: String,
    /// First sample's timestamp.
    pub min_time: i64,
    /// One past the last sample's timestamp: ranges are half-open.
    pub max_time: i64,
    #[serde(default)]
    pub stats: BlockStats,
    #[serde(default)]
    pub compaction: BlockCompaction,
    pub version: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockCompaction {
    pub level: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// A parent block of a compacted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    pub ulid: String,
    pub min_time: i64,
    pub max_time: i64,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

fn is_false(x: &bool) -> bool {
    !*x
}

impl BlockMeta {
    /// Reads and checks `dir/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta, BlockError> {
        let path = dir.join(META_FILENAME);
        let bytes = std::fs::read(&path).map_err(|e| BlockError::io(&path, e))?;
        let meta: BlockMeta = serde_json::from_slice(&bytes).map_err(|source| BlockError::Meta { path: path.clone(), source })?;
        if meta.version != META_VERSION {
            return Err(BlockError::MetaVersion { path, version: meta.version });
        }
        Ok(meta)
    }

    /// The file's bytes as Go's `json.MarshalIndent(meta, "", "\t")` gives
    /// them, without a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Serialising plain structs of strings and integers into a Vec
        // cannot fail.
        let _ = self.serialize(&mut ser);
        out
    }
}
