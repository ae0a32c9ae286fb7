//! WAL record encodings, byte for byte as Prometheus's `tsdb/record`, so a
//! WAL written by either server replays in the other.
//!
//! Each record starts with a one-byte [`RecordType`]. Fixed-width integers
//! are big-endian; varints are Go's (`encoding/binary`); strings are
//! uvarint-length-prefixed. Samples and exemplars store the first entry's
//! series ref and timestamp in full and every entry as signed deltas from
//! them. (Prometheus's `wal.md` calls those deltas uvarints; its code writes
//! zig-zag varints, and the code is what is on disk.)
//!
//! Encoders append to a caller's buffer so that one allocation serves every
//! commit; decoders append to a caller's vector and never panic on garbage.

use model::{Labels, MetricType};

use crate::encoding::{self, Decbuf, DecodeError};

/// The first byte of every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    Series = 1,
    Samples = 2,
    Tombstones = 3,
    Exemplars = 4,
    /// Out-of-order write-behind log only.
    MmapMarkers = 5,
    Metadata = 6,
    // Native histogram records: recognised, not decoded here yet.
    HistogramSamples = 7,
    FloatHistogramSamples = 8,
    CustomBucketsHistogramSamples = 9,
    CustomBucketsFloatHistogramSamples = 10,
    /// Samples with start timestamps, written by newer Prometheus behind a
    /// feature flag; decoded (start timestamps dropped) so such a WAL replays.
    SamplesV2 = 11,
    HistogramSamplesV2 = 12,
    FloatHistogramSamplesV2 = 13,
    /// The mint a checkpoint was taken with; only in checkpoints.
    MinValidTime = 14,
    Unknown = 255,
}

impl RecordType {
    /// The type of `rec`, [`RecordType::Unknown`] when empty or unrecognised.
    pub fn of(rec: &[u8]) -> RecordType {
        match rec.first() {
            Some(&b) => RecordType::from_u8(b),
            None => RecordType::Unknown,
        }
    }

    pub fn from_u8(b: u8) -> RecordType {
        match b {
            1 => RecordType::Series,
            2 => RecordType::Samples,
            3 => RecordType::Tombstones,
            4 => RecordType::Exemplars,
            5 => RecordType::MmapMarkers,
            6 => RecordType::Metadata,
            7 => RecordType::HistogramSamples,
            8 => RecordType::FloatHistogramSamples,
            9 => RecordType::CustomBucketsHistogramSamples,
            10 => RecordType::CustomBucketsFloatHistogramSamples,
            11 => RecordType::SamplesV2,
            12 => RecordType::HistogramSamplesV2,
            13 => RecordType::FloatHistogramSamplesV2,
            14 => RecordType::MinValidTime,
            _ => RecordType::Unknown,
        }
    }

    /// Prometheus's name for the type (`record.Type.String()`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Series => "series",
            RecordType::Samples => "samples",
            RecordType::Tombstones => "tombstones",
            RecordType::Exemplars => "exemplars",
            RecordType::MmapMarkers => "mmapmarkers",
            RecordType::Metadata => "metadata",
            RecordType::HistogramSamples => "histogram_samples",
            RecordType::FloatHistogramSamples => "float_histogram_samples",
            RecordType::CustomBucketsHistogramSamples => "custom_buckets_histogram_samples",
            RecordType::CustomBucketsFloatHistogramSamples => "custom_buckets_float_histogram_samples",
            RecordType::SamplesV2 => "samples_v2",
            RecordType::HistogramSamplesV2 => "histogram_samples_v2",
            RecordType::FloatHistogramSamplesV2 => "float_histogram_samples_v2",
            RecordType::MinValidTime => "min_valid_time",
            RecordType::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record could not be decoded. Texts follow Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid record type {got}, expected {expected}")]
    InvalidType { expected: RecordType, got: u8 },
    #[error("decode error after {count} {what}: {source}")]
    Decode { what: &'static str, count: usize, source: DecodeError },
    #[error("unexpected {0} bytes left in entry")]
    TrailingBytes(usize),
    #[error("label name or value is not valid UTF-8")]
    InvalidUtf8,
}

/// A series' identity, logged once when the series is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    pub r: u64,
    pub labels: Labels,
}

/// One float sample of the series `r`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub r: u64,
    pub t: i64,
    pub v: f64,
}

/// Deleted time ranges (inclusive) of series `r` (Prometheus's
/// `tombstones.Stone`). A decoded record yields one interval per stone, as
/// Prometheus's does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stone {
    pub r: u64,
    pub intervals: Vec<(i64, i64)>,
}

/// An exemplar of series `r`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    pub r: u64,
    pub t: i64,
    pub v: f64,
    pub labels: Labels,
}

/// Out-of-order WBL marker: every sample of `r` up to now is in the mmapped
/// chunk `mmap_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefMmapMarker {
    pub r: u64,
    pub mmap_ref: u64,
}

/// A series' metadata. `kind` is the metric type as Prometheus numbers it
/// (see [`metric_type_to_u8`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMetadata {
    pub r: u64,
    pub kind: u8,
    pub unit: String,
    pub help: String,
}

/// Prometheus's numbering of metric types in metadata records.
pub fn metric_type_to_u8(t: MetricType) -> u8 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

/// Inverse of [`metric_type_to_u8`]; unknown numbers are `Unknown`.
pub fn metric_type_from_u8(b: u8) -> MetricType {
    match b {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

const UNIT_META_NAME: &str = "UNIT";
const HELP_META_NAME: &str = "HELP";

// Start-timestamp markers of SamplesV2 records.
const ST_NONE: u8 = 0;
const ST_SAME: u8 = 1;

fn put_be64(buf: &mut Vec<u8>, x: u64) {
    buf.extend_from_slice(&x.to_be_bytes());
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    encoding::put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    encoding::put_uvarint(buf, labels.len() as u64);
    for l in labels.iter() {
        put_str(buf, l.name);
        put_str(buf, l.value);
    }
}

pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(RecordType::Series as u8);
    for s in series {
        put_be64(buf, s.r);
        put_labels(buf, &s.labels);
    }
}

pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(RecordType::Samples as u8);
    let Some(first) = samples.first() else { return };
    put_be64(buf, first.r);
    put_be64(buf, first.t as u64);
    for s in samples {
        encoding::put_varint(buf, (s.r as i64).wrapping_sub(first.r as i64));
        encoding::put_varint(buf, s.t.wrapping_sub(first.t));
        put_be64(buf, s.v.to_bits());
    }
}

/// Writes one entry per interval, as Prometheus does.
pub fn encode_tombstones(stones: &[Stone], buf: &mut Vec<u8>) {
    buf.push(RecordType::Tombstones as u8);
    for s in stones {
        for &(mint, maxt) in &s.intervals {
            put_be64(buf, s.r);
            encoding::put_varint(buf, mint);
            encoding::put_varint(buf, maxt);
        }
    }
}

pub fn encode_exemplars(exemplars: &[RefExemplar], buf: &mut Vec<u8>) {
    buf.push(RecordType::Exemplars as u8);
    let Some(first) = exemplars.first() else { return };
    put_be64(buf, first.r);
    put_be64(buf, first.t as u64);
    for e in exemplars {
        encoding::put_varint(buf, (e.r as i64).wrapping_sub(first.r as i64));
        encoding::put_varint(buf, e.t.wrapping_sub(first.t));
        put_be64(buf, e.v.to_bits());
        put_labels(buf, &e.labels);
    }
}

pub fn encode_mmap_markers(markers: &[RefMmapMarker], buf: &mut Vec<u8>) {
    buf.push(RecordType::MmapMarkers as u8);
    for m in markers {
        put_be64(buf, m.r);
        put_be64(buf, m.mmap_ref);
    }
}

pub fn encode_metadata(metadata: &[RefMetadata], buf: &mut Vec<u8>) {
    buf.push(RecordType::Metadata as u8);
    for m in metadata {
        encoding::put_uvarint(buf, m.r);
        buf.push(m.kind);
        // Fields are named so that readers can skip ones they do not know.
        encoding::put_uvarint(buf, 2);
        put_str(buf, UNIT_META_NAME);
        put_str(buf, &m.unit);
        put_str(buf, HELP_META_NAME);
        put_str(buf, &m.help);
    }
}

/// The mint of a WAL truncation, as newer Prometheus writes into checkpoints.
pub fn encode_min_valid_time(mint: i64, buf: &mut Vec<u8>) {
    buf.push(RecordType::MinValidTime as u8);
    put_be64(buf, mint as u64);
}

/// Checks the type byte and returns a cursor after it.
fn open(rec: &[u8], expected: RecordType) -> Result<Decbuf<'_>, RecordError> {
    match rec.split_first() {
        Some((&t, rest)) if t == expected as u8 => Ok(Decbuf::new(rest)),
        Some((&t, _)) => Err(RecordError::InvalidType { expected, got: t }),
        None => Err(RecordError::Decode { what: expected.as_str(), count: 0, source: DecodeError::InvalidSize }),
    }
}

/// Runs `body` over the record, and on failure drops whatever it had
/// appended to `out`, so a caller never sees half a record.
fn decode_into<T>(out: &mut Vec<T>, what: &'static str, body: impl FnOnce(&mut Vec<T>) -> Result<(), RecordError>) -> Result<(), RecordError> {
    let start = out.len();
    let res = body(out).map_err(|e| match e {
        RecordError::Decode { source, .. } => RecordError::Decode { what, count: out.len() - start, source },
        other => other,
    });
    if res.is_err() {
        out.truncate(start);
    }
    res
}

fn dec_err(source: DecodeError) -> RecordError {
    // `what` and `count` are filled in by `decode_into`.
    RecordError::Decode { what: "", count: 0, source }
}

fn read_labels<'a>(d: &mut Decbuf<'a>, scratch: &mut Vec<(&'a str, &'a str)>) -> Result<Labels, RecordError> {
    let n = d.uvarint().map_err(dec_err)?;
    scratch.clear();
    for _ in 0..n {
        let name = d.uvarint_bytes().map_err(dec_err)?;
        let value = d.uvarint_bytes().map_err(dec_err)?;
        let name = std::str::from_utf8(name).map_err(|_| RecordError::InvalidUtf8)?;
        let value = std::str::from_utf8(value).map_err(|_| RecordError::InvalidUtf8)?;
        scratch.push((name, value));
    }
    // Prometheus writes labels sorted; from_sorted_pairs sorts if not.
    Ok(Labels::from_sorted_pairs(scratch.iter().copied()))
}

fn check_end(d: &Decbuf<'_>) -> Result<(), RecordError> {
    if d.is_empty() { Ok(()) } else { Err(RecordError::TrailingBytes(d.len())) }
}

pub fn decode_series(rec: &[u8], out: &mut Vec<RefSeries>) -> Result<(), RecordError> {
    let mut d = open(rec, RecordType::Series)?;
    decode_into(out, "series", |out| {
        let mut scratch = Vec::new();
        while !d.is_empty() {
            let r = d.be64().map_err(dec_err)?;
            let labels = read_labels(&mut d, &mut scratch)?;
            out.push(RefSeries { r, labels });
        }
        Ok(())
    })
}

/// Decodes a `Samples` or `SamplesV2` record.
pub fn decode_samples(rec: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
    if RecordType::of(rec) == RecordType::SamplesV2 {
        return decode_samples_v2(&rec[1..], out);
    }
    let mut d = open(rec, RecordType::Samples)?;
    if d.is_empty() {
        return Ok(());
    }
    decode_into(out, "samples", |out| {
        let base_ref = d.be64().map_err(dec_err)?;
        let base_t = d.be64().map_err(dec_err)? as i64;
        // Each sample takes at least 10 bytes.
        out.reserve(d.len() / 10);
        while !d.is_empty() {
            let dref = d.varint().map_err(dec_err)?;
            let dt = d.varint().map_err(dec_err)?;
            let v = d.be64_f64().map_err(dec_err)?;
            out.push(RefSample { r: (base_ref as i64).wrapping_add(dref) as u64, t: base_t.wrapping_add(dt), v });
        }
        Ok(())
    })
}

fn decode_samples_v2(body: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
    let mut d = Decbuf::new(body);
    if d.is_empty() {
        return Ok(());
    }
    decode_into(out, "samples", |out| {
        let mut r = d.varint().map_err(dec_err)?;
        let first_t = d.varint().map_err(dec_err)?;
        let first_st = d.varint().map_err(dec_err)?;
        let mut prev_st = first_st;
        let mut t = first_t;
        loop {
            let v = d.be64_f64().map_err(dec_err)?;
            out.push(RefSample { r: r as u64, t, v });
            if d.is_empty() {
                return Ok(());
            }
            r = r.wrapping_add(d.varint().map_err(dec_err)?);
            t = first_t.wrapping_add(d.varint().map_err(dec_err)?);
            // The start timestamp is not kept, but must be read past.
            prev_st = match d.byte().map_err(dec_err)? {
                ST_NONE => 0,
                ST_SAME => prev_st,
                _ => first_st.wrapping_add(d.varint().map_err(dec_err)?),
            };
        }
    })
}

pub fn decode_tombstones(rec: &[u8], out: &mut Vec<Stone>) -> Result<(), RecordError> {
    let mut d = open(rec, RecordType::Tombstones)?;
    decode_into(out, "tombstones", |out| {
        while !d.is_empty() {
            let r = d.be64().map_err(dec_err)?;
            let mint = d.varint().map_err(dec_err)?;
            let maxt = d.varint().map_err(dec_err)?;
            out.push(Stone { r, intervals: vec![(mint, maxt)] });
        }
        Ok(())
    })
}

pub fn decode_exemplars(rec: &[u8], out: &mut Vec<RefExemplar>) -> Result<(), RecordError> {
    let mut d = open(rec, RecordType::Exemplars)?;
    if d.is_empty() {
        return Ok(());
    }
    decode_into(out, "exemplars", |out| {
        let base_ref = d.be64().map_err(dec_err)?;
        let base_t = d.be64().map_err(dec_err)? as i64;
        let mut scratch = Vec::new();
        while !d.is_empty() {
            let dref = d.varint().map_err(dec_err)?;
            let dt = d.varint().map_err(dec_err)?;
            let v = d.be64_f64().map_err(dec_err)?;
            let labels = read_labels(&mut d, &mut scratch)?;
            out.push(RefExemplar { r: base_ref.wrapping_add(dref as u64), t: base_t.wrapping_add(dt), v, labels });
        }
        Ok(())
    })
}

pub fn decode_mmap_markers(rec: &[u8], out: &mut Vec<RefMmapMarker>) -> Result<(), RecordError> {
    let mut d = open(rec, RecordType::MmapMarkers)?;
    decode_into(out, "mmap markers", |out| {
        while !d.is_empty() {
            let r = d.be64().map_err(dec_err)?;
            let mmap_ref = d.be64().map_err(dec_err)?;
            out.push(RefMmapMarker { r, mmap_ref });
        }
        Ok(())
    })
}

pub fn decode_metadata(rec: &[u8], out: &mut Vec<RefMetadata>) -> Result<(), RecordError> {
    let mut d = open(rec, RecordType::Metadata)?;
    decode_into(out, "metadata", |out| {
        while !d.is_empty() {
            let r = d.uvarint().map_err(dec_err)?;
            let kind = d.byte().map_err(dec_err)?;
            let fields = d.uvarint().map_err(dec_err)?;
            let (mut unit, mut help) = (String::new(), String::new());
            // Unknown fields are read past so that the next entry lines up.
            for _ in 0..fields {
                let name = d.uvarint_bytes().map_err(dec_err)?;
                let value = d.uvarint_bytes().map_err(dec_err)?;
                let slot = match name {
                    b"UNIT" => &mut unit,
                    b"HELP" => &mut help,
                    _ => continue,
                };
                *slot = std::str::from_utf8(value).map_err(|_| RecordError::InvalidUtf8)?.to_owned();
            }
            out.push(RefMetadata { r, kind, unit, help });
        }
        Ok(())
    })
}

pub fn decode_min_valid_time(rec: &[u8]) -> Result<i64, RecordError> {
    let mut d = open(rec, RecordType::MinValidTime)?;
    let mint = d.be64().map_err(|source| RecordError::Decode { what: "min valid time", count: 0, source })? as i64;
    check_end(&d)?;
    Ok(mint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn golden_series_record() {
        let mut buf = Vec::new();
        encode_series(&[RefSeries { r: 1, labels: labels(&[("job", "a"), ("__name__", "up")]) }], &mut buf);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[0x01][..],                       // type: series
            &[0, 0, 0, 0, 0, 0, 0, 1],         // ref, big-endian u64
            &[0x02],                           // 2 labels, uvarint
            &[0x08], b"__name__", &[0x02], b"up", // sorted by name
            &[0x03], b"job", &[0x01], b"a",
        ].concat();
        assert_eq!(buf, want);
        let mut out = Vec::new();
        decode_series(&buf, &mut out).unwrap();
        assert_eq!(out, vec![RefSeries { r: 1, labels: labels(&[("__name__", "up"), ("job", "a")]) }]);
    }

    #[test]
    fn golden_samples_record() {
        let stale = model::value::stale_nan();
        let samples = [RefSample { r: 5, t: 1000, v: 1.0 }, RefSample { r: 6, t: 1015, v: 2.0 }, RefSample { r: 4, t: 990, v: stale }];
        let mut buf = Vec::new();
        encode_samples(&samples, &mut buf);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[0x02][..],                                  // type: samples
            &[0, 0, 0, 0, 0, 0, 0, 5],                    // first ref, BE u64
            &[0, 0, 0, 0, 0, 0, 0x03, 0xe8],              // first t = 1000, BE i64
            &[0x00, 0x00], &[0x3f, 0xf0, 0, 0, 0, 0, 0, 0], // Δref 0, Δt 0 (zig-zag varints), 1.0
            &[0x02, 0x1e], &[0x40, 0, 0, 0, 0, 0, 0, 0],    // Δref +1 → 2, Δt +15 → 30 = 0x1e, 2.0
            &[0x01, 0x13], &[0x7f, 0xf0, 0, 0, 0, 0, 0, 0x02], // Δref -1 → 1, Δt -10 → 19 = 0x13, stale NaN
        ].concat();
        assert_eq!(buf, want);
        let mut out = Vec::new();
        decode_samples(&buf, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        for (a, b) in out.iter().zip(&samples) {
            assert_eq!((a.r, a.t, a.v.to_bits()), (b.r, b.t, b.v.to_bits()));
        }
    }

    #[test]
    fn empty_records_are_just_the_type() {
        let mut buf = Vec::new();
        encode_samples(&[], &mut buf);
        assert_eq!(buf, [2]);
        let mut out = Vec::new();
        decode_samples(&buf, &mut out).unwrap();
        assert!(out.is_empty());
        buf.clear();
        encode_exemplars(&[], &mut buf);
        assert_eq!(buf, [4]);
        decode_exemplars(&buf, &mut Vec::new()).unwrap();
    }

    #[test]
    fn tombstones_round_trip_one_interval_per_stone() {
        let stones = [Stone { r: 7, intervals: vec![(1, 2), (-5, i64::MAX)] }, Stone { r: 1, intervals: vec![(0, 0)] }];
        let mut buf = Vec::new();
        encode_tombstones(&stones, &mut buf);
        // 7, varint(1)=0x02, varint(2)=0x04
        assert_eq!(&buf[..11], &[3, 0, 0, 0, 0, 0, 0, 0, 7, 0x02, 0x04]);
        let mut out = Vec::new();
        decode_tombstones(&buf, &mut out).unwrap();
        assert_eq!(
            out,
            vec![Stone { r: 7, intervals: vec![(1, 2)] }, Stone { r: 7, intervals: vec![(-5, i64::MAX)] }, Stone { r: 1, intervals: vec![(0, 0)] }]
        );
    }

    #[test]
    fn exemplars_round_trip() {
        let ex = [
            RefExemplar { r: 10, t: 5000, v: 0.5, labels: labels(&[("trace_id", "abc")]) },
            RefExemplar { r: 3, t: 4000, v: f64::INFINITY, labels: Labels::empty() },
        ];
        let mut buf = Vec::new();
        encode_exemplars(&ex, &mut buf);
        let mut out = Vec::new();
        decode_exemplars(&buf, &mut out).unwrap();
        assert_eq!(out, ex);
    }

    #[test]
    fn metadata_round_trip_and_unknown_fields() {
        let md = [
            RefMetadata { r: 300, kind: metric_type_to_u8(MetricType::Counter), unit: "seconds".into(), help: "Total time.".into() },
            RefMetadata { r: 1, kind: 0, unit: String::new(), help: String::new() },
        ];
        let mut buf = Vec::new();
        encode_metadata(&md, &mut buf);
        // 6, uvarint(300) = ac 02, type 1, 2 fields, "UNIT"...
        assert_eq!(&buf[..10], &[6, 0xac, 0x02, 1, 2, 4, b'U', b'N', b'I', b'T']);
        let mut out = Vec::new();
        decode_metadata(&buf, &mut out).unwrap();
        assert_eq!(out, md);
        assert_eq!(metric_type_from_u8(out[0].kind), MetricType::Counter);

        // A future field is skipped.
        let mut rec = vec![6, 9, 2, 3];
        for s in ["NEW", "x", "HELP", "h", "UNIT", "u"] {
            put_str(&mut rec, s);
        }
        let mut out = Vec::new();
        decode_metadata(&rec, &mut out).unwrap();
        assert_eq!(out, vec![RefMetadata { r: 9, kind: 2, unit: "u".into(), help: "h".into() }]);
    }

    #[test]
    fn mmap_markers_and_min_valid_time_round_trip() {
        let m = [RefMmapMarker { r: 1, mmap_ref: u64::MAX }, RefMmapMarker { r: 2, mmap_ref: 0 }];
        let mut buf = Vec::new();
        encode_mmap_markers(&m, &mut buf);
        assert_eq!(buf.len(), 1 + 32);
        let mut out = Vec::new();
        decode_mmap_markers(&buf, &mut out).unwrap();
        assert_eq!(out, m);

        buf.clear();
        encode_min_valid_time(-42, &mut buf);
        assert_eq!(decode_min_valid_time(&buf).unwrap(), -42);
    }

    #[test]
    fn samples_v2_is_decoded() {
        // First: varint ref 5, varint t 1000, varint st 0, value; then Δref
        // from the previous (+1), t from the first (+15), st marker "same",
        // value; then Δref -2, Δt +30, explicit st (marker 2, Δ from first 7).
        let mut rec = vec![11];
        for x in [5i64, 1000, 0] {
            encoding::put_varint(&mut rec, x);
        }
        rec.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        encoding::put_varint(&mut rec, 1);
        encoding::put_varint(&mut rec, 15);
        rec.push(1);
        rec.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        encoding::put_varint(&mut rec, -2);
        encoding::put_varint(&mut rec, 30);
        rec.push(2);
        encoding::put_varint(&mut rec, 7);
        rec.extend_from_slice(&3.0f64.to_bits().to_be_bytes());
        let mut out = Vec::new();
        decode_samples(&rec, &mut out).unwrap();
        assert_eq!(out, vec![RefSample { r: 5, t: 1000, v: 1.0 }, RefSample { r: 6, t: 1015, v: 2.0 }, RefSample { r: 4, t: 1030, v: 3.0 }]);
    }

    #[test]
    fn errors() {
        let mut out = Vec::new();
        assert_eq!(decode_series(&[2], &mut out), Err(RecordError::InvalidType { expected: RecordType::Series, got: 2 }));
        assert!(decode_series(&[], &mut out).is_err());
        // A truncated second series: the first must not leak into `out`.
        let mut buf = Vec::new();
        encode_series(&[RefSeries { r: 1, labels: labels(&[("a", "b")]) }, RefSeries { r: 2, labels: labels(&[("c", "d")]) }], &mut buf);
        buf.pop();
        let err = decode_series(&buf, &mut out).unwrap_err();
        assert!(matches!(err, RecordError::Decode { what: "series", count: 1, .. }), "{err}");
        assert!(out.is_empty());
        // Not UTF-8.
        let rec = [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0xff, 1, b'x'];
        assert_eq!(decode_series(&rec, &mut out), Err(RecordError::InvalidUtf8));
        // Left-over bytes in fixed-size records.
        let mut buf = Vec::new();
        encode_min_valid_time(1, &mut buf);
        buf.push(0);
        assert_eq!(decode_min_valid_time(&buf), Err(RecordError::TrailingBytes(1)));
        assert_eq!(RecordType::of(&[]), RecordType::Unknown);
        assert_eq!(RecordType::of(&[99]), RecordType::Unknown);
        assert_eq!(RecordType::of(&[7]), RecordType::HistogramSamples);
    }

    fn label_strategy() -> impl Strategy<Value = Labels> {
        prop::collection::vec(("[a-z_]{1,8}", "\\PC{1,12}"), 0..5).prop_map(Labels::from_pairs)
    }

    proptest! {
        #[test]
        fn series_and_samples_round_trip(
            series in prop::collection::vec((any::<u64>(), label_strategy()), 0..20),
            samples in prop::collection::vec((any::<u64>(), any::<i64>(), any::<u64>()), 0..50),
        ) {
            let series: Vec<RefSeries> = series.into_iter().map(|(r, labels)| RefSeries { r, labels }).collect();
            let mut buf = vec![0xaa]; // encoders append to what is there
            encode_series(&series, &mut buf);
            let mut out = Vec::new();
            decode_series(&buf[1..], &mut out).unwrap();
            prop_assert_eq!(out, series);

            let samples: Vec<RefSample> = samples.into_iter().map(|(r, t, v)| RefSample { r, t, v: f64::from_bits(v) }).collect();
            buf.clear();
            encode_samples(&samples, &mut buf);
            let mut out = Vec::new();
            decode_samples(&buf, &mut out).unwrap();
            let got: Vec<_> = out.iter().map(|s| (s.r, s.t, s.v.to_bits())).collect();
            let want: Vec<_> = samples.iter().map(|s| (s.r, s.t, s.v.to_bits())).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn garbage_never_panics(rec in prop::collection::vec(any::<u8>(), 0..200), t in 0u8..16) {
            let mut rec = rec;
            if let Some(first) = rec.first_mut() {
                *first = t;
            }
            let _ = decode_series(&rec, &mut Vec::new());
            let _ = decode_samples(&rec, &mut Vec::new());
            let _ = decode_tombstones(&rec, &mut Vec::new());
            let _ = decode_exemplars(&rec, &mut Vec::new());
            let _ = decode_mmap_markers(&rec, &mut Vec::new());
            let _ = decode_metadata(&rec, &mut Vec::new());
            let _ = decode_min_valid_time(&rec);
        }
    }
}
