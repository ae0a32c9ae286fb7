//! `POST /api/v1/write`: the remote-write 1.0 receiver, behind
//! `--web.enable-remote-write-receiver` as in Prometheus.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The storage remote-written samples are appended to.
#[derive(Clone)]
pub struct WriteTarget(pub Arc<dyn storage::Appendable>);

impl std::fmt::Debug for WriteTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTarget")
    }
}

/// Remote write batches are a few MB at most; Prometheus's own limit on a
/// decoded request is far above axum's 2 MB default body limit.
pub(crate) const MAX_BODY: usize = 64 << 20;

pub(crate) async fn write(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(WriteTarget(target)) = s.handles.remote_write.clone() else {
        return (StatusCode::NOT_FOUND, "remote write receiver needs to be enabled with --web.enable-remote-write-receiver").into_response();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.contains("io.prometheus.write.v2.Request") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "remote write 2.0 is not supported yet; send remote write 1.0").into_response();
    }
    let result = tokio::task::spawn_blocking(move || -> Result<(), remote::WriteError> {
        let req = remote::decode(&body)?;
        let mut app = target.appender();
        match remote::append(app.as_mut(), &req) {
            Ok(_) => app.commit().map_err(remote::WriteError::from),
            Err(e) => {
                let _ = app.rollback();
                Err(e)
            }
        }
    })
    .await;
    match result {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
