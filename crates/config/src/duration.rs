//! Prometheus's duration syntax: `1h30m`, `2d`, `1w`, `10s53ms`, `0`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written the Prometheus way. Printing uses the
/// largest units that divide it (`90m` prints as `1h30m`; `y` and `w` only
/// when exact, so `90d` stays `90d`... as `12w6d` would be harder to read).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

const MS: u128 = 1;
const SECOND: u128 = 1000 * MS;
const MINUTE: u128 = 60 * SECOND;
const HOUR: u128 = 60 * MINUTE;
const DAY: u128 = 24 * HOUR;
const WEEK: u128 = 7 * DAY;
const YEAR: u128 = 365 * DAY;

const UNITS: [(&str, u128); 7] = [("y", YEAR), ("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND), ("ms", MS)];

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    pub const fn from_std(d: std::time::Duration) -> Self {
        Duration(d)
    }

    pub const fn as_std(&self) -> std::time::Duration {
        self.0
    }

    pub fn as_millis(&self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

/// Why a duration string was refused; worded as Prometheus words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration string")]
    Empty,
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    #[error("duration out of range")]
    OutOfRange,
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, DurationError> {
        match s {
            "" => return Err(DurationError::Empty),
            "0" => return Ok(Duration::ZERO),
            _ => {}
        }
        let invalid = || DurationError::Invalid(s.to_owned());
        let mut rest = s;
        let mut total: u128 = 0;
        // Units must appear largest first, each at most once.
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            let n: u128 = rest[..digits].parse().map_err(|_| DurationError::OutOfRange)?;
            rest = &rest[digits..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..letters];
            rest = &rest[letters..];
            let pos = UNITS[next_unit..].iter().position(|(name, _)| *name == unit).ok_or_else(invalid)? + next_unit;
            next_unit = pos + 1;
            total = n.checked_mul(UNITS[pos].1).and_then(|v| total.checked_add(v)).ok_or(DurationError::OutOfRange)?;
        }
        // Prometheus stores nanoseconds in an int64.
        if total > (i64::MAX as u128) / 1_000_000 {
            return Err(DurationError::OutOfRange);
        }
        Ok(Duration::from_millis(total as u64))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (i, (name, mult)) in UNITS.iter().enumerate() {
            // Years and weeks only when exact: "90d" reads better than "12w6d".
            if i < 2 && ms % mult != 0 {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{name}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A null duration is zero, as in Go; an empty string is an error.
        match Option::<String>::deserialize(d)? {
            None => Ok(Duration::ZERO),
            Some(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let cases = [("0", 0), ("15s", 15_000), ("1h30m", 5_400_000), ("2d", 172_800_000), ("1w", 604_800_000), ("10s53ms", 10_053), ("1y", 31_536_000_000)];
        for (text, ms) in cases {
            assert_eq!(text.parse::<Duration>().unwrap().as_millis(), ms, "{text}");
        }
        for bad in ["-1h", "1.5h", "1m1h", "1h1h", "h", "10", "1d2x"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
        assert_eq!("-1h".parse::<Duration>().unwrap_err().to_string(), r#"not a valid duration string: "-1h""#);
        assert_eq!("".parse::<Duration>().unwrap_err().to_string(), "empty duration string");
    }

    #[test]
    fn prints_like_prometheus() {
        for (ms, text) in [(0, "0s"), (15_000, "15s"), (5_400_000, "1h30m"), (7_776_000_000, "90d"), (1_209_600_000, "2w"), (10_053, "10s53ms")] {
            assert_eq!(Duration::from_millis(ms).to_string(), text);
        }
    }
}
