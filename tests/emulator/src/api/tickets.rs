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

pub fn get(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn get_type(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list_states(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list_types(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn search(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn update(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}
