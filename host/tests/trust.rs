//! Trusted code only: every way of loading a bundle obeys the trusted keys, and checks them before
//! any wasm is compiled; a bundle provides only the component keys of its own namespace; the data
//! directory and the component cache are private to the host; allowed-host patterns are validated.

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use switchyard::bundle::TrustPolicy;
use switchyard::registry::{Registry, load_trusted_keys, trust_key};
use switchyard::runtime::{Runtime, RuntimeConfig};

/// The test-only key `cargo xtask build` signs the acme example with.
const ACME_KEY_ID: &str = "873d90ac48dc7b89";

fn acme_public() -> PathBuf {
    repo_root().join("examples/third-party/acme-test.key.pub")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A copy of a built bundle in `scratch/name`, with its manifest edited.
fn edited_copy(bundle: &str, scratch: &Path, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dir = scratch.join(name);
    copy_dir(&bundle_path(bundle), &dir);
    let manifest = dir.join("bundle.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(&manifest, edited).unwrap();
    dir
}

/// Runs the CLI with `--home` and a token for `--base-url`; (exit code, stdout, stderr).
fn cli(home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = switchyard_command(home, &[])
        .arg("--home")
        .arg(home)
        .args(args)
        .env("SWITCHYARD_TOKEN", "test-token")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// The files in `<home>/cache` (the precompiled components).
fn cache_entries(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(home.join("cache")) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A runtime whose component cache is `<home>/cache`, as the CLI's is.
fn runtime_in(home: &Path) -> Runtime {
    Runtime::new(RuntimeConfig { limits: test_limits(), cache_dir: home.join("cache") }).expect("runtime")
}

async fn load_dir(runtime: &Runtime, dir: &Path, trust: &TrustPolicy) -> anyhow::Result<switchyard::bundle::Bundle> {
    switchyard::bundle::load(runtime, dir, trust).await
}

async fn install_error(runtime: &Runtime, registry: &Registry, path: &Path) -> String {
    match registry.install(runtime, path).await {
        Ok(b) => panic!("{} installed as {}@{} but should have been refused", path.display(), b.name(), b.version()),
        Err(err) => format!("{err:#}"),
    }
}

const WORKFLOW: &str = r#"
name: trusted-only
trigger: { key: intercom/contact-updated }
steps:
  - id: find
    action: intercom/find-contact
    version: ^1
    input: { email: "{{ trigger.email }}" }
"#;

// ---- 1. every load path obeys the trust policy ----

/// With a trusted key configured, `--bundle DIR` runs only a bundle signed by a trusted key, on every
/// command that takes one; the signed acme bundle still loads.
#[test]
fn every_bundle_dir_obeys_the_trusted_keys() {
    let home = test_home();
    let scratch = tempfile::tempdir().unwrap();
    let (code, out, err) = cli(home.path(), &["bundle", "trust", acme_public().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let testing = bundle_path("testing").display().to_string();

    let (code, out, err) = cli(
        home.path(),
        &["action", "run", "testing/version-echo", "--bundle", &testing, "--base-url", "http://127.0.0.1:9"],
    );
    assert_eq!(code, Some(2), "an unsigned bundle ran under a trust policy: {out}{err}");
    assert!(
        err.contains("not signed") && err.contains("signed by a trusted key") && err.contains(ACME_KEY_ID),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");

    // A re-hashed bundle: a component changed, its sha256 updated in bundle.toml, the signature dropped.
    let rehashed = scratch.path().join("rehashed");
    copy_dir(&bundle_path("acme"), &rehashed);
    std::fs::remove_file(rehashed.join("bundle.sig")).unwrap();
    let wasm = rehashed.join("health-score.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let old = switchyard::bundle::sha256_hex(&bytes);
    bytes.extend_from_slice(b"\0");
    std::fs::write(&wasm, &bytes).unwrap();
    let manifest = rehashed.join("bundle.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(&old, &switchyard::bundle::sha256_hex(&bytes));
    std::fs::write(&manifest, text).unwrap();
    let rehashed = rehashed.display().to_string();

    let workflow = home.path().join("wf.yaml");
    std::fs::write(&workflow, WORKFLOW).unwrap();
    let workflow = workflow.to_str().unwrap();
    for bundle in [&testing, &rehashed] {
        for args in [
            vec!["action", "list", "--bundle", bundle],
            vec!["action", "describe", "testing/version-echo", "--bundle", bundle],
            vec!["trigger", "list", "--bundle", bundle],
            vec!["workflow", "validate", workflow, "--bundle", bundle],
            vec!["workflow", "enable", workflow, "--bundle", bundle],
            vec!["workflow", "test", workflow, "--bundle", bundle, "--base-url", "http://127.0.0.1:9"],
        ] {
            let (code, out, err) = cli(home.path(), &args);
            assert_eq!(code, Some(2), "{args:?}: {out}{err}");
            assert!(err.contains("not signed") && err.contains(ACME_KEY_ID), "{args:?}: {err}");
        }
    }

    // The signed and trusted bundle loads on the same paths.
    let acme = bundle_path("acme").display().to_string();
    let (code, out, err) = cli(home.path(), &["action", "list", "--bundle", &acme]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("acme/health-score"), "{out}");
}

/// The daemon's `--bundle DIR` override takes the home's trusted keys the same way.
#[tokio::test]
async fn the_daemon_bundle_override_obeys_the_trusted_keys() {
    let home = test_home();
    trust_key(home.path(), &acme_public()).unwrap();
    let rt = runtime();
    let config = switchyard::service::ServiceConfig {
        bundles: vec![bundle_path("testing")],
        ..switchyard::service::ServiceConfig::new(home.path().to_path_buf())
    };
    let err = match switchyard::service::ComponentSource::open(&rt, &config).await {
        Ok(_) => panic!("the daemon loaded an unsigned bundle under a trust policy"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("not signed") && err.contains(ACME_KEY_ID), "{err}");
    let config = switchyard::service::ServiceConfig {
        bundles: vec![bundle_path("acme")],
        ..switchyard::service::ServiceConfig::new(home.path().to_path_buf())
    };
    assert!(switchyard::service::ComponentSource::open(&rt, &config).await.is_ok());
}

// ---- 2. check before compiling ----

/// An unsigned bundle under a trust policy is refused before any of its wasm is compiled: the
/// component cache gains no entry, whether it is installed or loaded with `--bundle`.
#[tokio::test]
async fn an_untrusted_bundle_is_refused_before_anything_is_compiled() {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime_in(home.path());
    trust_key(home.path(), &acme_public()).unwrap();
    let registry = Registry::open(&rt, home.path()).await.unwrap();
    let before = cache_entries(home.path());
    assert!(before.is_empty(), "{before:?}");

    let err = install_error(&rt, &registry, &bundle_path("testing")).await;
    assert!(err.contains("not signed") && err.contains(ACME_KEY_ID), "{err}");
    assert_eq!(cache_entries(home.path()), before, "the refused install compiled components into the cache");
    assert_eq!(registry.snapshot().bundles().count(), 0);

    // The same through the CLI, installing and with --bundle (the CLI's cache is <home>/cache).
    let testing = bundle_path("testing").display().to_string();
    let (code, _, err) = cli(home.path(), &["bundle", "install", &testing]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = cli(home.path(), &["action", "list", "--bundle", &testing]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(cache_entries(home.path()), before, "a refused --bundle compiled components into the cache");
}

// ---- 3. a bundle provides only its own keys ----

/// A bundle named `evil` that ships `testing/version-echo` at a higher version would otherwise be
/// what every `testing/version-echo` resolves to. It is refused, at install and at load.
#[tokio::test]
async fn a_bundle_provides_only_its_own_keys() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let registry = Registry::open_with(&rt, home.path(), TrustPolicy::default()).await.unwrap();
    registry.install(&rt, &bundle_path("testing")).await.unwrap();
    let evil =
        edited_copy("testing-next", scratch.path(), "evil", |t| t.replacen("name = \"testing\"", "name = \"evil\"", 1));

    let err = install_error(&rt, &registry, &evil).await;
    assert!(err.contains("testing/version-echo") && err.contains("evil") && err.contains("evil/"), "{err}");
    let listed: Vec<String> = registry.snapshot().bundles().map(|b| format!("{}@{}", b.name(), b.version())).collect();
    assert_eq!(listed, ["testing@0.1.0"]);
    assert_eq!(registry.resolve("testing/version-echo").unwrap().version().to_string(), "1.0.0");

    let err = match load_dir(&rt, &evil, &TrustPolicy::default()).await {
        Ok(_) => panic!("a bundle named evil loaded with testing/version-echo"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("testing/version-echo") && err.contains("evil"), "{err}");

    // The CLI refuses it with a usage error; the real next version (named testing) installs.
    let cli_home = test_home();
    let (code, _, err) = cli(cli_home.path(), &["bundle", "install", evil.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("testing/version-echo") && err.contains("evil"), "{err}");
    registry.install(&rt, &bundle_path("testing-next")).await.unwrap();
    assert_eq!(registry.resolve("testing/version-echo").unwrap().version().to_string(), "1.1.0");
}

/// `bundle install` says what it added: each component (key, kind, effect, version) and the hosts
/// the components may reach.
#[test]
fn bundle_install_prints_components_and_allowed_hosts() {
    let home = test_home();
    let (code, out, err) = cli(home.path(), &["bundle", "install", bundle_path("intercom").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("installed intercom@0.1.0 (30 components, unsigned)"), "{out}");
    let line = |key: &str| out.lines().find(|l| l.split_whitespace().next() == Some(key)).map(str::to_string);
    let ticket = line("intercom/create-ticket").unwrap_or_else(|| panic!("no line for create-ticket: {out}"));
    assert_eq!(ticket.split_whitespace().collect::<Vec<_>>(), ["intercom/create-ticket", "action", "write", "1.0.0"]);
    let trigger = line("intercom/new-ticket").unwrap_or_else(|| panic!("no line for new-ticket: {out}"));
    assert_eq!(trigger.split_whitespace().collect::<Vec<_>>(), ["intercom/new-ticket", "trigger", "read", "1.0.0"]);
    let hosts = out.lines().find(|l| l.contains("allowed hosts")).unwrap_or_else(|| panic!("{out}"));
    assert!(hosts.contains("api.intercom.io") && hosts.contains("api.eu.intercom.io"), "{hosts}");

    let (code, out, err) = cli(home.path(), &["bundle", "install", bundle_path("testing").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let hosts = out.lines().find(|l| l.contains("allowed hosts")).unwrap_or_else(|| panic!("{out}"));
    assert!(hosts.contains("none"), "{hosts}");
}

/// `workflow enable` records which bundle and version each component resolved to, and `workflow
/// list --json` shows it; a row enabled before the record existed shows null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_enable_records_what_each_component_resolved_to() {
    let home = test_home();
    let file = home.path().join("wf.yaml");
    std::fs::write(&file, WORKFLOW).unwrap();
    let file = file.to_str().unwrap();
    let (code, out, err) = cli(home.path(), &["bundle", "install", bundle_path("intercom").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = cli(home.path(), &["workflow", "enable", file]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, out, _) = cli(home.path(), &["workflow", "list", "--json"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        listed[0]["resolved"],
        json!({
            "intercom/contact-updated": "intercom@0.1.0 (component 1.0.0)",
            "intercom/find-contact": "intercom@0.1.0 (component 1.0.0)",
        }),
        "{out}"
    );

    // With --bundle DIR, the directory's bundle is what they resolved to.
    let (code, out, err) =
        cli(home.path(), &["workflow", "enable", file, "--bundle", bundle_path("intercom").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, out, _) = cli(home.path(), &["workflow", "list", "--json"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["resolved"]["intercom/find-contact"], "intercom@0.1.0 (component 1.0.0)", "{out}");

    // A workflow saved without the record (as before the column existed) lists it as null.
    let store = switchyard::store::Store::open(home.path()).await.unwrap();
    sqlx::query(
        "INSERT INTO workflows (name, enabled, source_path, content, sha256, trigger_key, trigger_settings, updated_at)
         VALUES ('old', 0, 'old.yaml', '', '', 'intercom/contact-updated', '{}', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let (_, out, _) = cli(home.path(), &["workflow", "list", "--json"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["name"], "old");
    assert_eq!(listed[0]["resolved"], Value::Null, "{out}");
}

// ---- 4. the data directory and the cache are the host's ----

/// A data directory the host creates is 0700, and its database files 0600 (tightened on open).
#[test]
fn a_fresh_home_is_private() {
    let parent = tempfile::tempdir().unwrap();
    let home = parent.path().join("home");
    let (code, out, err) = cli(&home, &["workflow", "list"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700, "the data directory");
    assert_eq!(mode(&home.join("cache")), 0o700, "the component cache");
    let db = home.join(switchyard::store::DATABASE_FILE);
    assert_eq!(mode(&db), 0o600, "the database");
    for suffix in ["-wal", "-shm"] {
        let file = home.join(format!("{}{suffix}", switchyard::store::DATABASE_FILE));
        if file.exists() {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    // A database left readable by others is made private again when the host opens it.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = cli(&home, &["workflow", "list"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mode(&db), 0o600, "the database after reopening");
}

/// Precompiled code is loaded only from a cache directory that is the host user's and writable by no
/// one else. A planted entry (another component's valid precompiled code under version-echo's name)
/// is used from a private cache, which proves the plant works, and ignored from a group-writable one.
#[tokio::test]
async fn a_cache_writable_by_others_is_not_loaded_from() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    let manifest = switchyard::bundle::Manifest::parse(
        &std::fs::read_to_string(bundle_path("testing").join("bundle.toml")).unwrap(),
    )
    .unwrap();
    let sha = |key: &str| manifest.components.iter().find(|c| c.key == key).unwrap().sha256.clone();
    let (hostile, echo) = (sha("testing/hostile"), sha("testing/version-echo"));
    {
        let rt = runtime_in(home.path());
        load_dir(&rt, &bundle_path("testing"), &TrustPolicy::default()).await.expect("the bundle loads");
    }
    let entries = cache_entries(home.path());
    let entry_of = |sha: &str| cache.join(entries.iter().find(|e| e.starts_with(sha)).unwrap());
    let (hostile_entry, echo_entry) = (entry_of(&hostile), entry_of(&echo));
    std::fs::copy(&hostile_entry, &echo_entry).unwrap();

    // The plant is used from a private cache: version-echo's entry now holds testing/hostile.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = match load_dir(&runtime_in(home.path()), &bundle_path("testing"), &TrustPolicy::default()).await {
        Ok(_) => panic!("the planted cache entry was not used; the test proves nothing"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("testing/hostile") && err.contains("testing/version-echo"), "{err}");

    // Group-writable: nothing in it is deserialized; version-echo is compiled from its wasm.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o770)).unwrap();
    let rt = runtime_in(home.path());
    let bundle = load_dir(&rt, &bundle_path("testing"), &TrustPolicy::default())
        .await
        .expect("a group-writable cache is not loaded from");
    let out = rt.run_action(bundle.component("testing/version-echo").unwrap(), None, "{}").await.unwrap();
    assert_eq!(out["version"], "1.0.0");

    // A private directory, but the entry itself writable by others: not loaded either.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&echo_entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let bundle = load_dir(&runtime_in(home.path()), &bundle_path("testing"), &TrustPolicy::default())
        .await
        .expect("a cache entry writable by others is not loaded");
    assert_eq!(bundle.component("testing/version-echo").unwrap().description.key, "testing/version-echo");
}

// ---- 5. allowed-host patterns ----

/// A bundle whose allowed_hosts holds a pattern that is too broad or not a hostname is refused at
/// install and at load, naming the bundle and the pattern.
#[tokio::test]
async fn bad_allowed_host_patterns_are_refused() {
    let rt = runtime();
    let scratch = tempfile::tempdir().unwrap();
    let bad = [
        "*",
        "*.com",
        "api.intercom.io.",
        "https://api.intercom.io",
        "api.intercom.io/v2",
        "api.intercom.io:443",
        "API.Intercom.io",
        "bücher.example",
        "*.*.intercom.io",
        "api.*.intercom.io",
        "",
    ];
    for (i, pattern) in bad.iter().enumerate() {
        let hosts = format!("allowed_hosts = [{}]", toml::Value::String(pattern.to_string()));
        let dir =
            edited_copy("testing", scratch.path(), &format!("bad-{i}"), |t| t.replace("allowed_hosts = []", &hosts));
        let home = tempfile::tempdir().unwrap();
        let registry = Registry::open_with(&rt, home.path(), TrustPolicy::default()).await.unwrap();
        let err = install_error(&rt, &registry, &dir).await;
        assert!(err.contains("testing") && err.contains(&format!("{pattern:?}")), "{pattern:?}: {err}");
        let err = match load_dir(&rt, &dir, &TrustPolicy::default()).await {
            Ok(_) => panic!("{pattern:?} loaded"),
            Err(err) => format!("{err:#}"),
        };
        assert!(err.contains("allowed_hosts") && err.contains(&format!("{pattern:?}")), "{pattern:?}: {err}");
    }
    for (i, pattern) in ["*.intercom.io", "xn--bcher-kva.example", "localhost", "10.0.0.1"].iter().enumerate() {
        let hosts = format!("allowed_hosts = [\"{pattern}\"]");
        let dir =
            edited_copy("testing", scratch.path(), &format!("good-{i}"), |t| t.replace("allowed_hosts = []", &hosts));
        load_dir(&rt, &dir, &TrustPolicy::default()).await.unwrap_or_else(|e| panic!("{pattern:?}: {e:#}"));
    }
    // The trusted keys are not involved here.
    assert!(!load_trusted_keys(scratch.path()).unwrap().requires_signature());
}
