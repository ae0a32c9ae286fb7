//! `narthex tsdb …`: promtool's `tsdb list`, `tsdb dump`, `tsdb analyze`
//! and `tsdb create-blocks-from openmetrics`, with its arguments and its output
//! to the byte (Go's tabwriter, duration, `%g` and byte-unit formats), so
//! that scripts written for promtool work.
//!
//! `list` and `dump` read the blocks of a data folder; samples still in the
//! head (WAL) are not dumped yet.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use model::{Labels, Matcher};
use storage::ValueType;
use tsdb::block::{Block, BlockAnalysis, BlockError, block_dirs};
use tsdb::db::DbQuerier;
use tsdb::head::{Head, HeadMetrics, HeadOptions};

use crate::flags::{CreateBlocksFromOpenMetricsArgs, TsdbAnalyzeArgs, TsdbDumpArgs, TsdbListArgs};

/// Opens every block in `dir`, ordered by min time as promtool lists them.
fn open_blocks(dir: &Path) -> Result<Vec<Arc<Block>>, BlockError> {
    let mut blocks = Vec::new();
    for d in block_dirs(dir)? {
        blocks.push(Arc::new(Block::open(&d)?));
    }
    blocks.sort_by(|a, b| (a.meta().min_time, &a.meta().ulid).cmp(&(b.meta().min_time, &b.meta().ulid)));
    Ok(blocks)
}

pub fn list(args: &TsdbListArgs) -> i32 {
    let blocks = match open_blocks(&args.path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    print_blocks(&blocks, args.human_readable);
    0
}

/// promtool's block table.
fn print_blocks(blocks: &[Arc<Block>], human_readable: bool) {
    let mut rows = vec![["BLOCK ULID", "MIN TIME", "MAX TIME", "DURATION", "NUM SAMPLES", "NUM CHUNKS", "NUM SERIES", "SIZE"].map(String::from).to_vec()];
    for b in blocks {
        let m = b.meta();
        let time = |t: i64| if human_readable { go_unix_seconds_string(t) } else { t.to_string() };
        let size = if human_readable { base2_bytes(b.size()) } else { b.size().to_string() };
        rows.push(vec![
            m.ulid.clone(),
            time(m.min_time),
            time(m.max_time),
            go_duration_ms(m.max_time.saturating_sub(m.min_time)),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            m.stats.num_series.to_string(),
            size,
        ]);
    }
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(tabwrite(&rows, 13, 2).as_bytes());
}

/// promtool's backfill block length: blocks are aligned to it.
const BACKFILL_BLOCK_DURATION: i64 = 2 * 3600 * 1000;

pub fn create_blocks_from_openmetrics(args: &CreateBlocksFromOpenMetricsArgs) -> i32 {
    let input = match std::fs::read(&args.input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("open {}: {e}", args.input.display());
            return 1;
        }
    };
    let series = match parse_backfill_input(&input) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    match write_backfill_blocks(&args.output, series) {
        Ok(blocks) => {
            if !args.quiet {
                print_blocks(&blocks, args.human_readable);
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Every sample of the input by series, sorted by time. The whole input is
/// checked before anything is written, so that a bad line leaves no
/// blocks behind; errors name the line.
fn parse_backfill_input(input: &[u8]) -> Result<BTreeMap<Labels, Vec<(i64, f64)>>, String> {
    let mut p = textparse::OpenMetricsParser::new(input);
    let mut series: BTreeMap<Labels, Vec<(i64, f64, usize)>> = BTreeMap::new();
    loop {
        let entry = p.next().map_err(|e| format!("getting min and max timestamp: next: {e}"))?;
        let Some(entry) = entry else { break };
        let textparse::Entry::Series { raw, value, timestamp } = entry else { continue };
        // The line of this sample, for messages: the parser's position is
        // the start of `raw` within `input`.
        let line = line_of(input, raw);
        let Some(t) = timestamp else {
            return Err(format!("getting min and max timestamp: expected timestamp for series got none (line {line})"));
        };
        series.entry(p.labels()).or_default().push((t, value, line));
    }
    let mut out = BTreeMap::new();
    for (labels, mut samples) in series {
        // Input need not be in time order; a sample given twice is fine
        // only if both agree, as the head appender would decide.
        samples.sort_by_key(|s| s.0);
        let mut clean: Vec<(i64, f64)> = Vec::with_capacity(samples.len());
        for (t, v, line) in samples {
            match clean.last() {
                Some(&(pt, pv)) if pt == t => {
                    if pv.to_bits() != v.to_bits() {
                        return Err(format!("add sample: duplicate sample for timestamp: series {labels} at {t} (line {line})"));
                    }
                }
                _ => clean.push((t, v)),
            }
        }
        out.insert(labels, clean);
    }
    Ok(out)
}

/// 1-based line of `part`, a slice of `input`.
fn line_of(input: &[u8], part: &[u8]) -> usize {
    let off = (part.as_ptr() as usize).saturating_sub(input.as_ptr() as usize).min(input.len());
    input[..off].iter().filter(|&&c| c == b'\n').count() + 1
}

/// Writes one block per 2 h window that holds samples. On failure the
/// blocks written so far are removed: a backfill is all or nothing.
fn write_backfill_blocks(dir: &Path, series: BTreeMap<Labels, Vec<(i64, f64)>>) -> Result<Vec<Arc<Block>>, String> {
    let mut windows: BTreeMap<i64, Vec<tsdb::block::SeriesSamples>> = BTreeMap::new();
    for (labels, samples) in series {
        let mut rest = samples.as_slice();
        while let Some(&(t, _)) = rest.first() {
            let start = t.div_euclid(BACKFILL_BLOCK_DURATION) * BACKFILL_BLOCK_DURATION;
            let end = start.saturating_add(BACKFILL_BLOCK_DURATION);
            let n = rest.partition_point(|s| s.0 < end);
            windows.entry(start).or_default().push(tsdb::block::SeriesSamples { labels: labels.clone(), samples: rest[..n].to_vec() });
            rest = &rest[n..];
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("create output dir: {e}"))?;
    let mut blocks = Vec::new();
    for (_, series) in windows {
        let written = tsdb::block::write_block(dir, series).and_then(|meta| Block::open(&dir.join(&meta.ulid)));
        match written {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => {
                for b in &blocks {
                    // Best effort: the write error is what the user needs.
                    let _ = std::fs::remove_dir_all(b.dir());
                }
                return Err(format!("write block: {e}"));
            }
        }
    }
    Ok(blocks)
}

pub fn dump(args: &TsdbDumpArgs) -> i32 {
    match dump_to(args, &mut std::io::BufWriter::new(std::io::stdout().lock())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn dump_to(args: &TsdbDumpArgs, out: &mut impl Write) -> Result<(), String> {
    let matchers = parse_selector(&args.matcher)?;
    let blocks = open_blocks(&args.path).map_err(|e| e.to_string())?;
    // The head too, replayed from the WAL without writing anything, as
    // promtool opens a data folder read-only; blocks and head are merged
    // and samples deduplicated by timestamp, as Prometheus's querier does.
    let wal = args.path.join("wal");
    let opts = HeadOptions { wal_dir: wal.is_dir().then_some(wal), read_only: true, ..HeadOptions::default() };
    let head = Head::open(opts, HeadMetrics::new(None)).map_err(|e| e.to_string())?;
    let q = DbQuerier::open(&blocks, &head, args.min_time, args.max_time);
    let mut set = q.select(true, None, &matchers);
    while let Some(s) = set.next() {
        let l = s.labels().to_string();
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            if writeln!(out, "{l} {} {t}", go_format_g(v)).is_err() {
                // A closed pipe (`| head`) ends the dump quietly.
                return Ok(());
            }
        }
        if let Some(e) = it.err() {
            return Err(e.to_string());
        }
    }
    if let Some(e) = set.err() {
        return Err(e.to_string());
    }
    let _ = out.flush();
    Ok(())
}

pub fn analyze(args: &TsdbAnalyzeArgs) -> i32 {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match analyze_to(args, &mut out) {
        Ok(()) => {
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.flush();
            0
        }
        Err(e) => {
            let _ = out.flush();
            eprintln!("{e}");
            1
        }
    }
}

fn analyze_to(args: &TsdbAnalyzeArgs, out: &mut impl Write) -> Result<(), String> {
    // An empty selector is no selector, as promtool tests the string.
    let matchers = if args.matcher.is_empty() { None } else { Some(parse_selector(&args.matcher)?) };
    let blocks = open_blocks(&args.path).map_err(|e| e.to_string())?;
    // promtool's default is the last block in min-time order.
    let block = match &args.block_id {
        Some(id) => blocks.iter().find(|b| b.meta().ulid == *id),
        None => blocks.last(),
    };
    let Some(block) = block else { return Err(format!("block {} not found", args.block_id.as_deref().unwrap_or_default())) };
    let a = tsdb::block::analyze_block(block, matchers.as_deref()).map_err(|e| e.to_string())?;
    write_analysis(out, block.meta(), &args.matcher, &a, args.limit).map_err(|e| e.to_string())
}

/// promtool's report. Without `--match` it is 2.42's to the byte; the
/// `--match` lines ("Total Series", "Matcher", "Matched series") are
/// Prometheus 3.x's, which added the flag. Equal numbers come in key
/// order, where promtool's order is its map's (random).
fn write_analysis(out: &mut impl Write, meta: &tsdb::block::BlockMeta, selector: &str, a: &BlockAnalysis, limit: i64) -> std::io::Result<()> {
    writeln!(out, "Block ID: {}", meta.ulid)?;
    writeln!(out, "Duration: {}", go_duration_ms(meta.max_time.wrapping_sub(meta.min_time)))?;
    if a.matched_series.is_some() {
        writeln!(out, "Total Series: {}", meta.stats.num_series)?;
        writeln!(out, "Matcher: {selector}")?;
    } else {
        writeln!(out, "Series: {}", meta.stats.num_series)?;
    }
    writeln!(out, "Label names: {}", a.label_names)?;
    if let Some(n) = a.matched_series {
        writeln!(out, "Matched series: {n}")?;
    }
    writeln!(out, "Postings (unique label pairs): {}", a.label_pairs)?;
    writeln!(out, "Postings entries (total label pairs): {}", a.label_pair_entries)?;
    let take = usize::try_from(limit).unwrap_or(0);
    for (title, list) in [
        ("Label pairs most involved in churning", &a.pair_churn),
        ("Label names most involved in churning", &a.name_churn),
        ("Most common label pairs", &a.pair_series),
        ("Label names with highest cumulative label value length", &a.name_value_bytes),
        ("Highest cardinality labels", &a.name_values),
        ("Highest cardinality metric names", &a.metric_series),
    ] {
        writeln!(out, "\n{title}:")?;
        for (key, n) in list.iter().take(take) {
            writeln!(out, "{n} {key}")?;
        }
    }
    Ok(())
}

fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    promql::parser::parse_metric_selector(s).map_err(|e| e.to_string())
}

/// Go's `text/tabwriter` with `minwidth`, `padding`, space padding and no
/// flags, for rows whose cells were separated by tabs: every cell but the
/// last of its row is padded to its column's width.
fn tabwrite(rows: &[Vec<String>], minwidth: usize, padding: usize) -> String {
    let cols = rows.iter().map(|r| r.len().saturating_sub(1)).max().unwrap_or(0);
    let mut widths = vec![minwidth; cols];
    for r in rows {
        for (i, c) in r.iter().take(r.len().saturating_sub(1)).enumerate() {
            widths[i] = widths[i].max(c.chars().count() + padding);
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `time.Duration.String` for a whole number of milliseconds.
pub fn go_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if ms < 1000 {
        s.push_str(&format!("{ms}ms"));
        return s;
    }
    let (h, m, sec, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        s.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        s.push_str(&format!("{m}m"));
    }
    s.push_str(&sec.to_string());
    if frac > 0 {
        let f = format!("{frac:03}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('s');
    s
}

/// `time.Unix(ms/1000, 0).UTC().String()`, as promtool's `-r` prints times.
fn go_unix_seconds_string(ms: i64) -> String {
    // Go's integer division truncates toward zero.
    let secs = ms / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = model::time::civil_from_days(days);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

/// `units.Base2Bytes(n).String()` from alecthomas/units, which promtool
/// uses: each non-zero unit in turn, largest first ("1KiB512B").
fn base2_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n == 0 {
        return "0B".into();
    }
    let mut parts = Vec::new();
    let mut n = n;
    for unit in UNITS {
        if n % 1024 != 0 {
            parts.push(format!("{}{unit}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// Go's `fmt` `%g` for a float64: the shortest digits that round trip, in
/// exponent form when the decimal exponent is below -4 or at least 6 (Go's
/// threshold when no precision is given), the exponent at least two digits.
pub fn go_format_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.5e-7".
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        // Plain notation without a needless ".0", as Rust's `{}` gives it.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        // Expected strings are what Go prints for the same values.
        for (v, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1.7e12, "1.7e+12"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-300, "1.5e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(go_format_g(v), want, "{v}");
        }
        for (ms, want) in [(0, "0s"), (5, "5ms"), (30_001, "30.001s"), (7_200_000, "2h0m0s"), (7_199_999, "1h59m59.999s"), (61_000, "1m1s"), (-1500, "-1.5s")] {
            assert_eq!(go_duration_ms(ms), want);
        }
        for (n, want) in [(0, "0B"), (842, "842B"), (1024, "1KiB"), (1536, "1KiB512B"), (3 * 1024 * 1024 + 1, "3MiB1B")] {
            assert_eq!(base2_bytes(n), want);
        }
        assert_eq!(go_unix_seconds_string(1_700_000_030_001), "2023-11-14 22:13:50 +0000 UTC");
    }

    #[test]
    fn backfill_input_is_sorted_checked_and_split_into_aligned_blocks() {
        let input = b"# TYPE a gauge\na{x=\"1\"} 1 7199\na{x=\"1\"} 0 7100\nb 2 7200.5\nb 2 7200.5\na{x=\"1\"} 3 7201\n# EOF\n";
        let series = parse_backfill_input(input).unwrap();
        let a = Labels::from_pairs([("__name__", "a"), ("x", "1")]);
        assert_eq!(series[&a], [(7_100_000, 0.0), (7_199_000, 1.0), (7_201_000, 3.0)]);
        assert_eq!(series[&Labels::from_pairs([("__name__", "b")])], [(7_200_500, 2.0)], "an exact repeat is dropped");

        let dir = tempfile::tempdir().unwrap();
        let blocks = write_backfill_blocks(dir.path(), series).unwrap();
        let ranges: Vec<_> = blocks.iter().map(|b| (b.meta().min_time, b.meta().max_time, b.meta().stats.num_samples)).collect();
        assert_eq!(ranges, [(7_100_000, 7_199_001, 2), (7_200_500, 7_201_001, 2)]);

        let err = parse_backfill_input(b"a 1 1\na 2 1\n# EOF\n").unwrap_err();
        assert!(err.contains("duplicate sample for timestamp") && err.ends_with("(line 2)"), "{err}");
        let err = parse_backfill_input(b"a 1 1\nc 1 1\nb 1\n# EOF\n").unwrap_err();
        assert!(err.contains("expected timestamp") && err.ends_with("(line 3)"), "{err}");
        let err = parse_backfill_input(b"a 1 1\nb{ 1\n# EOF\n").unwrap_err();
        assert!(err.ends_with("(line 2)"), "{err}");
    }

    #[test]
    fn tabwriter_pads_all_but_the_last_cell() {
        let rows = vec![
            vec!["BLOCK ULID".to_owned(), "X".to_owned(), "SIZE".to_owned()],
            vec!["01M84P450A814KTYAAJQKG15YA".to_owned(), "1700000000000".to_owned(), "842".to_owned()],
        ];
        assert_eq!(tabwrite(&rows, 13, 2), "BLOCK ULID                  X              SIZE\n01M84P450A814KTYAAJQKG15YA  1700000000000  842\n");
    }
}
