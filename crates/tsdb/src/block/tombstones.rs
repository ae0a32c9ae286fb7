//! The `tombstones` file: deleted time ranges per series, as Prometheus's
//! `tsdb/tombstones` writes it. A new block has none, but the file exists,
//! with just its header and the checksum of nothing.

use std::collections::HashMap;
use std::path::Path;

use super::BlockError;
use crate::encoding::{Decbuf, put_uvarint, put_varint};

pub const MAGIC_TOMBSTONE: u32 = 0x0130_BA30;
pub const TOMBSTONE_FORMAT_V1: u8 = 1;

/// Deleted intervals (inclusive at both ends) by series id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    stones: HashMap<u64, Vec<(i64, i64)>>,
    size: u64,
}

impl Tombstones {
    /// Marks `[mint, maxt]` of series `id` deleted, merging it with the
    /// intervals it overlaps or touches.
    pub fn add(&mut self, id: u64, mint: i64, maxt: i64) {
        add_interval(self.stones.entry(id).or_default(), mint, maxt);
    }

    /// Ids of series with deleted intervals, in no order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.stones.keys().copied()
    }

    /// Deleted intervals of series `id`, sorted, possibly none.
    pub fn intervals(&self, id: u64) -> &[(i64, i64)] {
        self.stones.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Number of intervals, as `numTombstones` counts them.
    pub fn len(&self) -> usize {
        self.stones.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.stones.is_empty()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn set_size(&mut self, size: u64) {
        self.size = size;
    }

    /// The file's bytes: magic, version, one (series, mint, maxt) varint
    /// triple per interval in series order, and a CRC32-Castagnoli of
    /// everything after the magic but the version byte.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC_TOMBSTONE.to_be_bytes());
        out.push(TOMBSTONE_FORMAT_V1);
        let mut ids: Vec<_> = self.stones.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            for &(mint, maxt) in self.intervals(id) {
                put_uvarint(&mut out, id);
                put_varint(&mut out, mint);
                put_varint(&mut out, maxt);
            }
        }
        let crc = crc32c::crc32c(&out[5..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Writes the file atomically (a temporary file renamed over it), as
    /// deletions do.
    pub fn write(&self, path: &Path) -> Result<u64, BlockError> {
        let bytes = self.encode();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        super::writer::write_file(&tmp, &bytes)?;
        std::fs::rename(&tmp, path).map_err(|e| BlockError::io(path, e))?;
        Ok(bytes.len() as u64)
    }

    pub fn read(path: &Path) -> Result<Tombstones, BlockError> {
        let b = std::fs::read(path).map_err(|e| BlockError::io(path, e))?;
        let mut t = Tombstones::decode(path, &b)?;
        t.size = b.len() as u64;
        Ok(t)
    }

    fn decode(path: &Path, b: &[u8]) -> Result<Tombstones, BlockError> {
        let corrupt = |detail: &str| BlockError::Corrupt { path: path.to_owned(), what: "tombstones", offset: 0, detail: detail.to_owned() };
        if b.len() < 9 {
            return Err(corrupt("file shorter than its header and checksum"));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_TOMBSTONE {
            return Err(BlockError::Magic { path: path.to_owned(), found: magic, want: MAGIC_TOMBSTONE });
        }
        if b[4] != TOMBSTONE_FORMAT_V1 {
            return Err(BlockError::Version { path: path.to_owned(), version: b[4] });
        }
        let (body, crc) = b[5..].split_at(b.len() - 9);
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return Err(BlockError::Checksum { path: path.to_owned(), what: "tombstones", offset: 5 });
        }
        let mut d = Decbuf::new(body);
        let mut stones: HashMap<u64, Vec<(i64, i64)>> = HashMap::new();
        while !d.is_empty() {
            let off = (body.len() - d.len() + 5) as u64;
            let stone = (|| Ok::<_, crate::encoding::DecodeError>((d.uvarint()?, d.varint()?, d.varint()?)))();
            let (id, mint, maxt) = stone.map_err(|e| BlockError::decode(path, "tombstone", off, e))?;
            stones.entry(id).or_default().push((mint, maxt));
        }
        for v in stones.values_mut() {
            v.sort_unstable();
        }
        Ok(Tombstones { stones, size: 0 })
    }
}

/// Adds `[mint, maxt]` to sorted, disjoint `intervals`, merging those it
/// overlaps or touches, as Prometheus merges deletions.
pub fn add_interval(intervals: &mut Vec<(i64, i64)>, mint: i64, maxt: i64) {
    let (mut lo, mut hi) = (mint, maxt);
    intervals.retain(|&(a, b)| {
        let joins = a <= hi.saturating_add(1) && b.saturating_add(1) >= lo;
        if joins {
            lo = lo.min(a);
            hi = hi.max(b);
        }
        !joins
    });
    let at = intervals.partition_point(|&(a, _)| a < lo);
    intervals.insert(at, (lo, hi));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_when_they_overlap_or_touch() {
        let mut v = Vec::new();
        add_interval(&mut v, 10, 20);
        add_interval(&mut v, 30, 40);
        assert_eq!(v, vec![(10, 20), (30, 40)]);
        add_interval(&mut v, 21, 25);
        assert_eq!(v, vec![(10, 25), (30, 40)]);
        add_interval(&mut v, 0, 100);
        assert_eq!(v, vec![(0, 100)]);
        add_interval(&mut v, 200, 300);
        add_interval(&mut v, 150, 160);
        assert_eq!(v, vec![(0, 100), (150, 160), (200, 300)]);
    }
}
