//! ULIDs name blocks: a 48-bit millisecond timestamp and 80 random bits,
//! written in Crockford's base32, so that names sort by creation time.
//! Written here rather than taken from a crate: it is forty lines.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ulid(pub u128);

impl Ulid {
    /// A new ULID for the current time.
    pub fn new() -> Ulid {
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        Ulid::from_parts(ms, random_u128())
    }

    /// The ULID with timestamp `ms` (low 48 bits) and the low 80 bits of `rand`.
    pub fn from_parts(ms: u64, rand: u128) -> Ulid {
        let time = u128::from(ms & 0xFFFF_FFFF_FFFF) << 80;
        Ulid(time | (rand & ((1u128 << 80) - 1)))
    }

    /// Milliseconds since the epoch when the ULID was made.
    pub fn timestamp_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// Parses the 26-character form, case-insensitively as Crockford allows.
    pub fn parse(s: &str) -> Option<Ulid> {
        let b = s.as_bytes();
        // 26 characters hold 130 bits; the top one may use only 3.
        if b.len() != 26 || !matches!(b[0], b'0'..=b'7') {
            return None;
        }
        let mut x: u128 = 0;
        for &c in b {
            let c = c.to_ascii_uppercase();
            let v = ALPHABET.iter().position(|&a| a == c)?;
            x = (x << 5) | v as u128;
        }
        Some(Ulid(x))
    }
}

impl Default for Ulid {
    fn default() -> Self {
        Ulid::new()
    }
}

impl fmt::Display for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 26];
        for (i, c) in out.iter_mut().enumerate() {
            let shift = 5 * (25 - i);
            *c = ALPHABET[((self.0 >> shift) & 31) as usize];
        }
        // The alphabet is ASCII, so this cannot fail.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

/// Randomness without a dependency: std's per-process random hash keys,
/// mixed with the clock and a counter. ULIDs need uniqueness, not secrecy.
fn random_u128() -> u128 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut words = [0u64; 2];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(n);
        h.write_usize(i);
        *w = h.finish();
    }
    (u128::from(words[0]) << 64) | u128::from(words[1])
}
