//! Intercom's REST API as components use it: request building, error mapping to the contract's typed
//! errors, and cursor pagination. Paths are relative; the host resolves them against the connection.

use crate::Error;
use crate::error::{invalid_input, not_found, upstream};
use crate::http::{self, Method, Request, Response};
use crate::{Conflict, RateLimit};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// Everything but the unreserved characters of RFC 3986 is encoded, so an id can never
/// change the path it is placed in (`../admins`, `x?y`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Encodes one path segment, such as a user-supplied id.
pub fn segment(value: &str) -> String {
    let encoded = utf8_percent_encode(value, PATH_SEGMENT).to_string();
    // "." and ".." are unreserved but would still walk the path.
    match encoded.as_str() {
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => encoded,
    }
}

/// A request to Intercom, built up and then sent.
pub struct Call {
    request: Request,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Call { request: Request { method, path: path.into(), query: Vec::new(), headers: Vec::new(), body: None } }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.request.query.push((name.to_string(), value.into()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.request.body = Some(crate::output::json_text(body));
        self
    }

    /// Sends the request and returns the raw response, whatever its status.
    pub fn send_raw(&self) -> Result<Response, Error> {
        http::send(&self.request)
    }

    /// Sends the request; a non-2xx answer becomes the matching typed error.
    pub fn send(&self) -> Result<Value, Error> {
        let response = self.send_raw()?;
        into_json(response)
    }
}

pub fn get(path: impl Into<String>) -> Call {
    Call::new(Method::Get, path)
}

pub fn post(path: impl Into<String>, body: &Value) -> Call {
    Call::new(Method::Post, path).json(body)
}

pub fn put(path: impl Into<String>, body: &Value) -> Call {
    Call::new(Method::Put, path).json(body)
}

pub fn delete(path: impl Into<String>) -> Call {
    Call::new(Method::Delete, path)
}

/// The JSON body of a successful response (`null` for an empty one), or the typed error.
pub fn into_json(response: Response) -> Result<Value, Error> {
    if !response.is_success() {
        return Err(error_from(&response));
    }
    if response.body.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&response.body).map_err(|e| {
        upstream(
            response.status,
            "invalid_json",
            format!("Intercom answered {} with a body that is not JSON: {e}", response.status),
        )
    })
}

/// Maps Intercom's error answer (`{"type":"error.list","errors":[{code,message,field}]}`) to the
/// contract's typed error, keeping Intercom's code and message.
pub fn error_from(response: &Response) -> Error {
    let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    let first = body.get("errors").and_then(|e| e.get(0));
    let text = |key: &str| first.and_then(|e| e.get(key)).and_then(Value::as_str).map(str::to_string);
    let code = text("code").unwrap_or_else(|| format!("http_{}", response.status));
    let message = text("message").unwrap_or_else(|| format!("Intercom answered HTTP {}", response.status));
    let described = format!("{message} ({code})");
    match response.status {
        400 | 422 if code == "parameter_invalid" || code == "parameter_not_found" || code == "parameter_mismatch" => {
            invalid_input(text("field").unwrap_or_default(), described)
        }
        401 => Error::Unauthorized(format!("{described}; re-authorize the connection")),
        403 => Error::Forbidden(described),
        404 => not_found(described),
        409 => Error::Conflict(Conflict { existing_id: existing_id(&message), message: described }),
        410 => not_found(described),
        429 => Error::RateLimited(RateLimit { message: described, retry_after_seconds: None }),
        status => upstream(status, code, message),
    }
}

/// Intercom's conflict message names the existing object: "... already exists with id=6657...".
fn existing_id(message: &str) -> Option<String> {
    let start = message.find("id=")? + 3;
    let id: String = message[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    (!id.is_empty()).then_some(id)
}

/// A conflict error naming the existing object, for components that treat a duplicate as "found".
pub fn as_conflict(error: &Error) -> Option<&Conflict> {
    match error {
        Error::Conflict(c) => Some(c),
        _ => None,
    }
}

/// A single search filter: `{"field": .., "operator": .., "value": ..}`.
pub fn filter(field: &str, operator: &str, value: impl Into<Value>) -> Value {
    json!({ "field": field, "operator": operator, "value": value.into() })
}

/// One page of a cursor-paginated search or list.
pub struct Page {
    pub items: Vec<Value>,
    pub next: Option<String>,
    pub total_count: Option<u64>,
}

/// Runs one page of `POST {path}` search (`/contacts/search`, `/conversations/search`, `/tickets/search`).
/// `list_key` is where the objects are (`data`, `conversations`, `tickets`).
pub fn search_page(
    path: &str,
    list_key: &str,
    mut body: Value,
    per_page: u32,
    starting_after: Option<&str>,
) -> Result<Page, Error> {
    let mut pagination = json!({ "per_page": per_page });
    if let Some(cursor) = starting_after {
        pagination["starting_after"] = json!(cursor);
    }
    body["pagination"] = pagination;
    let answer = post(path, &body).send()?;
    Ok(page_from(&answer, list_key))
}

/// Reads the objects and the next cursor out of a cursor-paginated answer.
pub fn page_from(answer: &Value, list_key: &str) -> Page {
    let items = answer.get(list_key).and_then(Value::as_array).cloned().unwrap_or_default();
    let next = answer.pointer("/pages/next/starting_after").and_then(Value::as_str).map(str::to_string);
    Page { items, next, total_count: answer.get("total_count").and_then(Value::as_u64) }
}

/// The `Link: </contacts/{id}>; rel="canonical"` target of a merged contact's 410 answer.
pub fn canonical_link(response: &Response) -> Option<String> {
    let link = response.header("link")?;
    if !link.contains("rel=\"canonical\"") {
        return None;
    }
    let start = link.find('<')? + 1;
    let end = link[start..].find('>')? + start;
    Some(link[start..end].to_string())
}
