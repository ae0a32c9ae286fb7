//! `POST /api/v1/read` through the binary: the same query answered as
//! samples (snappy protobuf) and as streamed XOR chunks (checksummed
//! frames), each with its content type.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use prost::Message;
use remote::prompb;

fn post(port: u16, req: &prompb::ReadRequest) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST /api/v1/read HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_lowercase();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap_or_default().to_owned();
    let body = buf[split + 4..].to_vec();
    // The streamed answer comes in HTTP chunks, as its frames are made.
    let body = if head.contains("transfer-encoding: chunked") { dechunk(&body) } else { body };
    (code, content_type, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

#[test]
fn remote_read_answers_samples_and_streamed_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_metrics("read_me 42\n");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, format!("global: {{scrape_interval: 200ms, scrape_timeout: 150ms}}\nscrape_configs:\n  - job_name: rr\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n")).unwrap();
    let port = free_port();
    let _narthex = start_narthex(&cfg, port, &dir.path().join("data"), &[]);
    wait_for(port, "/api/v1/query?query=read_me", "read_me scraped", |b| b.contains(r#""job":"rr""#));
    let now = now_s() as i64 * 1000;
    let query = prompb::Query {
        start_timestamp_ms: now - 600_000,
        end_timestamp_ms: now + 60_000,
        matchers: vec![prompb::LabelMatcher { r#type: 0, name: "__name__".into(), value: "read_me".into() }],
        hints: None,
    };

    let (code, ct, body) = post(port, &prompb::ReadRequest { queries: vec![query.clone()], accepted_response_types: vec![] });
    assert_eq!((code, ct.as_str()), (200, "application/x-protobuf"));
    let resp = prompb::ReadResponse::decode(snap::raw::Decoder::new().decompress_vec(&body).unwrap().as_slice()).unwrap();
    let series = &resp.results[0].timeseries;
    assert_eq!(series.len(), 1);
    assert!(series[0].samples.iter().all(|s| s.value == 42.0) && !series[0].samples.is_empty());

    let (code, ct, body) = post(port, &prompb::ReadRequest { queries: vec![query], accepted_response_types: vec![1] });
    assert_eq!((code, ct.as_str()), (200, "application/x-streamed-protobuf; proto=prometheus.chunkedreadresponse"));
    let mut rest = body.as_slice();
    let len = prost::encoding::decode_varint(&mut rest).unwrap() as usize;
    let frame = prompb::ChunkedReadResponse::decode(&rest[4..4 + len]).unwrap();
    let s = &frame.chunked_series[0];
    assert!(s.labels.iter().any(|l| l.name == "job" && l.value == "rr"));
    assert_eq!(s.chunks[0].r#type, 1, "XOR");

    let (code, _, _) = post(port, &prompb::ReadRequest { queries: vec![], accepted_response_types: vec![5] });
    assert_eq!(code, 400);
}
