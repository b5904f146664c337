//! Installed bundles: install (directory and archive), list, pin (`key@requirement`), remove; refused
//! installs (tampered, wrong signature, incompatible WIT, path traversal) that change nothing; hot swap
//! under load; the third-party example (Rust, signed) and the Python example run through the host.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use switchyard::bundle::{self, TrustPolicy};
use switchyard::registry::{Registry, TRUSTED_KEYS_DIR, load_trusted_keys};
use switchyard::runtime::Runtime;

/// The test-only key `cargo xtask build` signs the acme example with.
const ACME_KEY_ID: &str = "873d90ac48dc7b89";

async fn registry_in(runtime: &Runtime, home: &Path, trust: TrustPolicy) -> Registry {
    Registry::open_with(runtime, home, trust).await.expect("registry opens")
}

/// What is installed, in memory and on disk (every entry of bundles/, so a leftover staging
/// directory shows up too).
fn installed_state(registry: &Registry, home: &Path) -> (Vec<String>, Vec<String>) {
    let memory = registry.snapshot().bundles().map(|b| format!("{}@{}", b.name(), b.version())).collect();
    let mut disk = Vec::new();
    for entry in std::fs::read_dir(home.join("bundles")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() && !name.starts_with('.') {
            for v in std::fs::read_dir(entry.path()).unwrap() {
                disk.push(format!("{name}@{}", v.unwrap().file_name().to_string_lossy()));
            }
        } else {
            disk.push(name);
        }
    }
    disk.sort();
    (memory, disk)
}

/// Packs a bundle directory into a .tar.gz (under a top-level directory, as `tar czf` would).
fn archive_of(dir: &Path, out: &Path) -> PathBuf {
    let file = std::fs::File::create(out).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    tar.append_dir_all("bundle", dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    out.to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn install_error(runtime: &Runtime, registry: &Registry, path: &Path) -> String {
    match registry.install(runtime, path).await {
        Ok(b) => panic!("{} installed as {}@{} but should have been refused", path.display(), b.name(), b.version()),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn install_list_pin_and_remove() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let registry = registry_in(&rt, home.path(), TrustPolicy::default()).await;
    assert_eq!(registry.snapshot().bundles().count(), 0);

    // A directory, then the next version as a .tar.gz archive: side by side.
    let v1 = registry.install(&rt, &bundle_path("testing")).await.unwrap();
    assert_eq!((v1.name(), v1.version().to_string().as_str()), ("testing", "0.1.0"));
    let scratch = tempfile::tempdir().unwrap();
    let archive = archive_of(&bundle_path("testing-next"), &scratch.path().join("testing-next.tar.gz"));
    let v2 = registry.install(&rt, &archive).await.unwrap();
    assert_eq!(v2.version().to_string(), "0.2.0");
    assert!(v2.record.source.ends_with("testing-next.tar.gz"), "{}", v2.record.source);
    let listed: Vec<String> = registry.snapshot().bundles().map(|b| format!("{}@{}", b.name(), b.version())).collect();
    assert_eq!(listed, ["testing@0.1.0", "testing@0.2.0"]);

    // Pinning: the newest matching installed version wins.
    assert_eq!(registry.resolve("testing/version-echo").unwrap().version().to_string(), "1.1.0");
    assert_eq!(registry.resolve("testing/version-echo@^1").unwrap().version().to_string(), "1.1.0");
    let pinned = registry.resolve("testing/version-echo@~1.0").unwrap();
    assert_eq!(pinned.version().to_string(), "1.0.0");
    assert_eq!(pinned.bundle.version().to_string(), "0.1.0");
    let out = rt.run_action(&pinned.component, None, "{}").await.unwrap();
    assert_eq!(out["version"], "1.0.0");
    let err = format!("{:#}", registry.resolve("testing/version-echo@^2").err().unwrap());
    assert!(err.contains("^2") && err.contains("1.0.0") && err.contains("1.1.0"), "{err}");
    let err = format!("{:#}", registry.resolve("testing/nope@^1").err().unwrap());
    assert!(err.contains("testing/nope") && err.contains("bundle install"), "{err}");
    let err = format!("{:#}", registry.resolve("testing/version-echo@banana").err().unwrap());
    assert!(err.contains("not a version requirement"), "{err}");

    // The workflow engine's view: a snapshot of the installed set, pinned by requirement and kind.
    {
        use switchyard::workflow::Components;
        let snapshot = registry.snapshot();
        assert_eq!(snapshot.action("testing/version-echo", Some("~1.0")).unwrap().description.version, "1.0.0");
        assert_eq!(snapshot.action("testing/version-echo", None).unwrap().description.version, "1.1.0");
        let err = format!("{:#}", snapshot.trigger("testing/version-echo", None).err().unwrap());
        assert!(err.contains("is an action, not a trigger"), "{err}");
        assert_eq!(Components::keys(&*snapshot), ["testing/hostile", "testing/version-echo"]);
    }

    // The same version twice is refused.
    let err = install_error(&rt, &registry, &bundle_path("testing")).await;
    assert!(err.contains("testing@0.1.0 is already installed"), "{err}");

    // The installed set survives a restart (it is on disk), with where it came from.
    let reopened = registry_in(&rt, home.path(), TrustPolicy::default()).await;
    assert_eq!(installed_state(&reopened, home.path()).0, ["testing@0.1.0", "testing@0.2.0"]);
    let again = reopened.snapshot();
    let first = again.get("testing", &"0.1.0".parse().unwrap()).unwrap();
    assert_eq!(first.record.source, bundle_path("testing").display().to_string());
    assert!(first.signer().is_none());

    // Remove: the pin falls back to what is left; removing again names what is installed.
    registry.remove("testing", &"0.2.0".parse().unwrap()).await.unwrap();
    assert_eq!(registry.resolve("testing/version-echo").unwrap().version().to_string(), "1.0.0");
    let err = format!("{:#}", registry.remove("testing", &"0.2.0".parse().unwrap()).await.err().unwrap());
    assert!(err.contains("testing@0.2.0 is not installed") && err.contains("testing@0.1.0"), "{err}");
    assert_eq!(
        installed_state(&registry, home.path()),
        (vec!["testing@0.1.0".to_string()], vec!["testing@0.1.0".to_string()])
    );

    // Another process (the reopened registry) sees the removal on refresh, without a restart.
    reopened.refresh(&rt).await.unwrap();
    assert_eq!(installed_state(&reopened, home.path()).0, ["testing@0.1.0"]);
}

#[tokio::test]
async fn refused_installs_change_nothing() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let registry = registry_in(&rt, home.path(), TrustPolicy::default()).await;
    registry.install(&rt, &bundle_path("testing")).await.unwrap();
    let before = installed_state(&registry, home.path());

    // A tampered archive: one byte of a component changed after the build.
    let tampered = scratch.path().join("tampered");
    copy_dir(&bundle_path("testing-next"), &tampered);
    let wasm = tampered.join("version-echo.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&wasm, bytes).unwrap();
    let archive = archive_of(&tampered, &scratch.path().join("tampered.tar.gz"));
    let err = install_error(&rt, &registry, &archive).await;
    assert!(err.contains("sha256 mismatch") && err.contains("version-echo.wasm"), "{err}");
    assert_eq!(installed_state(&registry, home.path()), before);

    // Path traversal inside an archive. tar::Builder refuses to write `..`, so set the raw name.
    let evil = scratch.path().join("evil.tar");
    {
        let mut tar = tar::Builder::new(std::fs::File::create(&evil).unwrap());
        let manifest = std::fs::read(bundle_path("testing-next").join("bundle.toml")).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header.clone(), "bundle.toml", &manifest[..]).unwrap();
        let name = b"../../escaped.txt";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(4);
        header.set_cksum();
        tar.append(&header, &b"evil"[..]).unwrap();
        tar.finish().unwrap();
    }
    let err = install_error(&rt, &registry, &evil).await;
    assert!(err.contains("../../escaped.txt") && err.contains("path traversal"), "{err}");
    assert!(!home.path().join("escaped.txt").exists() && !scratch.path().join("escaped.txt").exists());
    assert_eq!(installed_state(&registry, home.path()), before);

    // A link inside an archive.
    let linked = scratch.path().join("link.tar");
    {
        let mut tar = tar::Builder::new(std::fs::File::create(&linked).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, "bundle.toml", "/etc/passwd").unwrap();
        tar.finish().unwrap();
    }
    let err = install_error(&rt, &registry, &linked).await;
    assert!(err.contains("is a link"), "{err}");
    assert_eq!(installed_state(&registry, home.path()), before);

    // An incompatible WIT version: the error names both versions.
    let future = scratch.path().join("future");
    copy_dir(&bundle_path("testing-next"), &future);
    let manifest = future.join("bundle.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("wit = \"0.1.0\"", "wit = \"0.2.0\"");
    std::fs::write(&manifest, text).unwrap();
    let err = install_error(&rt, &registry, &future).await;
    assert!(err.contains("switchyard:connector@0.2.0") && err.contains("@0.1.0"), "{err}");
    assert_eq!(installed_state(&registry, home.path()), before);

    // Leftovers of an interrupted removal and of an install by a process that is gone are cleaned
    // up when the registry opens; an install in progress (this process's) is left alone.
    for leftover in [".trash-1-2-3", ".staging-4000000000-1-2", &format!(".staging-{}-9-9", std::process::id())] {
        std::fs::create_dir_all(home.path().join("bundles").join(leftover).join("bundle")).unwrap();
    }
    let _reopened = registry_in(&rt, home.path(), TrustPolicy::default()).await;
    let live = format!(".staging-{}-9-9", std::process::id());
    assert!(home.path().join("bundles").join(&live).exists());
    std::fs::remove_dir_all(home.path().join("bundles").join(&live)).unwrap();
    assert_eq!(installed_state(&registry, home.path()), before);

    // Not a bundle at all.
    let err = install_error(&rt, &registry, &manifest).await;
    assert!(err.contains("not a readable tar archive") || err.contains("not a tar archive"), "{err}");
    assert_eq!(installed_state(&registry, home.path()), before);
}

#[tokio::test]
async fn signatures_and_trusted_keys() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let acme_public = repo_root().join("examples/third-party/acme-test.key.pub");

    // A bad signature is refused even with no trusted keys configured.
    let forged = scratch.path().join("forged");
    copy_dir(&bundle_path("acme"), &forged);
    let manifest = forged.join("bundle.toml");
    let text =
        std::fs::read_to_string(&manifest).unwrap().replace("version = \"1.0.0\"\nwit", "version = \"1.0.1\"\nwit");
    std::fs::write(&manifest, &text).unwrap();
    let open = registry_in(&rt, home.path(), TrustPolicy::default()).await;
    let err = install_error(&rt, &open, &forged).await;
    assert!(err.contains("does not match bundle.toml") && err.contains(ACME_KEY_ID), "{err}");

    // Trust the acme key: its signed bundle installs and lists as trusted.
    switchyard::registry::trust_key(home.path(), &acme_public).unwrap();
    assert!(home.path().join(TRUSTED_KEYS_DIR).join(format!("{ACME_KEY_ID}.pub")).exists());
    let trust = load_trusted_keys(home.path()).unwrap();
    assert!(trust.requires_signature());
    let registry = registry_in(&rt, home.path(), trust).await;
    let acme = registry.install(&rt, &bundle_path("acme")).await.unwrap();
    assert_eq!(acme.signer().map(|s| s.key_id.as_str()), Some(ACME_KEY_ID));
    assert!(registry.trust().is_trusted(acme.signer().unwrap()));
    let before = installed_state(&registry, home.path());

    // Unsigned bundles are refused once keys are trusted.
    let err = install_error(&rt, &registry, &bundle_path("testing")).await;
    assert!(err.contains("not signed") && err.contains(ACME_KEY_ID), "{err}");
    assert_eq!(installed_state(&registry, home.path()), before);

    // A valid signature by a key that is not trusted: refused, naming the key.
    let other = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let resigned = scratch.path().join("resigned");
    copy_dir(&bundle_path("testing-next"), &resigned);
    let bytes = std::fs::read(resigned.join("bundle.toml")).unwrap();
    let signature = bundle::sign_manifest(&other, &bytes);
    std::fs::write(resigned.join("bundle.sig"), toml::to_string(&signature).unwrap()).unwrap();
    let err = install_error(&rt, &registry, &resigned).await;
    assert!(err.contains(&signature.key_id) && err.contains("not trusted"), "{err}");
    assert_eq!(installed_state(&registry, home.path()), before);

    // The forged bundle, now with trusted keys configured: still refused.
    let err = install_error(&rt, &registry, &forged).await;
    assert!(err.contains("does not match bundle.toml"), "{err}");
    assert_eq!(installed_state(&registry, home.path()), before);
}

/// The out-of-tree third-party bundle (signed): a health score from a contact and its conversations,
/// written back as a custom attribute.
#[tokio::test]
async fn third_party_health_score_runs_against_the_emulator() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let env = action_env().await;
    let registry = registry_in(&rt, home.path(), TrustPolicy::default()).await;
    registry.install(&rt, &bundle_path("acme")).await.unwrap();
    let resolved = registry.resolve("acme/health-score@^1").unwrap();
    assert_eq!(resolved.bundle.signer().map(|s| s.key_id.as_str()), Some(ACME_KEY_ID));

    let contact = env.user("health@example.com").await;
    env.conversation_from(&contact, "Something is broken").await;
    env.conversation_from(&contact, "Still broken").await;
    let input = json!({"contact_id": contact}).to_string();
    let out = rt.run_action(&resolved.component, Some(&env.conn), &input).await.unwrap();
    // Never seen (-20), two recent conversations (+6), both open (-20).
    assert_eq!(out["conversations"], 2, "{out}");
    assert_eq!(out["open_conversations"], 2, "{out}");
    assert_eq!(out["score"], 16, "{out}");
    let (status, stored) = env.get(&format!("/contacts/{contact}")).await;
    assert_eq!(status, 200);
    assert_eq!(stored["custom_attributes"]["health_score"], 16, "{stored}");

    let missing = rt.run_action(&resolved.component, Some(&env.conn), r#"{"contact_id":"nope"}"#).await;
    assert!(matches!(
        missing.unwrap_err().component_error(),
        Some(switchyard::runtime::bindings::ComponentError::NotFound(_))
    ));
}

/// The Python example (componentize-py), installed and run like any other component.
#[tokio::test]
async fn python_component_runs_against_the_emulator() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let env = action_env().await;
    let registry = registry_in(&rt, home.path(), TrustPolicy::default()).await;
    registry.install(&rt, &bundle_path("polyglot")).await.unwrap();
    let resolved = registry.resolve("polyglot/contact-summary@0.1").unwrap();
    assert_eq!(resolved.component.description.name, "Contact Summary (Python)");

    let contact = env.user("grace@hopper.example").await;
    let input = json!({"contact_id": contact}).to_string();
    let out = rt.run_action(&resolved.component, Some(&env.conn), &input).await.unwrap();
    assert_eq!(out["id"], Value::String(contact.clone()), "{out}");
    assert_eq!(out["email_domain"], "hopper.example", "{out}");

    let err = rt.run_action(&resolved.component, Some(&env.conn), r#"{"contact_id":"missing"}"#).await;
    assert!(matches!(
        err.unwrap_err().component_error(),
        Some(switchyard::runtime::bindings::ComponentError::NotFound(_))
    ));
    // Input is checked against its schema before the component runs.
    let err = rt.run_action(&resolved.component, Some(&env.conn), "{}").await.unwrap_err();
    assert!(err.to_string().contains("contact_id"), "{err}");
}

/// A stream of invocations while a new version is installed: none fails, each reports the version
/// it ran on, every invocation that starts after the install returns runs the new version, and a
/// call holding the old version finishes on it even after that version is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_swap_under_load() {
    let rt = Arc::new(runtime());
    let home = tempfile::tempdir().unwrap();
    let registry = Arc::new(registry_in(&rt, home.path(), TrustPolicy::default()).await);
    registry.install(&rt, &bundle_path("testing")).await.unwrap();
    let held = registry.resolve("testing/version-echo@^1").unwrap();
    assert_eq!(held.version().to_string(), "1.0.0");

    const WORKERS: usize = 4;
    const AFTER_SWAP: usize = 25;
    let swapped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    // Workers that have finished at least one invocation: each must have run the old version before
    // the install, however the scheduler spreads them over the cores.
    let ready = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (rt, registry, swapped, started, ready) =
            (rt.clone(), registry.clone(), swapped.clone(), started.clone(), ready.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            while after < AFTER_SWAP {
                // Read the flag before resolving: if the install had returned, the new version must be seen.
                let was_swapped = swapped.load(Ordering::SeqCst);
                let resolved = registry.resolve("testing/version-echo@^1").expect("resolves during the swap");
                let tag = json!([worker, seen.len()]);
                let input = json!({"tag": tag}).to_string();
                let out = rt.run_action(&resolved.component, None, &input).await.expect("invocation");
                assert_eq!(out["tag"], tag);
                let version = out["version"].as_str().unwrap().to_string();
                assert_eq!(version, resolved.component.description.version, "ran the version it resolved");
                if was_swapped {
                    assert_eq!(version, "1.1.0", "an invocation started after the install ran the old version");
                    after += 1;
                }
                started.fetch_add(1, Ordering::SeqCst);
                seen.push(version);
                if seen.len() == 1 {
                    ready.fetch_add(1, Ordering::SeqCst);
                }
            }
            seen
        }));
    }
    // Let the stream get going on the old version, then install the new one while it runs.
    while started.load(Ordering::SeqCst) < WORKERS * 5 || ready.load(Ordering::SeqCst) < WORKERS {
        tokio::task::yield_now().await;
    }
    registry.install(&rt, &bundle_path("testing-next")).await.unwrap();
    swapped.store(true, Ordering::SeqCst);

    let mut total = 0;
    for worker in workers {
        let seen = worker.await.expect("no invocation failed");
        total += seen.len();
        assert_eq!(seen.first().map(String::as_str), Some("1.0.0"), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("1.1.0"), "{seen:?}");
        // Once a worker has seen the new version it never goes back.
        let first_new = seen.iter().position(|v| v == "1.1.0").unwrap();
        assert!(seen[first_new..].iter().all(|v| v == "1.1.0"), "{seen:?}");
    }
    assert!(total >= WORKERS * (5 + AFTER_SWAP));

    // The old version, held by a caller, still runs after it is removed from the installed set.
    registry.remove("testing", &"0.1.0".parse().unwrap()).await.unwrap();
    let out = rt.run_action(&held.component, None, "{}").await.unwrap();
    assert_eq!(out["version"], "1.0.0");
    assert_eq!(registry.resolve("testing/version-echo").unwrap().version().to_string(), "1.1.0");
}

/// A host whose contract gained an additive change (`switchyard:connector@0.1.1`, one new function in
/// `clock`; tests/wit-0.1.1/) still links and runs a component built against 0.1.0: wasmtime resolves
/// its `@0.1.0` imports to the `@0.1.1` definitions and finds its `action-handler@0.1.0` export under
/// the newer name. The component is the real built testing/version-echo, unchanged.
mod next_minor {
    wasmtime::component::bindgen!({
        path: "tests/wit-0.1.1",
        world: "switchyard:connector/action@0.1.1",
        imports: { default: async | trappable },
        exports: { default: async },
    });

    use self::switchyard::connector::{clock, http, log, types};
    use wasmtime::component::ResourceTable;
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

    pub struct State {
        pub wasi: WasiCtx,
        pub table: ResourceTable,
    }

    impl WasiView for State {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
        }
    }

    impl types::Host for State {}

    impl http::Host for State {
        async fn send(&mut self, _: http::Request) -> wasmtime::Result<Result<http::Response, types::Error>> {
            Ok(Err(types::Error::Forbidden("no network in this test".into())))
        }
    }

    impl log::Host for State {
        async fn log(&mut self, _: log::Level, _: String) -> wasmtime::Result<()> {
            Ok(())
        }
    }

    impl clock::Host for State {
        async fn now(&mut self) -> wasmtime::Result<u64> {
            Ok(1_700_000_000)
        }
        async fn now_millis(&mut self) -> wasmtime::Result<u64> {
            Ok(1_700_000_000_000)
        }
    }
}

#[tokio::test]
async fn a_component_built_against_the_previous_minor_runs_on_a_newer_contract() {
    use wasmtime::component::{Component, HasSelf, Linker};

    // The manifest says 0.1.0; a host serving 0.1.1 accepts that line (same 0.x minor, not newer).
    assert!(bundle::wit_compatible(&"0.1.0".parse().unwrap()));
    let manifest = std::fs::read_to_string(bundle_path("testing").join("bundle.toml")).unwrap();
    assert!(manifest.contains("wit = \"0.1.0\""), "{manifest}");

    let wasm = std::fs::read(bundle_path("testing").join("version-echo.wasm")).unwrap();
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let component = Component::new(&engine, &wasm).unwrap();
    let exports: Vec<String> = component.component_type().exports(&engine).map(|(n, _)| n.to_string()).collect();
    assert!(exports.contains(&"switchyard:connector/action-handler@0.1.0".to_string()), "{exports:?}");

    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    next_minor::Action::add_to_linker::<next_minor::State, HasSelf<next_minor::State>>(&mut linker, |s| s).unwrap();
    let state = next_minor::State {
        wasi: wasmtime_wasi::WasiCtx::builder().build(),
        table: wasmtime::component::ResourceTable::new(),
    };
    let mut store = wasmtime::Store::new(&engine, state);
    let action = next_minor::Action::instantiate_async(&mut store, &component, &linker)
        .await
        .expect("a 0.1.0 component links against a 0.1.1 host");
    let handler = action.switchyard_connector_action_handler();
    let description = handler.call_describe(&mut store).await.unwrap();
    assert_eq!((description.key.as_str(), description.version.as_str()), ("testing/version-echo", "1.0.0"));
    let output = handler.call_run(&mut store, r#"{"tag":"old"}"#).await.unwrap().unwrap();
    let output: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(output, json!({"version": "1.0.0", "tag": "old"}));
}

/// The `switchyard bundle` commands, as an operator runs them.
#[test]
fn bundle_cli_install_list_resolve_remove() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        // `--home`, as an operator passes it (the helper's $SWITCHYARD_HOME names the same directory).
        let output = switchyard_command(home.path(), &[]).arg("--home").arg(home.path()).args(args).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.code(), text(&output.stdout), text(&output.stderr))
    };
    let testing = bundle_path("testing").display().to_string();
    let (code, out, err) = run(&["bundle", "install", &testing]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("installed testing@0.1.0 (2 components, unsigned)"), "{out}");
    let acme = bundle_path("acme").display().to_string();
    assert_eq!(run(&["bundle", "install", &acme]).0, Some(0));

    let (code, out, err) = run(&["bundle", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let rows = listed["bundles"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0]["name"], "acme");
    assert_eq!(rows[0]["signature"], format!("signed by {ACME_KEY_ID} (not trusted)"));
    assert_eq!(rows[0]["wit"], "0.1.0");
    assert_eq!(rows[1]["components"][1], json!({"key": "testing/version-echo", "version": "1.0.0"}));
    assert_eq!(rows[1]["source"], testing);
    let (_, table, _) = run(&["bundle", "list"]);
    assert!(table.contains("SIGNATURE") && table.contains("testing/hostile@0.1.0"), "{table}");

    let (code, out, _) = run(&["bundle", "resolve", "testing/version-echo@^1"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("testing/version-echo@1.0.0 (bundle testing@0.1.0)"), "{out}");
    let (code, _, err) = run(&["bundle", "resolve", "testing/version-echo@^2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no installed version matches ^2"), "{err}");

    let (code, _, err) = run(&["bundle", "remove", "testing"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("NAME@VERSION"), "{err}");
    assert_eq!(run(&["bundle", "remove", "testing@0.1.0"]).0, Some(0));
    let (_, out, _) = run(&["bundle", "list", "--json"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["bundles"].as_array().unwrap().len(), 1, "{out}");
}

/// Another process installs and removes while a long-running host keeps serving: the host's
/// refresher picks both up without a restart.
#[tokio::test]
async fn a_running_host_picks_up_installs_from_another_process() {
    let rt = Arc::new(runtime());
    let home = tempfile::tempdir().unwrap();
    let host = Arc::new(registry_in(&rt, home.path(), TrustPolicy::default()).await);
    let refresher = host.spawn_refresher(rt.clone(), std::time::Duration::from_millis(20));
    let operator = registry_in(&rt, home.path(), TrustPolicy::default()).await;

    operator.install(&rt, &bundle_path("testing")).await.unwrap();
    let wait_for = |want: usize| {
        let host = host.clone();
        async move {
            for _ in 0..1500 {
                if host.snapshot().bundles().count() == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("the running host never saw {want} installed bundles");
        }
    };
    wait_for(1).await;
    let resolved = host.resolve("testing/version-echo").unwrap();
    assert_eq!(rt.run_action(&resolved.component, None, "{}").await.unwrap()["version"], "1.0.0");

    operator.remove("testing", &"0.1.0".parse().unwrap()).await.unwrap();
    wait_for(0).await;
    assert!(host.resolve("testing/version-echo").is_err());
    drop(host);
    // The refresher ends with the registry it served.
    tokio::time::timeout(std::time::Duration::from_secs(10), refresher).await.unwrap().unwrap();
}
