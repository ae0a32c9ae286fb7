//! Head chunk file tests: the layout against hand-derived bytes, round trips
//! across files and reopenings, repair of torn and damaged tails, deletion,
//! bad references and concurrent use.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use storage::{SampleIterator, ValueType};

use super::*;
use crate::chunkenc::{XorChunk, XorIterator};

/// Deterministic pseudo-random numbers (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One chunk as written: what reading it back must give.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    series_ref: u64,
    mint: i64,
    maxt: i64,
    data: Vec<u8>,
}

/// Chunk data of `len` bytes whose 2-byte header claims `len` samples;
/// not a decodable chunk, which the mapper does not care about.
fn synthetic(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    d[..2].copy_from_slice(&(len as u16).to_be_bytes());
    d
}

fn write_many(m: &ChunkDiskMapper, rng: &mut Rng, n: usize, t0: i64) -> Vec<(ChunkDiskRef, Written)> {
    (0..n)
        .map(|i| {
            let len = 4 + rng.below(120) as usize;
            let w = Written { series_ref: 1 + rng.below(50), mint: t0 + i as i64 * 1000, maxt: t0 + i as i64 * 1000 + 999, data: synthetic(rng, len) };
            let r = m.write_chunk(w.series_ref, w.mint, w.maxt, Encoding::Xor, &w.data).unwrap();
            (r, w)
        })
        .collect()
}

fn check_read(m: &ChunkDiskMapper, r: ChunkDiskRef, w: &Written) {
    let c = m.chunk(r).unwrap_or_else(|e| panic!("ref {r:x}: {e}"));
    assert_eq!(&*c, &w.data[..], "ref {r:x}");
    assert_eq!((c.series_ref(), c.min_time(), c.max_time()), (w.series_ref, w.mint, w.maxt));
    assert_eq!(c.encoding().unwrap(), Encoding::Xor);
    assert_eq!(c.num_samples(), u16::from_be_bytes([w.data[0], w.data[1]]));
}

fn iterate(m: &ChunkDiskMapper) -> Vec<ChunkInfo> {
    let mut out = Vec::new();
    m.iterate_all_chunks(|c| {
        out.push(c);
        Ok::<_, ChunksHeadError>(())
    })
    .unwrap();
    out
}

fn info_of(r: ChunkDiskRef, w: &Written) -> ChunkInfo {
    ChunkInfo { series_ref: w.series_ref, chunk_ref: r, mint: w.mint, maxt: w.maxt, num_samples: u16::from_be_bytes([w.data[0], w.data[1]]), raw_encoding: 1 }
}

fn file_indices(dir: &Path) -> Vec<u32> {
    list_chunk_files(dir).unwrap().into_iter().map(|(i, _)| i).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn ref_packing() {
    assert_eq!(chunk_disk_ref(1, 8), (1 << 32) | 8);
    assert_eq!(unpack_chunk_disk_ref(chunk_disk_ref(u32::MAX, u32::MAX)), (u32::MAX, u32::MAX));
    assert_eq!(unpack_chunk_disk_ref(0x0000_0003_0000_1234), (3, 0x1234));
    assert_eq!(chunk_file_name(Path::new("d"), 1), Path::new("d/000001"));
    assert_eq!(chunk_file_name(Path::new("d"), 1234567), Path::new("d/1234567"));
}

/// The bytes of a file with two chunks, spelled out from head_chunks.md.
#[test]
fn layout_matches_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), DEFAULT_MAX_FILE_SIZE).unwrap();
    let data1 = [0u8, 1, 0xaa, 0xbb, 0xcc];
    let data2: Vec<u8> = (0..200u8).collect();
    let r1 = m.write_chunk(7, -5, 1_700_000_000_000, Encoding::Xor, &data1).unwrap();
    let r2 = m.write_chunk(0x0102_0304_0506_0708, 10, 20, Encoding::Histogram, &data2).unwrap();
    m.close().unwrap();
    assert_eq!(r1, (1 << 32) | 8);

    let mut want = vec![0x01, 0x30, 0xBC, 0x91, 1, 0, 0, 0];
    let start = want.len();
    want.extend_from_slice(&7u64.to_be_bytes());
    want.extend_from_slice(&(-5i64 as u64).to_be_bytes());
    want.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    want.push(1);
    want.push(5);
    want.extend_from_slice(&data1);
    let crc = crc32c::crc32c(&want[start..]);
    want.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(r2, (1 << 32) | want.len() as u64);
    let start = want.len();
    want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    want.extend_from_slice(&10u64.to_be_bytes());
    want.extend_from_slice(&20u64.to_be_bytes());
    want.push(2);
    want.extend_from_slice(&[0xc8, 0x01]); // 200 as a uvarint
    want.extend_from_slice(&data2);
    let crc = crc32c::crc32c(&want[start..]);
    want.extend_from_slice(&crc.to_be_bytes());

    assert_eq!(fs::read(dir.path().join("000001")).unwrap(), want);
    assert_eq!(file_indices(dir.path()), vec![1]);
}

#[test]
fn round_trip_across_files_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let max = 2048;
    let mut rng = Rng(42);
    let m = ChunkDiskMapper::open(dir.path(), max).unwrap();
    let written = write_many(&m, &mut rng, 600, 1_000_000);
    for (r, w) in &written {
        check_read(&m, *r, w);
    }
    let want: Vec<ChunkInfo> = written.iter().map(|(r, w)| info_of(*r, w)).collect();
    assert_eq!(iterate(&m), want);
    let indices = file_indices(dir.path());
    assert!(indices.len() > 10, "{} files", indices.len());
    assert_eq!(indices, (1..=indices.len() as u32).collect::<Vec<_>>());
    for (_, p) in list_chunk_files(dir.path()).unwrap() {
        assert!(fs::metadata(&p).unwrap().len() <= max as u64);
    }
    // A new file is started only when the next chunk would not fit.
    for pair in written.windows(2) {
        let ((r0, w0), (r1, _)) = (&pair[0], &pair[1]);
        let (f0, o0) = unpack_chunk_disk_ref(*r0);
        let (f1, o1) = unpack_chunk_disk_ref(*r1);
        let end = o0 as usize + format::record_len(w0.data.len());
        if f1 == f0 {
            assert_eq!(o1 as usize, end);
        } else {
            assert_eq!((f1, o1), (f0 + 1, FILE_HEADER_SIZE as u32));
            // The chunk went to a new file because it did not fit.
            let next_len = format::record_len(written.iter().find(|(r, _)| r == r1).unwrap().1.data.len());
            assert!(end + next_len > max);
        }
    }
    m.close().unwrap();
    assert!(matches!(m.chunk(written[0].0), Err(ChunksHeadError::Closed)));

    // Reopen: everything resolves, and writing continues in a new file.
    let last = *indices.last().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), max).unwrap();
    assert_eq!(iterate(&m), want);
    for (r, w) in &written {
        check_read(&m, *r, w);
    }
    let more = write_many(&m, &mut rng, 50, 2_000_000);
    assert_eq!(unpack_chunk_disk_ref(more[0].0), (last + 1, FILE_HEADER_SIZE as u32));
    let all: Vec<ChunkInfo> = written.iter().chain(&more).map(|(r, w)| info_of(*r, w)).collect();
    assert_eq!(iterate(&m), all);
    m.sync().unwrap();
    drop(m);
    // Dropped without close: what was written is all there.
    let m = ChunkDiskMapper::open(dir.path(), max).unwrap();
    assert_eq!(iterate(&m), all);
}

/// Opening and closing without writing leaves no new file behind, and a
/// reopened mapper never writes into an old file.
#[test]
fn files_are_cut_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 4096).unwrap();
    m.close().unwrap();
    assert!(file_indices(dir.path()).is_empty());
    let m = ChunkDiskMapper::open(dir.path(), 4096).unwrap();
    let r = m.write_chunk(1, 0, 1, Encoding::Xor, &[0, 1, 2, 3]).unwrap();
    assert_eq!(r >> 32, 1);
    m.close().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 4096).unwrap();
    m.close().unwrap();
    assert_eq!(file_indices(dir.path()), vec![1]);
    let m = ChunkDiskMapper::open(dir.path(), 4096).unwrap();
    let r = m.write_chunk(1, 2, 3, Encoding::Xor, &[0, 1, 2, 3]).unwrap();
    assert_eq!(r >> 32, 2);
}

/// Real XOR chunks read back through the mapping decode to their samples.
#[test]
fn xor_chunks_decode_through_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 64 * 1024).unwrap();
    let mut refs = Vec::new();
    for s in 0..20u64 {
        let mut c = XorChunk::new();
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (1_000 + i * 15_000 + (s as i64), (s * 1000 + i as u64) as f64 / 4.0)).collect();
        for &(t, v) in &samples {
            c.append(t, v);
        }
        let r = m.write_chunk(s + 1, samples[0].0, samples[119].0, Encoding::Xor, c.bytes()).unwrap();
        refs.push((r, samples));
    }
    for (r, samples) in &refs {
        let c = m.chunk(*r).unwrap();
        assert_eq!(c.num_samples(), 120);
        let mut it = XorIterator::new(&c);
        let mut got = Vec::new();
        while it.next() == ValueType::Float {
            got.push(it.at());
        }
        assert!(it.err().is_none());
        assert_eq!(&got, samples);
    }
}

/// A mapper with three files; returns the chunks and the last file's path.
fn three_files(dir: &Path) -> (Vec<(ChunkDiskRef, Written)>, PathBuf) {
    let m = ChunkDiskMapper::open(dir, 1024).unwrap();
    let mut rng = Rng(7);
    let mut written = Vec::new();
    while unpack_chunk_disk_ref(written.last().map_or(0, |(r, _)| *r)).0 < 3 {
        written.extend(write_many(&m, &mut rng, 1, 5_000 + written.len() as i64 * 1000));
    }
    // A few chunks in the third file.
    written.extend(write_many(&m, &mut rng, 4, 5_000 + written.len() as i64 * 1000));
    m.close().unwrap();
    assert_eq!(file_indices(dir), vec![1, 2, 3]);
    (written, chunk_file_name(dir, 3))
}

/// The last file cut at every offset: start-up keeps exactly the chunks
/// that lie wholly before the cut, and the file is cut back to them.
#[test]
fn torn_last_file_is_truncated_to_its_valid_prefix() {
    let src = tempfile::tempdir().unwrap();
    let (written, last) = three_files(src.path());
    let original = fs::read(&last).unwrap();
    let len = original.len();
    let in_last: Vec<&(ChunkDiskRef, Written)> = written.iter().filter(|(r, _)| r >> 32 == 3).collect();
    let ends: Vec<usize> = in_last.iter().map(|(r, w)| (*r as u32) as usize + format::record_len(w.data.len())).collect();
    assert_eq!(*ends.last().unwrap(), len);
    for cut in 0..len {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(src.path(), tmp.path());
        let f = OpenOptions::new().write(true).open(tmp.path().join("000003")).unwrap();
        f.set_len(cut as u64).unwrap();
        drop(f);
        let m = ChunkDiskMapper::open(tmp.path(), 1024).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let got = iterate(&m);
        let kept = ends.iter().filter(|&&e| e <= cut).count();
        let want_total = written.len() - in_last.len() + kept;
        assert_eq!(got.len(), want_total, "cut at {cut}");
        let want: Vec<ChunkInfo> = written[..want_total].iter().map(|(r, w)| info_of(*r, w)).collect();
        assert_eq!(got, want, "cut at {cut}");
        let path3 = tmp.path().join("000003");
        if cut < FILE_HEADER_SIZE {
            assert!(!path3.exists(), "cut at {cut}: a file without a header goes");
        } else {
            let valid = if kept == 0 { FILE_HEADER_SIZE } else { ends[kept - 1] };
            // A torn record that so far is only zeros reads as preallocated
            // space, and is left alone like it.
            let want_len = if original[valid..cut].iter().all(|&b| b == 0) { cut } else { valid };
            assert_eq!(fs::metadata(&path3).unwrap().len() as usize, want_len, "cut at {cut}");
        }
        // Writing goes on in the file after the (repaired) last one.
        let r = m.write_chunk(9, 1, 2, Encoding::Xor, &[0, 0, 1, 1]).unwrap();
        let want_index = if cut < FILE_HEADER_SIZE { 3 } else { 4 };
        assert_eq!(r >> 32, want_index, "cut at {cut}");
        for (r, w) in &written[..want_total] {
            check_read(&m, *r, w);
        }
    }
}

/// A flipped byte in the last file's chunks costs that chunk and those after
/// it, and nothing else; a flipped byte in its header is an error.
#[test]
fn damaged_last_file_is_truncated_before_the_damage() {
    let src = tempfile::tempdir().unwrap();
    let (written, last) = three_files(src.path());
    let bytes = fs::read(&last).unwrap();
    let in_last: Vec<&(ChunkDiskRef, Written)> = written.iter().filter(|(r, _)| r >> 32 == 3).collect();
    let starts: Vec<usize> = in_last.iter().map(|(r, _)| (*r as u32) as usize).collect();
    for pos in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let tmp = tempfile::tempdir().unwrap();
            copy_dir(src.path(), tmp.path());
            let mut b = bytes.clone();
            b[pos] ^= flip;
            fs::write(tmp.path().join("000003"), &b).unwrap();
            let res = ChunkDiskMapper::open(tmp.path(), 1024);
            if pos < 4 {
                assert!(matches!(res, Err(ChunksHeadError::InvalidMagic { .. })), "pos {pos}: {res:?}");
                continue;
            }
            if pos == 4 {
                assert!(matches!(res, Err(ChunksHeadError::InvalidVersion { .. })), "pos {pos}: {res:?}");
                continue;
            }
            let m = res.unwrap_or_else(|e| panic!("pos {pos} flip {flip:x}: {e}"));
            // Padding is not checked, by Prometheus either.
            let damaged = starts.iter().rposition(|&s| s <= pos);
            let kept = damaged.unwrap_or(in_last.len());
            let want_total = written.len() - in_last.len() + kept;
            let want: Vec<ChunkInfo> = written[..want_total].iter().map(|(r, w)| info_of(*r, w)).collect();
            assert_eq!(iterate(&m), want, "pos {pos} flip {flip:x}");
            let valid = if damaged.is_some() { starts[kept] } else { bytes.len() };
            assert_eq!(fs::metadata(tmp.path().join("000003")).unwrap().len() as usize, valid, "pos {pos}");
        }
    }
}

#[test]
fn damage_in_an_earlier_file_is_an_error() {
    let src = tempfile::tempdir().unwrap();
    let (written, _) = three_files(src.path());
    let second: Vec<&(ChunkDiskRef, Written)> = written.iter().filter(|(r, _)| r >> 32 == 2).collect();
    let (r, w) = second[1];
    let off = (*r as u32) as usize;
    // One byte of the data of the second chunk of file 2.
    let path = src.path().join("000002");
    let mut b = fs::read(&path).unwrap();
    b[off + format::record_len(w.data.len()) - 6] ^= 0x10;
    fs::write(&path, &b).unwrap();
    match ChunkDiskMapper::open(src.path(), 1024) {
        Err(ChunksHeadError::Corruption { file, offset, reason }) => {
            assert_eq!(file, path);
            assert_eq!(offset, off as u64);
            assert!(reason.starts_with("checksum mismatch"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Cut short instead.
    fs::write(&path, &b[..off + 10]).unwrap();
    let err = ChunkDiskMapper::open(src.path(), 1024).unwrap_err();
    assert!(matches!(&err, ChunksHeadError::Corruption { file, offset, .. } if *file == path && *offset == off as u64), "{err}");
    assert!(err.to_string().starts_with(&format!("corruption in head chunk file {}: ", path.display())), "{err}");
    // Files stay untouched.
    assert_eq!(fs::metadata(&path).unwrap().len() as usize, off + 10);
}

/// Prometheus preallocates head chunk files (128 KiB on Linux), so its
/// files end in zeros, the last one and the others.
#[test]
fn zero_tails_end_the_data() {
    let src = tempfile::tempdir().unwrap();
    let (written, _) = three_files(src.path());
    for name in ["000001", "000003"] {
        let p = src.path().join(name);
        let mut b = fs::read(&p).unwrap();
        b.resize(b.len() + 128 * 1024, 0);
        fs::write(&p, &b).unwrap();
    }
    let want: Vec<ChunkInfo> = written.iter().map(|(r, w)| info_of(*r, w)).collect();
    let m = ChunkDiskMapper::open(src.path(), 1024).unwrap();
    assert_eq!(iterate(&m), want);
    for (r, w) in &written {
        check_read(&m, *r, w);
    }
    // A reference into the zeros is no chunk.
    let zeros = chunk_disk_ref(1, fs::metadata(src.path().join("000001")).unwrap().len() as u32 - 1000);
    assert!(m.chunk(zeros).is_err());
    m.close().unwrap();
    // Zeros short of a whole record header, too.
    let p = src.path().join("000002");
    let mut b = fs::read(&p).unwrap();
    b.resize(b.len() + 20, 0);
    fs::write(&p, &b).unwrap();
    let last_len = fs::metadata(src.path().join("000003")).unwrap().len();
    let m = ChunkDiskMapper::open(src.path(), 1024).unwrap();
    assert_eq!(iterate(&m), want);
    // Zeros to the end are no damage: the last file is left as it is.
    assert_eq!(fs::metadata(src.path().join("000003")).unwrap().len(), last_len);
}

#[test]
fn empty_last_file_is_removed_and_bad_sets_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (written, _) = three_files(dir.path());
    // An empty last file (a crash right after creating it) goes.
    fs::write(dir.path().join("000004"), b"").unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 1024).unwrap();
    assert_eq!(iterate(&m).len(), written.len());
    assert_eq!(file_indices(dir.path()), vec![1, 2, 3]);
    m.close().unwrap();
    // So does one whose magic is zero.
    fs::write(dir.path().join("000004"), [0u8; 64]).unwrap();
    ChunkDiskMapper::open(dir.path(), 1024).unwrap().close().unwrap();
    assert_eq!(file_indices(dir.path()), vec![1, 2, 3]);
    // Temporary and foreign names are ignored.
    fs::write(dir.path().join("000004.tmp"), b"junk").unwrap();
    fs::write(dir.path().join("README"), b"junk").unwrap();
    fs::write(dir.path().join("+5"), b"junk").unwrap();
    ChunkDiskMapper::open(dir.path(), 1024).unwrap().close().unwrap();
    // An empty last file goes before the files are checked for gaps, as in
    // Prometheus.
    fs::write(dir.path().join("000005"), b"").unwrap();
    ChunkDiskMapper::open(dir.path(), 1024).unwrap().close().unwrap();
    assert_eq!(file_indices(dir.path()), vec![1, 2, 3]);
    // A gap is an error, in Prometheus's words.
    fs::copy(dir.path().join("000003"), dir.path().join("000005")).unwrap();
    let err = ChunkDiskMapper::open(dir.path(), 1024).unwrap_err();
    assert!(err.to_string().starts_with("found unsequential head chunk files"), "{err}");
    fs::remove_file(dir.path().join("000005")).unwrap();
    // A foreign file in the middle.
    let p = dir.path().join("000002");
    let mut b = fs::read(&p).unwrap();
    b[0] = 0x85;
    fs::write(&p, &b).unwrap();
    let err = ChunkDiskMapper::open(dir.path(), 1024).unwrap_err();
    assert_eq!(err.to_string(), format!("{}: invalid magic number 8530bc91", p.display()));
    fs::write(&p, [1, 0x30, 0xbc]).unwrap();
    assert!(matches!(ChunkDiskMapper::open(dir.path(), 1024), Err(ChunksHeadError::InvalidHeader { .. })));
}

#[test]
fn truncate_deletes_exactly_the_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 1024).unwrap();
    let mut rng = Rng(3);
    // Chunk i covers [i*1000, i*1000+999], so file maxt grows with the index.
    let written = write_many(&m, &mut rng, 100, 0);
    let mut maxt_of: BTreeMap<u32, i64> = BTreeMap::new();
    for (r, w) in &written {
        let e = maxt_of.entry((r >> 32) as u32).or_insert(i64::MIN);
        *e = (*e).max(w.maxt);
    }
    let n_files = maxt_of.len() as u32;
    assert!(n_files >= 5);
    // A handle taken before its file goes stays readable.
    let early = m.chunk(written[0].0).unwrap();

    // Cut between files 2 and 3: files 1 and 2 go, even with mint just above
    // file 2's maxt.
    let mint = maxt_of[&2] + 1;
    m.truncate(mint).unwrap();
    let mut left: Vec<u32> = (3..=n_files).collect();
    assert_eq!(file_indices(dir.path()), left);
    for (r, w) in &written {
        if (r >> 32) <= 2 {
            assert!(matches!(m.chunk(*r), Err(ChunksHeadError::InvalidRef { .. })));
        } else {
            check_read(&m, *r, w);
        }
    }
    assert_eq!(&*early, &written[0].1.data[..]);
    assert_eq!(iterate(&m).len(), written.iter().filter(|(r, _)| (r >> 32) > 2).count());

    // mint equal to a file's maxt keeps it (strictly older only).
    m.truncate(maxt_of[&3]).unwrap();
    assert_eq!(file_indices(dir.path()), left);

    // The current file had chunks, so it was finished: the next chunk
    // starts a new one.
    let r = m.write_chunk(1, 500_000, 500_001, Encoding::Xor, &[0, 1, 2, 3]).unwrap();
    assert_eq!(r >> 32, u64::from(n_files) + 1);
    left.push(n_files + 1);
    assert_eq!(file_indices(dir.path()), left);

    // Everything old: all files go except the one being written, which has
    // a new chunk... and is finished by truncate, so it goes too.
    m.truncate(i64::MAX).unwrap();
    assert!(file_indices(dir.path()).is_empty());
    assert!(iterate(&m).is_empty());
    let r = m.write_chunk(1, 600_000, 600_001, Encoding::Xor, &[0, 1, 2, 3]).unwrap();
    assert_eq!(r >> 32, u64::from(n_files) + 2, "indices never repeat within a run");
    // Truncating below everything keeps everything.
    m.truncate(i64::MIN).unwrap();
    assert_eq!(file_indices(dir.path()), vec![n_files + 2]);
    m.close().unwrap();
    assert!(matches!(m.truncate(0), Err(ChunksHeadError::Closed)));
    // Reopen works on a set that does not start at 1.
    let m = ChunkDiskMapper::open(dir.path(), 1024).unwrap();
    assert_eq!(iterate(&m).len(), 1);
}

/// A file whose chunks are old but which sits after a newer one stays, so
/// that the files stay sequential.
#[test]
fn truncate_deletes_only_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 256).unwrap();
    let d = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    // Each record is 40 bytes: 6 per file.
    let mut refs = Vec::new();
    for (i, maxt) in [10, 10, 10, 10, 10, 10, 50, 50, 50, 50, 50, 50, 10, 10, 10, 10, 10, 10].into_iter().enumerate() {
        refs.push(m.write_chunk(1 + i as u64, 0, maxt, Encoding::Xor, &d).unwrap());
    }
    assert_eq!(file_indices(dir.path()), vec![1, 2, 3]);
    m.truncate(20).unwrap();
    assert_eq!(file_indices(dir.path()), vec![2, 3]);
}

#[test]
fn bad_refs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 4096).unwrap();
    let mut rng = Rng(11);
    let written = write_many(&m, &mut rng, 30, 0);
    let starts: std::collections::HashSet<ChunkDiskRef> = written.iter().map(|(r, _)| *r).collect();
    let file_len = fs::metadata(dir.path().join("000001")).unwrap().len() as u32;
    for off in 0..file_len + 64 {
        let r = chunk_disk_ref(1, off);
        if starts.contains(&r) {
            continue;
        }
        assert!(m.chunk(r).is_err(), "offset {off}");
    }
    for r in [0, chunk_disk_ref(0, 8), chunk_disk_ref(2, 8), chunk_disk_ref(1, u32::MAX), chunk_disk_ref(u32::MAX, 8), u64::MAX] {
        assert!(matches!(m.chunk(r), Err(ChunksHeadError::InvalidRef { .. })), "{r:x}");
    }
    // Random refs into the written file.
    for _ in 0..10_000 {
        let r = chunk_disk_ref(1, rng.below(u64::from(file_len) * 2) as u32);
        if !starts.contains(&r) {
            assert!(m.chunk(r).is_err());
        }
    }
}

#[test]
fn invalid_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(ChunkDiskMapper::open(dir.path(), 10), Err(ChunksHeadError::InvalidMaxFileSize(10))));
    assert!(matches!(ChunkDiskMapper::open(dir.path(), u32::MAX as usize + 1), Err(ChunksHeadError::InvalidMaxFileSize(_))));
    let m = ChunkDiskMapper::open(dir.path(), 256).unwrap();
    assert!(matches!(m.write_chunk(0, 0, 0, Encoding::Xor, &[0, 1, 2, 3]), Err(ChunksHeadError::ZeroSeriesRef)));
    assert!(matches!(m.write_chunk(1, 0, 0, Encoding::Xor, &[0, 1, 2]), Err(ChunksHeadError::ChunkTooSmall { len: 3 })));
    // 8 header + 25 meta + 2 length bytes + 217 data + 4 crc = 256 fits exactly.
    assert!(m.write_chunk(1, 0, 0, Encoding::Xor, &[0; 217]).is_ok());
    assert!(matches!(m.write_chunk(1, 0, 0, Encoding::Xor, &[0; 218]), Err(ChunksHeadError::ChunkTooLarge { .. })));
    assert_eq!(file_indices(dir.path()), vec![1]);
    assert_eq!(fs::metadata(dir.path().join("000001")).unwrap().len(), 256);
    m.close().unwrap();
    assert!(matches!(m.write_chunk(1, 0, 0, Encoding::Xor, &[0; 8]), Err(ChunksHeadError::Closed)));
    assert!(matches!(m.sync(), Err(ChunksHeadError::Closed)));
    assert!(matches!(m.iterate_all_chunks(|_| Ok::<_, ChunksHeadError>(())), Err(ChunksHeadError::Closed)));
    m.close().unwrap();
}

#[test]
fn out_of_order_bit_is_reported_apart() {
    let dir = tempfile::tempdir().unwrap();
    // Write a record with the out-of-order bit set by hand, as Prometheus's
    // head does for out-of-order chunks.
    let mut b = format::file_header().to_vec();
    format::encode_record(&mut b, 3, 10, 20, 0x81, &[0, 2, 9, 9, 9]);
    fs::write(dir.path().join("000001"), &b).unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 4096).unwrap();
    let infos = iterate(&m);
    assert_eq!(infos.len(), 1);
    assert!(infos[0].is_out_of_order());
    assert_eq!(infos[0].encoding().unwrap(), Encoding::Xor);
    assert_eq!(infos[0].num_samples, 2);
    let c = m.chunk(infos[0].chunk_ref).unwrap();
    assert_eq!(c.raw_encoding(), 0x81);
    assert_eq!(c.encoding().unwrap(), Encoding::Xor);
}

#[test]
fn iterate_stops_at_the_callers_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 4096).unwrap();
    write_many(&m, &mut Rng(5), 10, 0);
    #[derive(Debug)]
    enum E {
        Stop,
        Chunks,
    }
    impl From<ChunksHeadError> for E {
        fn from(_: ChunksHeadError) -> Self {
            E::Chunks
        }
    }
    let mut seen = 0;
    let res = m.iterate_all_chunks(|_| {
        seen += 1;
        if seen == 3 { Err(E::Stop) } else { Ok(()) }
    });
    assert!(matches!(res, Err(E::Stop)));
    assert_eq!(seen, 3);
    m.close().unwrap();
    assert!(matches!(m.iterate_all_chunks(|_| Ok::<(), E>(())), Err(E::Chunks)));
}

/// One writer cutting many small files while readers resolve everything
/// already published, iterate, and a truncater deletes old files.
#[test]
fn concurrent_writer_readers_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(ChunkDiskMapper::open(dir.path(), 1024).unwrap());
    let published: Arc<std::sync::RwLock<Vec<(ChunkDiskRef, Written)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let n = 3000;
    let writer = {
        let (m, published) = (Arc::clone(&m), Arc::clone(&published));
        std::thread::spawn(move || {
            let mut rng = Rng(99);
            for i in 0..n {
                let len = 4 + rng.below(60) as usize;
                let w = Written { series_ref: 1 + i as u64 % 7, mint: i as i64 * 10, maxt: i as i64 * 10 + 9, data: synthetic(&mut rng, len) };
                let r = m.write_chunk(w.series_ref, w.mint, w.maxt, Encoding::Xor, &w.data).unwrap();
                published.write().unwrap().push((r, w));
            }
        })
    };
    // Chunks with maxt below this may be deleted at any time.
    let floor = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
    let truncater = {
        let (m, done, floor) = (Arc::clone(&m), Arc::clone(&done), Arc::clone(&floor));
        std::thread::spawn(move || {
            let mut t = 0;
            while !done.load(Ordering::Relaxed) {
                // Never past the first half, so that the end state has files.
                t = (t + 2_000).min(n as i64 * 10 / 2);
                floor.store(t, Ordering::SeqCst);
                m.truncate(t).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|k| {
            let (m, published, done, floor) = (Arc::clone(&m), Arc::clone(&published), Arc::clone(&done), Arc::clone(&floor));
            std::thread::spawn(move || {
                let mut rng = Rng(1000 + k);
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) || reads < 100 {
                    let pick = {
                        let p = published.read().unwrap();
                        if p.is_empty() {
                            continue;
                        }
                        p[rng.below(p.len() as u64) as usize].clone()
                    };
                    let (r, w) = pick;
                    match m.chunk(r) {
                        Ok(c) => {
                            assert_eq!(&*c, &w.data[..]);
                            assert_eq!(c.max_time(), w.maxt);
                        }
                        // Only chunks old enough to have been truncated may be gone.
                        Err(ChunksHeadError::InvalidRef { .. }) => assert!(w.maxt < floor.load(Ordering::SeqCst), "{r:x} maxt {}", w.maxt),
                        Err(e) => panic!("{r:x}: {e}"),
                    }
                    reads += 1;
                    if reads % 500 == 0 {
                        let mut last_t = i64::MIN;
                        m.iterate_all_chunks(|c| {
                            assert!(c.mint > last_t, "chunks come in write order");
                            last_t = c.mint;
                            Ok::<_, ChunksHeadError>(())
                        })
                        .unwrap();
                    }
                }
                reads
            })
        })
        .collect();
    writer.join().unwrap();
    done.store(true, Ordering::Relaxed);
    truncater.join().unwrap();
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    // Whatever survived reads back intact, and the files are a sequence.
    let indices = file_indices(dir.path());
    assert_eq!(indices, (indices[0]..=*indices.last().unwrap()).collect::<Vec<_>>());
    let p = published.read().unwrap();
    let alive: Vec<ChunkInfo> = p.iter().filter(|(r, _)| indices.contains(&((r >> 32) as u32))).map(|(r, w)| info_of(*r, w)).collect();
    assert_eq!(iterate(&m), alive);
    m.close().unwrap();
    let m = ChunkDiskMapper::open(dir.path(), 1024).unwrap();
    assert_eq!(iterate(&m), alive);
}
