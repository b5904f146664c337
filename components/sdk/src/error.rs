//! Constructors for the contract's typed error, so components read like prose.

use crate::{Conflict, Error, FieldError, UpstreamError};

pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::InvalidInput(FieldError { field: field.into(), message: message.into() })
}

pub fn not_found(message: impl Into<String>) -> Error {
    Error::NotFound(message.into())
}

pub fn internal(message: impl Into<String>) -> Error {
    Error::Internal(message.into())
}

pub fn conflict(message: impl Into<String>, existing_id: Option<String>) -> Error {
    Error::Conflict(Conflict { message: message.into(), existing_id })
}

pub fn upstream(status: u16, code: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Upstream(UpstreamError { status, code: code.into(), message: message.into() })
}

/// The same error with `context` put before its message, keeping its kind (and so its exit code):
/// for example which steps of a multi-step change had already been applied when one failed.
pub fn with_context(error: Error, context: &str) -> Error {
    let join = |message: String| format!("{context}: {message}");
    match error {
        Error::InvalidInput(f) => Error::InvalidInput(FieldError { field: f.field, message: join(f.message) }),
        Error::NotFound(m) => Error::NotFound(join(m)),
        Error::Unauthorized(m) => Error::Unauthorized(join(m)),
        Error::Forbidden(m) => Error::Forbidden(join(m)),
        Error::RateLimited(r) => Error::RateLimited(crate::RateLimit {
            message: join(r.message),
            retry_after_seconds: r.retry_after_seconds,
        }),
        Error::Conflict(c) => Error::Conflict(Conflict { message: join(c.message), existing_id: c.existing_id }),
        Error::Upstream(u) => {
            Error::Upstream(UpstreamError { status: u.status, code: u.code, message: join(u.message) })
        }
        Error::Internal(m) => Error::Internal(join(m)),
    }
}
