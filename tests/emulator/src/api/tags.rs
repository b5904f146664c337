//! Placeholder (phase 2).

use crate::server::{ApiError, ApiResult, Cx};
use axum::http::StatusCode;

fn todo_op() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "not yet emulated")
}

pub fn create(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn delete(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn find(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list_for_contact(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn tag_contact(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn tag_conversation(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn tag_ticket(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn untag_contact(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn untag_conversation(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn untag_ticket(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}
