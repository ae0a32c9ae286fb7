//! `POST /api/v1/read`: remote read, answered from the local storage with
//! samples or streamed XOR chunks, as Prometheus answers it (always on,
//! bounded by `--storage.remote.read-sample-limit` for samples,
//! `--storage.remote.read-max-bytes-in-frame` for frames and
//! `--storage.remote.read-concurrent-limit`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use remote::read::ResponseType;

use crate::AppState;

/// The remote-read flags.
#[derive(Debug, Clone)]
pub struct ReadLimits {
    /// Samples per request; 0 is no limit.
    pub sample_limit: usize,
    /// The size past which a streamed series is cut into another frame.
    pub max_bytes_in_frame: usize,
    /// Requests served at once; the rest wait.
    pub concurrency: Arc<tokio::sync::Semaphore>,
}

pub(crate) async fn read(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    let (Some(h), Some(limits)) = (s.handles.query.clone(), s.handles.remote_read.clone()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "storage not available").into_response();
    };
    // Held by the reading task, so that a client that goes away does not
    // free its slot while the read still runs.
    let Ok(permit) = limits.concurrency.clone().acquire_owned().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    };
    let external: Vec<(String, String)> = s.handles.external_labels.read().map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let decoded =
        tokio::task::spawn_blocking(move || remote::read::decode(&body).and_then(|req| Ok((remote::read::negotiate(&req.accepted_response_types)?, req))))
            .await;
    let (kind, req) = match decoded {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    if kind == ResponseType::StreamedXorChunks {
        return streamed(h, req, external, limits.max_bytes_in_frame, permit);
    }
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        remote::read::execute(h.queryable.as_ref(), &req, &external, limits.sample_limit)
    })
    .await;
    match result {
        Ok(Ok(resp)) => {
            let mut r = remote::read::encode(&resp).into_response();
            let hs = r.headers_mut();
            hs.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
            hs.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
            r
        }
        Ok(Err(e)) if e.is_client_error() => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Sends the frames as the reading task makes them, a few at a time, so
/// that a large read never sits whole in memory. A failure after the
/// first frame can only end the answer early, as in Prometheus.
fn streamed(
    h: crate::QueryHandle,
    req: remote::prompb::ReadRequest,
    external: Vec<(String, String)>,
    max: usize,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let r = remote::read::stream(h.queryable.as_ref(), &req, &external, max, &mut |frame| tx.blocking_send(Ok(Bytes::from(frame))).is_ok());
        if let Err(e) = r {
            tracing::warn!(component = "web", err = %e, "Streamed remote read failed");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut r = axum::body::Body::from_stream(frames).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(remote::read::STREAMED_CONTENT_TYPE));
    r
}
