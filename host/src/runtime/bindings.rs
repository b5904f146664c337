//! Host bindings for the WIT contract in `wit/`: one `bindgen!` per world; the trigger world reuses the
//! action world's import interfaces so the host implements HTTP, log and clock once.

pub mod action {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "switchyard:connector/action@0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub mod trigger {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "switchyard:connector/trigger@0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "switchyard:connector/types": crate::runtime::bindings::action::switchyard::connector::types,
            "switchyard:connector/http": crate::runtime::bindings::action::switchyard::connector::http,
            "switchyard:connector/log": crate::runtime::bindings::action::switchyard::connector::log,
            "switchyard:connector/clock": crate::runtime::bindings::action::switchyard::connector::clock,
        },
    });
}

pub use action::switchyard::connector::types::{ComponentKind, Description, Error as ComponentError};
pub use action::switchyard::connector::{clock, http, log, types};

/// The WIT package version this host serves.
pub const WIT_VERSION: &str = "0.1.0";
/// Export names that identify a component's world.
pub const ACTION_EXPORT: &str = "switchyard:connector/action-handler@0.1.0";
pub const TRIGGER_EXPORT: &str = "switchyard:connector/trigger-handler@0.1.0";
