//! Reading a response body under a size limit and a deadline, gunzipping as
//! it arrives, so that an oversized or endless body costs at most the limit
//! (plus one decompression buffer) in memory.

use std::io::Write;

use reqwest::header::CONTENT_ENCODING;
use tokio::time::Instant;

use crate::error::{ClientError, cause_chain};

/// An allocation hint taken from `Content-Length` is capped by this, so a
/// lying header cannot make us reserve gigabytes before a byte arrives.
const MAX_RESERVE: u64 = 16 << 20;

/// Reads the body into `buf` (cleared first), gunzipping it when the response
/// has `Content-Encoding: gzip`, and fails with [`ClientError::BodySizeLimit`]
/// as soon as more than `limit` bytes (decompressed) arrive; `limit` 0 means
/// no limit. Prometheus fails a body of exactly `limit` bytes too, since its
/// limited reader cannot tell it from a longer one; here exactly `limit`
/// bytes are accepted. Past `deadline` it fails with
/// [`ClientError::BodyTimeout`].
pub async fn read_body(mut resp: reqwest::Response, limit: u64, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), ClientError> {
    buf.clear();
    let gzip = resp.headers().get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let read = async { if gzip { read_gzip(&mut resp, limit, buf).await } else { read_plain(&mut resp, limit, buf).await } };
    match tokio::time::timeout_at(deadline, read).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::BodyTimeout),
    }
}

fn over(len: usize, more: usize, limit: u64) -> bool {
    limit > 0 && (len as u64).saturating_add(more as u64) > limit
}

async fn read_plain(resp: &mut reqwest::Response, limit: u64, buf: &mut Vec<u8>) -> Result<(), ClientError> {
    if let Some(n) = resp.content_length() {
        let cap = if limit > 0 { limit.saturating_add(1).min(MAX_RESERVE) } else { MAX_RESERVE };
        buf.reserve(usize::try_from(n.min(cap)).unwrap_or(0));
    }
    while let Some(chunk) = resp.chunk().await.map_err(|e| ClientError::Body(cause_chain(&e)))? {
        if over(buf.len(), chunk.len(), limit) {
            return Err(ClientError::BodySizeLimit);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(())
}

/// The decoder's output: refuses bytes past the limit, which stops the
/// decoder mid-chunk instead of inflating a gzip bomb.
struct Limited<'a> {
    buf: &'a mut Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl Write for Limited<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if over(self.buf.len(), data.len(), self.limit) {
            self.exceeded = true;
            return Err(std::io::Error::other("body size limit exceeded"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn read_gzip(resp: &mut reqwest::Response, limit: u64, buf: &mut Vec<u8>) -> Result<(), ClientError> {
    // Multi-member, as Go's gzip reader is by default.
    let mut dec = flate2::write::MultiGzDecoder::new(Limited { buf, limit, exceeded: false });
    let fail = |dec: &flate2::write::MultiGzDecoder<Limited<'_>>, e: std::io::Error| {
        if dec.get_ref().exceeded { ClientError::BodySizeLimit } else { ClientError::Body(format!("gzip: {e}")) }
    };
    let mut any = false;
    while let Some(chunk) = resp.chunk().await.map_err(|e| ClientError::Body(cause_chain(&e)))? {
        any |= !chunk.is_empty();
        if let Err(e) = dec.write_all(&chunk) {
            return Err(fail(&dec, e));
        }
    }
    if !any {
        // Go's gzip reader fails on an empty body the same way.
        return Err(ClientError::Body("gzip: EOF".to_owned()));
    }
    match dec.try_finish() {
        Ok(()) => Ok(()),
        Err(e) => Err(fail(&dec, e)),
    }
}
