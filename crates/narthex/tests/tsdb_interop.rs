//! Blocks move between narthex and Debian's promtool 2.42 in both
//! directions: `promtool tsdb list/dump` read blocks that
//! `narthex tsdb create-blocks-from openmetrics` wrote, `narthex tsdb
//! list/dump` read blocks promtool wrote, and every listing and dump agrees.
//! Blocks a running Prometheus compacted from its head are read alike too.
//! Ignored in a plain `cargo test`; `scripts/interop.sh` runs them.
#![allow(clippy::unwrap_used)] // a failed setup step should just fail the test

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An OpenMetrics backfill input: series with many labels, more than 120
/// samples each, spanning three 2 h windows, with values that exercise
/// `%g` (large, small, negative, NaN, infinities).
fn backfill_input() -> String {
    let mut s = String::from("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    let start = 1_700_000_000i64; // not aligned to 2 h
    for i in 0..500i64 {
        for series in 0..12i64 {
            let t = start + i * 30 + series;
            let ms = if series % 3 == 0 { ".125" } else { "" };
            let v = match (i + series) % 9 {
                0 => "NaN".to_owned(),
                1 if series == 5 => "+Inf".to_owned(),
                2 => format!("{}", (i * 1000 + series) as f64 * 1e7),
                3 => format!("{}", (i + 1) as f64 * 1.5e-6),
                4 => format!("-{}", i as f64 / 7.0),
                _ => format!("{}", i * 10 + series),
            };
            let _ = writeln!(
                s,
                "http_requests_total{{code=\"{}\",handler=\"/api/v{}\",instance=\"host-{}:9100\",job=\"node\",method=\"GET\",path=\"a\\\\b\\\"c\",region=\"eu-{}\"}} {v} {t}{ms}",
                200 + series % 4 * 100,
                series % 3,
                series,
                series % 2
            );
        }
    }
    s.push_str("# EOF\n");
    s
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command (promtool is in Debian's prometheus package)");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn narthex(args: &[&str], dir: &Path) -> String {
    run(Command::new(env!("CARGO_BIN_EXE_narthex")).args(args).arg(dir))
}

fn promtool(args: &[&str], dir: &Path) -> String {
    // promtool opens the folder as a database and wants a WAL folder; it
    // may also leave a `chunks_head/` behind, which no block reader minds.
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    run(Command::new("promtool").args(args).arg(dir))
}

const DUMPS: &[&[&str]] = &[
    &["tsdb", "dump"],
    &["tsdb", "dump", "--min-time=1700003000000", "--max-time=1700009000000"],
    &["tsdb", "dump", "--match=http_requests_total{code=~\"[24]00\",region!=\"eu-1\"}"],
];

#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn promtool_reads_blocks_narthex_backfilled() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, backfill_input()).unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    let created = run(Command::new(env!("CARGO_BIN_EXE_narthex")).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&input).arg(&ours));
    run(Command::new("promtool").args(["tsdb", "create-blocks-from", "openmetrics", "-q"]).arg(&input).arg(&theirs));
    let blocks = std::fs::read_dir(&ours).unwrap().count();
    assert_eq!(blocks, 3, "three 2 h windows:\n{created}");
    assert_eq!(created.lines().count(), 4, "header and one line per block:\n{created}");
    let all = narthex(&["tsdb", "dump"], &ours);
    for needle in [" NaN ", " +Inf ", "e+", "e-06 ", "\\\"c\""] {
        assert!(all.contains(needle), "the dump exercises {needle:?}");
    }

    for args in DUMPS {
        let our_dump = narthex(args, &ours);
        assert!(our_dump.lines().count() > 100, "{args:?}: {our_dump}");
        assert_eq!(promtool(args, &ours), our_dump, "{args:?}: promtool's dump of our blocks");
        // Same samples as promtool's own backfill of the same input.
        assert_eq!(promtool(args, &theirs), our_dump, "{args:?}: promtool's dump of its blocks");
    }
    for args in [&["tsdb", "list"][..], &["tsdb", "list", "-r"]] {
        assert_eq!(promtool(args, &ours), narthex(args, &ours), "{args:?}");
    }
}

#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn narthex_reads_blocks_promtool_backfilled() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, backfill_input()).unwrap();
    let theirs = tmp.path().join("theirs");
    run(Command::new("promtool").args(["tsdb", "create-blocks-from", "openmetrics", "-q"]).arg(&input).arg(&theirs));
    for args in DUMPS {
        let our_dump = narthex(args, &theirs);
        assert!(!our_dump.is_empty(), "{args:?}");
        assert_eq!(our_dump, promtool(args, &theirs), "{args:?}");
    }
    for args in [&["tsdb", "list"][..], &["tsdb", "list", "-r"]] {
        assert_eq!(narthex(args, &theirs), promtool(args, &theirs), "{args:?}");
    }
}

#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn bad_backfill_input_is_refused_like_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("bad.om");
    std::fs::write(&input, "a 1 1\nb 2 2\nc{ 3 3\n# EOF\n").unwrap();
    let out = tmp.path().join("out");
    let ours = Command::new(env!("CARGO_BIN_EXE_narthex")).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&input).arg(&out).output().unwrap();
    let theirs = Command::new("promtool").args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&input).arg(tmp.path().join("theirs")).output().unwrap();
    assert!(!ours.status.success() && !theirs.status.success());
    let msg = String::from_utf8_lossy(&ours.stderr);
    assert!(msg.contains("(line 3)"), "{msg}");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0, "nothing written");
}

#[test]
#[ignore = "needs Debian's prometheus; run by scripts/interop.sh"]
fn narthex_reads_blocks_prometheus_compacted_from_its_head() {
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    )
    .unwrap();
    let data = tmp.path().join("data");
    // The hidden block-duration flags make the head compact every few
    // seconds instead of every two hours.
    let prom = common::Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--storage.tsdb.min-block-duration=5s", "--storage.tsdb.max-block-duration=5s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Debian's prometheus"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    // Complete blocks only: a folder being written has a longer name.
    let is_block = |e: &std::fs::DirEntry| e.file_name().len() == 26 && e.path().join("meta.json").exists();
    let blocks = || std::fs::read_dir(&data).map(|d| d.filter_map(Result::ok).filter(is_block).count()).unwrap_or(0);
    while blocks() < 3 {
        assert!(Instant::now() < deadline, "Prometheus wrote no blocks in time");
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(prom);
    // Only the blocks: the head's WAL is not dumped by narthex yet.
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&data).unwrap().filter_map(Result::ok) {
        if is_block(&e) {
            let dst = copy.join(e.file_name());
            std::fs::create_dir_all(dst.join("chunks")).unwrap();
            for f in ["index", "meta.json", "tombstones"] {
                std::fs::copy(e.path().join(f), dst.join(f)).unwrap();
            }
            for c in std::fs::read_dir(e.path().join("chunks")).unwrap().filter_map(Result::ok) {
                std::fs::copy(c.path(), dst.join("chunks").join(c.file_name())).unwrap();
            }
        }
    }
    for args in [&["tsdb", "list"][..], &["tsdb", "dump"], &["tsdb", "dump", "--match=up"]] {
        let ours = narthex(args, &copy);
        assert!(ours.lines().count() > 3, "{args:?}: {ours}");
        assert_eq!(ours, promtool(args, &copy), "{args:?}");
    }
}

/// Series that come and go inside one 2 h window, so that the churn lists
/// rank something: each lives for a different stretch, some with gaps.
fn churn_input() -> String {
    let mut s = String::from("# TYPE app_requests counter\n# TYPE app_up gauge\n");
    let start = 1_700_006_400i64; // the start of a 2 h window
    for pod in 0..30i64 {
        let (from, to) = (pod * 200, 7000 - pod * 37);
        for t in (from..to).step_by(60) {
            let ts = start + t;
            let _ = writeln!(s, "app_up{{pod=\"pod-{pod}\",job=\"app\",zone=\"z{}\"}} 1 {ts}", pod % 3);
            if pod % 4 == 0 {
                let _ = writeln!(s, "app_requests{{pod=\"pod-{pod}\",job=\"app\",code=\"{}\",path=\"/v{}/items\"}} {t} {ts}", 200 + pod % 2 * 300, pod % 5);
            }
        }
    }
    s.push_str("# EOF\n");
    s
}

/// One list of a report: its title and its `(number, line)` rows.
type ReportList = (String, Vec<(u64, String)>);

/// A report split at its blank lines: the header lines, then the lists.
fn report_sections(report: &str) -> (String, Vec<ReportList>) {
    let mut parts = report.split("\n\n");
    let header = parts.next().unwrap_or_default().to_owned();
    let lists = parts
        .map(|p| {
            let mut lines = p.lines();
            let title = lines.next().unwrap_or_default().to_owned();
            let rows = lines.map(|l| (l.split_once(' ').unwrap().0.parse().unwrap(), l.to_owned())).collect();
            (title, rows)
        })
        .collect();
    (header, lists)
}

/// promtool ranks with Go's unstable sort over map order, so rows with
/// equal numbers come in any order, and when `--limit` cuts through a
/// run of equal numbers which of them it prints is random too. Everything
/// else must be equal: the header, the titles, the numbers in order, and
/// the rows, as sets within each run of equal numbers (only the rows
/// above the last number when the list may be cut).
fn assert_same_report(ours: &str, theirs: &str, may_be_cut: bool, what: &str) {
    let (our_head, our_lists) = report_sections(ours);
    let (their_head, their_lists) = report_sections(theirs);
    assert_eq!(our_head, their_head, "{what}");
    assert_eq!(our_lists.len(), their_lists.len(), "{what}:\n{ours}\n---\n{theirs}");
    for ((title, our_rows), (their_title, their_rows)) in our_lists.iter().zip(&their_lists) {
        assert_eq!(title, their_title, "{what}");
        let numbers = |rows: &[(u64, String)]| rows.iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(numbers(our_rows), numbers(their_rows), "{what}: {title}");
        assert!(our_rows.windows(2).all(|w| w[0].0 >= w[1].0), "{what}: {title} ranked");
        let last = our_rows.last().map_or(0, |r| r.0);
        let comparable = |rows: &[(u64, String)]| {
            let mut v: Vec<String> = rows.iter().filter(|r| !may_be_cut || r.0 > last).map(|r| r.1.clone()).collect();
            v.sort();
            v
        };
        assert_eq!(comparable(our_rows), comparable(their_rows), "{what}: {title}");
    }
}

#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn analyze_reports_like_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    let mut om = churn_input();
    // A second window, so that picking the last block matters.
    om.truncate(om.len() - "# EOF\n".len());
    om.push_str("app_up{pod=\"late\",job=\"app\",zone=\"z0\"} 1 1700020000\n# EOF\n");
    std::fs::write(&input, om).unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    run(Command::new(env!("CARGO_BIN_EXE_narthex")).args(["tsdb", "create-blocks-from", "openmetrics", "-q"]).arg(&input).arg(&ours));
    run(Command::new("promtool").args(["tsdb", "create-blocks-from", "openmetrics", "-q"]).arg(&input).arg(&theirs));
    // Both tools on each writer's blocks: the blocks differ only in name.
    for dir in [&ours, &theirs] {
        let mut ids: Vec<String> =
            std::fs::read_dir(dir).unwrap().filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.len() == 26).collect();
        ids.sort();
        assert_eq!(ids.len(), 2, "two 2 h windows");
        let mut runs: Vec<Vec<&str>> = vec![vec!["tsdb", "analyze"], vec!["tsdb", "analyze", "--limit=3"]];
        for id in &ids {
            runs.push(vec!["tsdb", "analyze", "--limit=100000", id]);
        }
        for args in runs {
            // The block id goes after the folder.
            let (flags, id) = match args.last() {
                Some(a) if a.len() == 26 => (&args[..args.len() - 1], Some(*a)),
                _ => (&args[..], None),
            };
            let mut our_cmd = Command::new(env!("CARGO_BIN_EXE_narthex"));
            our_cmd.args(flags).arg(dir).args(id);
            std::fs::create_dir_all(dir.join("wal")).unwrap();
            let mut their_cmd = Command::new("promtool");
            their_cmd.args(flags).arg(dir).args(id);
            let (our_out, their_out) = (run(&mut our_cmd), run(&mut their_cmd));
            assert!(our_out.contains("Label pairs most involved in churning:\n"), "{our_out}");
            let may_be_cut = !flags.contains(&"--limit=100000");
            assert_same_report(&our_out, &their_out, may_be_cut, &format!("{args:?} on {}", dir.display()));
        }
    }
}
