//! Byte-level encoding helpers shared by the on-disk formats (Prometheus's
//! `tsdb/encoding`): Go-compatible varints and a bounds-checked decoding
//! cursor.
//!
//! Go's `encoding/binary` varints are LEB128 (unsigned) and zig-zag LEB128
//! (signed); every format in this crate uses them, so they live here once
//! rather than in each format's module.

/// Longest encoding of a 64-bit varint (Go's `binary.MaxVarintLen64`).
pub const MAX_VARINT_LEN64: usize = 10;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Prometheus's wording for reading past the end of a buffer.
    #[error("invalid size")]
    InvalidSize,
    /// A varint longer than 10 bytes or above `u64::MAX` (Go's wording).
    #[error("binary: varint overflows a 64-bit integer")]
    VarintOverflow,
}

/// Appends `x` as an unsigned LEB128 varint, as Go's `binary.PutUvarint`.
pub fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

/// Appends `x` zig-zag encoded, as Go's `binary.PutVarint`.
pub fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, zigzag(x));
}

/// Writes `x` as a uvarint into a stack buffer, returning the used length;
/// for writers that cannot append to a `Vec` (the chunk bit stream).
pub fn uvarint_bytes(x: u64) -> ([u8; MAX_VARINT_LEN64], usize) {
    let mut out = [0u8; MAX_VARINT_LEN64];
    let mut x = x;
    let mut n = 0;
    while x >= 0x80 {
        out[n] = (x as u8) | 0x80;
        x >>= 7;
        n += 1;
    }
    out[n] = x as u8;
    (out, n + 1)
}

/// Zig-zag maps signed to unsigned so that small magnitudes stay short.
pub fn zigzag(x: i64) -> u64 {
    ((x as u64) << 1) ^ ((x >> 63) as u64)
}

/// Inverse of [`zigzag`].
pub fn unzigzag(ux: u64) -> i64 {
    let x = (ux >> 1) as i64;
    if ux & 1 != 0 { !x } else { x }
}

/// Decodes a uvarint from the front of `b`, returning the value and the
/// number of bytes read. Mirrors Go's `binary.Uvarint` limits: more than ten
/// bytes, or a tenth byte above 1, overflows.
pub fn uvarint(b: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut x: u64 = 0;
    let mut shift = 0u32;
    for (i, &byte) in b.iter().enumerate() {
        if i == MAX_VARINT_LEN64 {
            return Err(DecodeError::VarintOverflow);
        }
        if byte < 0x80 {
            if i == MAX_VARINT_LEN64 - 1 && byte > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            return Ok((x | (u64::from(byte) << shift), i + 1));
        }
        x |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    Err(DecodeError::InvalidSize)
}

/// Decodes a zig-zag varint from the front of `b`.
pub fn varint(b: &[u8]) -> Result<(i64, usize), DecodeError> {
    let (ux, n) = uvarint(b)?;
    Ok((unzigzag(ux), n))
}

/// A cursor over a byte slice that checks every read (Prometheus's
/// `Decbuf`). Unlike Go's sticky error, each read returns a `Result` so that
/// `?` stops decoding at the first problem.
#[derive(Debug, Clone)]
pub struct Decbuf<'a> {
    b: &'a [u8],
}

impl<'a> Decbuf<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Decbuf { b }
    }

    /// Bytes not yet consumed.
    pub fn len(&self) -> usize {
        self.b.len()
    }

    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    /// The unconsumed bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&x, rest) = self.b.split_first().ok_or(DecodeError::InvalidSize)?;
        self.b = rest;
        Ok(x)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::InvalidSize);
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    pub fn be32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn be64(&mut self) -> Result<u64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn be64_f64(&mut self) -> Result<f64, DecodeError> {
        self.be64().map(f64::from_bits)
    }

    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let (x, n) = uvarint(self.b)?;
        self.b = &self.b[n..];
        Ok(x)
    }

    pub fn varint(&mut self) -> Result<i64, DecodeError> {
        let (x, n) = varint(self.b)?;
        self.b = &self.b[n..];
        Ok(x)
    }

    /// A uvarint length followed by that many bytes.
    pub fn uvarint_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::InvalidSize)?;
        self.bytes(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        // Values from Go's encoding/binary varint tests.
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for &(x, want) in cases {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, x);
            assert_eq!(buf, want);
            let (a, n) = uvarint_bytes(x);
            assert_eq!(&a[..n], want);
            assert_eq!(uvarint(want).unwrap(), (x, want.len()));
        }
        // Zig-zag: -1 → 1, 1 → 2, -64 → 127.
        for (x, want) in [(0i64, 0u64), (-1, 1), (1, 2), (-64, 127), (i64::MIN, u64::MAX), (i64::MAX, u64::MAX - 1)] {
            assert_eq!(zigzag(x), want);
            assert_eq!(unzigzag(want), x);
        }
    }

    #[test]
    fn bad_varints_are_errors() {
        assert_eq!(uvarint(&[]), Err(DecodeError::InvalidSize));
        assert_eq!(uvarint(&[0x80, 0x80]), Err(DecodeError::InvalidSize));
        // As Go's binary.Uvarint: ten continuation bytes may still be a
        // short buffer; an eleventh byte is an overflow.
        assert_eq!(uvarint(&[0xff; 10]), Err(DecodeError::InvalidSize));
        assert_eq!(uvarint(&[0xff; 11]), Err(DecodeError::VarintOverflow));
        assert_eq!(uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]), Err(DecodeError::VarintOverflow));
        let mut d = Decbuf::new(&[0x03, b'a', b'b']);
        assert_eq!(d.uvarint_bytes(), Err(DecodeError::InvalidSize));
    }
}
