//! Host-mediated HTTP. The host adds credentials and the API version; components send only what the
//! request is about.

use crate::Error;
pub use crate::bindings::switchyard::connector::http::{Method, Request, Response};

pub fn send(request: &Request) -> Result<Response, Error> {
    crate::bindings::switchyard::connector::http::send(request)
}

impl Response {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
