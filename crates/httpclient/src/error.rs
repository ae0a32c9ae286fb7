//! The client's errors, worded as Go's `net/http` and Prometheus word them,
//! since users search logs and issues for those texts.

use std::error::Error as StdError;

use reqwest::{Method, StatusCode};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The config cannot be turned into a client; the text names the field
    /// or file and the problem.
    #[error("{0}")]
    Config(String),
    /// The exchange did not reach the response headers in time.
    #[error("{op} \"{url}\": context deadline exceeded")]
    Timeout { op: String, url: String },
    /// The request could not be sent or answered: connection, TLS, proxy,
    /// a credentials file that cannot be read, the OAuth2 token endpoint.
    #[error("{op} \"{url}\": {cause}")]
    Request { op: String, url: String, cause: String },
    /// A response whose status the caller does not accept (see [`status_error`]).
    #[error("server returned HTTP status {}", status_text(*.0))]
    Status(StatusCode),
    /// More than the allowed number of (decompressed) body bytes arrived.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// Reading the body went past its deadline.
    #[error("context deadline exceeded")]
    BodyTimeout,
    /// The body could not be read or decompressed.
    #[error("{0}")]
    Body(String),
}

impl ClientError {
    /// Whether the error is a deadline passing (headers or body), which
    /// callers such as the scraper count apart from other failures.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. } | ClientError::BodyTimeout)
    }

    pub fn request(method: &Method, url: &url::Url, cause: impl Into<String>) -> ClientError {
        ClientError::Request { op: op_name(method), url: shown_url(url), cause: cause.into() }
    }

    pub(crate) fn timeout(method: &Method, url: &url::Url) -> ClientError {
        ClientError::Timeout { op: op_name(method), url: shown_url(url) }
    }

    pub(crate) fn from_reqwest(method: &Method, url: &url::Url, err: &reqwest::Error) -> ClientError {
        if err.is_timeout() { ClientError::timeout(method, url) } else { ClientError::request(method, url, cause_chain(err)) }
    }
}

/// The error for a response whose status the caller rejects, as Prometheus
/// words it: `server returned HTTP status 404 Not Found`.
pub fn status_error(status: StatusCode) -> ClientError {
    ClientError::Status(status)
}

/// Go's `Response.Status` form: the code and its canonical reason.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Go names the operation after the method with only its first letter upper
/// case (`Get`, `Post`).
fn op_name(method: &Method) -> String {
    let m = method.as_str();
    let mut out = String::with_capacity(m.len());
    for (i, c) in m.chars().enumerate() {
        out.push(if i == 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
    }
    out
}

/// The URL as errors show it: a password never appears in logs.
pub(crate) fn shown_url(url: &url::Url) -> String {
    if url.password().is_some() {
        let mut u = url.clone();
        // Only URLs that cannot carry a password refuse one, and this one has one.
        let _ = u.set_password(Some("***"));
        u.to_string()
    } else {
        url.to_string()
    }
}

/// The causes under a reqwest error, outermost first, joined as Go joins
/// wrapped errors. reqwest's own top line repeats the URL that our message
/// already starts with, and hyper's "client error (Connect)" says nothing the
/// next cause does not, so both are left out.
pub(crate) fn cause_chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = next {
        let text = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io_text(io),
            None => e.to_string(),
        };
        let noise = text.starts_with("client error (") || text.is_empty();
        if !noise && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() { err.to_string() } else { parts.join(": ") }
}

/// An I/O error as Go prints it: `connection refused`, not
/// `Connection refused (os error 111)`.
pub(crate) fn io_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match (err.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(i)) => &text[..i],
        _ => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        // Only OS messages are lower-cased; an error from a library may start
        // with a proper name.
        Some(first) if err.raw_os_error().is_some() => first.to_lowercase().chain(chars).collect(),
        _ => text.to_owned(),
    }
}

/// A failed file read in Go's `os.PathError` form: `open /x: no such file or directory`.
pub(crate) fn file_error(path: &str, err: &std::io::Error) -> String {
    format!("open {path}: {}", io_text(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(status_error(StatusCode::NOT_FOUND).to_string(), "server returned HTTP status 404 Not Found");
        assert_eq!(status_error(StatusCode::from_u16(599).unwrap()).to_string(), "server returned HTTP status 599");
        let u = url::Url::parse("http://user:pw@host:1/metrics").unwrap();
        assert_eq!(ClientError::timeout(&Method::GET, &u).to_string(), "Get \"http://user:***@host:1/metrics\": context deadline exceeded");
        assert_eq!(ClientError::request(&Method::POST, &u, "x").to_string(), "Post \"http://user:***@host:1/metrics\": x");
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(file_error("/x/ca.pem", &e), "open /x/ca.pem: no such file or directory");
    }
}
