//! Checks against the real Prometheus (Debian's `promtool`, installed by
//! `scripts/interop.sh`): chunks Prometheus writes decode here, and
//! re-encoding their samples gives the same bytes. Ignored by default.

use std::path::{Path, PathBuf};
use std::process::Command;

use storage::{SampleIterator, ValueType};

use super::{Encoding, XorChunk, XorIterator};
use crate::encoding;

/// Every chunk of a block's chunk segment file (`chunks/000001`):
/// (encoding, data), checksums verified.
fn read_chunk_file(path: &Path) -> Vec<(u8, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], &[0x85, 0xbd, 0x40, 0xdd], "chunk file magic");
    assert_eq!(bytes[4], 1, "chunk file version");
    let mut pos = 8;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let (len, n) = encoding::uvarint(&bytes[pos..]).unwrap();
        pos += n;
        let len = len as usize;
        let enc = bytes[pos];
        let data = bytes[pos + 1..pos + 1 + len].to_vec();
        let crc = u32::from_be_bytes(bytes[pos + 1 + len..pos + 5 + len].try_into().unwrap());
        assert_eq!(crc32c::crc32c(&bytes[pos..pos + 1 + len]), crc, "chunk checksum over encoding and data");
        out.push((enc, data));
        pos += 1 + len + 4;
    }
    out
}

#[test]
#[ignore = "needs promtool (scripts/interop.sh installs it)"]
fn prometheus_chunks_decode_and_reencode_identically() {
    let dir = tempfile::tempdir().unwrap();
    // A scrape-like series with jitter, steps, a gap and special values.
    let mut samples: Vec<(i64, String)> = Vec::new();
    let (mut t, mut v) = (1_700_000_000_000i64, 100.0f64);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..700 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += 15_000 + (x % 7) as i64 - 3 + if i == 400 { 3_600_000 } else { 0 };
        v += [0.0, 0.0, 1.0, 2.5, -0.25, 1e-9, 12345.678][(x >> 8) as usize % 7];
        let text = match i {
            100 => "NaN".to_owned(),
            101 => "+Inf".to_owned(),
            102 => "-Inf".to_owned(),
            _ => format!("{v}"),
        };
        samples.push((t, text));
    }
    let mut om = String::from("# TYPE m gauge\n");
    for (t, v) in &samples {
        om.push_str(&format!("m{{a=\"1\"}} {v} {}.{:03}\n", t / 1000, t % 1000));
    }
    om.push_str("# EOF\n");
    let input = dir.path().join("in.om");
    std::fs::write(&input, om).unwrap();
    let out = dir.path().join("out");
    let status = Command::new("promtool").arg("tsdb").arg("create-blocks-from").arg("openmetrics").arg(&input).arg(&out).status().unwrap();
    assert!(status.success());

    let mut decoded = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let mut chunks = 0;
    for block in dirs {
        let path = block.join("chunks").join("000001");
        if !path.exists() {
            continue;
        }
        for (enc, data) in read_chunk_file(&path) {
            assert_eq!(Encoding::from_u8(enc).unwrap(), Encoding::Xor);
            let mut it = XorIterator::new(&data);
            let mut ours = XorChunk::new();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                decoded.push((t, v));
                ours.append(t, v);
            }
            assert!(it.err().is_none());
            assert_eq!(ours.bytes(), &data[..], "re-encoding chunk {chunks} gives Prometheus's bytes");
            // And recovering the chunk from its bytes reproduces it too.
            assert_eq!(XorChunk::from_bytes(data.clone()).unwrap().bytes(), &data[..]);
            chunks += 1;
        }
    }
    assert!(chunks >= 5, "only {chunks} chunks");
    assert_eq!(decoded.len(), samples.len());
    for ((t, v), (want_t, want_v)) in decoded.iter().zip(&samples) {
        assert_eq!(t, want_t);
        match want_v.as_str() {
            "NaN" => assert!(v.is_nan()),
            "+Inf" => assert_eq!(*v, f64::INFINITY),
            "-Inf" => assert_eq!(*v, f64::NEG_INFINITY),
            s => assert_eq!(v.to_bits(), s.parse::<f64>().unwrap().to_bits()),
        }
    }
}
