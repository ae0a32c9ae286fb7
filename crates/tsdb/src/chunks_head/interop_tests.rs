//! Checks against the real Prometheus (Debian's `prometheus` 2.42, installed
//! by `scripts/interop.sh`): head chunks written here are loaded by
//! Prometheus at start-up and answer its queries, and head chunks Prometheus
//! wrote read back here. Ignored by default.

use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use storage::{SampleIterator, ValueType};

use super::*;
use crate::chunkenc::{XorChunk, XorIterator};
use crate::record::{self, RecordType, RefSample, RefSeries};
use crate::wal::{Reader, SegmentRange, Wal, WalOptions};

/// A running Prometheus, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(data: &Path, extra: &[&str]) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let root = data.parent().unwrap();
        let config = root.join("prometheus.yml");
        fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
        let log = root.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let p = Prometheus { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = p.request("GET", "/-/ready", &[], &[]) {
                break;
            }
            assert!(Instant::now() < deadline, "Prometheus not ready; log:\n{}", p.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One HTTP/1.0 exchange: (status, body).
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n", self.port, body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        s.write_all(body)?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
        let head = String::from_utf8_lossy(&resp[..split]);
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("no status"))?;
        Ok((status, resp[split + 4..].to_vec()))
    }

    /// The raw samples of `selector` over the last ten years at `time_ms`.
    fn range_samples(&self, selector: &str, time_ms: i64) -> Vec<(i64, f64)> {
        let q = percent_encode(&format!("{selector}[10y]"));
        let path = format!("/api/v1/query?query={q}&time={}.{:03}", time_ms / 1000, time_ms % 1000);
        let (status, body) = self.request("GET", &path, &[], &[]).unwrap();
        let body = String::from_utf8(body).unwrap();
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let result = v["data"]["result"].as_array().unwrap();
        if result.is_empty() {
            return Vec::new();
        }
        assert_eq!(result.len(), 1, "{body}");
        result[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap().parse::<f64>().unwrap())
            })
            .collect()
    }

    /// SIGTERM and wait: a clean shutdown flushes and closes the head chunk
    /// files.
    fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "Prometheus did not stop; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Values that exercise the XOR encoding without depending on how Go
/// prints floats (compared numerically).
fn value(series: u64, i: usize) -> f64 {
    match i % 7 {
        0 => -(i as f64) * 1.25,
        3 => 1e15 + series as f64,
        _ => series as f64 * 1000.0 + (i as f64) * 0.5,
    }
}

#[test]
#[ignore = "needs prometheus (scripts/interop.sh installs it)"]
fn interop_prometheus_loads_our_head_chunks() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // Recent enough that Prometheus neither compacts the head (more than
    // 1.5 chunk ranges) nor finds it out of retention.
    let t0 = (now_ms() - 90 * 60 * 1000) / 1000 * 1000;
    let step = 10_000;
    let per_chunk = 120;

    // Three series: two with three full chunks on disk and later samples
    // only in the WAL, one with chunks only. Samples covered by the chunks
    // are not in the WAL: whatever Prometheus returns of them came from our
    // chunk files.
    let series: Vec<(u64, String)> = (1..=3).map(|r| (r, format!("s{r}"))).collect();
    let mut want: BTreeMap<u64, Vec<(i64, f64)>> = BTreeMap::new();
    let m = ChunkDiskMapper::open(&data.join("chunks_head"), DEFAULT_MAX_FILE_SIZE).unwrap();
    for (r, _) in &series {
        for c in 0..3 {
            let mut chunk = XorChunk::new();
            let mut samples = Vec::new();
            for i in c * per_chunk..(c + 1) * per_chunk {
                let t = t0 + i as i64 * step + *r as i64;
                let v = value(*r, i);
                chunk.append(t, v);
                samples.push((t, v));
            }
            let (mint, maxt) = (samples[0].0, samples[samples.len() - 1].0);
            m.write_chunk(*r, mint, maxt, Encoding::Xor, chunk.bytes()).unwrap();
            want.entry(*r).or_default().extend(samples);
        }
    }
    m.close().unwrap();

    let mut wal = Wal::open(&data.join("wal"), WalOptions::default()).unwrap();
    let mut buf = Vec::new();
    let refs: Vec<RefSeries> = series
        .iter()
        .map(|(r, name)| RefSeries { r: *r, labels: model::Labels::from_pairs([("__name__", "narthex_chunks_head"), ("series", name.as_str())]) })
        .collect();
    record::encode_series(&refs, &mut buf);
    wal.log(&[&buf]).unwrap();
    for i in 3 * per_chunk..3 * per_chunk + 40 {
        let samples: Vec<RefSample> = [1u64, 2].iter().map(|&r| RefSample { r, t: t0 + i as i64 * step + r as i64, v: value(r, i) }).collect();
        for s in &samples {
            want.get_mut(&s.r).unwrap().push((s.t, s.v));
        }
        buf.clear();
        record::encode_samples(&samples, &mut buf);
        wal.log(&[&buf]).unwrap();
    }
    wal.close().unwrap();

    let prom = Prometheus::start(&data, &[]);
    let at = now_ms();
    for (r, name) in &series {
        let got = prom.range_samples(&format!("narthex_chunks_head{{series=\"{name}\"}}"), at);
        let want = &want[r];
        assert_eq!(got.len(), want.len(), "series {name}; log:\n{}", prom.log());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.0, w.0, "series {name}");
            assert!(g.1 == w.1, "series {name} at {}: got {}, want {}", w.0, g.1, w.1);
        }
    }
    let log = prom.log();
    assert!(!log.contains("Loading on-disk chunks failed"), "{log}");
    prom.stop();
}

/// Appends a protobuf varint.
fn pb_varint(buf: &mut Vec<u8>, x: u64) {
    crate::encoding::put_uvarint(buf, x);
}

fn pb_bytes(buf: &mut Vec<u8>, field: u64, b: &[u8]) {
    pb_varint(buf, field << 3 | 2);
    pb_varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// A remote-write `WriteRequest` with one series (prompb/remote.proto,
/// types.proto): timeseries=1 { labels=1 { name=1, value=2 }, samples=2
/// { value=1 (double), timestamp=2 (int64) } }.
fn write_request(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Vec<u8> {
    let mut ts = Vec::new();
    for (n, v) in labels {
        let mut l = Vec::new();
        pb_bytes(&mut l, 1, n.as_bytes());
        pb_bytes(&mut l, 2, v.as_bytes());
        pb_bytes(&mut ts, 1, &l);
    }
    for &(t, v) in samples {
        let mut s = Vec::new();
        pb_varint(&mut s, 1 << 3 | 1);
        s.extend_from_slice(&v.to_le_bytes());
        pb_varint(&mut s, 2 << 3);
        pb_varint(&mut s, t as u64);
        pb_bytes(&mut ts, 2, &s);
    }
    let mut req = Vec::new();
    pb_bytes(&mut req, 1, &ts);
    req
}

#[test]
#[ignore = "needs prometheus (scripts/interop.sh installs it)"]
fn interop_we_read_prometheus_head_chunks() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let prom = Prometheus::start(&data, &["--web.enable-remote-write-receiver"]);
    let t0 = (now_ms() - 90 * 60 * 1000) / 1000 * 1000;
    let sent: Vec<(i64, f64)> = (0..500).map(|i| (t0 + i as i64 * 10_000, value(9, i))).collect();
    let body = snap::raw::Encoder::new().compress_vec(&write_request(&[("__name__", "narthex_remote"), ("k", "v")], &sent)).unwrap();
    let headers = [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy"), ("X-Prometheus-Remote-Write-Version", "0.1.0")];
    let (status, resp) = prom.request("POST", "/api/v1/write", &headers, &body).unwrap();
    assert_eq!(status, 204, "{}; log:\n{}", String::from_utf8_lossy(&resp), prom.log());
    prom.stop();

    // The series' ref, from Prometheus's WAL.
    let mut r = Reader::new(&[SegmentRange::all(&data.join("wal"))]).unwrap();
    let mut series = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        if RecordType::of(rec) == RecordType::Series {
            record::decode_series(rec, &mut series).unwrap();
        }
    }
    let series_ref = series.iter().find(|s| s.labels.metric_name() == "narthex_remote").unwrap().r;

    let dir = data.join("chunks_head");
    let before: Vec<(u32, Vec<u8>)> = list_chunk_files(&dir).unwrap().into_iter().map(|(i, p)| (i, fs::read(p).unwrap())).collect();
    assert!(!before.is_empty());
    let m = ChunkDiskMapper::open(&dir, DEFAULT_MAX_FILE_SIZE).unwrap();
    // Nothing was taken for damage: Prometheus's zero-padded files are intact.
    for (i, bytes) in &before {
        assert_eq!(&fs::read(chunk_file_name(&dir, *i)).unwrap(), bytes, "file {i} changed on open");
    }
    let mut got = Vec::new();
    let mut chunks = 0;
    let infos: Vec<ChunkInfo> = {
        let mut v = Vec::new();
        m.iterate_all_chunks(|c| {
            v.push(c);
            Ok::<_, ChunksHeadError>(())
        })
        .unwrap();
        v
    };
    for info in infos {
        assert_eq!(info.series_ref, series_ref);
        assert_eq!(info.encoding().unwrap(), Encoding::Xor);
        assert!(!info.is_out_of_order());
        let c = m.chunk(info.chunk_ref).unwrap();
        let mut it = XorIterator::new(&c);
        let mut samples = Vec::new();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        assert!(it.err().is_none());
        assert_eq!(samples.len(), usize::from(info.num_samples));
        assert_eq!((samples[0].0, samples[samples.len() - 1].0), (info.mint, info.maxt));
        got.extend(samples);
        chunks += 1;
    }
    // Full chunks are m-mapped; the open one stays in memory and the WAL.
    assert!(chunks >= 3, "{chunks} chunks");
    assert!(got.len() >= 3 * 100 && got.len() < sent.len(), "{} samples", got.len());
    assert_eq!(&got[..], &sent[..got.len()]);
}
