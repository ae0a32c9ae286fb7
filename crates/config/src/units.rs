//! Byte sizes written with units (`15MB`, `512KiB`), base 2 as Prometheus
//! reads them (`1KB` is 1024 bytes).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte count. Zero means "no limit" wherever Prometheus uses one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub i64);

const UNITS: [(&str, &str, i64); 7] = [
    ("EiB", "EB", 1 << 60),
    ("PiB", "PB", 1 << 50),
    ("TiB", "TB", 1 << 40),
    ("GiB", "GB", 1 << 30),
    ("MiB", "MB", 1 << 20),
    ("KiB", "KB", 1 << 10),
    ("B", "B", 1),
];

/// Why a size was refused; worded as Prometheus's units library words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    #[error("units: unknown unit {unit} in {input}")]
    UnknownUnit { unit: String, input: String },
    #[error("units: invalid {0}")]
    Invalid(String),
    #[error("units: overflow in {0}")]
    Overflow(String),
}

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(s: &str) -> Result<Self, ByteSizeError> {
        if s == "0" {
            return Ok(ByteSize(0));
        }
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s),
        };
        let mut rest = body;
        let mut total: i64 = 0;
        if rest.is_empty() {
            return Err(ByteSizeError::Invalid(s.to_owned()));
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
            if digits == 0 {
                return Err(ByteSizeError::Invalid(s.to_owned()));
            }
            let n: f64 = rest[..digits].parse().map_err(|_| ByteSizeError::Invalid(s.to_owned()))?;
            rest = &rest[digits..];
            let letters = rest.bytes().take_while(|b| !b.is_ascii_digit() && *b != b'.').count();
            let unit = &rest[..letters];
            rest = &rest[letters..];
            let mult = UNITS
                .iter()
                .find(|(bin, dec, _)| *bin == unit || *dec == unit)
                .map(|u| u.2)
                .ok_or_else(|| ByteSizeError::UnknownUnit { unit: unit.to_owned(), input: s.to_owned() })?;
            let v = n * mult as f64;
            if v > i64::MAX as f64 {
                return Err(ByteSizeError::Overflow(s.to_owned()));
            }
            total = total.checked_add(v as i64).ok_or_else(|| ByteSizeError::Overflow(s.to_owned()))?;
        }
        Ok(ByteSize(if neg { -total } else { total }))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        let (sign, mut n) = if self.0 < 0 { ("-", self.0.unsigned_abs()) } else { ("", self.0.unsigned_abs()) };
        f.write_str(sign)?;
        for (bin, _, mult) in UNITS {
            let mult = mult as u64;
            if n >= mult {
                let v = n / mult;
                n -= v * mult;
                write!(f, "{v}{bin}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base2_units() {
        assert_eq!("15MB".parse::<ByteSize>().unwrap().0, 15 << 20);
        assert_eq!("1GiB".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!("1KB512B".parse::<ByteSize>().unwrap().0, 1536);
        assert_eq!("0".parse::<ByteSize>().unwrap().0, 0);
        assert_eq!("100".parse::<ByteSize>().unwrap_err().to_string(), "units: unknown unit  in 100");
        assert_eq!(ByteSize(15 << 20).to_string(), "15MiB");
    }
}
