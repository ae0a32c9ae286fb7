//! The XOR float chunk (Prometheus's `EncXOR`, after Facebook's Gorilla):
//! timestamps as delta-of-delta in variable bit buckets, values as the XOR
//! with the previous value with a reused leading/trailing-zero window.
//!
//! Layout (`tsdb/docs/format/chunks.md`): a 2-byte big-endian sample count,
//! the first timestamp as a varint, the first value as 64 raw bits, the
//! second timestamp's delta as a uvarint, then per sample a delta-of-delta
//! and an XORed value, bit-packed, zero-padded to a byte.

use storage::{SampleIterator, StorageError, ValueType};

use super::ChunkError;
use super::bstream::{BitReader, BitWriter};
use crate::encoding::{self, DecodeError, MAX_VARINT_LEN64};

/// Most samples a chunk can count in its 2-byte header.
pub const MAX_SAMPLES: u16 = u16::MAX;

/// Capacity a new chunk starts with: Prometheus's choice, which fits a
/// typical 120-sample scrape chunk without regrowing.
const INITIAL_CAPACITY: usize = 128;

/// Spare capacity beyond which [`XorChunk::compact`] reallocates; below it a
/// copy costs more than it saves (Prometheus's threshold).
const COMPACT_CAPACITY_THRESHOLD: usize = 32;

/// Marks "no leading/trailing window chosen yet", so the first XOR that is
/// not zero always writes its own window.
const NO_WINDOW: u8 = 0xff;

/// The length of the sample-count header.
const HEADER_LEN: usize = 2;

/// An XOR chunk being appended to: the encoded bytes plus the state the
/// encoder needs for the next sample.
#[derive(Debug, Clone)]
pub struct XorChunk {
    b: BitWriter,
    // Appender state: the last sample and the last timestamp delta.
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    // Cached so that the head can answer time-range questions without
    // decoding.
    first_t: i64,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    pub fn new() -> Self {
        let mut stream = Vec::with_capacity(INITIAL_CAPACITY);
        stream.extend_from_slice(&[0, 0]);
        XorChunk { b: BitWriter::new(stream), t: 0, v: 0, t_delta: 0, leading: NO_WINDOW, trailing: 0, first_t: 0 }
    }

    /// Takes over encoded chunk bytes (from a chunk file or a snapshot),
    /// checks that they decode, and recovers the encoder state so that
    /// appending can continue where the bytes end.
    ///
    /// The state is rebuilt exactly as Prometheus's `XORChunk.Appender()`
    /// does, from what an iterator sees: in particular a chunk whose values
    /// never changed comes back with a zero-width window rather than "none",
    /// which makes the next differing value take the 64-bit reuse form, as
    /// it would in Prometheus.
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<Self, ChunkError> {
        if bytes.len() < HEADER_LEN {
            return Err(ChunkError::TooShort { len: bytes.len() });
        }
        let mut dec = Decoder::new(&bytes);
        let mut first_t = 0;
        while dec.next()? {
            if dec.read == 1 {
                first_t = dec.t;
            }
        }
        let remaining = dec.br.remaining();
        // Up to one wholly free byte is Prometheus's (see `BitWriter`).
        if remaining > 8 {
            return Err(ChunkError::TrailingData { bits: remaining, total: dec.total });
        }
        let (t, v, t_delta, trailing) = (dec.t, dec.v, dec.t_delta, dec.trailing);
        let leading = if dec.total == 0 { NO_WINDOW } else { dec.leading };
        let free = remaining as u8;
        // Writes OR into the padding bits, so they must be zero; Prometheus
        // always leaves them so, but the bytes came from disk.
        if free > 0 {
            if let Some(last) = bytes.last_mut() {
                *last &= !(((1u16 << free) - 1) as u8);
            }
        }
        Ok(XorChunk { b: BitWriter::with_free_bits(bytes, free), t, v, t_delta, leading, trailing, first_t })
    }

    pub fn encoding(&self) -> super::Encoding {
        super::Encoding::Xor
    }

    /// The whole encoded chunk, header included.
    pub fn bytes(&self) -> &[u8] {
        self.b.bytes()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.b.into_vec()
    }

    pub fn num_samples(&self) -> u16 {
        let b = self.b.bytes();
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Timestamp of the first sample, `None` when empty.
    pub fn min_time(&self) -> Option<i64> {
        (self.num_samples() > 0).then_some(self.first_t)
    }

    /// Timestamp of the last sample, `None` when empty.
    pub fn max_time(&self) -> Option<i64> {
        (self.num_samples() > 0).then_some(self.t)
    }

    /// The last sample as (timestamp, value bits), `None` when empty.
    pub fn last(&self) -> Option<(i64, u64)> {
        (self.num_samples() > 0).then_some((self.t, self.v))
    }

    /// Drops spare capacity once the chunk is cut, since a full chunk may
    /// stay in memory for hours.
    pub fn compact(&mut self) {
        if self.b.capacity() > self.bytes().len() + COMPACT_CAPACITY_THRESHOLD {
            self.b.shrink_to_fit();
        }
    }

    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(self.bytes())
    }

    /// Appends a sample. Like Prometheus, it encodes whatever it is given:
    /// the caller ensures timestamps increase (an equal or earlier one
    /// encodes and decodes faithfully, but breaks the series' order).
    ///
    /// The caller must cut a new chunk before [`MAX_SAMPLES`]; a sample
    /// beyond it is not written (the head cuts at 120 samples, far below).
    pub fn append(&mut self, t: i64, v: f64) {
        let num = self.num_samples();
        if num == MAX_SAMPLES {
            debug_assert!(false, "XOR chunk is full");
            return;
        }
        let v = v.to_bits();
        let mut t_delta = 0u64;
        match num {
            0 => {
                let mut buf = Vec::with_capacity(MAX_VARINT_LEN64);
                encoding::put_varint(&mut buf, t);
                for byte in buf {
                    self.b.write_byte(byte);
                }
                self.b.write_bits(v, 64);
                self.first_t = t;
            }
            1 => {
                // Go computes in wrapping int64/uint64; so do we, which keeps
                // even nonsensical inputs decodable.
                t_delta = t.wrapping_sub(self.t) as u64;
                let (buf, n) = encoding::uvarint_bytes(t_delta);
                for &byte in &buf[..n] {
                    self.b.write_byte(byte);
                }
                self.write_value(v);
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                // Gorilla's buckets are sized for seconds; Prometheus widened
                // them for milliseconds.
                if dod == 0 {
                    self.b.write_bit(false);
                } else if bit_range(dod, 14) {
                    self.b.write_bits(0b10, 2);
                    self.b.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.b.write_bits(0b110, 3);
                    self.b.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.b.write_bits(0b1110, 4);
                    self.b.write_bits(dod as u64, 20);
                } else {
                    self.b.write_bits(0b1111, 4);
                    self.b.write_bits(dod as u64, 64);
                }
                self.write_value(v);
            }
        }
        self.t = t;
        self.v = v;
        self.t_delta = t_delta;
        let header = (num + 1).to_be_bytes();
        self.b.bytes_mut()[..HEADER_LEN].copy_from_slice(&header);
    }

    fn write_value(&mut self, v: u64) {
        let delta = v ^ self.v;
        if delta == 0 {
            self.b.write_bit(false);
            return;
        }
        self.b.write_bit(true);

        // Only 5 bits hold the leading count.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;

        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            // The meaningful bits fit in the previous window: reuse it.
            self.b.write_bit(false);
            self.b.write_bits(delta >> self.trailing, 64 - self.leading - self.trailing);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.b.write_bit(true);
            self.b.write_bits(u64::from(leading), 5);
            // 64 significant bits do not fit in 6 bits and are written as 0;
            // 0 significant bits never occur since the XOR is not zero.
            let sigbits = 64 - leading - trailing;
            self.b.write_bits(u64::from(sigbits), 6);
            self.b.write_bits(delta >> trailing, sigbits);
        }
    }
}

/// Whether `x` fits the `nbits`-bit bucket. The ranges are Prometheus's
/// (`-(2^(n-1)-1) ..= 2^(n-1)`, see its `docs/bstream.md`), not the usual
/// two's complement ones, and the decoder relies on exactly them.
fn bit_range(x: i64, nbits: u8) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

/// The decoding state shared by iterators and [`XorChunk::from_bytes`].
#[derive(Debug, Clone)]
struct Decoder<'a> {
    br: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    // A header shorter than two bytes, reported on the first read.
    short: Option<usize>,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let (total, stream, short) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest, None),
            _ => (0, &[][..], Some(bytes.len())),
        };
        Decoder { br: BitReader::new(stream), total, read: 0, t: i64::MIN, v: 0, t_delta: 0, leading: 0, trailing: 0, short }
    }

    fn eof(&self) -> ChunkError {
        ChunkError::UnexpectedEof { sample: self.read, total: self.total }
    }

    fn bit(&mut self) -> Result<bool, ChunkError> {
        self.br.read_bit().ok_or_else(|| self.eof())
    }

    fn bits(&mut self, n: u8) -> Result<u64, ChunkError> {
        self.br.read_bits(n).ok_or_else(|| self.eof())
    }

    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut buf = [0u8; MAX_VARINT_LEN64];
        for slot in buf.iter_mut() {
            let byte = self.br.read_byte().ok_or_else(|| self.eof())?;
            *slot = byte;
            if byte < 0x80 {
                break;
            }
        }
        // The loop stops at a terminating byte or after ten continuation
        // bytes, which Go's ReadUvarint calls an overflow (a slice decoder
        // sees only a short buffer).
        encoding::uvarint(&buf).map(|(x, _)| x).map_err(|_| ChunkError::Varint { sample: self.read, source: DecodeError::VarintOverflow })
    }

    /// Decodes the next sample; `Ok(false)` after the last one.
    fn next(&mut self) -> Result<bool, ChunkError> {
        if let Some(len) = self.short {
            return Err(ChunkError::TooShort { len });
        }
        if self.read == self.total {
            return Ok(false);
        }
        match self.read {
            0 => {
                self.t = encoding::unzigzag(self.uvarint()?);
                self.v = self.bits(64)?;
                self.read = 1;
                return Ok(true);
            }
            1 => {
                self.t_delta = self.uvarint()?;
            }
            _ => {
                // The prefix is up to four bits: 0, 10, 110, 1110 or 1111.
                let mut ones = 0;
                while ones < 4 && self.bit()? {
                    ones += 1;
                }
                let dod = match ones {
                    0 => 0,
                    4 => self.bits(64)? as i64,
                    _ => {
                        let sz: u8 = [14, 17, 20][ones - 1];
                        let mut bits = self.bits(sz)?;
                        // Values above the bucket's positive bound are
                        // negatives in sz-bit two's complement.
                        if bits > 1 << (sz - 1) {
                            bits = bits.wrapping_sub(1 << sz);
                        }
                        bits as i64
                    }
                };
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
            }
        }
        self.t = self.t.wrapping_add(self.t_delta as i64);
        self.read_value()?;
        self.read += 1;
        Ok(true)
    }

    fn read_value(&mut self) -> Result<(), ChunkError> {
        if !self.bit()? {
            return Ok(());
        }
        if self.bit()? {
            let leading = self.bits(5)? as u8;
            let mut sigbits = self.bits(6)? as u8;
            if sigbits == 0 {
                sigbits = 64;
            }
            // Prometheus never writes a window wider than 64 bits; reject one
            // rather than decode nonsense.
            if leading + sigbits > 64 {
                return Err(ChunkError::InvalidValueWidth { sample: self.read, leading, sigbits });
            }
            self.leading = leading;
            self.trailing = 64 - leading - sigbits;
        }
        let sigbits = 64 - self.leading - self.trailing;
        let bits = self.bits(sigbits)?;
        self.v ^= bits << self.trailing;
        Ok(())
    }
}

/// Iterates over an encoded XOR chunk's samples in order, decoding lazily.
/// Borrowing the bytes lets it read mmapped chunks in place.
#[derive(Debug)]
pub struct XorIterator<'a> {
    dec: Decoder<'a>,
    done: bool,
    err: Option<ChunkError>,
    // The trait hands out `&StorageError`, so the converted error is kept.
    storage_err: Option<StorageError>,
}

impl<'a> XorIterator<'a> {
    /// An iterator over raw chunk bytes, header included.
    pub fn new(bytes: &'a [u8]) -> Self {
        XorIterator { dec: Decoder::new(bytes), done: false, err: None, storage_err: None }
    }

    /// The decoding error that stopped iteration, in this module's terms.
    pub fn chunk_err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }
}

impl SampleIterator for XorIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.done {
            return ValueType::None;
        }
        match self.dec.next() {
            Ok(true) => ValueType::Float,
            Ok(false) => {
                self.done = true;
                ValueType::None
            }
            Err(e) => {
                self.done = true;
                self.storage_err = Some(StorageError::Other(e.to_string()));
                self.err = Some(e);
                ValueType::None
            }
        }
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.done {
            // Exhaustion is final, as Prometheus's Iterator contract says.
            return ValueType::None;
        }
        while self.dec.read == 0 || t > self.dec.t {
            if self.next() == ValueType::None {
                return ValueType::None;
            }
        }
        ValueType::Float
    }

    fn at(&self) -> (i64, f64) {
        (self.dec.t, f64::from_bits(self.dec.v))
    }

    fn err(&self) -> Option<&StorageError> {
        self.storage_err.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk_of(samples: &[(i64, f64)]) -> XorChunk {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v);
        }
        c
    }

    fn decode(bytes: &[u8]) -> (Vec<(i64, u64)>, Option<ChunkError>) {
        let mut it = XorIterator::new(bytes);
        let mut out = Vec::new();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push((t, v.to_bits()));
        }
        (out, it.chunk_err().cloned())
    }

    fn bits_of(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    #[test]
    fn golden_empty() {
        // Just the sample count, 0, big-endian.
        assert_eq!(XorChunk::new().bytes(), &[0x00, 0x00]);
    }

    #[test]
    fn golden_one_sample() {
        // The tail byte is what promtool 2.42 writes too: see the one-sample
        // chunks in `block/testdata/promtool-2.42.chunks`.
        let c = chunk_of(&[(1000, 1.0)]);
        #[rustfmt::skip]
        let want = [
            0x00, 0x01,       // 1 sample
            0xd0, 0x0f,       // varint(1000): zig-zag 2000 = 0b1111_1010000 → 0x50|0x80, 0x0f
            0x3f, 0xf0, 0, 0, 0, 0, 0, 0, // 1.0 as raw IEEE-754 bits, big-endian
            0x00,             // Prometheus's empty tail byte after whole bytes
        ];
        assert_eq!(c.bytes(), &want);
    }

    #[test]
    fn golden_new_window_and_zero_dod() {
        // (1000, 1.0), (1015, 1.0), (1030, 2.0)
        let c = chunk_of(&[(1000, 1.0), (1015, 1.0), (1030, 2.0)]);
        #[rustfmt::skip]
        let want = [
            0x00, 0x03,
            0xd0, 0x0f,
            0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
            0x0f, // uvarint(15): the second timestamp's delta
            // Then bits: '0' (1.0 ^ 1.0 = 0), '0' (dod 15-15 = 0),
            // '1' (value changed) '1' (new window): 2.0 ^ 1.0 = 0x7ff0_0000_0000_0000
            // has 1 leading and 52 trailing zeros → leading '00001',
            // sigbits 11 '001011', then the 11 bits '11111111111'.
            // 0011 0000 | 1001 0111 | 1111 1111 | 11 + 6 zero padding bits
            0x30, 0x97, 0xff, 0xc0,
        ];
        assert_eq!(c.bytes(), &want);
    }

    #[test]
    fn golden_window_reuse() {
        // (0, 1.0), (1, 2.0), (2, 4.0)
        let c = chunk_of(&[(0, 1.0), (1, 2.0), (2, 4.0)]);
        #[rustfmt::skip]
        let want = [
            0x00, 0x03,
            0x00, // varint(0)
            0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
            0x01, // uvarint(1)
            // Sample 1 value: '1' '1' '00001' '001011' '11111111111' (as above),
            // 24 bits: 1100 0010 | 0101 1111 | 1111 1111
            0xc2, 0x5f, 0xff,
            // Sample 2: '0' (dod 0); 4.0 ^ 2.0 = 0x0010_0000_0000_0000 has
            // 11 leading, 52 trailing zeros, inside the window (1, 52): '1' '0'
            // then the window's 11 bits of (xor >> 52) = '00000000001'.
            // 0100 0000 | 0000 01 + 2 padding bits
            0x40, 0x04,
        ];
        assert_eq!(c.bytes(), &want);
    }

    #[test]
    fn golden_dod_14_bit_bucket() {
        // Constant value 0.0; t = 0, 10, 30 → dod = 20 - 10 = 10.
        let c = chunk_of(&[(0, 0.0), (10, 0.0), (30, 0.0)]);
        #[rustfmt::skip]
        let want = [
            0x00, 0x03,
            0x00,
            0, 0, 0, 0, 0, 0, 0, 0,
            0x0a, // uvarint(10)
            // '0' (value same), '10' + 10 in 14 bits '00000000001010', '0' (value same)
            // 0100 0000 | 0000 0101 | 00 + padding
            0x40, 0x05, 0x00,
        ];
        assert_eq!(c.bytes(), &want);

        // Negative: t = 0, 10, 15 → dod = 5 - 10 = -5 = 16379 in 14 bits
        // ('11111111111011'): '0' '10' '11111111111011' '0'
        // 0101 1111 | 1111 1101 | 10 + padding
        let c = chunk_of(&[(0, 0.0), (10, 0.0), (15, 0.0)]);
        assert_eq!(&c.bytes()[12..], &[0x5f, 0xfd, 0x80]);
    }

    /// The bucket prefix chosen for a third sample with the given dod.
    fn dod_prefix(dod: i64) -> u8 {
        let c = chunk_of(&[(0, 0.0), (1000, 0.0), (2000 + dod, 0.0)]);
        // Skip header, varint(0), 8 value bytes and the uvarint(1000) (2 bytes).
        let mut r = BitReader::new(&c.bytes()[13..]);
        assert_eq!(r.read_bit(), Some(false), "second value unchanged");
        let mut ones = 0;
        while ones < 4 && r.read_bit() == Some(true) {
            ones += 1;
        }
        ones
    }

    #[test]
    fn dod_bucket_boundaries_are_prometheus_ranges() {
        // bitRange(x, n): -(2^(n-1) - 1) <= x <= 2^(n-1).
        assert_eq!(dod_prefix(0), 0);
        assert_eq!(dod_prefix(8192), 1);
        assert_eq!(dod_prefix(-8191), 1);
        assert_eq!(dod_prefix(8193), 2);
        assert_eq!(dod_prefix(-8192), 2);
        assert_eq!(dod_prefix(65536), 2);
        assert_eq!(dod_prefix(-65535), 2);
        assert_eq!(dod_prefix(65537), 3);
        assert_eq!(dod_prefix(-65536), 3);
        assert_eq!(dod_prefix(524288), 3);
        assert_eq!(dod_prefix(-524287), 3);
        assert_eq!(dod_prefix(524289), 4);
        assert_eq!(dod_prefix(-524288), 4);
        for dod in [8192, -8191, 8193, -8192, 65536, -65535, 65537, -65536, 524288, -524287, 524289, -524288, i64::MAX / 4] {
            let samples = [(0, 0.0), (1000, 0.0), (2000 + dod, 0.0)];
            assert_eq!(decode(chunk_of(&samples).bytes()).0, bits_of(&samples), "dod {dod}");
        }
    }

    #[test]
    fn sixty_four_significant_bits() {
        // 0.0 ^ -5e-324 = 0x8000_0000_0000_0001: no leading or trailing zeros,
        // so "64 significant bits" is written as 0 in its 6-bit field.
        let samples = [(0, 0.0), (1, f64::from_bits(0x8000_0000_0000_0001)), (2, 1.5), (3, f64::from_bits(0x8000_0000_0000_0001))];
        let c = chunk_of(&samples);
        assert_eq!(decode(c.bytes()), (bits_of(&samples), None));
        // Bits after uvarint(1): '1' '1' '00000' '000000' then the 64 bits
        // starting with '100': 1100 0000 | 0000 0100.
        assert_eq!(c.bytes()[12], 0b1100_0000);
        assert_eq!(c.bytes()[13], 0b0000_0100);
    }

    #[test]
    fn stale_marker_round_trips_bit_exactly() {
        let stale = model::value::stale_nan();
        let samples = [(0, 1.0), (15_000, stale), (30_000, f64::NAN), (45_000, stale), (60_000, 2.0), (75_000, stale)];
        let (got, err) = decode(chunk_of(&samples).bytes());
        assert!(err.is_none());
        assert_eq!(got, bits_of(&samples));
        assert_eq!(got[1].1, model::value::STALE_NAN_BITS);
        assert_eq!(got[1].1, 0x7ff0_0000_0000_0002);
    }

    #[test]
    fn seek_behaviour() {
        let c = chunk_of(&[(10, 1.0), (20, 2.0), (30, 3.0)]);
        let mut it = c.iter();
        // Before the first sample: lands on the first.
        assert_eq!(it.seek(5), ValueType::Float);
        assert_eq!(it.at(), (10, 1.0));
        // Seeking to the current timestamp or earlier stays put.
        assert_eq!(it.seek(10), ValueType::Float);
        assert_eq!(it.seek(i64::MIN), ValueType::Float);
        assert_eq!(it.at(), (10, 1.0));
        // Between samples: the next one at or after.
        assert_eq!(it.seek(15), ValueType::Float);
        assert_eq!(it.at(), (20, 2.0));
        // Repeated and backwards seeks never move back.
        assert_eq!(it.seek(15), ValueType::Float);
        assert_eq!(it.seek(11), ValueType::Float);
        assert_eq!(it.at(), (20, 2.0));
        assert_eq!(it.seek(30), ValueType::Float);
        assert_eq!(it.at(), (30, 3.0));
        // After the last: exhausted, and stays exhausted.
        assert_eq!(it.seek(31), ValueType::None);
        assert_eq!(it.next(), ValueType::None);
        assert_eq!(it.seek(0), ValueType::None);
        assert!(it.err().is_none());

        // A fresh iterator seeking far back still yields the first sample.
        let mut it = c.iter();
        assert_eq!(it.seek(i64::MIN), ValueType::Float);
        assert_eq!(it.at(), (10, 1.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (20, 2.0));

        // Seek past everything on a fresh iterator.
        let mut it = c.iter();
        assert_eq!(it.seek(1000), ValueType::None);
        assert!(it.err().is_none());

        // Empty chunk.
        let empty = XorChunk::new();
        assert_eq!(empty.iter().seek(0), ValueType::None);
    }

    #[test]
    fn from_bytes_continues_appending() {
        let samples: Vec<(i64, f64)> = (0..50).map(|i| (i * 15_000 + (i % 3), (i as f64) * 0.25)).collect();
        for split in 0..samples.len() {
            let head = chunk_of(&samples[..split]);
            let mut c = XorChunk::from_bytes(head.bytes().to_vec()).unwrap();
            assert_eq!(c.bytes(), head.bytes());
            assert_eq!(c.num_samples() as usize, split);
            for &(t, v) in &samples[split..] {
                c.append(t, v);
            }
            assert_eq!(decode(c.bytes()), (bits_of(&samples), None), "split {split}");
            assert_eq!(c.min_time(), Some(samples[0].0));
            assert_eq!(c.max_time(), Some(samples[samples.len() - 1].0));
        }
    }

    #[test]
    fn from_bytes_mirrors_prometheus_appender_state() {
        // A chunk whose values never changed recovers a zero-width window,
        // as Prometheus's Appender() does, so the next change is written with
        // the reuse form and all 64 bits ('1' '0' + 64 bits).
        let head = chunk_of(&[(0, 1.0), (1, 1.0)]);
        let mut c = XorChunk::from_bytes(head.bytes().to_vec()).unwrap();
        c.append(2, 2.0);
        let mut live = head.clone();
        live.append(2, 2.0);
        assert_ne!(c.bytes(), live.bytes());
        // 13 bytes with 7 free bits; recovered: '0' (dod) '1' '0' + 64 bits =
        // 67 bits → 8 more bytes. Live: '0' '1' '1' + 5 + 6 + 11 = 25 bits → 3.
        assert_eq!(head.bytes().len(), 13);
        assert_eq!(c.bytes().len(), 13 + 8);
        assert_eq!(live.bytes().len(), 13 + 3);
        let want = bits_of(&[(0, 1.0), (1, 1.0), (2, 2.0)]);
        assert_eq!(decode(c.bytes()).0, want);
        assert_eq!(decode(live.bytes()).0, want);
    }

    #[test]
    fn from_bytes_rejects_bad_chunks() {
        assert_eq!(XorChunk::from_bytes(vec![0]).unwrap_err(), ChunkError::TooShort { len: 1 });
        let full = chunk_of(&[(0, 1.0), (1, 2.0), (2, 4.0)]);
        let cut = full.bytes()[..full.bytes().len() - 1].to_vec();
        assert!(matches!(XorChunk::from_bytes(cut), Err(ChunkError::UnexpectedEof { sample: 2, total: 3 })));
        let mut long = full.bytes().to_vec();
        long.extend_from_slice(&[0, 0]);
        assert!(matches!(XorChunk::from_bytes(long), Err(ChunkError::TrailingData { .. })));
        // A first timestamp whose varint never ends.
        let mut bad = vec![0x00, 0x01];
        bad.extend_from_slice(&[0xff; 12]);
        assert!(matches!(XorChunk::from_bytes(bad), Err(ChunkError::Varint { sample: 0, .. })));
        // An iterator reports the same problem through the storage trait.
        let mut it = XorIterator::new(&full.bytes()[..5]);
        assert_eq!(it.next(), ValueType::None);
        assert!(it.err().is_some());
        assert!(matches!(it.chunk_err(), Some(ChunkError::UnexpectedEof { sample: 0, total: 3 })));
    }

    #[test]
    fn compact_shrinks_capacity() {
        let mut c = chunk_of(&[(0, 1.0)]);
        assert!(c.b.capacity() >= INITIAL_CAPACITY);
        c.compact();
        assert!(c.b.capacity() < c.bytes().len() + COMPACT_CAPACITY_THRESHOLD);
        assert_eq!(decode(c.bytes()).0, bits_of(&[(0, 1.0)]));
    }

    #[test]
    fn many_samples() {
        let samples: Vec<(i64, f64)> = (0..200).map(|i| (1_700_000_000_000 + i * 15_000, (i as f64).sin())).collect();
        let c = chunk_of(&samples);
        assert_eq!(c.num_samples(), 200);
        assert_eq!(decode(c.bytes()), (bits_of(&samples), None));
    }

    fn value_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(model::value::stale_nan()),
            Just(0.0),
            Just(-0.0),
            any::<u64>().prop_map(f64::from_bits),
            (0u32..1000).prop_map(|x| f64::from(x) * 0.5),
        ]
    }

    fn delta_strategy() -> impl Strategy<Value = i64> {
        prop_oneof![Just(0i64), 14_990i64..15_010, 0i64..100, -(1i64 << 21)..(1i64 << 21), -(1i64 << 40)..(1i64 << 40), any::<i64>(),]
    }

    fn samples_strategy(max: usize) -> impl Strategy<Value = Vec<(i64, f64)>> {
        (any::<i64>(), prop::collection::vec((delta_strategy(), value_strategy()), 0..max)).prop_map(|(t0, rest)| {
            let mut t = t0;
            rest.into_iter()
                .map(|(d, v)| {
                    t = t.wrapping_add(d);
                    (t, v)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn round_trip(samples in samples_strategy(200)) {
            let c = chunk_of(&samples);
            prop_assert_eq!(c.num_samples() as usize, samples.len());
            let (got, err) = decode(c.bytes());
            prop_assert!(err.is_none());
            prop_assert_eq!(got, bits_of(&samples));
        }

        #[test]
        fn round_trip_after_recovery(samples in samples_strategy(130), split in 0usize..130) {
            let split = split.min(samples.len());
            let head = chunk_of(&samples[..split]);
            let mut c = XorChunk::from_bytes(head.bytes().to_vec()).unwrap();
            for &(t, v) in &samples[split..] {
                c.append(t, v);
            }
            prop_assert_eq!(decode(c.bytes()), (bits_of(&samples), None));
        }

        #[test]
        fn seek_finds_first_at_or_after(samples in prop::collection::vec((0i64..50_000, value_strategy()), 1..150), targets in prop::collection::vec(-100i64..60_000_000, 1..10)) {
            // Strictly increasing timestamps, as the head guarantees.
            let mut t = 0i64;
            let samples: Vec<(i64, f64)> = samples.into_iter().map(|(d, v)| { t += d + 1; (t, v) }).collect();
            let c = chunk_of(&samples);
            let mut it = c.iter();
            let mut pos: Option<usize> = None;
            for target in targets {
                let got = it.seek(target);
                // Expected: the first index >= current position with t >= target.
                let from = pos.unwrap_or(0);
                let want = (from..samples.len()).find(|&i| samples[i].0 >= target);
                match want {
                    Some(i) => {
                        prop_assert_eq!(got, ValueType::Float);
                        prop_assert_eq!(it.at().0, samples[i].0);
                        pos = Some(i);
                    }
                    None => {
                        prop_assert_eq!(got, ValueType::None);
                        break;
                    }
                }
            }
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut it = XorIterator::new(&bytes);
            let mut n = 0u32;
            while it.next() == ValueType::Float {
                n += 1;
            }
            prop_assert!(n <= u32::from(u16::MAX));
            let _ = XorChunk::from_bytes(bytes);
        }
    }
}
