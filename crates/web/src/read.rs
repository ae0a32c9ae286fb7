//! `POST /api/v1/read`: remote read, answered with samples from the local
//! storage, as Prometheus answers it (always on, bounded by
//! `--storage.remote.read-sample-limit` and
//! `--storage.remote.read-concurrent-limit`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The remote-read flags.
#[derive(Debug, Clone)]
pub struct ReadLimits {
    /// Samples per request; 0 is no limit.
    pub sample_limit: usize,
    /// Requests served at once; the rest wait.
    pub concurrency: Arc<tokio::sync::Semaphore>,
}

pub(crate) async fn read(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    let (Some(h), Some(limits)) = (s.handles.query.clone(), s.handles.remote_read.clone()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "storage not available").into_response();
    };
    let Ok(_permit) = limits.concurrency.acquire_owned().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    };
    let external: Vec<(String, String)> = s.handles.external_labels.read().map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let result = tokio::task::spawn_blocking(move || {
        let req = remote::read::decode(&body)?;
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
