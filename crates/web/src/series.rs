//! The metadata endpoints over series: `/api/v1/series`, `/api/v1/labels`
//! and `/api/v1/label/<name>/values`, with repeated `match[]` selectors,
//! `start`, `end` and `limit`, GET or form POST.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model::Matcher;
use promql::parser::Expr;
use storage::{LabelHints, SelectHints};

use crate::query::{QueryHandle, parse_time};
use crate::{ApiError, AppState, Params, error};

/// What every one of these endpoints takes.
struct Request {
    selectors: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
    limit: usize,
}

fn parse_request(p: &[(String, String)]) -> Result<Request, ApiError> {
    let get = |name: &str| p.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let start = match get("start") {
        None => i64::MIN / 2,
        Some(s) => parse_time(s).ok_or_else(|| ApiError::bad_data(&format!("invalid parameter \"start\": cannot parse {s:?} to a valid timestamp")))?,
    };
    let end = match get("end") {
        None => i64::MAX / 2,
        Some(s) => parse_time(s).ok_or_else(|| ApiError::bad_data(&format!("invalid parameter \"end\": cannot parse {s:?} to a valid timestamp")))?,
    };
    let limit = match get("limit") {
        None => 0,
        Some(l) => l.parse::<usize>().map_err(|_| ApiError::bad_data(&format!("invalid parameter \"limit\": cannot parse {l:?} to a valid limit")))?,
    };
    let mut selectors = Vec::new();
    for (_, m) in p.iter().filter(|(k, _)| k == "match[]") {
        match promql::parser::parse(m) {
            Ok(Expr::Vector(vs)) => selectors.push(vs.matchers),
            Ok(_) => return Err(ApiError::bad_data(&format!("invalid parameter \"match[]\": {m:?} is not a series selector"))),
            Err(e) => return Err(ApiError::bad_data(&format!("invalid parameter \"match[]\": {e}"))),
        }
    }
    Ok(Request { selectors, start, end, limit })
}

fn success<T: serde::Serialize>(data: T, truncated: bool) -> Response {
    let mut body = serde_json::json!({"status": "success", "data": data});
    if truncated {
        body["warnings"] = serde_json::json!(["results truncated due to limit"]);
    }
    axum::Json(body).into_response()
}

fn handle(s: &AppState) -> Result<QueryHandle, ApiError> {
    s.handles.query.clone().ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage not available".into()))
}

pub(crate) async fn labels(State(s): State<Arc<AppState>>, Params(params): Params) -> Response {
    let (h, req) = match (handle(&s), parse_request(&params)) {
        (Ok(h), Ok(r)) => (h, r),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    names_or_values(h, req, None).await
}

pub(crate) async fn label_values(State(s): State<Arc<AppState>>, Path(name): Path<String>, Params(params): Params) -> Response {
    let (h, req) = match (handle(&s), parse_request(&params)) {
        (Ok(h), Ok(r)) => (h, r),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    if name.is_empty() {
        return ApiError::bad_data(&format!("invalid label name: {name:?}")).into_response();
    }
    names_or_values(h, req, Some(name)).await
}

/// Label names (`name` None) or one label's values, the union over the
/// selectors (all series when there are none), sorted.
async fn names_or_values(h: QueryHandle, req: Request, name: Option<String>) -> Response {
    let result = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
        let q = h.queryable.querier(req.start, req.end).map_err(|e| e.to_string())?;
        let hints = LabelHints { limit: 0 };
        let selectors = if req.selectors.is_empty() { vec![Vec::new()] } else { req.selectors };
        let mut all = BTreeSet::new();
        for m in &selectors {
            let (v, _) = match &name {
                None => q.label_names(&hints, m),
                Some(n) => q.label_values(n, &hints, m),
            }
            .map_err(|e| e.to_string())?;
            all.extend(v);
        }
        Ok(all.into_iter().collect())
    })
    .await;
    match result {
        Ok(Ok(mut v)) => {
            let truncated = req.limit > 0 && v.len() > req.limit;
            if truncated {
                v.truncate(req.limit);
            }
            success(v, truncated)
        }
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, "execution", &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}

pub(crate) async fn series(State(s): State<Arc<AppState>>, Params(params): Params) -> Response {
    let (h, req) = match (handle(&s), parse_request(&params)) {
        (Ok(h), Ok(r)) => (h, r),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    if req.selectors.is_empty() {
        return ApiError::bad_data("no match[] parameter provided").into_response();
    }
    let limit = req.limit;
    let result = tokio::task::spawn_blocking(move || -> Result<Vec<model::Labels>, String> {
        let q = h.queryable.querier(req.start, req.end).map_err(|e| e.to_string())?;
        let hints = SelectHints { start: req.start, end: req.end, func: Some("series".into()), ..Default::default() };
        let mut all = BTreeSet::new();
        for m in &req.selectors {
            let mut set = q.select(true, Some(&hints), m);
            while let Some(s) = set.next() {
                all.insert(s.labels().clone());
            }
            if let Some(e) = set.err() {
                return Err(e.to_string());
            }
        }
        Ok(all.into_iter().collect())
    })
    .await;
    match result {
        Ok(Ok(mut v)) => {
            let truncated = limit > 0 && v.len() > limit;
            if truncated {
                v.truncate(limit);
            }
            let data: Vec<std::collections::BTreeMap<&str, &str>> = v.iter().map(|l| l.iter().map(|x| (x.name, x.value)).collect()).collect();
            success(data, truncated)
        }
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, "execution", &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}
