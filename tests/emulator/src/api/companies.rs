//! Placeholder (phase 2).

use crate::server::{ApiError, ApiResult, Cx};
use axum::http::StatusCode;

fn todo_op() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "not yet emulated")
}

pub fn attach(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn contacts_of(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn create_or_update(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn delete(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn detach(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn get(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list_for_contact(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn retrieve(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn scroll(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn update(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}
