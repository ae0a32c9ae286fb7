//! WAL tests: layout against hand-derived bytes, round trips across pages and
//! segments, and damage (cuts, flipped bits, bad types) against an
//! independent walk over the segment bytes.

use std::path::Path;

use super::*;
use crate::record::{self, RecordType, RefExemplar, RefMetadata, RefSample, RefSeries, Stone};

/// Deterministic pseudo-random numbers (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A record: sometimes compressible text, sometimes noise.
    fn record(&mut self, len: usize) -> Vec<u8> {
        if self.next() % 2 == 0 { (0..len).map(|i| b"series_name{job=\"node\"} "[i % 24]).collect() } else { (0..len).map(|_| self.next() as u8).collect() }
    }
}

fn read_all(ranges: &[SegmentRange]) -> (Vec<Vec<u8>>, Option<WalError>) {
    let mut r = Reader::new(ranges).unwrap();
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => out.push(rec.to_vec()),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn read_dir(dir: &Path) -> (Vec<Vec<u8>>, Option<WalError>) {
    read_all(&[SegmentRange::all(dir)])
}

fn opts(pages: usize, compress: bool) -> WalOptions {
    WalOptions { segment_size: pages * PAGE_SIZE, compress }
}

/// Sizes that exercise every fragment case: empty, tiny, exactly filling
/// a page's room, just over, multi-page, and larger than a whole segment
/// of 3 pages.
fn sizes(rng: &mut Rng, n: usize) -> Vec<usize> {
    let special = [0, 1, 6, 7, PAGE_SIZE - RECORD_HEADER_SIZE, PAGE_SIZE - RECORD_HEADER_SIZE + 1, PAGE_SIZE, 2 * PAGE_SIZE + 17, 3 * PAGE_SIZE + 5];
    (0..n)
        .map(|i| match i % 5 {
            0 => special[rng.below(special.len())],
            1 | 2 => rng.below(200),
            3 => rng.below(5000),
            _ => rng.below(40_000),
        })
        .collect()
}

fn write_records(dir: &Path, o: WalOptions, recs: &[Vec<u8>], rng: &mut Rng) -> Wal {
    let mut w = Wal::open(dir, o).unwrap();
    let mut i = 0;
    while i < recs.len() {
        let n = 1 + rng.below(4).min(recs.len() - i - 1);
        let batch: Vec<&[u8]> = recs[i..i + n].iter().map(Vec::as_slice).collect();
        w.log(&batch).unwrap();
        i += n;
    }
    w
}

#[test]
fn golden_fragment_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), opts(4, false)).unwrap();
    assert_eq!(w.current_segment(), 0);
    w.log(&[b"123456789"]).unwrap();
    let path = segment_name(dir.path(), 0);
    assert_eq!(path.file_name().unwrap(), "00000000");
    #[rustfmt::skip]
    let want = [
        0x01,                   // fragment type: full, no compression
        0x00, 0x09,             // data length, big-endian
        0xe3, 0x06, 0x92, 0x83, // CRC32-Castagnoli("123456789"), the standard check value
        b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', b'9',
    ];
    // Written through to the file at the end of `log`, not yet padded.
    assert_eq!(fs::read(&path).unwrap(), want);
    w.close().unwrap();
    // Closing pads the page with zeros.
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.len(), PAGE_SIZE);
    assert_eq!(&bytes[..16], &want);
    assert!(bytes[16..].iter().all(|&b| b == 0));
    assert!(matches!(w.log(&[b"x"]), Err(WalError::Closed)));
}

#[test]
fn compression_flag_and_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), opts(4, true)).unwrap();
    // Compressible: stored snappy-compressed, flag 0x08 on a full fragment.
    let text = vec![b'a'; 1000];
    w.log(&[&text]).unwrap();
    // Too small to gain: stored as is.
    w.log(&[b"xy"]).unwrap();
    let bytes = fs::read(segment_name(dir.path(), 0)).unwrap();
    assert_eq!(bytes[0], 0x01 | 0x08);
    let len = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
    assert!(len < 100, "compressed length {len}");
    let second = RECORD_HEADER_SIZE + len;
    assert_eq!(&bytes[second..second + 3], &[0x01, 0x00, 0x02]);
    assert_eq!(read_dir(dir.path()).0, vec![text, b"xy".to_vec()]);
    assert!(w.counters().record_bytes_saved > 900);
}

#[test]
fn page_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), opts(4, false)).unwrap();
    // Fill the first page but for exactly 7 bytes: the next record gets an
    // empty first fragment there (Prometheus does the same), then the rest.
    let a = vec![1u8; PAGE_SIZE - 2 * RECORD_HEADER_SIZE];
    w.log(&[&a]).unwrap();
    w.log(&[b"hello"]).unwrap();
    let bytes = fs::read(segment_name(dir.path(), 0)).unwrap();
    let at = PAGE_SIZE - RECORD_HEADER_SIZE;
    assert_eq!(&bytes[at..at + 7], &[0x02, 0, 0, 0, 0, 0, 0], "empty first fragment, CRC of nothing is 0");
    assert_eq!(bytes[PAGE_SIZE], 0x04, "last fragment on the next page");
    // Fill a page but for 6 bytes: no room for a header, so zero padding.
    let b = vec![2u8; PAGE_SIZE - 5 - 2 * RECORD_HEADER_SIZE - 6];
    w.log(&[&b]).unwrap();
    w.log(&[b"next"]).unwrap();
    let bytes = fs::read(segment_name(dir.path(), 0)).unwrap();
    assert!(bytes[2 * PAGE_SIZE - 6..2 * PAGE_SIZE].iter().all(|&x| x == 0));
    assert_eq!(bytes[2 * PAGE_SIZE], 0x01);
    assert_eq!(read_dir(dir.path()).0, vec![a, b"hello".to_vec(), b, b"next".to_vec()]);
}

#[test]
fn round_trip_across_pages_and_segments() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let recs: Vec<Vec<u8>> = sizes(&mut rng, 300).into_iter().map(|n| rng.record(n)).collect();
        let mut w = write_records(dir.path(), opts(3, compress), &recs, &mut rng);
        let (first, last) = segments(dir.path()).unwrap().unwrap();
        assert_eq!(first, 0);
        assert!(last > 10, "expected many segments, got {last}");
        assert_eq!(w.current_segment(), last);
        // Readable before close (partial last page) and after.
        let (got, err) = read_dir(dir.path());
        assert!(err.is_none(), "{err:?}");
        assert!(got == recs, "compress={compress}");
        w.close().unwrap();
        let (got, err) = read_dir(dir.path());
        assert!(err.is_none());
        assert!(got == recs);
        // Only a segment holding a record larger than a segment may exceed
        // the segment size.
        for i in first..=last {
            let len = fs::metadata(segment_name(dir.path(), i)).unwrap().len() as usize;
            assert_eq!(len % PAGE_SIZE, 0, "segment {i} is padded to whole pages");
        }
        // A sub-range reads exactly those segments.
        let (part, err) = read_all(&[SegmentRange { dir: dir.path().to_path_buf(), first: Some(2), last: Some(4) }]);
        assert!(err.is_none());
        assert!(!part.is_empty() && part.len() < recs.len());
    }
}

#[test]
fn reopen_continues_in_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let recs: Vec<Vec<u8>> = (0..50)
        .map(|_| {
            let n = rng.below(3000);
            rng.record(n)
        })
        .collect();
    // Dropped without close, as after kill -9: the last page is partial.
    drop(write_records(dir.path(), opts(3, true), &recs[..25], &mut rng));
    let (_, last) = segments(dir.path()).unwrap().unwrap();
    assert_ne!(fs::metadata(segment_name(dir.path(), last)).unwrap().len() as usize % PAGE_SIZE, 0);
    let mut w = Wal::open(dir.path(), opts(3, false)).unwrap();
    assert_eq!(w.current_segment(), last + 1);
    for r in &recs[25..] {
        w.log(&[r]).unwrap();
    }
    let (got, err) = read_dir(dir.path());
    assert!(err.is_none());
    assert!(got == recs);
}

#[test]
fn segments_truncate_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Wal::open(dir.path(), WalOptions { segment_size: PAGE_SIZE + 1, compress: false }), Err(WalError::InvalidSegmentSize)));
    let mut w = Wal::open(dir.path(), opts(2, false)).unwrap();
    for i in 0..5u8 {
        w.log(&[&[i]]).unwrap();
        assert_eq!(w.next_segment().unwrap(), usize::from(i) + 1);
    }
    assert_eq!(segments(dir.path()).unwrap(), Some((0, 5)));
    w.truncate(3).unwrap();
    assert_eq!(segments(dir.path()).unwrap(), Some((3, 5)));
    assert_eq!(read_dir(dir.path()).0, vec![vec![3u8], vec![4u8]]);
    // Non-segment files are ignored; a gap is an error.
    fs::write(dir.path().join("00000003.repair"), b"").unwrap();
    fs::create_dir(dir.path().join("checkpoint.00000002")).unwrap();
    assert_eq!(segments(dir.path()).unwrap(), Some((3, 5)));
    fs::remove_file(segment_name(dir.path(), 4)).unwrap();
    assert!(matches!(segments(dir.path()), Err(WalError::NotSequential)));
    w.close().unwrap();
    assert!(w.size().unwrap() > 0);
}

/// One fragment as found in a segment file.
#[derive(Debug, Clone, Copy)]
struct Frag {
    start: usize,
    end: usize,
    typ: u8,
}

/// An independent walk over a segment's fragments, for the tests' oracle.
fn fragments(bytes: &[u8]) -> Vec<Frag> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] & 7 == 0 {
            pos = (pos / PAGE_SIZE + 1) * PAGE_SIZE;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[pos + 1], bytes[pos + 2]]));
        out.push(Frag { start: pos, end: pos + RECORD_HEADER_SIZE + len, typ: bytes[pos] & 7 });
        pos += RECORD_HEADER_SIZE + len;
    }
    out
}

/// For each record in a segment: (start of its first fragment, end of its
/// last).
fn record_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for f in fragments(bytes) {
        if f.typ == 1 || f.typ == 2 {
            start = f.start;
        }
        if f.typ == 1 || f.typ == 4 {
            spans.push((start, f.end));
        }
    }
    spans
}

/// A WAL of a few segments and the records in it, for damage tests.
struct Fixture {
    _src: tempfile::TempDir,
    src: PathBuf,
    recs: Vec<Vec<u8>>,
    last: usize,
    // Records in segments before the last.
    before_last: usize,
    last_bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

fn fixture(compress: bool) -> Fixture {
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().to_path_buf();
    let mut rng = Rng(42 + u64::from(compress));
    let mut recs: Vec<Vec<u8>> = sizes(&mut rng, 60).into_iter().map(|n| rng.record(n.min(70_000))).collect();
    // Small records at the end, so that the last segment holds several.
    recs.extend((0..6).map(|i| rng.record(100 + i * 300)));
    let mut w = write_records(&src, opts(4, compress), &recs, &mut rng);
    w.close().unwrap();
    let (_, last) = segments(&src).unwrap().unwrap();
    let last_bytes = fs::read(segment_name(&src, last)).unwrap();
    let spans = record_spans(&last_bytes);
    let before_last = recs.len() - spans.len();
    assert!(last >= 2 && spans.len() >= 3, "fixture too small: {last} segments, {} records in the last", spans.len());
    Fixture { _src: src_dir, src, recs, last, before_last, last_bytes, spans }
}

impl Fixture {
    /// A copy of the WAL whose last segment is `last_bytes`.
    fn damaged(&self, last_bytes: &[u8]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for i in 0..self.last {
            fs::copy(segment_name(&self.src, i), segment_name(d.path(), i)).unwrap();
        }
        fs::write(segment_name(d.path(), self.last), last_bytes).unwrap();
        d
    }

    /// Records (of the whole WAL) that end at or before `pos` of the last
    /// segment.
    fn intact_before(&self, pos: usize) -> usize {
        self.before_last + self.spans.iter().filter(|&&(_, end)| end <= pos).count()
    }

    /// After reading a damaged copy: check what was read, repair, check the
    /// repaired segment and that writing continues in a new segment.
    fn check_repair(&self, dir: &Path, err: &CorruptionError, kept: usize) {
        assert_eq!(err.segment, self.last);
        repair(dir, err).unwrap();
        let (got, rerr) = read_dir(dir);
        assert!(rerr.is_none(), "after repair: {rerr:?}");
        assert_eq!(got.len(), kept);
        assert!(got[..] == self.recs[..kept]);
        // The repaired segment is the intact prefix, byte for byte, padded.
        let repaired = fs::read(segment_name(dir, self.last)).unwrap();
        let prefix_end = if kept > self.before_last { self.spans[kept - self.before_last - 1].1 } else { 0 };
        assert_eq!(repaired.len(), prefix_end.div_ceil(PAGE_SIZE) * PAGE_SIZE);
        assert!(repaired[..prefix_end] == self.last_bytes[..prefix_end]);
        assert!(repaired[prefix_end..].iter().all(|&b| b == 0));
        assert!(!dir.join(format!("{:08}.repair", self.last)).exists());

        let mut w = Wal::open(dir, opts(4, true)).unwrap();
        assert_eq!(w.current_segment(), self.last + 1);
        w.log(&[b"after repair"]).unwrap();
        let (got, rerr) = read_dir(dir);
        assert!(rerr.is_none());
        assert_eq!(got.len(), kept + 1);
        assert_eq!(got[kept], b"after repair");
    }
}

fn torn_tail(compress: bool) {
    let fx = fixture(compress);
    let len = fx.last_bytes.len();
    let mut rng = Rng(99);
    let mut cuts: Vec<usize> = fx.spans.iter().flat_map(|&(s, e)| [s, s + 1, s + 6, s + 7, s + 8, e - 1, e, e + 1]).filter(|&c| c <= len).collect();
    cuts.extend((0..150).map(|_| rng.below(len + 1)));
    cuts.extend([0, 1, len - 1, len]);
    for cut in cuts {
        let d = fx.damaged(&fx.last_bytes[..cut]);
        let (got, err) = read_dir(d.path());
        let kept = fx.intact_before(cut);
        assert_eq!(got.len(), kept, "cut at {cut}");
        assert!(got[..] == fx.recs[..kept], "cut at {cut}");
        // The next record begins at or after the cut: a clean end.
        let next_start = fx.spans.get(kept - fx.before_last).map_or(usize::MAX, |s| s.0);
        if cut <= next_start {
            assert!(err.is_none(), "cut at {cut}: {err:?}");
        } else {
            let Some(WalError::Corruption(c)) = err else { panic!("cut at {cut}: expected corruption, got {err:?}") };
            fx.check_repair(d.path(), &c, kept);
        }
    }
}

#[test]
fn torn_tail_is_found_and_repaired() {
    torn_tail(false);
}

#[test]
fn torn_tail_is_found_and_repaired_compressed() {
    torn_tail(true);
}

#[test]
fn flipped_bytes_are_found_and_repaired() {
    for compress in [false, true] {
        let fx = fixture(compress);
        let frags = fragments(&fx.last_bytes);
        // Type bytes and the first byte of a padding run can change meaning
        // without failing a check (the format has no checksum over them);
        // they are tested separately.
        let mut unchecked: Vec<usize> = frags.iter().map(|f| f.start).collect();
        unchecked.extend(frags.iter().map(|f| f.end).filter(|e| e % PAGE_SIZE != 0));
        let mut rng = Rng(5 + u64::from(compress));
        let mut tried = 0;
        while tried < 120 {
            let pos = rng.below(fx.last_bytes.len());
            if unchecked.contains(&pos) {
                continue;
            }
            tried += 1;
            let mut bytes = fx.last_bytes.clone();
            bytes[pos] ^= 1 << rng.below(8);
            let d = fx.damaged(&bytes);
            let (got, err) = read_dir(d.path());
            let kept = fx.intact_before(pos);
            assert_eq!(got.len(), kept, "flip at {pos}: {err:?}");
            assert!(got[..] == fx.recs[..kept], "flip at {pos}");
            let Some(WalError::Corruption(c)) = err else { panic!("flip at {pos}: expected corruption, got {err:?}") };
            fx.check_repair(d.path(), &c, kept);
        }
    }
}

#[test]
fn damaged_type_bytes() {
    let fx = fixture(false);
    let (start, _) = fx.spans[1];
    let kept = fx.before_last + 1;
    let first_type = fx.last_bytes[start];
    for (typ, want) in [
        (0x00, "unexpected non-zero byte in padded page"),
        (0x05, "unexpected record type 5"),
        (0x07, "unexpected record type 7"),
        (0x03, "unexpected middle record, dropping buffer"),
        (0x04, "unexpected last record, dropping buffer"),
    ] {
        let mut bytes = fx.last_bytes.clone();
        bytes[start] = typ;
        let d = fx.damaged(&bytes);
        let (got, err) = read_dir(d.path());
        assert_eq!(got.len(), kept, "type {typ:#x}");
        let Some(WalError::Corruption(c)) = err else { panic!("type {typ:#x}: {err:?}") };
        assert_eq!(c.reason.to_string(), want);
        assert!(c.to_string().starts_with("corruption in segment "), "{c}");
        fx.check_repair(d.path(), &c, kept);
    }
    // A full record turned into a first fragment: the next fragment is wrong.
    if first_type == 0x01 {
        let mut bytes = fx.last_bytes.clone();
        bytes[start] = 0x02;
        let (got, err) = read_dir(fx.damaged(&bytes).path());
        assert_eq!(got.len(), kept);
        assert!(matches!(err, Some(WalError::Corruption(_))), "{err:?}");
    }
    // zstd is refused, not treated as corruption.
    let mut bytes = fx.last_bytes.clone();
    bytes[start] = (first_type & 7) | 0x10;
    let (got, err) = read_dir(fx.damaged(&bytes).path());
    assert_eq!(got.len(), kept);
    assert!(matches!(err, Some(WalError::UnsupportedCompression { .. })), "{err:?}");
}

#[test]
fn torn_record_at_end_of_an_earlier_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), opts(4, false)).unwrap();
    let big = vec![7u8; PAGE_SIZE * 2];
    w.log(&[b"one", &big]).unwrap();
    w.close().unwrap();
    // Keep the big record's first fragment (which ends the first page) but
    // lose the rest, then a reopen starts a new segment.
    let path = segment_name(dir.path(), 0);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..PAGE_SIZE]).unwrap();
    let mut w = Wal::open(dir.path(), opts(4, false)).unwrap();
    assert_eq!(w.current_segment(), 1);
    let (got, err) = read_dir(dir.path());
    assert_eq!(got, vec![b"one".to_vec()]);
    let Some(WalError::Corruption(c)) = err else { panic!("{err:?}") };
    assert_eq!((c.segment, c.reason.clone()), (0, CorruptionReason::LastRecordTorn));
    // The head's way: repair through the open WAL and keep writing.
    w.repair(&c).unwrap();
    assert_eq!(w.current_segment(), 1);
    w.log(&[b"two"]).unwrap();
    let (got, err) = read_dir(dir.path());
    assert!(err.is_none());
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
}

fn labels(pairs: &[(&str, &str)]) -> model::Labels {
    model::Labels::from_pairs(pairs.iter().copied())
}

#[test]
fn checkpoint_keeps_what_the_head_needs() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path(), opts(2, compress)).unwrap();
        let mut buf = Vec::new();
        let mut log = |w: &mut Wal, f: &dyn Fn(&mut Vec<u8>)| {
            buf.clear();
            f(&mut buf);
            w.log(&[&buf]).unwrap();
        };
        // Series 1..=10; even ones are kept.
        for r in 1..=10u64 {
            let series = [RefSeries { r, labels: labels(&[("__name__", "m"), ("i", &r.to_string())]) }];
            log(&mut w, &|b| record::encode_series(&series, b));
        }
        for t in (0..2000).step_by(100) {
            let samples: Vec<RefSample> = (1..=10).map(|r| RefSample { r, t, v: t as f64 }).collect();
            log(&mut w, &|b| record::encode_samples(&samples, b));
            if t % 500 == 0 {
                w.next_segment().unwrap();
            }
        }
        let stones = [Stone { r: 2, intervals: vec![(0, 500)] }, Stone { r: 4, intervals: vec![(900, 1500)] }];
        log(&mut w, &|b| record::encode_tombstones(&stones, b));
        let ex = [
            RefExemplar { r: 2, t: 999, v: 1.0, labels: labels(&[("trace_id", "a")]) },
            RefExemplar { r: 2, t: 1000, v: 2.0, labels: labels(&[("trace_id", "b")]) },
        ];
        log(&mut w, &|b| record::encode_exemplars(&ex, b));
        for (r, help) in [(2, "old"), (3, "odd"), (2, "new"), (4, "four")] {
            let md = [RefMetadata { r, kind: 1, unit: String::new(), help: help.into() }];
            log(&mut w, &|b| record::encode_metadata(&md, b));
        }
        // Unknown and histogram records are dropped.
        log(&mut w, &|b| b.extend_from_slice(&[7, 1, 2, 3]));
        log(&mut w, &|b| b.extend_from_slice(&[200]));
        let to = w.next_segment().unwrap() - 1;
        w.log(&[b"\x02"]).unwrap(); // in the segment after the checkpoint

        fs::create_dir(dir.path().join("checkpoint.00000001.tmp")).unwrap();
        let stats = checkpoint(dir.path(), 0, to, |r| r % 2 == 0, 1000, compress).unwrap();
        assert!(!dir.path().join("checkpoint.00000001.tmp").exists());
        let (cp, idx) = last_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!(idx, to);
        assert_eq!(cp, checkpoint_dir(dir.path(), to));

        let (recs, err) = read_dir(&cp);
        assert!(err.is_none());
        let (mut series, mut samples, mut stones_out, mut ex_out, mut md) = (vec![], vec![], vec![], vec![], vec![]);
        for rec in &recs {
            match RecordType::of(rec) {
                RecordType::Series => record::decode_series(rec, &mut series).unwrap(),
                RecordType::Samples => record::decode_samples(rec, &mut samples).unwrap(),
                RecordType::Tombstones => record::decode_tombstones(rec, &mut stones_out).unwrap(),
                RecordType::Exemplars => record::decode_exemplars(rec, &mut ex_out).unwrap(),
                RecordType::Metadata => record::decode_metadata(rec, &mut md).unwrap(),
                other => panic!("unexpected record type {other}"),
            }
        }
        assert_eq!(series.iter().map(|s| s.r).collect::<Vec<_>>(), vec![2, 4, 6, 8, 10]);
        assert!(samples.iter().all(|s| s.t >= 1000));
        assert_eq!(samples.len(), 10 * 10, "t = 1000..1900 for all 10 series");
        assert_eq!(stones_out, vec![Stone { r: 4, intervals: vec![(900, 1500)] }]);
        assert_eq!(ex_out, vec![ex[1].clone()]);
        assert_eq!(md.iter().map(|m| (m.r, m.help.as_str())).collect::<Vec<_>>(), vec![(2, "new"), (4, "four")]);
        assert_eq!(
            stats,
            CheckpointStats {
                dropped_series: 5,
                dropped_samples: 100,
                dropped_tombstones: 1,
                dropped_exemplars: 1,
                dropped_metadata: 2,
                total_series: 10,
                total_samples: 200,
                total_tombstones: 2,
                total_exemplars: 2,
                total_metadata: 4,
            }
        );

        // The next checkpoint reads the previous one; a gap is refused.
        w.truncate(to + 1).unwrap();
        let next = w.next_segment().unwrap() - 1;
        assert!(matches!(checkpoint(dir.path(), to + 2, next, |_| true, 0, compress), Err(WalError::CheckpointGap { .. })));
        let stats = checkpoint(dir.path(), to + 1, next, |r| r == 4, 0, compress).unwrap();
        assert_eq!(stats.total_series, 5);
        assert_eq!(stats.dropped_series, 4);
        assert!(!checkpoint_dir(dir.path(), to).exists(), "older checkpoint deleted");
        assert_eq!(last_checkpoint(dir.path()).unwrap().unwrap().1, next);
        w.close().unwrap();
    }
}

#[test]
fn checkpoint_refuses_corrupt_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), opts(2, false)).unwrap();
    let mut buf = Vec::new();
    record::encode_series(&[RefSeries { r: 1, labels: labels(&[("a", "b")]) }], &mut buf);
    w.log(&[&buf]).unwrap();
    w.close().unwrap();
    let path = segment_name(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(checkpoint(dir.path(), 0, 0, |_| true, 0, false), Err(WalError::Corruption(_))));
    assert!(!checkpoint_dir(dir.path(), 0).exists());
    assert!(!dir.path().join("checkpoint.00000000.tmp").exists());
    delete_checkpoints(dir.path(), 10).unwrap();
}
