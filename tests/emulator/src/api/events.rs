//! Placeholder (phase 2).

use crate::server::{ApiError, ApiResult, Cx};
use axum::http::StatusCode;

fn todo_op() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "not yet emulated")
}

pub fn create(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}

pub fn list(_cx: &mut Cx) -> ApiResult {
    Err(todo_op())
}
