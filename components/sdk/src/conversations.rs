//! Conversations: fetching the full object, which several actions return after a write.

use crate::Error;
use crate::intercom::{self, segment};
use serde_json::Value;

/// `GET /conversations/{id}` with its parts (Intercom returns at most the 500 most recent).
/// `plaintext` asks for bodies without HTML (`display_as=plaintext`).
pub fn get(id: &str, plaintext: bool) -> Result<Value, Error> {
    let call = intercom::get(format!("/conversations/{}", segment(id)));
    if plaintext { call.query("display_as", "plaintext").send() } else { call.send() }
}
