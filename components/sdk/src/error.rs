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
