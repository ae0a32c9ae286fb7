//! kube's requests sent through an `httpclient::Client`, so that a
//! discovery with an `api_server` (or in the cluster) uses the HTTP client
//! config Prometheus accepts there, OAuth2, proxies and credentials files
//! included, which kube's own client settings cannot express; and a layer
//! that counts every client's requests by status code.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use httpclient::{Client, ClientError};
use prometheus_client::metrics::counter::Counter;

use crate::metrics::Labeled;

/// A list (or a watch's headers) that takes longer has failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a watch may stream: kube asks the server to end it after
/// 290 s; past this the connection is taken for dead.
const WATCH_TIMEOUT: Duration = Duration::from_secs(290 + 30);

/// The API server's base URL and the client that reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) client: Client,
    pub(crate) base: url::Url,
}

impl Transport {
    /// The URL of a request kube made with a path-only URI, under the
    /// base's path (an API server may sit behind a path prefix).
    pub(crate) fn url(&self, uri: &http::Uri) -> url::Url {
        let mut u = self.base.clone();
        let path = format!("{}{}", self.base.path().trim_end_matches('/'), uri.path());
        u.set_path(&path);
        u.set_query(uri.query());
        u
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<http::Request<kube::client::Body>> for Transport {
    type Response = http::Response<reqwest::Body>;
    type Error = ClientError;
    type Future = BoxFuture<Result<Self::Response, ClientError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let url = this.url(&parts.uri);
            let body = body.collect().await.map_err(|e| ClientError::request(&parts.method, &url, e.to_string()))?.to_bytes();
            let watch = url.query_pairs().any(|(k, v)| k == "watch" && v == "true");
            let mut r = reqwest::Request::new(parts.method, url);
            *r.headers_mut() = parts.headers;
            *r.timeout_mut() = Some(if watch { WATCH_TIMEOUT } else { REQUEST_TIMEOUT });
            if !body.is_empty() {
                *r.body_mut() = Some(body.into());
            }
            Ok(this.client.execute(r).await?.into())
        })
    }
}

/// Counts the requests of the service it wraps in
/// `prometheus_sd_kubernetes_http_request_total`, by status code
/// (`<error>` when none came back), as client-go's metrics do.
#[derive(Debug, Clone)]
pub(crate) struct CountRequests(pub(crate) Labeled<Counter>);

impl<S> tower_layer::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, requests: self.0.clone() }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Counted<S> {
    inner: S,
    requests: Labeled<Counter>,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for Counted<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let answer = self.inner.call(req);
        let requests = self.requests.clone();
        Box::pin(async move {
            let r = answer.await;
            let code = r.as_ref().map_or_else(|_| "<error>".to_owned(), |resp| resp.status().as_u16().to_string());
            requests.get_or_create(&vec![("status_code".to_owned(), code)]).inc();
            r
        })
    }
}
