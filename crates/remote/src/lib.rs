//! Remote write and read, Prometheus's `storage/remote`: the protobuf
//! messages and, so far, the receiving side of remote write 1.0 (what
//! `POST /api/v1/write` does with a request body) and the answering side
//! of remote read (`POST /api/v1/read`, in `read`).
//!
//! This crate owns the wire format and how a write request becomes
//! appends. It must not know HTTP (the web layer hands it the body) or how
//! samples are stored (it writes through a `storage::Appender`).

pub mod prompb;
pub mod read;

use model::{Exemplar, Labels};
use prost::Message;
use storage::{Appender, SeriesRef, StorageError};

/// Why a write request was refused; the web layer answers 400 with it.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("snappy decode error: {0}")]
    Snappy(String),
    #[error("protobuf decode error: {0}")]
    Protobuf(String),
    #[error("invalid labels for series: {0}")]
    InvalidLabels(String),
    /// A sample the storage refused (out of order, out of bounds,
    /// duplicate): Prometheus fails the whole request with it.
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// The most a snappy body may claim to decode to: the header is the
/// sender's word, and trusting it would let a few bytes ask for 4 GiB.
const MAX_DECODED_LEN: usize = 256 << 20;

fn check_decoded_len(body: &[u8]) -> Result<(), String> {
    let n = snap::raw::decompress_len(body).map_err(|e| e.to_string())?;
    if n > MAX_DECODED_LEN { Err(format!("decoded length {n} is over the limit of {MAX_DECODED_LEN} bytes")) } else { Ok(()) }
}

/// What a request added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub samples: usize,
    pub exemplars: usize,
}

/// Decodes a remote-write 1.0 body: snappy block format around a
/// `WriteRequest` protobuf.
pub fn decode(body: &[u8]) -> Result<prompb::WriteRequest, WriteError> {
    check_decoded_len(body).map_err(WriteError::Snappy)?;
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| WriteError::Snappy(e.to_string()))?;
    prompb::WriteRequest::decode(raw.as_slice()).map_err(|e| WriteError::Protobuf(e.to_string()))
}

/// Appends a request's samples and exemplars. The caller commits on `Ok`
/// and rolls back on `Err`, so a request lands whole or not at all.
pub fn append(app: &mut dyn Appender, req: &prompb::WriteRequest) -> Result<WriteStats, WriteError> {
    let mut stats = WriteStats::default();
    for ts in &req.timeseries {
        let labels = labels_of(&ts.labels)?;
        let mut r = SeriesRef::UNKNOWN;
        for s in &ts.samples {
            r = app.append(r, &labels, s.timestamp, s.value)?;
            stats.samples += 1;
        }
        for e in &ts.exemplars {
            // A zero timestamp is protobuf's "unset", as Prometheus reads it.
            let ex = Exemplar { labels: labels_of(&e.labels).unwrap_or_default(), value: e.value, ts: e.timestamp, has_ts: e.timestamp != 0 };
            // Exemplars are best effort, as in Prometheus: one the storage
            // refuses (out of order, labels too long) never fails the
            // request that carries it.
            if let Ok(nr) = app.append_exemplar(r, &labels, &ex) {
                r = nr;
                stats.exemplars += 1;
            }
        }
    }
    Ok(stats)
}

fn labels_of(pairs: &[prompb::Label]) -> Result<Labels, WriteError> {
    if pairs.iter().any(|l| l.name.is_empty()) {
        return Err(WriteError::InvalidLabels(format!("{:?}", pairs.iter().map(|l| (&l.name, &l.value)).collect::<Vec<_>>())));
    }
    let labels = Labels::from_pairs(pairs.iter().filter(|l| !l.value.is_empty()).map(|l| (l.name.as_str(), l.value.as_str())));
    if labels.len() != pairs.iter().filter(|l| !l.value.is_empty()).count() || labels.is_empty() {
        return Err(WriteError::InvalidLabels(labels.to_string()));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::{Appendable, Queryable, ValueType};

    fn body(req: &prompb::WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap()
    }

    fn series(name: &str, samples: &[(i64, f64)]) -> prompb::TimeSeries {
        prompb::TimeSeries {
            labels: vec![prompb::Label { name: "__name__".into(), value: name.into() }, prompb::Label { name: "job".into(), value: "rw".into() }],
            samples: samples.iter().map(|&(timestamp, value)| prompb::Sample { value, timestamp }).collect(),
            exemplars: vec![],
        }
    }

    #[test]
    fn a_request_lands_in_storage() {
        let head = tsdb::head::Head::open(tsdb::head::HeadOptions::default(), tsdb::head::HeadMetrics::new(None)).unwrap();
        let st = tsdb::head::HeadStorage(head);
        let req = prompb::WriteRequest { timeseries: vec![series("a", &[(1000, 1.0), (2000, 2.0)]), series("b", &[(1000, 5.0)])] };
        let decoded = decode(&body(&req)).unwrap();
        assert_eq!(decoded, req);
        let mut app = st.appender();
        assert_eq!(append(app.as_mut(), &decoded).unwrap(), WriteStats { samples: 3, exemplars: 0 });
        app.commit().unwrap();
        let q = st.querier(0, 10_000).unwrap();
        let mut set = q.select(true, None, &[model::Matcher::equal("job", "rw")]);
        let mut got = Vec::new();
        while let Some(s) = set.next() {
            let mut it = s.iterator();
            while it.next() == ValueType::Float {
                got.push((s.labels().metric_name().to_owned(), it.at()));
            }
        }
        assert_eq!(got, vec![("a".into(), (1000, 1.0)), ("a".into(), (2000, 2.0)), ("b".into(), (1000, 5.0))]);

        // An out-of-order sample fails the request.
        let mut app = st.appender();
        let err = append(app.as_mut(), &prompb::WriteRequest { timeseries: vec![series("a", &[(500, 9.0)])] }).unwrap_err();
        assert_eq!(err.to_string(), "out of order sample");
        app.rollback().unwrap();
    }

    #[test]
    fn exemplars_land_in_storage_best_effort() {
        let opts = tsdb::head::HeadOptions { max_exemplars: 10, ..Default::default() };
        let head = tsdb::head::Head::open(opts, tsdb::head::HeadMetrics::new(None)).unwrap();
        let st = tsdb::head::HeadStorage(head);
        let exemplar =
            |trace: &str, value, timestamp| prompb::Exemplar { labels: vec![prompb::Label { name: "trace_id".into(), value: trace.into() }], value, timestamp };
        let mut a = series("a", &[(1000, 1.0)]);
        a.exemplars = vec![exemplar("t1", 1.0, 900), exemplar(&"x".repeat(200), 1.0, 950), exemplar("t2", 2.0, 1000)];
        let mut app = st.appender();
        assert_eq!(append(app.as_mut(), &prompb::WriteRequest { timeseries: vec![a] }).unwrap(), WriteStats { samples: 1, exemplars: 2 });
        app.commit().unwrap();
        let mut late = series("a", &[(2000, 2.0)]);
        late.exemplars = vec![exemplar("t0", 1.0, 500)];
        let mut app = st.appender();
        assert_eq!(
            append(app.as_mut(), &prompb::WriteRequest { timeseries: vec![late] }).unwrap(),
            WriteStats { samples: 1, exemplars: 0 },
            "out of order: dropped, the samples land"
        );
        app.commit().unwrap();
        use storage::ExemplarQueryable;
        let got = st.exemplar_querier().unwrap().select(0, 10_000, &[vec![model::Matcher::equal("__name__", "a")]]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("job"), "rw");
        let traces: Vec<(&str, i64)> = got[0].exemplars.iter().map(|e| (e.labels.get("trace_id"), e.ts)).collect();
        assert_eq!(traces, [("t1", 900), ("t2", 1000)]);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(decode(b"not snappy at all"), Err(WriteError::Snappy(_))));
        let junk = snap::raw::Encoder::new().compress_vec(&[0xff, 0xff, 0xff]).unwrap();
        assert!(matches!(decode(&junk), Err(WriteError::Protobuf(_))));
        let mut app = NullAppender;
        let bad = prompb::WriteRequest {
            timeseries: vec![prompb::TimeSeries { labels: vec![prompb::Label { name: String::new(), value: "x".into() }], ..Default::default() }],
        };
        assert!(matches!(append(&mut app, &bad), Err(WriteError::InvalidLabels(_))));
    }

    struct NullAppender;

    impl Appender for NullAppender {
        fn append(&mut self, h: SeriesRef, _: &Labels, _: i64, _: f64) -> Result<SeriesRef, StorageError> {
            Ok(h)
        }
        fn append_exemplar(&mut self, h: SeriesRef, _: &Labels, _: &Exemplar) -> Result<SeriesRef, StorageError> {
            Ok(h)
        }
        fn update_metadata(&mut self, h: SeriesRef, _: &Labels, _: &model::Metadata) -> Result<SeriesRef, StorageError> {
            Ok(h)
        }
        fn commit(&mut self) -> Result<(), StorageError> {
            Ok(())
        }
        fn rollback(&mut self) -> Result<(), StorageError> {
            Ok(())
        }
    }
}
