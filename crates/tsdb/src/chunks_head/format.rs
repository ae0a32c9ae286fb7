//! The byte layout of head chunk files (`tsdb/docs/format/head_chunks.md`,
//! `tsdb/chunks/head_chunks.go`): encoding one chunk record and decoding one
//! at an offset, with every bound checked.

use std::ops::Range;

use crate::encoding;

/// First four bytes of every head chunk file (`MagicHeadChunks`).
pub const MAGIC: u32 = 0x0130_BC91;
/// The only file format version (`headChunksFormatV1`).
pub const FORMAT_V1: u8 = 1;
/// Magic, version and three bytes of padding.
pub const FILE_HEADER_SIZE: usize = 8;

const SERIES_REF_SIZE: usize = 8;
const MINT_MAXT_SIZE: usize = 8;
const ENCODING_SIZE: usize = 1;
/// Prometheus reads the data length as a uvarint of at most this many bytes
/// (`MaxChunkLengthFieldSize`, Go's `binary.MaxVarintLen32`).
const MAX_LEN_FIELD_SIZE: usize = 5;
const CRC_SIZE: usize = 4;
/// Series ref, mint and maxt: what a chunk reference skips to reach the
/// encoding byte.
pub(super) const META_PREFIX_SIZE: usize = SERIES_REF_SIZE + 2 * MINT_MAXT_SIZE;
/// The largest record size minus its data (`MaxHeadChunkMetaSize`).
pub const MAX_CHUNK_META_SIZE: usize = META_PREFIX_SIZE + ENCODING_SIZE + MAX_LEN_FIELD_SIZE + CRC_SIZE;

/// Prometheus's head block marks out-of-order chunks by setting this bit of
/// the encoding byte (`OutOfOrderMask`); the rest is the chunk encoding.
pub const OUT_OF_ORDER_MASK: u8 = 0b1000_0000;

/// Smallest chunk data we write. Prometheus's `IterateAllChunks` treats a
/// file whose remaining bytes are fewer than [`MAX_CHUNK_META_SIZE`] as
/// corrupt unless they are all zero, so a record must be at least that long
/// to be readable there when it is the last of its file; that takes 4 data
/// bytes. Any real chunk is longer (an XOR chunk with one sample is 11).
pub const MIN_CHUNK_DATA_LEN: usize = 4;

/// The file header as Prometheus writes it.
pub(super) fn file_header() -> [u8; FILE_HEADER_SIZE] {
    let m = MAGIC.to_be_bytes();
    [m[0], m[1], m[2], m[3], FORMAT_V1, 0, 0, 0]
}

/// Bytes a record with `data_len` bytes of data takes on disk.
pub(super) fn record_len(data_len: usize) -> usize {
    META_PREFIX_SIZE + ENCODING_SIZE + encoding::uvarint_bytes(data_len as u64).1 + data_len + CRC_SIZE
}

/// Appends one record to `buf`: series ref, mint, maxt (8 bytes each,
/// big-endian), encoding byte, data length (uvarint), data, and the
/// CRC32-Castagnoli of all of it, big-endian.
pub(super) fn encode_record(buf: &mut Vec<u8>, series_ref: u64, mint: i64, maxt: i64, encoding: u8, data: &[u8]) {
    let start = buf.len();
    buf.extend_from_slice(&series_ref.to_be_bytes());
    buf.extend_from_slice(&mint.to_be_bytes());
    buf.extend_from_slice(&maxt.to_be_bytes());
    buf.push(encoding);
    encoding::put_uvarint(buf, data.len() as u64);
    buf.extend_from_slice(data);
    let crc = crc32c::crc32c(&buf[start..]);
    buf.extend_from_slice(&crc.to_be_bytes());
}

/// One record decoded in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub series_ref: u64,
    pub mint: i64,
    pub maxt: i64,
    /// As stored, out-of-order bit included.
    pub encoding: u8,
    pub data: Range<usize>,
    /// Offset just past the CRC: where the next record starts.
    pub end: usize,
}

/// What lies at an offset of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parsed {
    Record(Record),
    /// The end of the data: the end of the bytes, or zeros where a series
    /// ref, mint and maxt would be. Prometheus preallocates head chunk files
    /// (128 KiB on Linux, the whole file on Windows) and treats such zeros as
    /// the end, since series refs start at 1.
    End,
    /// Not a valid record, in Prometheus's words where it has them.
    Invalid(String),
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Decodes the record starting at `off` in `b` (a file's bytes from its
/// start). Never reads outside `b`.
pub(super) fn parse_at(b: &[u8], off: usize) -> Parsed {
    if off >= b.len() {
        return Parsed::End;
    }
    let rest = &b[off..];
    if rest.len() < META_PREFIX_SIZE {
        if rest.iter().all(|&x| x == 0) {
            return Parsed::End;
        }
        return Parsed::Invalid(format!(
            "head chunk file has some unread data, but doesn't include enough bytes to read the chunk header - required:{}, available:{}",
            off + MAX_CHUNK_META_SIZE,
            b.len()
        ));
    }
    let series_ref = be64(rest, 0);
    let mint = be64(rest, SERIES_REF_SIZE) as i64;
    let maxt = be64(rest, SERIES_REF_SIZE + MINT_MAXT_SIZE) as i64;
    if series_ref == 0 && mint == 0 && maxt == 0 {
        return Parsed::End;
    }
    let Some(&enc) = rest.get(META_PREFIX_SIZE) else {
        return Parsed::Invalid(format!(
            "head chunk file doesn't include enough bytes to read the chunk encoding - required:{}, available:{}",
            off + META_PREFIX_SIZE + 1,
            b.len()
        ));
    };
    let len_at = META_PREFIX_SIZE + ENCODING_SIZE;
    let len_field = &rest[len_at..rest.len().min(len_at + MAX_LEN_FIELD_SIZE)];
    let (data_len, n) = match encoding::uvarint(len_field) {
        // Prometheus reads at most five bytes, so longer is never its data.
        Ok((l, n)) if n <= MAX_LEN_FIELD_SIZE => (l, n),
        Ok(_) | Err(_) => return Parsed::Invalid("reading chunk length failed".to_owned()),
    };
    if data_len < 2 {
        // The first two data bytes are the sample count every reader needs.
        return Parsed::Invalid(format!("chunk data length {data_len} is shorter than the 2-byte sample count"));
    }
    let data_start = len_at + n;
    let data_end = match usize::try_from(data_len).ok().and_then(|l| data_start.checked_add(l)) {
        Some(e) => e,
        None => return Parsed::Invalid(format!("chunk data length {data_len} overflows")),
    };
    let crc_end = data_end + CRC_SIZE;
    if crc_end > rest.len() {
        return Parsed::Invalid(format!(
            "head chunk file doesn't include enough bytes to read the chunk - required:{}, available:{}",
            off.saturating_add(crc_end),
            b.len()
        ));
    }
    let want = u32::from_be_bytes([rest[data_end], rest[data_end + 1], rest[data_end + 2], rest[data_end + 3]]);
    let got = crc32c::crc32c(&rest[..data_end]);
    if got != want {
        return Parsed::Invalid(format!("checksum mismatch expected:{want:08x}, actual:{got:08x}"));
    }
    Parsed::Record(Record { series_ref, mint, maxt, encoding: enc, data: off + data_start..off + data_end, end: off + crc_end })
}

/// The sample count in a chunk's first two bytes (every encoding has it).
pub(super) fn num_samples(data: &[u8]) -> u16 {
    match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}
