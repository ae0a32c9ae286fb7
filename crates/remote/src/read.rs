//! The answering side of remote read (`POST /api/v1/read`): a snappy
//! `ReadRequest` in, each query run against the local storage, and out
//! either a snappy `ReadResponse` of samples or, when the client takes it
//! first, the streamed answer: frames of XOR chunks, one series at most
//! per frame, as Prometheus's read handler does it.
//! External labels are treated as Prometheus treats them: an equality
//! matcher on one with its value matches series without the label, and
//! every series answered carries them (its own labels winning).

use model::{Labels, MatchType, Matcher};
use prost::Message;
use storage::{Queryable, SelectHints, ValueType};

use crate::prompb;

/// The response types, as the request names them.
const SAMPLES: i32 = 0;
const STREAMED_XOR_CHUNKS: i32 = 1;
/// The XOR chunk encoding in a streamed answer.
const XOR: i32 = 1;
/// Samples per chunk, as Prometheus's head cuts them.
const SAMPLES_PER_CHUNK: u16 = 120;
/// The content type of a streamed answer.
pub const STREAMED_CONTENT_TYPE: &str = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// How to answer: the first type the client accepts that this server
/// gives (samples when the client names none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Samples,
    StreamedXorChunks,
}

pub fn negotiate(accepted: &[i32]) -> Result<ResponseType, ReadError> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    accepted
        .iter()
        .find_map(|&t| match t {
            SAMPLES => Some(ResponseType::Samples),
            STREAMED_XOR_CHUNKS => Some(ResponseType::StreamedXorChunks),
            _ => None,
        })
        .ok_or_else(|| ReadError::ResponseType(accepted.to_vec()))
}

/// Why a read request failed, and the status Prometheus answers with.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("snappy decode error: {0}")]
    Snappy(String),
    #[error("protobuf decode error: {0}")]
    Protobuf(String),
    #[error("{0}")]
    Matcher(String),
    #[error("server does not support any of the requested response types: {0:?}; supported: [SAMPLES STREAMED_XOR_CHUNKS]")]
    ResponseType(Vec<i32>),
    #[error("exceeded sample limit ({0})")]
    SampleLimit(usize),
    #[error("{0}")]
    Storage(String),
}

impl ReadError {
    /// 400 for what the client asked wrongly, 500 for storage failures.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, ReadError::Storage(_))
    }
}

/// Decodes a remote-read body: snappy block format around a `ReadRequest`.
pub fn decode(body: &[u8]) -> Result<prompb::ReadRequest, ReadError> {
    crate::check_decoded_len(body).map_err(ReadError::Snappy)?;
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| ReadError::Snappy(e.to_string()))?;
    prompb::ReadRequest::decode(raw.as_slice()).map_err(|e| ReadError::Protobuf(e.to_string()))
}

/// The response, snappy-compressed, for the body.
pub fn encode(resp: &prompb::ReadResponse) -> Vec<u8> {
    // Compressing a buffer in memory fails only for inputs past 4 GiB,
    // which the sample limit keeps away; an empty body is then the answer.
    snap::raw::Encoder::new().compress_vec(&resp.encode_to_vec()).unwrap_or_default()
}

/// Runs every query of the request. `external` are the external labels,
/// sorted by name; `sample_limit` bounds the samples of each query's
/// answer (0: no bound).
pub fn execute(q: &dyn Queryable, req: &prompb::ReadRequest, external: &[(String, String)], sample_limit: usize) -> Result<prompb::ReadResponse, ReadError> {
    let mut results = Vec::with_capacity(req.queries.len());
    for query in &req.queries {
        // The limit is per query, as in Prometheus.
        let mut samples = 0usize;
        let (matchers, querier) = open(q, query, external)?;
        let (start, end) = (query.start_timestamp_ms, query.end_timestamp_ms);
        let hints = query.hints.as_ref().map(|h| SelectHints {
            start: h.start_ms,
            end: h.end_ms,
            step: h.step_ms,
            func: Some(h.func.clone()).filter(|f| !f.is_empty()),
            range: h.range_ms,
        });
        let mut set = querier.select(false, hints.as_ref(), &matchers);
        let mut timeseries = Vec::new();
        while let Some(series) = set.next() {
            let mut points = Vec::new();
            let mut it = series.iterator();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                if t >= start && t <= end {
                    points.push(prompb::Sample { value: v, timestamp: t });
                }
            }
            if let Some(e) = it.err() {
                return Err(ReadError::Storage(e.to_string()));
            }
            samples += points.len();
            if sample_limit > 0 && samples > sample_limit {
                return Err(ReadError::SampleLimit(sample_limit));
            }
            if !points.is_empty() {
                timeseries.push(prompb::TimeSeries { labels: with_external(series.labels(), external), samples: points, exemplars: Vec::new() });
            }
        }
        if let Some(e) = set.err() {
            return Err(ReadError::Storage(e.to_string()));
        }
        results.push(prompb::QueryResult { timeseries });
    }
    Ok(prompb::ReadResponse { results })
}

/// The streamed answer to every query, whole: see [`stream`].
pub fn execute_streamed(q: &dyn Queryable, req: &prompb::ReadRequest, external: &[(String, String)], max_bytes_in_frame: usize) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    stream(q, req, external, max_bytes_in_frame, &mut |frame| {
        out.extend_from_slice(&frame);
        true
    })?;
    Ok(out)
}

/// The streamed answer to every query, handed to `emit` frame by frame so
/// that the caller can send each as it comes: `uvarint(length)
/// crc32c(data) data`, each a `ChunkedReadResponse` with one series (or the
/// next part of one: a series is cut into several frames once its chunks
/// pass `max_bytes_in_frame`). Stops early when `emit` returns false (the
/// client went away).
pub fn stream(
    q: &dyn Queryable,
    req: &prompb::ReadRequest,
    external: &[(String, String)],
    max_bytes_in_frame: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), ReadError> {
    for (index, query) in req.queries.iter().enumerate() {
        let (matchers, querier) = open(q, query, external)?;
        let (start, end) = (query.start_timestamp_ms, query.end_timestamp_ms);
        let mut set = querier.select(true, None, &matchers);
        while let Some(series) = set.next() {
            let labels = with_external(series.labels(), external);
            let chunks = xor_chunks(series.iterator(), start, end)?;
            let room = max_bytes_in_frame as i64 - labels.iter().map(|l| l.encoded_len() as i64).sum::<i64>();
            let mut frame: Vec<prompb::Chunk> = Vec::new();
            let mut left = room;
            let mut chunks = chunks.into_iter().peekable();
            while let Some(c) = chunks.next() {
                left -= c.encoded_len() as i64;
                frame.push(c);
                // A frame may pass the limit by up to one chunk.
                if left > 0 && chunks.peek().is_some() {
                    continue;
                }
                let resp = prompb::ChunkedReadResponse {
                    chunked_series: vec![prompb::ChunkedSeries { labels: labels.clone(), chunks: std::mem::take(&mut frame) }],
                    query_index: index as i64,
                };
                let mut out = Vec::new();
                write_frame(&mut out, &resp.encode_to_vec());
                if !emit(out) {
                    return Ok(());
                }
                left = room;
            }
        }
        if let Some(e) = set.err() {
            return Err(ReadError::Storage(e.to_string()));
        }
    }
    Ok(())
}

/// The series' samples within `[start, end]` as XOR chunks of at most 120
/// samples.
fn xor_chunks(mut it: Box<dyn storage::SampleIterator + '_>, start: i64, end: i64) -> Result<Vec<prompb::Chunk>, ReadError> {
    let mut chunks = Vec::new();
    let mut cur: Option<(tsdb::chunkenc::XorChunk, i64, i64)> = None;
    while it.next() == ValueType::Float {
        let (t, v) = it.at();
        if t < start || t > end {
            continue;
        }
        let (c, _, max) = cur.get_or_insert_with(|| (tsdb::chunkenc::XorChunk::new(), t, t));
        c.append(t, v);
        *max = t;
        if c.num_samples() >= SAMPLES_PER_CHUNK
            && let Some((c, min, max)) = cur.take()
        {
            chunks.push(prompb::Chunk { min_time_ms: min, max_time_ms: max, r#type: XOR, data: c.into_bytes() });
        }
    }
    if let Some(e) = it.err() {
        return Err(ReadError::Storage(e.to_string()));
    }
    if let Some((c, min, max)) = cur {
        chunks.push(prompb::Chunk { min_time_ms: min, max_time_ms: max, r#type: XOR, data: c.into_bytes() });
    }
    Ok(chunks)
}

fn write_frame(out: &mut Vec<u8>, data: &[u8]) {
    prost::encoding::encode_varint(data.len() as u64, out);
    out.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
    out.extend_from_slice(data);
}

/// A query's matchers and a querier over its range.
fn open(q: &dyn Queryable, query: &prompb::Query, external: &[(String, String)]) -> Result<(Vec<Matcher>, Box<dyn storage::Querier>), ReadError> {
    let matchers = matchers(&query.matchers, external)?;
    let querier = q.querier(query.start_timestamp_ms, query.end_timestamp_ms).map_err(|e| ReadError::Storage(e.to_string()))?;
    Ok((matchers, querier))
}

/// The query's matchers, an equality on an external label's own value
/// turned into "has no such label", since the local series lack it.
fn matchers(pb: &[prompb::LabelMatcher], external: &[(String, String)]) -> Result<Vec<Matcher>, ReadError> {
    pb.iter()
        .map(|m| {
            let kind = match m.r#type {
                0 => MatchType::Equal,
                1 => MatchType::NotEqual,
                2 => MatchType::Regexp,
                3 => MatchType::NotRegexp,
                t => return Err(ReadError::Matcher(format!("invalid matcher type {t}"))),
            };
            let ext = external.iter().find(|(k, _)| *k == m.name).map(|(_, v)| v.as_str());
            let value = if kind == MatchType::Equal && ext == Some(m.value.as_str()) { "" } else { m.value.as_str() };
            Matcher::new(kind, m.name.clone(), value).map_err(|e| ReadError::Matcher(e.to_string()))
        })
        .collect()
}

/// The series' labels with the external ones it lacks, sorted.
fn with_external(labels: &Labels, external: &[(String, String)]) -> Vec<prompb::Label> {
    let mut out: Vec<prompb::Label> = labels.iter().map(|l| prompb::Label { name: l.name.to_owned(), value: l.value.to_owned() }).collect();
    for (k, v) in external {
        if labels.get(k).is_empty() {
            out.push(prompb::Label { name: k.clone(), value: v.clone() });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use storage::Appendable;

    fn storage() -> tsdb::head::HeadStorage {
        let head = tsdb::head::Head::open(tsdb::head::HeadOptions::default(), tsdb::head::HeadMetrics::new(None)).unwrap();
        let st = tsdb::head::HeadStorage(head);
        let mut app = st.appender();
        for (name, dc) in [("up", ""), ("up", "b"), ("load", "")] {
            let mut l = vec![("__name__", name), ("job", "node")];
            if !dc.is_empty() {
                l.push(("dc", dc));
            }
            let labels = Labels::from_pairs(l);
            for t in [1000, 2000, 3000] {
                app.append(storage::SeriesRef::UNKNOWN, &labels, t, t as f64 / 1000.0).unwrap();
            }
        }
        app.commit().unwrap();
        st
    }

    fn eq(name: &str, value: &str) -> prompb::LabelMatcher {
        prompb::LabelMatcher { r#type: 0, name: name.into(), value: value.into() }
    }

    fn query(start: i64, end: i64, matchers: Vec<prompb::LabelMatcher>) -> prompb::Query {
        prompb::Query { start_timestamp_ms: start, end_timestamp_ms: end, matchers, hints: None }
    }

    #[test]
    fn samples_in_range_with_the_external_labels() {
        let st = storage();
        let external = [("dc".to_owned(), "a".to_owned())];
        // `dc="a"` is this server's own: it matches the series without dc.
        let req = prompb::ReadRequest {
            queries: vec![query(2000, 3000, vec![eq("__name__", "up"), eq("dc", "a")]), query(0, 5000, vec![eq("dc", "b")])],
            accepted_response_types: vec![],
        };
        let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
        let resp = execute(&st, &decode(&body).unwrap(), &external, 0).unwrap();
        let names = |ts: &prompb::TimeSeries| ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>().join(",");
        let first = &resp.results[0].timeseries;
        assert_eq!(first.len(), 1);
        assert_eq!(names(&first[0]), "__name__=up,dc=a,job=node");
        assert_eq!(first[0].samples.iter().map(|s| s.timestamp).collect::<Vec<_>>(), [2000, 3000]);
        let second = &resp.results[1].timeseries;
        assert_eq!(names(&second[0]), "__name__=up,dc=b,job=node", "the series' own dc wins");
        assert_eq!(second[0].samples.len(), 3);
        let round = prompb::ReadResponse::decode(snap::raw::Decoder::new().decompress_vec(&encode(&resp)).unwrap().as_slice()).unwrap();
        assert_eq!(round, resp);
    }

    #[test]
    fn limits_and_response_types() {
        let st = storage();
        let all = prompb::ReadRequest { queries: vec![query(0, 5000, vec![eq("job", "node")])], accepted_response_types: vec![] };
        // The limit is per query: two queries of 9 samples pass a limit of 9.
        let twice = prompb::ReadRequest { queries: vec![all.queries[0].clone(), all.queries[0].clone()], accepted_response_types: vec![] };
        assert_eq!(execute(&st, &twice, &[], 9).unwrap().results.len(), 2);
        // A body whose header claims gigabytes is refused before decoding.
        let mut bomb = Vec::new();
        prost::encoding::encode_varint(3 << 30, &mut bomb);
        bomb.push(0);
        assert!(decode(&bomb).unwrap_err().to_string().contains("over the limit"));
        let e = execute(&st, &all, &[], 8).unwrap_err();
        assert_eq!(e.to_string(), "exceeded sample limit (8)");
        assert!(e.is_client_error());
        assert_eq!(execute(&st, &all, &[], 9).unwrap().results[0].timeseries.len(), 3);
        assert_eq!(negotiate(&[]).unwrap(), ResponseType::Samples);
        assert_eq!(negotiate(&[1, 0]).unwrap(), ResponseType::StreamedXorChunks);
        assert_eq!(negotiate(&[7, 0]).unwrap(), ResponseType::Samples);
        assert!(negotiate(&[7]).unwrap_err().to_string().starts_with("server does not support any of the requested response types"));
        assert!(decode(b"not snappy").is_err());
    }

    /// Reads the frames back: checksums, query indexes, series and the
    /// samples in their chunks.
    fn frames(mut body: &[u8]) -> Vec<prompb::ChunkedReadResponse> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let len = prost::encoding::decode_varint(&mut body).unwrap() as usize;
            let (crc, rest) = body.split_at(4);
            let (data, rest) = rest.split_at(len);
            assert_eq!(crc32c::crc32c(data).to_be_bytes(), crc);
            out.push(prompb::ChunkedReadResponse::decode(data).unwrap());
            body = rest;
        }
        out
    }

    fn samples_of(c: &prompb::Chunk) -> Vec<(i64, f64)> {
        let chunk = tsdb::chunkenc::XorChunk::from_bytes(c.data.clone()).unwrap();
        let mut it = chunk.iter();
        let mut out = Vec::new();
        while storage::SampleIterator::next(&mut it) == ValueType::Float {
            out.push(storage::SampleIterator::at(&it));
        }
        out
    }

    #[test]
    fn streamed_chunks_in_frames() {
        let head = tsdb::head::Head::open(tsdb::head::HeadOptions::default(), tsdb::head::HeadMetrics::new(None)).unwrap();
        let st = tsdb::head::HeadStorage(head);
        let mut app = st.appender();
        let labels = Labels::from_pairs([("__name__", "long"), ("job", "x")]);
        for i in 0..300 {
            app.append(storage::SeriesRef::UNKNOWN, &labels, i * 1000, i as f64).unwrap();
        }
        app.commit().unwrap();
        let req = prompb::ReadRequest {
            queries: vec![query(0, 1_000_000, vec![eq("__name__", "nothing")]), query(10_000, 299_000, vec![eq("job", "x")])],
            accepted_response_types: vec![STREAMED_XOR_CHUNKS],
        };
        let external = [("site".to_owned(), "eu".to_owned())];
        let one = frames(&execute_streamed(&st, &req, &external, 1 << 20).unwrap());
        assert_eq!(one.len(), 1, "one series, one frame");
        assert_eq!(one[0].query_index, 1);
        let series = &one[0].chunked_series[0];
        assert_eq!(series.labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["__name__", "job", "site"]);
        let sizes: Vec<usize> = series.chunks.iter().map(|c| samples_of(c).len()).collect();
        assert_eq!(sizes, [120, 120, 50]);
        let first = samples_of(&series.chunks[0]);
        assert_eq!((first[0], series.chunks[0].min_time_ms, series.chunks[0].max_time_ms), ((10_000, 10.0), 10_000, 129_000));
        // A small frame limit cuts the series after each chunk.
        let cut = frames(&execute_streamed(&st, &req, &external, 64).unwrap());
        assert_eq!(cut.iter().map(|f| f.chunked_series[0].chunks.len()).collect::<Vec<_>>(), [1, 1, 1]);
    }
}
