//! The `chunks/` folder: numbered segment files (`000001`, …) of at most
//! 512 MiB, each an 8-byte header (magic, version, padding) followed by
//! chunks stored as `uvarint len | encoding | data | CRC32-C(encoding, data)`.
//!
//! A chunk reference is the segment's position in the folder (0 for
//! `000001`) in the upper 32 bits and the chunk's byte offset in the lower.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::BlockError;
use crate::chunkenc::Encoding;
use crate::encoding::{MAX_VARINT_LEN64, put_uvarint, uvarint};

pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
pub const CHUNKS_FORMAT_V1: u8 = 1;
pub const SEGMENT_HEADER_SIZE: u64 = 8;
/// Prometheus's default segment size for blocks.
pub const SEGMENT_MAX_SIZE: u64 = 512 * 1024 * 1024;
/// What Prometheus reserves for a chunk's length when deciding whether a
/// series' chunks still fit the segment (`binary.MaxVarintLen32`).
const MAX_CHUNK_LEN_FIELD: u64 = 5;

/// Appends chunks to segment files, cutting a new segment when a series'
/// chunks would overflow the current one (a series' chunks stay together,
/// as Prometheus keeps them).
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    dir: PathBuf,
    segment_size: u64,
    files: Vec<PathBuf>,
    cur: Option<std::io::BufWriter<File>>,
    n: u64,
}

impl ChunkWriter {
    pub fn new(dir: &Path, segment_size: u64) -> Result<Self, BlockError> {
        std::fs::create_dir_all(dir).map_err(|e| BlockError::io(dir, e))?;
        Ok(ChunkWriter { dir: dir.to_owned(), segment_size, files: Vec::new(), cur: None, n: 0 })
    }

    /// Writes one series' chunks, returning their references.
    pub fn write_series(&mut self, chunks: &[(Encoding, &[u8])]) -> Result<Vec<u64>, BlockError> {
        let need: u64 = chunks.iter().map(|(_, d)| MAX_CHUNK_LEN_FIELD + 1 + d.len() as u64 + 4).sum();
        if self.cur.is_none() || (self.n > SEGMENT_HEADER_SIZE && self.n + need > self.segment_size) {
            self.cut()?;
        }
        let seq = (self.files.len() - 1) as u64;
        let mut refs = Vec::with_capacity(chunks.len());
        let mut buf = Vec::new();
        for &(enc, data) in chunks {
            refs.push((seq << 32) | self.n);
            buf.clear();
            put_uvarint(&mut buf, data.len() as u64);
            let crc_start = buf.len();
            buf.push(enc as u8);
            buf.extend_from_slice(data);
            let crc = crc32c::crc32c(&buf[crc_start..]);
            buf.extend_from_slice(&crc.to_be_bytes());
            self.write(&buf)?;
        }
        if self.n > u64::from(u32::MAX) {
            return Err(BlockError::Input(format!("chunk segment grew past 4 GiB ({} bytes): a series' chunks must fit one segment", self.n)));
        }
        Ok(refs)
    }

    fn write(&mut self, b: &[u8]) -> Result<(), BlockError> {
        let path = self.files.last().cloned().unwrap_or_default();
        let Some(f) = self.cur.as_mut() else { return Err(BlockError::Input("chunk writer has no open segment".into())) };
        f.write_all(b).map_err(|e| BlockError::io(&path, e))?;
        self.n += b.len() as u64;
        Ok(())
    }

    fn cut(&mut self) -> Result<(), BlockError> {
        self.finish_segment()?;
        let path = self.dir.join(format!("{:06}", self.files.len() + 1));
        let f = File::create(&path).map_err(|e| BlockError::io(&path, e))?;
        self.files.push(path);
        self.cur = Some(std::io::BufWriter::new(f));
        self.n = 0;
        let mut header = [0u8; SEGMENT_HEADER_SIZE as usize];
        header[..4].copy_from_slice(&MAGIC_CHUNKS.to_be_bytes());
        header[4] = CHUNKS_FORMAT_V1;
        self.write(&header)
    }

    fn finish_segment(&mut self) -> Result<(), BlockError> {
        if let Some(w) = self.cur.take() {
            let path = self.files.last().cloned().unwrap_or_default();
            let f = w.into_inner().map_err(|e| BlockError::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| BlockError::io(&path, e))?;
        }
        Ok(())
    }

    /// Flushes and fsyncs the last segment. A block without chunks still
    /// gets an empty `chunks/` folder, as Prometheus leaves it.
    pub fn finish(mut self) -> Result<(), BlockError> {
        self.finish_segment()
    }
}

/// The segments of a block, mapped read-only.
#[derive(Debug)]
pub struct ChunkReader {
    segments: Vec<(PathBuf, Mmap)>,
    size: u64,
}

impl ChunkReader {
    pub fn open(dir: &Path) -> Result<Self, BlockError> {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| BlockError::io(dir, e))? {
            let entry = entry.map_err(|e| BlockError::io(dir, e))?;
            let name = entry.file_name();
            // Segments are named by a number; anything else is not ours.
            if name.to_str().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
                paths.push(entry.path());
            }
        }
        paths.sort();
        let mut segments = Vec::with_capacity(paths.len());
        let mut size = 0;
        for path in paths {
            let m = super::mmap::map_file(&path)?;
            if m.len() < SEGMENT_HEADER_SIZE as usize {
                return Err(BlockError::Corrupt { path, what: "chunk segment header", offset: 0, detail: format!("file is {} bytes", m.len()) });
            }
            let magic = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
            if magic != MAGIC_CHUNKS {
                return Err(BlockError::Magic { path, found: magic, want: MAGIC_CHUNKS });
            }
            if m[4] != CHUNKS_FORMAT_V1 {
                return Err(BlockError::Version { path, version: m[4] });
            }
            size += m.len() as u64;
            segments.push((path, m));
        }
        Ok(ChunkReader { segments, size })
    }

    /// Total bytes of all segments.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The chunk at `r`, its checksum verified.
    pub fn chunk(&self, r: u64) -> Result<(Encoding, &[u8]), BlockError> {
        let seq = (r >> 32) as usize;
        let off = (r & 0xFFFF_FFFF) as usize;
        let Some((path, m)) = self.segments.get(seq) else {
            return Err(BlockError::Input(format!("chunk reference {r:#x} names segment {seq}, the block has {}", self.segments.len())));
        };
        let corrupt = |detail: String| BlockError::Corrupt { path: path.clone(), what: "chunk", offset: off as u64, detail };
        if off < SEGMENT_HEADER_SIZE as usize || off >= m.len() {
            return Err(corrupt(format!("offset outside the segment of {} bytes", m.len())));
        }
        let rest = &m[off..];
        let (len, n) = uvarint(&rest[..rest.len().min(MAX_VARINT_LEN64)]).map_err(|e| corrupt(e.to_string()))?;
        let len = usize::try_from(len).map_err(|_| corrupt("length overflows".into()))?;
        let end = n
            .checked_add(1)
            .and_then(|x| x.checked_add(len))
            .filter(|&e| e + 4 <= rest.len())
            .ok_or_else(|| corrupt(format!("chunk of {len} bytes runs past the segment end")))?;
        let body = &rest[n..end];
        if crc32c::crc32c(body).to_be_bytes() != rest[end..end + 4] {
            return Err(BlockError::Checksum { path: path.clone(), what: "chunk", offset: off as u64 });
        }
        let enc = Encoding::from_u8(body[0]).map_err(|e| corrupt(e.to_string()))?;
        Ok((enc, &body[1..]))
    }
}
