//! Chunk encodings, byte for byte as Prometheus's `tsdb/chunkenc`, so that
//! head chunks and blocks written here are readable by Prometheus and back.
//!
//! Only the float XOR encoding is implemented; the histogram encodings are
//! named so that readers can recognise and reject them.

pub mod bstream;
pub mod xor;

#[cfg(test)]
mod interop_tests;

pub use xor::{XorChunk, XorIterator};

use crate::encoding::DecodeError;

/// A chunk's encoding as stored in chunk files (`chunks/`, `chunks_head/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    None = 0,
    Xor = 1,
    Histogram = 2,
    FloatHistogram = 3,
}

impl Encoding {
    pub fn from_u8(b: u8) -> Result<Self, ChunkError> {
        match b {
            0 => Ok(Encoding::None),
            1 => Ok(Encoding::Xor),
            2 => Ok(Encoding::Histogram),
            3 => Ok(Encoding::FloatHistogram),
            other => Err(ChunkError::InvalidEncoding(other)),
        }
    }

    /// Prometheus's name for the encoding (`Encoding.String()`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::None => "none",
            Encoding::Xor => "XOR",
            Encoding::Histogram => "histogram",
            Encoding::FloatHistogram => "floathistogram",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why chunk bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk encoding {0}")]
    InvalidEncoding(u8),
    #[error("chunk too short: {len} bytes, the header alone is 2")]
    TooShort { len: usize },
    /// The sample count promises more samples than the bytes hold.
    #[error("unexpected end of chunk data reading sample {sample} of {total}")]
    UnexpectedEof { sample: u16, total: u16 },
    #[error("reading sample {sample}: {source}")]
    Varint { sample: u16, source: DecodeError },
    #[error("sample {sample}: value window of {leading} leading and {sigbits} significant bits exceeds 64")]
    InvalidValueWidth { sample: u16, leading: u8, sigbits: u8 },
    /// Whole bytes left after the last sample: not a chunk we wrote.
    #[error("{bits} bits of trailing data after the last of {total} samples")]
    TrailingData { bits: usize, total: u16 },
}
