//! `export_action!` and `export_trigger!`: turn a type implementing `switchyard_sdk::Action` (or
//! `Trigger`) into the component's exports.
//!
//! A proc macro rather than bindings generated inside the SDK because a component may export only its
//! own world: if the SDK generated both worlds, every component would carry both world types and the
//! component encoder would demand both sets of exports. The macro also reads the component's key from
//! its `Cargo.toml` (`[package.metadata.switchyard] key = "..."`), the same place `cargo xtask build`
//! reads it for the bundle manifest, so the key is written once.

use proc_macro::TokenStream;

/// The WIT package every component is built against, from the repository's `wit/` directory.
const WIT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit");

#[proc_macro]
pub fn export_action(input: TokenStream) -> TokenStream {
    expand(input, Kind::Action)
}

#[proc_macro]
pub fn export_trigger(input: TokenStream) -> TokenStream {
    expand(input, Kind::Trigger)
}

#[derive(PartialEq)]
enum Kind {
    Action,
    Trigger,
}

fn expand(input: TokenStream, kind: Kind) -> TokenStream {
    let ty = input.to_string();
    let key = match component_key(&kind) {
        Ok(key) => key,
        Err(message) => return format!("compile_error!({message:?});").parse().unwrap(),
    };
    let (world, handler, body) = match kind {
        Kind::Action => (
            "action",
            "action_handler",
            format!(
                "fn describe() -> ::switchyard_sdk::Description {{
                    ::switchyard_sdk::action::describe::<super::{ty}>(KEY, VERSION)
                }}
                fn run(input: String) -> Result<String, ::switchyard_sdk::Error> {{
                    ::switchyard_sdk::action::run::<super::{ty}>(&input)
                }}"
            ),
        ),
        Kind::Trigger => (
            "trigger",
            "trigger_handler",
            format!(
                "fn describe() -> ::switchyard_sdk::Description {{
                    ::switchyard_sdk::trigger::describe::<super::{ty}>(KEY, VERSION)
                }}
                fn poll(request: PollRequest) -> Result<PollResponse, ::switchyard_sdk::Error> {{
                    let outcome = ::switchyard_sdk::trigger::poll::<super::{ty}>(
                        request.cursor.as_deref(), request.now, request.page_budget, &request.settings,
                    )?;
                    Ok(PollResponse {{
                        events: outcome.events.into_iter().map(event).collect(),
                        cursor: outcome.cursor,
                        backlog: outcome.backlog,
                    }})
                }}
                fn sample(settings: String) -> Result<Vec<Event>, ::switchyard_sdk::Error> {{
                    let events = ::switchyard_sdk::trigger::sample::<super::{ty}>(&settings)?;
                    Ok(events.into_iter().map(event).collect())
                }}
                "
            ),
        ),
    };
    let uses = if kind == Kind::Trigger {
        "use exports::switchyard::connector::trigger_handler::{Event, PollRequest, PollResponse};
        fn event(e: ::switchyard_sdk::trigger::TriggerEvent) -> Event {
            Event { dedupe_key: e.dedupe_key, occurred_at: e.occurred_at, payload: e.payload }
        }"
    } else {
        ""
    };
    format!(
        r#"
        #[doc(hidden)]
        #[allow(clippy::all)]
        mod __switchyard_export {{
            ::switchyard_sdk::wit_bindgen::generate!({{
                path: {WIT_DIR:?},
                world: "switchyard:connector/{world}@0.1.0",
                runtime_path: "::switchyard_sdk::wit_bindgen::rt",
                with: {{
                    "switchyard:connector/types@0.1.0": ::switchyard_sdk::bindings::switchyard::connector::types,
                    "switchyard:connector/http@0.1.0": ::switchyard_sdk::bindings::switchyard::connector::http,
                    "switchyard:connector/log@0.1.0": ::switchyard_sdk::bindings::switchyard::connector::log,
                    "switchyard:connector/clock@0.1.0": ::switchyard_sdk::bindings::switchyard::connector::clock,
                }},
            }});
            {uses}
            const KEY: &str = {key:?};
            const VERSION: &str = env!("CARGO_PKG_VERSION");
            struct Export;
            impl exports::switchyard::connector::{handler}::Guest for Export {{
                {body}
            }}
            export!(Export with_types_in self);
        }}
        "#
    )
    .parse()
    .unwrap()
}

/// Reads `[package.metadata.switchyard]` from the invoking crate's manifest.
fn component_key(kind: &Kind) -> Result<String, String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| "CARGO_MANIFEST_DIR is not set".to_string())?;
    let path = std::path::Path::new(&dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let manifest: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("switchyard"))
        .ok_or_else(|| format!("{}: add [package.metadata.switchyard] with key and kind", path.display()))?;
    let key = meta
        .get("key")
        .and_then(|k| k.as_str())
        .ok_or_else(|| format!("{}: [package.metadata.switchyard] needs key = \"connector/name\"", path.display()))?;
    let declared = meta.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let expected = if *kind == Kind::Action { "action" } else { "trigger" };
    if declared != expected {
        return Err(format!(
            "{}: [package.metadata.switchyard] kind is {declared:?} but the crate exports an {expected}",
            path.display()
        ));
    }
    Ok(key.to_string())
}
