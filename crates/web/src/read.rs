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
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let req = remote::read::decode(&body)?;
        match remote::read::negotiate(&req.accepted_response_types)? {
            ResponseType::Samples => {
                remote::read::execute(h.queryable.as_ref(), &req, &external, limits.sample_limit).map(|r| (ResponseType::Samples, remote::read::encode(&r)))
            }
            ResponseType::StreamedXorChunks => {
                remote::read::execute_streamed(h.queryable.as_ref(), &req, &external, limits.max_bytes_in_frame).map(|b| (ResponseType::StreamedXorChunks, b))
            }
        }
    })
    .await;
    match result {
        Ok(Ok((kind, body))) => {
            let mut r = body.into_response();
            let hs = r.headers_mut();
            if kind == ResponseType::Samples {
                hs.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
                hs.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
            } else {
                hs.insert(header::CONTENT_TYPE, HeaderValue::from_static(remote::read::STREAMED_CONTENT_TYPE));
            }
            r
        }
        Ok(Err(e)) if e.is_client_error() => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
