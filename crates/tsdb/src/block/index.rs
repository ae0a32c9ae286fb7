//! The block `index`, format v2: header, symbol table, series (16-byte
//! aligned, so that a series' id is its offset / 16), label indices,
//! postings, the label index and postings offset tables, and a TOC. Every
//! section but the header carries a CRC32-Castagnoli.
//!
//! Symbols are referenced by their position in the sorted symbol table.
//! Sections of fixed-width big-endian fields (label indices, postings)
//! start on 4-byte boundaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use model::Labels;

use super::BlockError;
use crate::encoding::{Decbuf, DecodeError, put_uvarint, put_varint};

pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
pub const INDEX_FORMAT_V2: u8 = 2;
const HEADER_LEN: usize = 5;
/// Six 8-byte section offsets and their CRC.
const TOC_LEN: usize = 6 * 8 + 4;
const SERIES_ALIGN: usize = 16;

/// Where a chunk is and what time it covers (both ends inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_time: i64,
    pub max_time: i64,
    pub r: u64,
}

/// Builds the index bytes of `series`, which must be sorted by labels with
/// no duplicates and each series' chunks sorted and not overlapping.
pub(crate) fn encode_index(series: &[(Labels, Vec<ChunkMeta>)]) -> Result<Vec<u8>, BlockError> {
    for w in series.windows(2) {
        if w[0].0 >= w[1].0 {
            return Err(BlockError::Input(format!("series not sorted or duplicated: {} before {}", w[0].0, w[1].0)));
        }
    }
    // The empty string is always a symbol: Prometheus's in-memory postings
    // hold the all-series key ""="" and its symbol table comes from them.
    let mut symbols: BTreeMap<&str, u32> = BTreeMap::new();
    symbols.insert("", 0);
    let mut postings: BTreeMap<&str, BTreeMap<&str, Vec<u32>>> = BTreeMap::new();
    for (labels, _) in series {
        for l in labels.iter() {
            symbols.insert(l.name, 0);
            symbols.insert(l.value, 0);
        }
    }
    for (i, v) in symbols.values_mut().enumerate() {
        *v = u32::try_from(i).map_err(|_| BlockError::Input("more than 2^32 symbols".into()))?;
    }

    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&MAGIC_INDEX.to_be_bytes());
    out.push(INDEX_FORMAT_V2);

    // Symbol table.
    let toc_symbols = out.len() as u64;
    let start = begin_section(&mut out);
    out.extend_from_slice(&(symbols.len() as u32).to_be_bytes());
    for s in symbols.keys() {
        put_uvarint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    end_section(&mut out, start)?;

    // Series.
    let toc_series = out.len() as u64;
    let mut all = Vec::with_capacity(series.len());
    let mut entry = Vec::new();
    for (labels, chunks) in series {
        pad(&mut out, SERIES_ALIGN);
        let id = u32::try_from(out.len() / SERIES_ALIGN).map_err(|_| BlockError::Input("index series section exceeds 64 GiB".into()))?;
        all.push(id);
        entry.clear();
        put_uvarint(&mut entry, labels.len() as u64);
        for l in labels.iter() {
            // Every name and value was inserted above.
            put_uvarint(&mut entry, u64::from(symbols.get(l.name).copied().unwrap_or(0)));
            put_uvarint(&mut entry, u64::from(symbols.get(l.value).copied().unwrap_or(0)));
            postings.entry(l.name).or_default().entry(l.value).or_default().push(id);
        }
        put_uvarint(&mut entry, chunks.len() as u64);
        let mut prev: Option<&ChunkMeta> = None;
        for c in chunks {
            if c.max_time < c.min_time {
                return Err(BlockError::Input(format!("chunk of {labels} ends at {} before it starts at {}", c.max_time, c.min_time)));
            }
            match prev {
                None => {
                    put_varint(&mut entry, c.min_time);
                    put_uvarint(&mut entry, c.max_time.wrapping_sub(c.min_time) as u64);
                    put_uvarint(&mut entry, c.r);
                }
                Some(p) => {
                    if c.min_time <= p.max_time {
                        return Err(BlockError::Input(format!("chunks of {labels} overlap at {}", c.min_time)));
                    }
                    put_uvarint(&mut entry, c.min_time.wrapping_sub(p.max_time) as u64);
                    put_uvarint(&mut entry, c.max_time.wrapping_sub(c.min_time) as u64);
                    put_varint(&mut entry, c.r.wrapping_sub(p.r) as i64);
                }
            }
            prev = Some(c);
        }
        put_uvarint(&mut out, entry.len() as u64);
        out.extend_from_slice(&entry);
        out.extend_from_slice(&crc32c::crc32c(&entry).to_be_bytes());
    }

    // Label indices: one per label name, listing its values. Readers of v2
    // use the postings offset table instead, but Prometheus still writes
    // them and they keep the file byte-identical.
    let toc_label_indices = out.len() as u64;
    let mut label_index_offsets = Vec::with_capacity(postings.len());
    for (name, values) in &postings {
        pad(&mut out, 4);
        label_index_offsets.push((*name, out.len() as u64));
        let start = begin_section(&mut out);
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(&(values.len() as u32).to_be_bytes());
        for v in values.keys() {
            out.extend_from_slice(&symbols.get(v).copied().unwrap_or(0).to_be_bytes());
        }
        end_section(&mut out, start)?;
    }

    // Postings, the all-series list under ""="" first.
    let toc_postings = out.len() as u64;
    let mut postings_offsets = Vec::new();
    let lists = std::iter::once(("", "", &all)).chain(postings.iter().flat_map(|(n, vs)| vs.iter().map(move |(v, ids)| (*n, *v, ids))));
    for (name, value, ids) in lists {
        pad(&mut out, 4);
        postings_offsets.push((name, value, out.len() as u64));
        let start = begin_section(&mut out);
        out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
        for id in ids {
            out.extend_from_slice(&id.to_be_bytes());
        }
        end_section(&mut out, start)?;
    }

    let toc_label_table = out.len() as u64;
    let start = begin_section(&mut out);
    out.extend_from_slice(&(label_index_offsets.len() as u32).to_be_bytes());
    for (name, off) in &label_index_offsets {
        put_uvarint(&mut out, 1);
        put_str(&mut out, name);
        put_uvarint(&mut out, *off);
    }
    end_section(&mut out, start)?;

    let toc_postings_table = out.len() as u64;
    let start = begin_section(&mut out);
    out.extend_from_slice(&(postings_offsets.len() as u32).to_be_bytes());
    for (name, value, off) in &postings_offsets {
        put_uvarint(&mut out, 2);
        put_str(&mut out, name);
        put_str(&mut out, value);
        put_uvarint(&mut out, *off);
    }
    end_section(&mut out, start)?;

    let toc_start = out.len();
    for off in [toc_symbols, toc_series, toc_label_indices, toc_label_table, toc_postings, toc_postings_table] {
        out.extend_from_slice(&off.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[toc_start..]);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn pad(out: &mut Vec<u8>, align: usize) {
    let rem = out.len() % align;
    if rem != 0 {
        out.resize(out.len() + align - rem, 0);
    }
}

/// Reserves a section's 4-byte length; returns where the length is.
fn begin_section(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Fills in the length (of the bytes after it) and appends their CRC.
fn end_section(out: &mut Vec<u8>, at: usize) -> Result<(), BlockError> {
    let len = u32::try_from(out.len() - at - 4).map_err(|_| BlockError::Input("index section exceeds 4 GiB".into()))?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&out[at + 4..]);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Toc {
    symbols: u64,
    postings_table: u64,
}

/// A mapped index. The symbol table and postings offset table are decoded
/// at open (they are small and every query needs them); series and
/// postings lists are decoded, and their checksums verified, when read.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    data: Mmap,
    /// Byte ranges of the symbols in `data`, checked UTF-8 at open.
    symbols: Vec<(usize, usize)>,
    /// Label name → sorted (value, offset of its postings list).
    postings: BTreeMap<String, Vec<(String, u64)>>,
}

impl IndexReader {
    pub fn open(path: &Path) -> Result<IndexReader, BlockError> {
        let data = super::mmap::map_file(path)?;
        let mut r = IndexReader { path: path.to_owned(), data, symbols: Vec::new(), postings: BTreeMap::new() };
        let toc = r.read_header_and_toc()?;
        r.read_symbols(toc)?;
        r.read_postings_table(toc)?;
        Ok(r)
    }

    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, what: &'static str, offset: u64, detail: impl Into<String>) -> BlockError {
        BlockError::Corrupt { path: self.path.clone(), what, offset, detail: detail.into() }
    }

    fn read_header_and_toc(&self) -> Result<Toc, BlockError> {
        let b = &self.data[..];
        if b.len() < HEADER_LEN + TOC_LEN {
            return Err(self.corrupt("index", 0, format!("file of {} bytes is shorter than header and TOC", b.len())));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_INDEX {
            return Err(BlockError::Magic { path: self.path.clone(), found: magic, want: MAGIC_INDEX });
        }
        if b[4] != INDEX_FORMAT_V2 {
            // v1 referenced symbols by offset; Prometheus has not written it
            // since 2.0's first releases, and neither do we.
            return Err(BlockError::Version { path: self.path.clone(), version: b[4] });
        }
        let toc_at = b.len() - TOC_LEN;
        let toc = &b[toc_at..];
        if crc32c::crc32c(&toc[..48]).to_be_bytes() != toc[48..] {
            return Err(BlockError::Checksum { path: self.path.clone(), what: "TOC", offset: toc_at as u64 });
        }
        let mut d = Decbuf::new(toc);
        let mut next = || d.be64().map_err(|e| BlockError::decode(&self.path, "TOC", toc_at as u64, e));
        let symbols = next()?;
        let series = next()?;
        let _label_indices = next()?;
        let _label_table = next()?;
        let _postings = next()?;
        let postings_table = next()?;
        for off in [symbols, series, postings_table] {
            if off as usize > toc_at {
                return Err(self.corrupt("TOC", toc_at as u64, format!("section offset {off} past the TOC")));
            }
        }
        Ok(Toc { symbols, postings_table })
    }

    /// The contents of the length-prefixed, checksummed section at `off`.
    fn section(&self, what: &'static str, off: u64) -> Result<&[u8], BlockError> {
        let b = &self.data[..];
        let start = usize::try_from(off).ok().filter(|&o| o.checked_add(4).is_some_and(|e| e <= b.len()));
        let Some(start) = start else { return Err(self.corrupt(what, off, "offset outside the file")) };
        let len = u32::from_be_bytes([b[start], b[start + 1], b[start + 2], b[start + 3]]) as usize;
        let body_end = start + 4 + len;
        if body_end + 4 > b.len() {
            return Err(self.corrupt(what, off, format!("section of {len} bytes runs past the end of the file")));
        }
        let body = &b[start + 4..body_end];
        if crc32c::crc32c(body).to_be_bytes() != b[body_end..body_end + 4] {
            return Err(BlockError::Checksum { path: self.path.clone(), what, offset: off });
        }
        Ok(body)
    }

    fn read_symbols(&mut self, toc: Toc) -> Result<(), BlockError> {
        let body = self.section("symbol table", toc.symbols)?;
        let base = toc.symbols as usize + 4;
        let err = |e: DecodeError| BlockError::decode(&self.path, "symbol table", toc.symbols, e);
        let mut d = Decbuf::new(body);
        let n = d.be32().map_err(err)?;
        let mut symbols = Vec::with_capacity((n as usize).min(body.len()));
        for _ in 0..n {
            let s = d.uvarint_bytes().map_err(err)?;
            let start = base + (body.len() - d.len() - s.len());
            if std::str::from_utf8(s).is_err() {
                return Err(self.corrupt("symbol table", start as u64, "symbol is not UTF-8"));
            }
            symbols.push((start, s.len()));
        }
        self.symbols = symbols;
        Ok(())
    }

    fn read_postings_table(&mut self, toc: Toc) -> Result<(), BlockError> {
        let body = self.section("postings offset table", toc.postings_table)?;
        let err = |e: DecodeError| BlockError::decode(&self.path, "postings offset table", toc.postings_table, e);
        let mut d = Decbuf::new(body);
        let n = d.be32().map_err(err)?;
        let mut postings: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for _ in 0..n {
            let keys = d.uvarint().map_err(err)?;
            if keys != 2 {
                return Err(self.corrupt("postings offset table", toc.postings_table, format!("entry with {keys} keys, want 2")));
            }
            let name = utf8(d.uvarint_bytes().map_err(err)?).map_err(|_| self.corrupt("postings offset table", toc.postings_table, "name is not UTF-8"))?;
            let value = utf8(d.uvarint_bytes().map_err(err)?).map_err(|_| self.corrupt("postings offset table", toc.postings_table, "value is not UTF-8"))?;
            let off = d.uvarint().map_err(err)?;
            postings.entry(name.to_owned()).or_default().push((value.to_owned(), off));
        }
        for values in postings.values_mut() {
            // Written sorted; sorting again costs little and makes lookups
            // by binary search safe on any input.
            values.sort();
        }
        self.postings = postings;
        Ok(())
    }

    /// The symbol at position `i` in the table.
    pub fn symbol(&self, i: u64) -> Result<&str, BlockError> {
        let (start, len) = usize::try_from(i)
            .ok()
            .and_then(|i| self.symbols.get(i))
            .copied()
            .ok_or_else(|| self.corrupt("symbol reference", i, format!("beyond the {} symbols", self.symbols.len())))?;
        // Checked at open.
        utf8(&self.data[start..start + len]).map_err(|_| self.corrupt("symbol", start as u64, "not UTF-8"))
    }

    /// Number of entries in the symbol table.
    pub fn num_symbols(&self) -> usize {
        self.symbols.len()
    }

    /// Label names of the block's series, sorted.
    pub fn label_names(&self) -> Vec<&str> {
        self.postings.keys().map(String::as_str).filter(|n| !n.is_empty()).collect()
    }

    /// Values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.postings.get(name).map(|v| v.iter().map(|(v, _)| v.as_str()).collect()).unwrap_or_default()
    }

    /// Ids of series with `name="value"`, sorted; `""=""` lists all.
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>, BlockError> {
        let Some(values) = self.postings.get(name) else { return Ok(Vec::new()) };
        let Ok(i) = values.binary_search_by(|(v, _)| v.as_str().cmp(value)) else { return Ok(Vec::new()) };
        self.postings_at(values[i].1)
    }

    /// Ids of all series.
    pub fn all_postings(&self) -> Result<Vec<u32>, BlockError> {
        self.postings("", "")
    }

    /// (value, postings offset) of every value of `name`.
    pub(crate) fn value_offsets(&self, name: &str) -> &[(String, u64)] {
        self.postings.get(name).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn postings_at(&self, off: u64) -> Result<Vec<u32>, BlockError> {
        let body = self.section("postings list", off)?;
        let err = |e: DecodeError| BlockError::decode(&self.path, "postings list", off, e);
        let mut d = Decbuf::new(body);
        let n = d.be32().map_err(err)? as usize;
        if d.len() != n * 4 {
            return Err(self.corrupt("postings list", off, format!("{n} entries in {} bytes", d.len())));
        }
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(d.be32().map_err(err)?);
        }
        Ok(ids)
    }

    /// The labels and chunk metas of series `id`.
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>), BlockError> {
        let off = u64::from(id) * SERIES_ALIGN as u64;
        let err = |e: DecodeError| BlockError::decode(&self.path, "series", off, e);
        let b =
            self.data.get(off as usize..).filter(|_| off < self.data.len() as u64).ok_or_else(|| self.corrupt("series", off, "reference outside the file"))?;
        let mut d = Decbuf::new(b);
        let body = d.uvarint_bytes().map_err(err)?;
        let crc = d.bytes(4).map_err(err)?;
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return Err(BlockError::Checksum { path: self.path.clone(), what: "series", offset: off });
        }
        let mut d = Decbuf::new(body);
        let n = d.uvarint().map_err(err)?;
        let mut pairs = Vec::with_capacity((n as usize).min(body.len()));
        for _ in 0..n {
            let name = self.symbol(d.uvarint().map_err(err)?)?;
            let value = self.symbol(d.uvarint().map_err(err)?)?;
            pairs.push((name, value));
        }
        let labels = Labels::from_sorted_pairs(pairs);
        let k = d.uvarint().map_err(err)?;
        let mut chunks: Vec<ChunkMeta> = Vec::with_capacity((k as usize).min(body.len()));
        for _ in 0..k {
            let c = match chunks.last() {
                None => {
                    let min_time = d.varint().map_err(err)?;
                    let max_time = min_time.wrapping_add(d.uvarint().map_err(err)? as i64);
                    ChunkMeta { min_time, max_time, r: d.uvarint().map_err(err)? }
                }
                Some(p) => {
                    let min_time = p.max_time.wrapping_add(d.uvarint().map_err(err)? as i64);
                    let max_time = min_time.wrapping_add(d.uvarint().map_err(err)? as i64);
                    ChunkMeta { min_time, max_time, r: p.r.wrapping_add(d.varint().map_err(err)? as u64) }
                }
            };
            chunks.push(c);
        }
        Ok((labels, chunks))
    }
}

fn utf8(b: &[u8]) -> Result<&str, std::str::Utf8Error> {
    std::str::from_utf8(b)
}
