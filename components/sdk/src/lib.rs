//! The guest SDK: everything Switchyard components share, so each component crate holds only its own
//! logic. Bindings to the host (HTTP, log, clock), typed JSON input and output, the `Action` and
//! `Trigger` traits behind the export macros, and Intercom request building, error mapping and paging.

pub mod action;
pub mod admins;
pub mod contact_ref;
pub mod conversations;
pub mod error;
pub mod fields;
pub mod http;
pub mod input;
pub mod intercom;
pub mod log;
pub mod output;
pub mod polling;
pub mod resolve;
pub mod tagging;
pub mod tickets;
pub mod trigger;

#[doc(hidden)]
pub use wit_bindgen;

/// Bindings generated from the `host-services` world: the imports every component shares.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "switchyard:connector/host-services@0.1.0",
    });
}

pub use action::Action;
pub use bindings::switchyard::connector::types::{
    ComponentKind, Conflict, Description, Error, FieldError, RateLimit, UpstreamError,
};
pub use switchyard_sdk_macros::{export_action, export_trigger};
pub use trigger::Trigger;

/// The host's clock, seconds since the Unix epoch.
pub fn now() -> u64 {
    bindings::switchyard::connector::clock::now()
}
