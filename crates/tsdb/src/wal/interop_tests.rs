//! Checks against the real Prometheus (Debian's `prometheus` and `promtool`,
//! installed by `scripts/interop.sh`): a WAL written here replays in
//! Prometheus, and a WAL Prometheus wrote reads here. Ignored by default.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::record::{self, RecordType, RefSample, RefSeries};

/// `promtool tsdb dump` of a data directory: (labels, value, timestamp) lines.
fn promtool_dump(data: &Path) -> BTreeSet<String> {
    let out = Command::new("promtool").arg("tsdb").arg("dump").arg(data).output().unwrap();
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

#[test]
#[ignore = "needs promtool (scripts/interop.sh installs it)"]
fn prometheus_replays_our_wal_and_checkpoint() {
    for compress in [false, true] {
        let data = tempfile::tempdir().unwrap();
        let wal_dir = data.path().join("wal");
        let mut w = Wal::open(&wal_dir, WalOptions { segment_size: 2 * PAGE_SIZE, compress }).unwrap();
        let mut want = BTreeSet::new();
        let mut buf = Vec::new();
        let t0 = 1_700_000_000_000i64;
        for r in 1..=40u64 {
            buf.clear();
            let labels = model::Labels::from_pairs([("__name__", "m"), ("instance", &format!("host-{r:03}")), ("job", "node")]);
            record::encode_series(&[RefSeries { r, labels }], &mut buf);
            w.log(&[&buf]).unwrap();
        }
        for step in 0..150i64 {
            let t = t0 + step * 15_000;
            let samples: Vec<RefSample> = (1..=40u64).map(|r| RefSample { r, t, v: (r as f64) * 0.5 + step as f64 }).collect();
            for s in &samples {
                want.insert(format!("{{__name__=\"m\", instance=\"host-{:03}\", job=\"node\"}} {} {}", s.r, s.v, s.t));
            }
            buf.clear();
            record::encode_samples(&samples, &mut buf);
            w.log(&[&buf]).unwrap();
        }
        // Condense the older half into a checkpoint, as the head would.
        let last = w.current_segment();
        w.next_segment().unwrap();
        let (first, _) = segments(&wal_dir).unwrap().unwrap();
        let mid = (first + last) / 2;
        checkpoint(&wal_dir, first, mid, |_| true, i64::MIN, compress).unwrap();
        w.truncate(mid + 1).unwrap();
        w.close().unwrap();
        assert!(last_checkpoint(&wal_dir).unwrap().is_some());

        let got = promtool_dump(data.path());
        // Go prints floats in its own shortest form; ours are all short.
        assert_eq!(got.len(), want.len(), "compress={compress}");
        let sample_got: Vec<_> = got.iter().take(3).collect();
        assert!(got == want, "compress={compress}: first lines {sample_got:?}");
    }
}

#[test]
#[ignore = "needs prometheus (scripts/interop.sh installs it)"]
fn we_read_a_wal_prometheus_wrote() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = data.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    )
    .unwrap();
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Discovery hands targets to the scrape manager only every 5 s; then a
    // few scrapes at 1 s.
    std::thread::sleep(Duration::from_secs(9));
    // SIGTERM: a clean shutdown closes the WAL.
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.wait();

    let wal_dir = data.path().join("data").join("wal");
    let mut r = Reader::new(&[SegmentRange::all(&wal_dir)]).unwrap();
    let (mut series, mut samples) = (Vec::new(), Vec::new());
    let mut compressed = 0;
    while let Some(rec) = r.next_record().unwrap() {
        match RecordType::of(rec) {
            RecordType::Series => record::decode_series(rec, &mut series).unwrap(),
            RecordType::Samples => record::decode_samples(rec, &mut samples).unwrap(),
            _ => {}
        }
        compressed += usize::from(r.last_record_compressed());
    }
    assert!(series.len() > 50, "{} series", series.len());
    assert!(samples.len() > series.len(), "{} samples", samples.len());
    assert!(compressed > 0, "Prometheus compresses WAL records by default");
    assert!(series.iter().any(|s| s.labels.metric_name() == "up"));
    let refs: BTreeSet<u64> = series.iter().map(|s| s.r).collect();
    assert!(samples.iter().all(|s| refs.contains(&s.r)));
}
