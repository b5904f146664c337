//! Bundle integrity: a tampered file, a component of the wrong world, a path outside the bundle and
//! an incompatible contract are each refused with an error that names what is wrong.

mod common;

use common::*;
use std::path::Path;
use switchyard::bundle;

/// Copies a built bundle into a temporary directory for tampering.
fn copy_bundle(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(bundle_path(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(String) -> String) {
    let path = dir.join("bundle.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

/// Keeps only find-contact in a copied intercom manifest, so a test's edit hits that component.
fn only_find_contact(dir: &Path) {
    edit_manifest(dir, |t| {
        let mut manifest: toml::Table = t.parse().unwrap();
        let components = manifest["component"].as_array_mut().unwrap();
        components.retain(|c| c["key"].as_str() == Some("intercom/find-contact"));
        assert_eq!(components.len(), 1);
        toml::to_string(&manifest).unwrap()
    });
}

async fn load_error(dir: &Path) -> String {
    let runtime = runtime();
    match bundle::load(&runtime, dir, &bundle::TrustPolicy::default()).await {
        Ok(_) => panic!("the bundle at {} loaded but should have been refused", dir.display()),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn the_built_bundle_loads_and_lists_find_contact() {
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    assert_eq!(find.description.name, "Find Contact");
    let schema: serde_json::Value = serde_json::from_str(&find.description.input_schema).unwrap();
    assert_eq!(schema["properties"]["email"]["title"], "Email");
    assert!(bundle.component("intercom/nope").is_err());
}

#[tokio::test]
async fn a_tampered_component_is_refused() {
    let dir = copy_bundle("intercom");
    let wasm = dir.path().join("find-contact.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&wasm, bytes).unwrap();
    let err = load_error(dir.path()).await;
    assert!(err.contains("sha256 mismatch") && err.contains("find-contact.wasm"), "{err}");
}

#[tokio::test]
async fn a_component_of_the_wrong_world_is_refused() {
    // Listed as a trigger, but it exports the action world.
    let dir = copy_bundle("intercom");
    only_find_contact(dir.path());
    edit_manifest(dir.path(), |t| t.replace("kind = \"action\"", "kind = \"trigger\""));
    let err = load_error(dir.path()).await;
    assert!(
        err.contains("wrong world") && err.contains("trigger-handler") && err.contains("find-contact.wasm"),
        "{err}"
    );

    // A component that exports nothing at all.
    let dir = copy_bundle("intercom");
    only_find_contact(dir.path());
    let empty = wat::parse_str("(component)").unwrap();
    std::fs::write(dir.path().join("find-contact.wasm"), &empty).unwrap();
    let sha = bundle::sha256_hex(&empty);
    edit_manifest(dir.path(), |t| {
        let start = t.find("sha256 = \"").unwrap() + 10;
        format!("{}{}{}", &t[..start], sha, &t[start + 64..])
    });
    let err = load_error(dir.path()).await;
    assert!(err.contains("wrong world") && err.contains("action-handler"), "{err}");
}

#[tokio::test]
async fn a_manifest_cannot_reach_outside_its_bundle() {
    let dir = copy_bundle("intercom");
    edit_manifest(dir.path(), |t| t.replace("file = \"find-contact.wasm\"", "file = \"../../etc/passwd\""));
    let err = load_error(dir.path()).await;
    assert!(err.contains("inside the bundle"), "{err}");
}

#[tokio::test]
async fn an_incompatible_contract_version_is_refused() {
    let dir = copy_bundle("intercom");
    edit_manifest(dir.path(), |t| t.replace("wit = \"0.1.0\"", "wit = \"0.2.0\""));
    let err = load_error(dir.path()).await;
    assert!(err.contains("0.2.0") && err.contains("0.1.0"), "{err}");
}

#[tokio::test]
async fn a_malformed_manifest_names_the_problem() {
    let dir = copy_bundle("intercom");
    edit_manifest(dir.path(), |t| t.replace("[bundle]", "[bundel]"));
    let err = load_error(dir.path()).await;
    assert!(err.contains("bundle.toml is malformed"), "{err}");
}
