//! Connections: named credentials for external workspaces, so that every trigger and action runs on a
//! connection and no component ever sees a secret.
//!
//! - [`store`]: the connections table; [`ConnectionStore::resolve`] turns a name into the
//!   [`crate::http::Connection`] an invocation runs on, [`ConnectionStore::mark_unauthorized`] records a 401.
//! - [`secrets`]: tokens and client secrets are sealed (XChaCha20-Poly1305) before they reach the store.
//! - [`oauth`]: the authorization-code flow with a loopback callback.
//! - [`intercom`]: Intercom's regions, OAuth endpoints and `GET /me`.
//! - [`urls`]: the rule for every endpoint URL the CLI is given (https, or http on loopback only).
//!
//! The store is provider-neutral (a `provider` column, optional refresh token and expiry) although
//! Intercom's tokens never expire: a 401 is the only signal, and it marks the connection as needing
//! re-authorization instead of being retried.

pub mod intercom;
pub mod oauth;
pub mod secrets;
pub mod store;
pub mod urls;

pub use store::{ConnectionError, ConnectionInfo, ConnectionStore, NewConnection, OAuthClientRecord, Status};
