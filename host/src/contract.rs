//! The WIT contract in `wit/` as the host sees it: one `bindgen!` per world (the trigger world reuses
//! the action world's import interfaces, so the host implements HTTP, log and clock once), the contract
//! version, and the names of the component kinds. Below everything else in the host: the runtime, the
//! outbound HTTP layer and the bundle loader all speak these types.

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
            "switchyard:connector/types": crate::contract::action::switchyard::connector::types,
            "switchyard:connector/http": crate::contract::action::switchyard::connector::http,
            "switchyard:connector/log": crate::contract::action::switchyard::connector::log,
            "switchyard:connector/clock": crate::contract::action::switchyard::connector::clock,
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

/// Whether this host can run components built against WIT package `version`: the same major (for
/// 0.x, the same minor) and not newer than the host's.
pub fn wit_compatible(version: &semver::Version) -> bool {
    let host: semver::Version = WIT_VERSION.parse().expect("WIT_VERSION is semver");
    let same_line =
        if host.major == 0 { version.major == 0 && version.minor == host.minor } else { version.major == host.major };
    same_line && *version <= host
}

/// Whether `exports` include the interface of `wanted` (an export name such as [`ACTION_EXPORT`]) at
/// a WIT version this host serves: its own or an older compatible one (same line, see
/// [`wit_compatible`]). wasmtime finds a `@0.1.0` export under a newer `@0.1.x` name, so a
/// component built against an older minor keeps working after additive changes to the contract.
pub fn exports_compatible(exports: &[String], wanted: &str) -> bool {
    let interface = wanted.split_once('@').map_or(wanted, |(name, _)| name);
    exports.iter().any(|export| {
        export
            .strip_prefix(interface)
            .and_then(|rest| rest.strip_prefix('@'))
            .and_then(|version| version.parse::<semver::Version>().ok())
            .is_some_and(|version| wit_compatible(&version))
    })
}

impl ComponentKind {
    /// "action" or "trigger", as the CLI and manifests write it.
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Action => "action",
            ComponentKind::Trigger => "trigger",
        }
    }

    /// "an action" or "a trigger", for messages.
    pub fn with_article(self) -> &'static str {
        match self {
            ComponentKind::Action => "an action",
            ComponentKind::Trigger => "a trigger",
        }
    }
}

/// The one message for a component asked for as the wrong kind, wherever it is looked up.
pub fn wrong_kind(key: &str, is: ComponentKind, wanted: ComponentKind) -> anyhow::Error {
    anyhow::anyhow!("{key} is {}, not {}", is.with_article(), wanted.with_article())
}
