//! The request pipeline: auth, rate limit, faults, version, routing, strict checks, dispatch
//! (counted), response delay.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};

use crate::spec::{self, Operation, RouteMatch};
use crate::state::Inner;

/// A handler outcome.
pub enum Reply {
    Json(StatusCode, Value),
    /// Already-serialized JSON.
    Raw(StatusCode, Vec<u8>),
    Empty(StatusCode),
    Redirect(String),
    Html(String),
}

/// An error in Intercom's `error.list` shape.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_string(), message: message.into(), field: None, headers: Vec::new() }
    }
    pub fn with_field(mut self, f: impl Into<String>) -> ApiError {
        self.field = Some(f.into());
        self
    }
    pub fn bad(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::bad("parameter_invalid", message).with_field(field)
    }
    pub fn missing(field: &str) -> ApiError {
        ApiError::bad("parameter_not_found", format!("{field} is a required parameter")).with_field(field)
    }
    pub fn not_found(code: &str, message: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn body(&self, request_id: &str) -> Value {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(f) = &self.field {
            e["field"] = json!(f);
        }
        json!({ "type": "error.list", "request_id": request_id, "errors": [e] })
    }
}

pub type ApiResult = Result<Reply, ApiError>;

/// Per-request context handed to operation handlers.
pub struct Cx<'a> {
    pub inner: &'a Inner,
    pub ws: usize,
    pub params: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Value,
    pub now: i64,
    pub version: String,
}

impl Cx<'_> {
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn q_int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.q(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ApiError::invalid(name, format!("{name} must be an integer"))),
        }
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

pub(crate) fn error_response(inner: &Inner, e: &ApiError) -> Response {
    let rid = inner.request_id();
    let mut r = json_response(e.status, &e.body(&rid));
    for (k, v) in &e.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(k.clone(), v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

pub(crate) fn reply_response(reply: Reply) -> Response {
    match reply {
        Reply::Json(s, v) => json_response(s, &v),
        Reply::Raw(s, bytes) => {
            let mut r = Response::new(Body::from(bytes));
            *r.status_mut() = s;
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
            r
        }
        Reply::Empty(s) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = s;
            r
        }
        Reply::Redirect(url) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Reply::Html(h) => {
            let mut r = Response::new(Body::from(h));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
    }
}

fn dropped_response() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "emulator fault: dropped connection",
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("1024"));
    r
}

pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()).unwrap_or_default()
}

/// The single entry point of the axum router.
pub(crate) async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(&inner, &ApiError::bad("bad_request", "Request body could not be read"));
        }
    };
    if path == "/_emulator" || path.starts_with("/_emulator/") {
        return crate::admin::handle(&inner, &parts.method, &path, &query, &bytes);
    }
    if path == "/oauth" || path == "/auth/eagle/token" {
        let r = crate::api::oauth::handle(&inner, &parts.method, &path, &query, &parts.headers, &bytes);
        return match r {
            Ok(reply) => reply_response(reply),
            Err(e) => error_response(&inner, &e),
        };
    }

    // 1. Authentication.
    let token = bearer(&parts.headers);
    let ws = token.and_then(|t| inner.world.read().tokens.get(t).copied());
    let Some(ws) = ws else {
        return error_response(
            &inner,
            &ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Access Token Invalid"),
        );
    };

    // 2. Rate limit (10-second windows per workspace).
    let now = inner.clock.now();
    let limit = inner.rate_limit.load(Ordering::Relaxed).max(0) as u32;
    let (count, reset) = {
        let mut rate = inner.rate.lock();
        let w = rate.entry(ws).or_default();
        let start = now - now.rem_euclid(10);
        if w.window_start != start {
            w.window_start = start;
            w.count = 0;
        }
        w.count = w.count.saturating_add(1);
        (w.count, start + 10)
    };
    let remaining = limit.saturating_sub(count);
    let rate_headers = [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ];
    let finish = |mut r: Response| {
        for (k, v) in &rate_headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                r.headers_mut().insert(*k, v);
            }
        }
        r
    };
    let too_many = || {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            format!("Exceeded rate limit of {limit} in 10_seconds"),
        )
    };
    if count > limit {
        return finish(error_response(&inner, &too_many()));
    }

    // 3. Fault injection.
    let faults = inner.faults.read().clone();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let (drop, e500, e429) = {
        let mut rng = inner.rng.lock();
        (
            faults.drop_rate > 0.0 && rng.random::<f64>() < faults.drop_rate,
            faults.error_500_rate > 0.0 && rng.random::<f64>() < faults.error_500_rate,
            faults.error_429_rate > 0.0 && rng.random::<f64>() < faults.error_429_rate,
        )
    };
    if drop {
        return dropped_response();
    }
    if e500 {
        return finish(error_response(
            &inner,
            &ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal server error (emulated fault)"),
        ));
    }
    if e429 {
        return finish(error_response(&inner, &too_many()));
    }

    // 4. Version header.
    let version = match parts.headers.get("intercom-version") {
        None => "2.16".to_string(),
        Some(v) => {
            let v = v.to_str().unwrap_or("").trim().to_string();
            if !VERSIONS.contains(&v.as_str()) {
                return finish(error_response(
                    &inner,
                    &ApiError::bad(
                        "intercom_version_invalid",
                        format!("Intercom-Version '{v}' is not a valid API version"),
                    )
                    .with_field("Intercom-Version"),
                ));
            }
            v
        }
    };

    // 5. Routing against the spec.
    let sp = spec::spec();
    let method = parts.method.as_str();
    let (op, params) = match sp.route(method, &path) {
        RouteMatch::Found(op, params) => (op, params),
        RouteMatch::MethodNotAllowed | RouteMatch::NotFound => {
            return finish(error_response(&inner, &ApiError::not_found("not_found", "Resource Not Found")));
        }
    };

    // Endpoints that only exist from a given version on.
    if let Some(min) = crate::api::min_version(&op.operation_id)
        && version_lt(&version, min)
    {
        return finish(error_response(
            &inner,
            &ApiError::bad("intercom_version_invalid", "Requested resource is not available in current API version."),
        ));
    }

    // 6. Request checks.
    let strict = inner.strict.load(Ordering::Relaxed);
    let body = match check_request(op, &query, &bytes, strict) {
        Ok(b) => b,
        Err(e) => return finish(error_response(&inner, &e)),
    };

    // 7. Dispatch. Only requests that get this far are counted (`EmulatorState::request_count`).
    inner.count_request(op);
    let mut cx = Cx { inner: &inner, ws, params, query, body, now, version };
    let result = crate::api::dispatch(op, &mut cx);
    let old_version = version_lt(&cx.version, "2.16");
    let resp = match result {
        Ok(reply) if old_version => reply_response(downgrade_reply(reply)),
        Ok(reply) => reply_response(reply),
        Err(e) => error_response(&inner, &e),
    };
    // 8. Fault: hold the answer of an already-applied request.
    if faults.response_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.response_delay_ms)).await;
    }
    finish(resp)
}

pub(crate) const VERSIONS: &[&str] = &[
    "1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10",
    "2.11", "2.12", "2.13", "2.14", "2.15", "2.16",
];

/// Responses for versions before 2.16 use the older field types (ENDPOINTS.md §8).
fn downgrade_reply(reply: Reply) -> Reply {
    let (status, mut v) = match reply {
        Reply::Json(s, v) => (s, v),
        Reply::Raw(s, bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => (s, v),
            Err(_) => return Reply::Raw(s, bytes),
        },
        other => return other,
    };
    downgrade(&mut v);
    Reply::Json(status, v)
}

/// 2.15 shapes: `contact.owner_id` integer; ticket assignee ids strings; conversation
/// assignee ids `null` when unassigned and `priority` as `priority|not_priority`.
pub(crate) fn downgrade(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(downgrade),
        Value::Object(m) => {
            let kind = m.get("type").and_then(Value::as_str).unwrap_or("").to_string();
            match kind.as_str() {
                "contact" => {
                    if let Some(n) = m.get("owner_id").and_then(Value::as_str).and_then(|s| s.parse::<i64>().ok()) {
                        m.insert("owner_id".into(), json!(n));
                    }
                }
                "ticket" => {
                    for k in ["admin_assignee_id", "team_assignee_id"] {
                        if let Some(n) = m.get(k).and_then(Value::as_i64) {
                            m.insert(k.into(), json!(n.to_string()));
                        }
                    }
                }
                "conversation" => {
                    for k in ["admin_assignee_id", "team_assignee_id"] {
                        if m.get(k).and_then(Value::as_i64) == Some(0) {
                            m.insert(k.into(), Value::Null);
                        }
                    }
                    if let Some(p) = m.get("priority").and_then(Value::as_str) {
                        let old = if p == "none" { "not_priority" } else { "priority" };
                        m.insert("priority".into(), json!(old));
                    }
                }
                _ => {}
            }
            m.values_mut().for_each(downgrade);
        }
        _ => {}
    }
}

/// `a < b` for dotted versions like `2.9` and `2.13`.
fn version_lt(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> (u32, u32) {
        let (x, y) = v.split_once('.').unwrap_or((v, "0"));
        (x.parse().unwrap_or(0), y.parse().unwrap_or(0))
    };
    parse(a) < parse(b)
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, tok) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") { Some(tok.trim()) } else { None }
}

fn check_request(op: &Operation, query: &[(String, String)], bytes: &Bytes, strict: bool) -> Result<Value, ApiError> {
    let has_body = !bytes.iter().all(|b| b.is_ascii_whitespace());
    let body: Value = if has_body {
        match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                if op.body_schema.is_some() || strict {
                    return Err(ApiError::bad("parameter_invalid", format!("Request body is not valid JSON: {e}")));
                }
                Value::Null
            }
        }
    } else {
        Value::Null
    };
    crate::api::precheck(op, &body)?;
    if !strict {
        return Ok(if body.is_null() { json!({}) } else { body });
    }
    for p in &op.params {
        if p.location != "query" {
            continue;
        }
        match query.iter().find(|(k, _)| *k == p.name) {
            Some((_, v)) => {
                if !spec::check_param_type(p, v) {
                    return Err(ApiError::invalid(&p.name, format!("{} has an invalid value '{v}'", p.name)));
                }
            }
            None => {
                // `filter` (GET /events) is an exploded object: its keys appear directly.
                if p.required && p.name != "filter" {
                    return Err(ApiError::missing(&p.name));
                }
            }
        }
    }
    if op.body_schema.is_some() {
        // A missing body is checked as `{}` so the first missing required field is named.
        let checked = if body.is_null() { json!({}) } else { body.clone() };
        if let Err(inv) = spec::spec().validate_request_body(op, &checked) {
            return Err(ApiError::bad(inv.code, inv.message).with_field(inv.field));
        }
    }
    Ok(if body.is_null() { json!({}) } else { body })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body(""))
    }
}
