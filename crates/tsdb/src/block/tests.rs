use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use model::{Labels, MatchType, Matcher};
use storage::{LabelHints, Querier, SelectHints, ValueType};

use super::*;

/// The block `promtool tsdb create-blocks-from openmetrics` (2.42) wrote
/// for these three series, kept as golden files.
fn promtool_series() -> Vec<SeriesSamples> {
    vec![
        SeriesSamples { labels: Labels::from_pairs([("__name__", "foo_total"), ("a", "2")]), samples: vec![(1_700_000_000_000, 3.0)] },
        SeriesSamples { labels: Labels::from_pairs([("__name__", "bar")]), samples: vec![(1_700_000_030_000, 5.0)] },
        SeriesSamples {
            labels: Labels::from_pairs([("__name__", "foo_total"), ("a", "1"), ("b", "x")]),
            samples: vec![(1_700_000_000_000, 1.0), (1_700_000_015_000, 2.0)],
        },
    ]
}

const PROMTOOL_ULID: &str = "01M84P450A814KTYAAJQKG15YA";

fn opts_with(ulid: &str) -> WriteOptions {
    WriteOptions { ulid: Ulid::parse(ulid), ..Default::default() }
}

#[test]
fn files_equal_promtool_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let meta = write_block_with(dir.path(), promtool_series(), &opts_with(PROMTOOL_ULID)).unwrap();
    let b = dir.path().join(PROMTOOL_ULID);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/block/testdata");
    assert_eq!(std::fs::read(b.join("index")).unwrap(), std::fs::read(golden.join("promtool-2.42.index")).unwrap());
    assert_eq!(std::fs::read(b.join("chunks/000001")).unwrap(), std::fs::read(golden.join("promtool-2.42.chunks")).unwrap());
    assert_eq!(std::fs::read(b.join("meta.json")).unwrap(), std::fs::read(golden.join("promtool-2.42.meta.json")).unwrap());
    assert_eq!(std::fs::read(b.join("tombstones")).unwrap(), [0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0]);
    assert_eq!((meta.min_time, meta.max_time), (1_700_000_000_000, 1_700_000_030_001));
    assert_eq!((meta.stats.num_samples, meta.stats.num_series, meta.stats.num_chunks), (4, 3, 3));
    // Nothing but the block is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [PROMTOOL_ULID]);
}

#[test]
fn reads_promtool_block() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join(PROMTOOL_ULID);
    std::fs::create_dir_all(b.join("chunks")).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/block/testdata");
    std::fs::copy(golden.join("promtool-2.42.index"), b.join("index")).unwrap();
    std::fs::copy(golden.join("promtool-2.42.chunks"), b.join("chunks/000001")).unwrap();
    std::fs::copy(golden.join("promtool-2.42.meta.json"), b.join("meta.json")).unwrap();
    std::fs::write(b.join("tombstones"), Tombstones::default().encode()).unwrap();
    let block = Arc::new(Block::open(&b).unwrap());
    assert_eq!(block.size(), 842, "promtool tsdb list shows 842 bytes");
    let got = dump(&block, i64::MIN, i64::MAX, &[all()]);
    let want: Vec<_> = {
        let mut s = promtool_series();
        s.sort_by(|a, b| a.labels.cmp(&b.labels));
        s.into_iter().map(|s| (s.labels, s.samples)).collect()
    };
    assert_eq!(got, want);
}

#[test]
fn header_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let meta = write_block(dir.path(), promtool_series()).unwrap();
    let b = dir.path().join(&meta.ulid);
    let index = std::fs::read(b.join("index")).unwrap();
    assert_eq!(index[..5], [0xBA, 0xAA, 0xD7, 0x00, 0x02]);
    let chunks = std::fs::read(b.join("chunks/000001")).unwrap();
    assert_eq!(chunks[..8], [0x85, 0xBD, 0x40, 0xDD, 0x01, 0, 0, 0]);
    // The TOC's first entry is the symbol table, right after the header.
    let toc = &index[index.len() - 52..];
    assert_eq!(toc[..8], 5u64.to_be_bytes());
    assert_eq!(Ulid::parse(&meta.ulid).map(|u| u.to_string()), Some(meta.ulid.clone()));
}

fn all() -> Matcher {
    Matcher::new(MatchType::Regexp, "__name__", ".*").unwrap()
}

type Dumped = Vec<(Labels, Vec<(i64, f64)>)>;

fn dump(block: &Arc<Block>, mint: i64, maxt: i64, ms: &[Matcher]) -> Dumped {
    let q = BlockQuerier::new(Arc::clone(block), mint, maxt);
    storage::read_all(q.select(true, None, ms).as_mut()).unwrap()
}

/// A small deterministic generator: tests must not depend on a seed file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_series(rng: &mut Rng, n: usize) -> Vec<SeriesSamples> {
    let mut seen = BTreeMap::new();
    while seen.len() < n {
        let mut pairs = vec![("__name__".to_owned(), format!("metric_{}", rng.below(5)))];
        for k in 0..rng.below(12) {
            pairs.push((format!("label_{k}_{}", rng.below(3)), format!("v{}", rng.below(4))));
        }
        if rng.below(4) == 0 {
            pairs.push(("unicode".into(), "ünï\"cødé\n".into()));
        }
        let labels = Labels::from_pairs(pairs);
        let len = [1, 2, 119, 120, 121, 250, 600][rng.below(7) as usize];
        let mut t = 1_600_000_000_000 + rng.below(10_000_000) as i64 - 5_000_000;
        let mut samples = Vec::with_capacity(len);
        for _ in 0..len {
            let v = match rng.below(10) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => rng.below(100) as f64,
                _ => f64::from_bits(rng.next() >> 2) * if rng.below(2) == 0 { 1.0 } else { -1.0 },
            };
            samples.push((t, v));
            t += 1 + rng.below(120_000) as i64;
        }
        seen.insert(labels.clone(), SeriesSamples { labels, samples });
    }
    seen.into_values().collect()
}

fn bits(d: &Dumped) -> Vec<(Labels, Vec<(i64, u64)>)> {
    d.iter().map(|(l, s)| (l.clone(), s.iter().map(|&(t, v)| (t, v.to_bits())).collect())).collect()
}

fn matches_all(l: &Labels, ms: &[Matcher]) -> bool {
    ms.iter().all(|m| m.matches(l.get(&m.name)))
}

#[test]
fn round_trip_random_series() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4 {
        let series = random_series(&mut rng, 40 + round * 30);
        let dir = tempfile::tempdir().unwrap();
        // Small segments so that some blocks have several chunk files.
        let opts = WriteOptions { segment_size: if round % 2 == 0 { 4096 } else { SEGMENT_MAX_SIZE }, ..Default::default() };
        let meta = write_block_with(dir.path(), series.clone(), &opts).unwrap();
        let block = Arc::new(Block::open(&dir.path().join(&meta.ulid)).unwrap());
        assert_eq!(block.meta(), &meta);
        let want: Dumped = series.iter().map(|s| (s.labels.clone(), s.samples.clone())).collect();
        assert_eq!(bits(&dump(&block, i64::MIN, i64::MAX, &[all()])), bits(&want));
        assert_eq!(meta.stats.num_series, series.len() as u64);
        assert_eq!(meta.stats.num_samples, series.iter().map(|s| s.samples.len() as u64).sum::<u64>());
        assert_eq!(meta.min_time, series.iter().map(|s| s.samples[0].0).min().unwrap());
        assert_eq!(meta.max_time, series.iter().map(|s| s.samples.last().unwrap().0).max().unwrap() + 1);
        if round % 2 == 0 {
            assert!(block.chunks().size() > 4096, "several segments expected");
            assert!(dir.path().join(&meta.ulid).join("chunks/000002").exists());
        }

        // Chunks hold at most twice the 120 Prometheus aims for and never
        // span a 2 h boundary.
        for id in block.index().all_postings().unwrap() {
            let (_, metas) = block.index().series(id).unwrap();
            for c in &metas {
                let (_, data) = block.chunks().chunk(c.r).unwrap();
                assert!(u16::from_be_bytes([data[0], data[1]]) <= 240);
                assert_eq!(c.min_time.div_euclid(7_200_000), c.max_time.div_euclid(7_200_000));
            }
        }

        // Matchers and time ranges against a brute-force filter.
        let matcher_sets = [
            vec![Matcher::equal("__name__", "metric_1")],
            vec![Matcher::new(MatchType::Regexp, "__name__", "metric_[23]").unwrap(), Matcher::new(MatchType::NotEqual, "label_0_1", "v2").unwrap()],
            vec![Matcher::equal("label_1_0", ""), all()],
            vec![Matcher::new(MatchType::NotRegexp, "label_2_2", "v[01]").unwrap(), Matcher::equal("__name__", "metric_0")],
            vec![Matcher::equal("unicode", "ünï\"cødé\n")],
            vec![Matcher::equal("__name__", "nope")],
        ];
        let (mint, maxt) = (1_600_000_000_000, 1_600_010_000_000);
        for ms in &matcher_sets {
            let want: Dumped = want
                .iter()
                .filter(|(l, _)| matches_all(l, ms))
                .map(|(l, s)| (l.clone(), s.iter().copied().filter(|&(t, _)| t >= mint && t <= maxt).collect::<Vec<_>>()))
                .filter(|(_, s)| !s.is_empty())
                .collect();
            assert_eq!(bits(&dump(&block, mint, maxt, ms)), bits(&want), "{ms:?}");
        }

        let q = BlockQuerier::new(Arc::clone(&block), i64::MIN, i64::MAX);
        let mut names: Vec<String> = series.iter().flat_map(|s| s.labels.iter().map(|l| l.name.to_owned()).collect::<Vec<_>>()).collect();
        names.sort();
        names.dedup();
        assert_eq!(q.label_names(&LabelHints::default(), &[]).unwrap().0, names);
        let mut values: Vec<String> = series.iter().map(|s| s.labels.get("__name__").to_owned()).collect();
        values.sort();
        values.dedup();
        assert_eq!(q.label_values("__name__", &LabelHints::default(), &[]).unwrap().0, values);
        let only = [Matcher::equal("__name__", "metric_1")];
        let mut v: Vec<String> = series.iter().filter(|s| matches_all(&s.labels, &only)).map(|s| s.labels.get("__name__").to_owned()).collect();
        v.dedup();
        assert_eq!(q.label_values("__name__", &LabelHints::default(), &only).unwrap().0, v);
    }
}

#[test]
fn seek_and_hints_clip_samples() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<(i64, f64)> = (0..500).map(|i| (i * 1000, i as f64)).collect();
    let meta = write_block(dir.path(), vec![SeriesSamples { labels: Labels::from_pairs([("__name__", "s")]), samples }]).unwrap();
    assert_eq!(meta.stats.num_chunks, 5);
    let block = Arc::new(Block::open(&dir.path().join(&meta.ulid)).unwrap());
    let q = BlockQuerier::new(block, 0, 400_000);
    let hints = SelectHints { start: 100_000, end: 450_000, ..Default::default() };
    let mut set = q.select(false, Some(&hints), &[Matcher::equal("__name__", "s")]);
    let s = set.next().unwrap();
    let mut it = s.iterator();
    assert_eq!(it.seek(250_500), ValueType::Float);
    assert_eq!(it.at(), (251_000, 251.0));
    assert_eq!(it.seek(0), ValueType::Float, "seek never moves back");
    assert_eq!(it.at().0, 251_000);
    let mut last = 0;
    while it.next() == ValueType::Float {
        last = it.at().0;
    }
    assert_eq!(last, 400_000);
}

#[test]
fn tombstones_hide_samples() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<(i64, f64)> = (0..10).map(|i| (i, i as f64)).collect();
    let meta = write_block(dir.path(), vec![SeriesSamples { labels: Labels::from_pairs([("__name__", "s")]), samples }]).unwrap();
    let b = dir.path().join(&meta.ulid);
    // Series id of the only series: its offset / 16.
    let id = u64::from(Block::open(&b).unwrap().index().all_postings().unwrap()[0]);
    let mut t = Tombstones::default();
    t.add(id, 8, 20);
    t.add(id, 2, 4);
    std::fs::write(b.join("tombstones"), t.encode()).unwrap();
    let block = Arc::new(Block::open(&b).unwrap());
    assert_eq!(block.tombstones().len(), 2);
    let got: Vec<i64> = dump(&block, i64::MIN, i64::MAX, &[all()])[0].1.iter().map(|s| s.0).collect();
    assert_eq!(got, [0, 1, 5, 6, 7]);
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

fn golden_block(dir: &Path) -> std::path::PathBuf {
    write_block_with(dir, promtool_series(), &opts_with(PROMTOOL_ULID)).unwrap();
    dir.join(PROMTOOL_ULID)
}

#[test]
fn corruption_is_detected() {
    // Offsets in the golden index: symbols at 5, the series `bar` at 0x40,
    // the all-postings list at 0xd8, the TOC in the last 52 bytes.
    for (at, what) in [(12usize, "symbol table"), (0x1e0, "TOC"), (0x170, "postings offset table")] {
        let dir = tempfile::tempdir().unwrap();
        let b = golden_block(dir.path());
        flip(&b.join("index"), at);
        match Block::open(&b) {
            Err(BlockError::Checksum { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{what}: {other:?}"),
        }
    }

    // Series and postings are checked when read: the query fails.
    for at in [0x45usize, 0xe0] {
        let dir = tempfile::tempdir().unwrap();
        let b = golden_block(dir.path());
        flip(&b.join("index"), at);
        let block = Arc::new(Block::open(&b).unwrap());
        let q = BlockQuerier::new(block, i64::MIN, i64::MAX);
        let mut set = q.select(true, None, &[all()]);
        while set.next().is_some() {}
        let err = set.err().map(ToString::to_string).unwrap_or_default();
        assert!(err.contains("checksum mismatch"), "{at:#x}: {err}");
    }

    // A chunk's data.
    let dir = tempfile::tempdir().unwrap();
    let b = golden_block(dir.path());
    flip(&b.join("chunks/000001"), 12);
    let block = Arc::new(Block::open(&b).unwrap());
    assert!(matches!(block.chunks().chunk(8), Err(BlockError::Checksum { what: "chunk", offset: 8, .. })));
    let q = BlockQuerier::new(block, i64::MIN, i64::MAX);
    let mut set = q.select(true, None, &[all()]);
    assert!(set.next().is_none());
    assert!(set.err().is_some());

    // Magic numbers and tombstones.
    let dir = tempfile::tempdir().unwrap();
    let b = golden_block(dir.path());
    flip(&b.join("chunks/000001"), 0);
    assert!(matches!(Block::open(&b), Err(BlockError::Magic { .. })));
    let dir = tempfile::tempdir().unwrap();
    let b = golden_block(dir.path());
    flip(&b.join("tombstones"), 6);
    assert!(matches!(Block::open(&b), Err(BlockError::Checksum { what: "tombstones", .. })));
    let dir = tempfile::tempdir().unwrap();
    let b = golden_block(dir.path());
    std::fs::write(b.join("index"), [0xBA, 0xAA, 0xD7, 0x00, 0x02]).unwrap();
    assert!(matches!(Block::open(&b), Err(BlockError::Corrupt { .. })));
}

#[test]
fn bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(write_block(dir.path(), vec![]), Err(BlockError::Empty)));
    let unsorted = SeriesSamples { labels: Labels::from_pairs([("__name__", "x")]), samples: vec![(2, 1.0), (1, 1.0)] };
    assert!(matches!(write_block(dir.path(), vec![unsorted]), Err(BlockError::Input(_))));
    let dup = SeriesSamples { labels: Labels::from_pairs([("__name__", "x")]), samples: vec![(1, 1.0)] };
    assert!(matches!(write_block(dir.path(), vec![dup.clone(), dup]), Err(BlockError::Input(_))));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn ulids_format_and_parse() {
    let u = Ulid::from_parts(1_700_000_000_000, 0x1234_5678_9abc_def0_1234);
    let s = u.to_string();
    assert_eq!(s.len(), 26);
    assert_eq!(Ulid::parse(&s), Some(u));
    assert_eq!(Ulid::parse(&s.to_lowercase()), Some(u));
    assert_eq!(u.timestamp_ms(), 1_700_000_000_000);
    assert_eq!(Ulid::parse(PROMTOOL_ULID).map(|u| u.to_string()).as_deref(), Some(PROMTOOL_ULID));
    assert_eq!(Ulid::parse("01M84P450A814KTYAAJQKG15Y"), None);
    assert_eq!(Ulid::parse("81M84P450A814KTYAAJQKG15YA"), None);
    assert_eq!(Ulid::parse("01M84P450A814KTYAAJQKG15YU"), None);
    assert_ne!(Ulid::new(), Ulid::new());
}

#[test]
fn block_dirs_skips_temporary_folders() {
    let dir = tempfile::tempdir().unwrap();
    let meta = write_block(dir.path(), promtool_series()).unwrap();
    std::fs::create_dir(dir.path().join(format!("{}{TMP_CREATION_SUFFIX}", Ulid::new()))).unwrap();
    std::fs::create_dir(dir.path().join("wal")).unwrap();
    assert_eq!(block_dirs(dir.path()).unwrap(), [dir.path().join(meta.ulid)]);
}
