//! Emulator-only control endpoints under `/_emulator/` (no auth; loopback only).
//!
//! | Method | Path | Body / effect |
//! | --- | --- | --- |
//! | GET | `/_emulator/health` | `{"ok":true}` |
//! | POST | `/_emulator/reset` | restore the initial world, zero the request counts |
//! | GET/POST | `/_emulator/faults` | read / replace (partial merge) the fault knobs |
//! | GET/POST | `/_emulator/clock` | `{"now"}` / `{"advance":secs}` or `{"freeze_at":unix}` or `{"unfreeze":true}` |
//! | POST | `/_emulator/rate_limit` | `{"per_window":N}` |
//! | POST | `/_emulator/strict` | `{"strict":bool}` |
//! | POST | `/_emulator/workspaces` | `{"name","region","token"}` → `{"id_code","token"}` |
//! | GET | `/_emulator/workspaces` | list of workspaces (id_code, name, region, counts) |
//! | POST | `/_emulator/oauth/clients` | `{"client_id","client_secret","redirect_uris"}` |
//! | POST | `/_emulator/oauth/auto_approve` | `{"enabled":bool}` |
//! | POST | `/_emulator/contacts/merge` | `{"from","into"}` (default workspace) |
//! | GET | `/_emulator/state` | the whole world as JSON (`--state` format) |
//! | GET | `/_emulator/requests` | `{"METHOD /path/template": n, …}`: API requests that reached a handler |
//! | POST | `/_emulator/requests/reset` | zero the request counts → `{"reset":true}` |

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::server::{ApiError, Reply, error_response, reply_response};
use crate::state::{EmulatorState, Faults, Inner};

fn ok(v: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Json(StatusCode::OK, v))
}

pub(crate) fn handle(
    inner: &std::sync::Arc<Inner>,
    method: &Method,
    path: &str,
    _query: &[(String, String)],
    body: &[u8],
) -> Response {
    let st = EmulatorState { inner: inner.clone() };
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return error_response(inner, &ApiError::bad("parameter_invalid", format!("invalid JSON: {e}")));
            }
        }
    };
    let r = route(&st, method.as_str(), path, &body);
    match r {
        Ok(reply) => reply_response(reply),
        Err(e) => error_response(inner, &e),
    }
}

fn route(st: &EmulatorState, method: &str, path: &str, body: &Value) -> Result<Reply, ApiError> {
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    match (method, path.trim_end_matches('/')) {
        ("GET", "/_emulator/health") => ok(json!({ "ok": true })),
        ("POST", "/_emulator/reset") => {
            st.reset();
            ok(json!({ "reset": true }))
        }
        ("GET", "/_emulator/faults") => ok(serde_json::to_value(st.faults()).unwrap_or_default()),
        ("POST", "/_emulator/faults") => {
            let mut cur = serde_json::to_value(st.faults()).unwrap_or_default();
            if let (Some(c), Some(b)) = (cur.as_object_mut(), body.as_object()) {
                for (k, v) in b {
                    c.insert(k.clone(), v.clone());
                }
            }
            let f: Faults =
                serde_json::from_value(cur).map_err(|e| ApiError::bad("parameter_invalid", e.to_string()))?;
            st.set_faults(f.clone());
            ok(serde_json::to_value(f).unwrap_or_default())
        }
        ("GET", "/_emulator/clock") => ok(json!({ "now": st.now() })),
        ("POST", "/_emulator/clock") => {
            if let Some(a) = body.get("advance").and_then(Value::as_i64) {
                st.clock().advance(a);
            }
            if let Some(t) = body.get("freeze_at").and_then(Value::as_i64) {
                st.clock().freeze_at(t);
            }
            if body.get("unfreeze").and_then(Value::as_bool) == Some(true) {
                st.clock().unfreeze();
            }
            ok(json!({ "now": st.now() }))
        }
        ("POST", "/_emulator/rate_limit") => {
            let n = body.get("per_window").and_then(Value::as_u64).ok_or_else(|| ApiError::missing("per_window"))?;
            st.set_rate_limit(n as u32);
            ok(json!({ "per_window": n }))
        }
        ("POST", "/_emulator/strict") => {
            let b = body.get("strict").and_then(Value::as_bool).unwrap_or(true);
            st.set_strict(b);
            ok(json!({ "strict": b }))
        }
        ("GET", "/_emulator/workspaces") => ok(st.read(|w| {
            Value::Array(
                w.workspaces
                    .iter()
                    .map(|ws| {
                        json!({ "id_code": ws.id_code, "name": ws.name, "region": ws.region,
                                "contacts": ws.contacts.len(), "companies": ws.companies.len(),
                                "conversations": ws.conversations.len(),
                                "tickets": ws.tickets.len() })
                    })
                    .collect(),
            )
        })),
        ("POST", "/_emulator/workspaces") => {
            let name = s("name").unwrap_or_else(|| "Second Workspace".into());
            let region = s("region").unwrap_or_else(|| "US".into());
            let token = s("token").unwrap_or_else(|| st.inner.random_token("tok_"));
            let id = st.add_workspace(&name, &region, &token);
            ok(json!({ "id_code": id, "token": token, "name": name, "region": region }))
        }
        ("POST", "/_emulator/oauth/clients") => {
            let id = s("client_id").ok_or_else(|| ApiError::missing("client_id"))?;
            let secret = s("client_secret").ok_or_else(|| ApiError::missing("client_secret"))?;
            let uris = body
                .get("redirect_uris")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            st.add_oauth_client(&id, &secret, uris);
            ok(json!({ "client_id": id }))
        }
        ("POST", "/_emulator/oauth/auto_approve") => {
            let b = body.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            st.set_oauth_auto_approve(b);
            ok(json!({ "enabled": b }))
        }
        ("POST", "/_emulator/contacts/merge") => {
            let from = s("from").ok_or_else(|| ApiError::missing("from"))?;
            let into = s("into").ok_or_else(|| ApiError::missing("into"))?;
            st.merge_contact(&from, &into).map_err(|e| ApiError::bad("parameter_invalid", e.to_string()))?;
            ok(json!({ "merged": from, "into": into }))
        }
        ("GET", "/_emulator/state") => ok(st.snapshot()),
        ("GET", "/_emulator/requests") => ok(serde_json::to_value(st.request_counts()).unwrap_or_default()),
        ("POST", "/_emulator/requests/reset") => {
            st.reset_request_counts();
            ok(json!({ "reset": true }))
        }
        _ => Err(ApiError::not_found("not_found", "Unknown emulator endpoint")),
    }
}
