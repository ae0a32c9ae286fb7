//! Bit streams for the chunk encodings (Prometheus's `bstream`): bits are
//! written and read most significant first, so that a chunk's bytes are the
//! same as Prometheus writes them.

/// An append-only bit stream over a byte vector.
///
/// The vector may begin with bytes that are not part of the bit stream
/// (a chunk's 2-byte sample count); they are only ever touched through
/// [`BitWriter::bytes_mut`].
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    stream: Vec<u8>,
    // Bits still free at the right of the last byte; 0 means the next write
    // starts a new byte. 8 means the last byte is wholly free: Prometheus
    // leaves such a byte after writing whole bytes from a byte boundary, and
    // chunks must keep it to be byte-identical.
    free: u8,
}

impl BitWriter {
    /// A writer that appends after `stream`'s existing bytes, starting a new
    /// byte.
    pub fn new(stream: Vec<u8>) -> Self {
        BitWriter { stream, free: 0 }
    }

    /// A writer that continues a stream whose last byte has `free` unused
    /// low bits (`free <= 8`). The unused bits must be zero, since writes OR
    /// into them.
    pub fn with_free_bits(stream: Vec<u8>, free: u8) -> Self {
        debug_assert!(free <= 8);
        debug_assert!(free == 0 || stream.last().is_some_and(|&b| u64::from(b) & low_mask(free) == 0));
        BitWriter { stream, free }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.stream
    }

    /// The bytes, for patching a header in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.stream
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.stream
    }

    /// Bits still free in the last byte.
    pub fn free_bits(&self) -> u8 {
        self.free
    }

    pub fn capacity(&self) -> usize {
        self.stream.capacity()
    }

    pub fn shrink_to_fit(&mut self) {
        self.stream.shrink_to_fit();
    }

    /// Appends a zero byte. Chunks stay in memory for hours, so the buffer
    /// grows in small steps rather than doubling: a finished chunk then
    /// wastes at most one step.
    fn push_zero(&mut self) {
        const GROWTH: usize = 32;
        if self.stream.len() == self.stream.capacity() {
            self.stream.reserve_exact(GROWTH);
        }
        self.stream.push(0);
    }

    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.push_zero();
            self.free = 8;
        }
        self.free -= 1;
        if bit {
            if let Some(last) = self.stream.last_mut() {
                *last |= 1 << self.free;
            }
        }
    }

    /// Writes a whole byte at the current bit position.
    pub fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }

    /// Writes the `nbits` low bits of `u`, most significant first.
    pub fn write_bits(&mut self, u: u64, nbits: u8) {
        debug_assert!(nbits <= 64);
        // Prometheus writes the whole bytes of `u` with `writeByte`, which
        // always appends a byte for the bits that did not fit: from a byte
        // boundary that byte stays empty until the next write. Mirror it so
        // that chunks end exactly as Prometheus's do.
        let empty_tail = nbits >= 8 && nbits % 8 == 0 && (self.free == 0 || self.free == 8);
        let mut left = nbits;
        while left > 0 {
            if self.free == 0 {
                self.push_zero();
                self.free = 8;
            }
            // Fill as many of the free bits of the last byte as we can in one go.
            let take = left.min(self.free);
            let chunk = ((u >> (left - take)) & low_mask(take)) as u8;
            self.free -= take;
            left -= take;
            if let Some(last) = self.stream.last_mut() {
                *last |= chunk << self.free;
            }
        }
        if empty_tail {
            self.push_zero();
            self.free = 8;
        }
    }
}

/// A bit mask of the `n` low bits, valid for `n` up to 64.
#[inline]
fn low_mask(n: u8) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Reads bits from a byte slice, most significant first.
///
/// Bits are pulled into a 64-bit buffer eight bytes at a time, so that most
/// reads are a shift and a mask.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    stream: &'a [u8],
    // Next byte of `stream` to load into `buffer`.
    offset: usize,
    buffer: u64,
    // Number of low bits of `buffer` not yet read.
    valid: u8,
}

impl<'a> BitReader<'a> {
    pub fn new(stream: &'a [u8]) -> Self {
        BitReader { stream, offset: 0, buffer: 0, valid: 0 }
    }

    /// Bits read so far.
    pub fn position(&self) -> usize {
        self.offset * 8 - usize::from(self.valid)
    }

    /// Bits left to read.
    pub fn remaining(&self) -> usize {
        self.stream.len() * 8 - self.position()
    }

    fn refill(&mut self) -> bool {
        let rest = &self.stream[self.offset..];
        if rest.is_empty() {
            return false;
        }
        if let Some(eight) = rest.first_chunk::<8>() {
            self.buffer = u64::from_be_bytes(*eight);
            self.offset += 8;
            self.valid = 64;
        } else {
            self.buffer = rest.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            self.valid = (rest.len() * 8) as u8;
            self.offset = self.stream.len();
        }
        true
    }

    pub fn read_bit(&mut self) -> Option<bool> {
        if self.valid == 0 && !self.refill() {
            return None;
        }
        self.valid -= 1;
        Some((self.buffer >> self.valid) & 1 == 1)
    }

    /// Reads `nbits` (1 to 64) bits into the low bits of the result; `None`
    /// when the stream ends first.
    pub fn read_bits(&mut self, nbits: u8) -> Option<u64> {
        debug_assert!((1..=64).contains(&nbits));
        if self.valid == 0 && !self.refill() {
            return None;
        }
        if nbits <= self.valid {
            self.valid -= nbits;
            return Some((self.buffer >> self.valid) & low_mask(nbits));
        }
        // Take what is left of this buffer, then the rest from the next one.
        let need = nbits - self.valid;
        let high = self.buffer & low_mask(self.valid);
        self.valid = 0;
        if !self.refill() || need > self.valid {
            return None;
        }
        self.valid -= need;
        let low = (self.buffer >> self.valid) & low_mask(need);
        // `need < 64` here because at least one bit came from the old buffer.
        Some((high << need) | low)
    }

    pub fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_msb_first() {
        let mut w = BitWriter::new(Vec::new());
        w.write_bit(true); // 1
        w.write_bits(0b01, 2); // 01
        w.write_byte(0xff); // 11111111
        w.write_bits(0, 3); // 000
        // 1 01 11111 | 111 000 (00 padding)
        assert_eq!(w.bytes(), &[0b1011_1111, 0b1110_0000]);
        assert_eq!(w.free_bits(), 2);
        w.write_bits(u64::MAX, 64);
        assert_eq!(w.bytes().len(), 10);
        assert_eq!(w.free_bits(), 2);
    }

    #[test]
    fn reads_what_was_written() {
        let mut w = BitWriter::new(Vec::new());
        let items: Vec<(u64, u8)> = (1..=64u8).map(|n| (0x9e37_79b9_7f4a_7c15u64.rotate_left(u32::from(n)) & low_mask(n), n)).collect();
        for &(v, n) in &items {
            w.write_bits(v, n);
            w.write_bit(n % 3 == 0);
        }
        let bytes = w.into_vec();
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &items {
            assert_eq!(r.read_bits(n), Some(v), "nbits {n}");
            assert_eq!(r.read_bit(), Some(n % 3 == 0));
        }
        assert!(r.remaining() < 8);
    }

    #[test]
    fn reading_past_the_end_is_none() {
        let mut r = BitReader::new(&[0xab]);
        assert_eq!(r.read_bits(4), Some(0xa));
        assert_eq!(r.read_bits(5), None);
        let mut r = BitReader::new(&[]);
        assert_eq!(r.read_bit(), None);
        let mut r = BitReader::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(r.read_bits(64), Some(0x0102_0304_0506_0708));
        assert_eq!(r.read_byte(), Some(9));
        assert_eq!(r.read_bit(), None);
    }
}
