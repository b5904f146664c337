//! Placeholder (phase 2).

use crate::server::{ApiError, ApiResult, Cx};
use axum::http::StatusCode;

fn todo_op() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "not yet emulated")
}

pub fn convert(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn create(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn create_message(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn delete(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn get(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn manage(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn reply(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn search(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn update(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}
