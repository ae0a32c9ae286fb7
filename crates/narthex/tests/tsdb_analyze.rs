//! `narthex tsdb analyze` run as a user would, on blocks written with
//! `tsdb::block::write_block`: the report promtool 2.42 prints for the same
//! block (its numbers checked against promtool; equal numbers here in key
//! order, where promtool's order is random), the block it picks, `--limit`,
//! `--match` and its errors.
#![allow(clippy::unwrap_used)] // a failed setup step should just fail the test

use std::path::Path;
use std::process::{Command, Output};

use model::Labels;
use tsdb::block::{SeriesSamples, Ulid, WriteOptions, write_block_with};

const OLDER: &str = "01M84V575P2NVXAST39WYZZ3FN";
/// Named before `OLDER` but holding later samples: promtool picks the
/// block with the latest start, not the last name.
const NEWER: &str = "01M84V575P2NVXAST39WYZZ3F0";

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples { labels: Labels::from_pairs(pairs.iter().copied()), samples: samples.to_vec() }
}

fn write(dir: &Path, ulid: &str, series: Vec<SeriesSamples>) {
    write_block_with(dir, series, &WriteOptions { ulid: Ulid::parse(ulid), ..Default::default() }).unwrap();
}

/// The blocks: `OLDER` holds the input promtool analysed for `REPORT`.
fn data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        OLDER,
        vec![
            series(&[("__name__", "up"), ("job", "a"), ("instance", "x:1")], &[(1_000_000, 1.0), (2_000_000, 1.0)]),
            series(&[("__name__", "up"), ("job", "a"), ("instance", "x:2")], &[(1_500_000, 1.0)]),
            series(&[("__name__", "up"), ("job", "b"), ("instance", "y:1")], &[(1_000_000, 1.0)]),
            series(&[("__name__", "http_requests_total"), ("job", "a"), ("code", "200")], &[(1_000_000, 5.0), (3_000_000, 7.0)]),
            series(&[("__name__", "http_requests_total"), ("job", "a"), ("code", "500")], &[(1_800_000, 5.0)]),
        ],
    );
    write(dir.path(), NEWER, vec![series(&[("__name__", "later")], &[(8_000_000, 1.0), (8_000_500, 2.0)])]);
    dir
}

fn analyze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_narthex")).arg("tsdb").arg("analyze").args(args).output().unwrap()
}

fn stdout(args: &[&str]) -> String {
    let out = analyze(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const REPORT: &str = "Block ID: 01M84V575P2NVXAST39WYZZ3FN
Duration: 33m20.001s
Series: 5
Label names: 4
Postings (unique label pairs): 9
Postings entries (total label pairs): 15

Label pairs most involved in churning:
2 __name__=up
2 job=a
1 __name__=http_requests_total
1 code=500
1 instance=x:2
1 instance=y:1
1 job=b
0 code=200
0 instance=x:1

Label names most involved in churning:
3 __name__
3 job
2 instance
1 code

Most common label pairs:
4 job=a
3 __name__=up
2 __name__=http_requests_total
1 code=200
1 code=500
1 instance=x:1
1 instance=x:2
1 instance=y:1
1 job=b

Label names with highest cumulative label value length:
21 __name__
9 instance
6 code
2 job

Highest cardinality labels:
3 instance
2 __name__
2 code
2 job

Highest cardinality metric names:
3 up
2 http_requests_total
";

#[test]
fn prints_promtools_report() {
    let dir = data();
    let d = dir.path().to_str().unwrap();
    assert_eq!(stdout(&[d, OLDER]), REPORT);

    let newer = stdout(&[d]);
    assert!(newer.starts_with(&format!("Block ID: {NEWER}\nDuration: 501ms\nSeries: 1\n")), "{newer}");

    let limited = stdout(&["--limit=2", d, OLDER]);
    assert!(limited.contains("\nMost common label pairs:\n4 job=a\n3 __name__=up\n\nLabel names with"), "{limited}");
    let none = stdout(&["--limit=0", d, OLDER]);
    assert!(none.ends_with("\nHighest cardinality labels:\n\nHighest cardinality metric names:\n"), "{none}");
}

#[test]
fn match_narrows_the_report_as_prometheus_3() {
    let dir = data();
    let d = dir.path().to_str().unwrap();
    let out = stdout(&["--match=up{job=\"a\"}", d, OLDER]);
    let head = "Block ID: 01M84V575P2NVXAST39WYZZ3FN
Duration: 33m20.001s
Total Series: 5
Matcher: up{job=\"a\"}
Label names: 3
Matched series: 2
Postings (unique label pairs): 4
Postings entries (total label pairs): 6
";
    assert!(out.starts_with(head), "{out}");
    assert!(out.ends_with("\nHighest cardinality labels:\n2 instance\n1 __name__\n1 job\n\nHighest cardinality metric names:\n2 up\n"), "{out}");
}

#[test]
fn errors_go_to_stderr_with_exit_code_1() {
    let dir = data();
    let d = dir.path().to_str().unwrap();
    // The parser's own wording follows it; only the position is ours here.
    for (args, want) in [(&[d, "01M84V575P2NVXAST39WYZZ3FX"][..], "block 01M84V575P2NVXAST39WYZZ3FX not found\n"), (&["--match=up{", d], "1:4: parse error: ")]
    {
        let out = analyze(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
    let empty = tempfile::tempdir().unwrap();
    let out = analyze(&[empty.path().to_str().unwrap()]);
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()), (Some(1), "block  not found\n"), "promtool's text, two spaces");
}
