//! Property tests of the host's readers of untrusted text: the workflow YAML parser and validator
//! (with its expression checker), the expression engine on its own, the bundle manifest reader and
//! the bundle archive reader (through `Registry::install`). Each must answer any input with a value or
//! an error that says something, and never panic or hang.
//!
//! Bounded for a 2-core machine: at most 256 cases per property (32 for installs), each case run under
//! proptest's `timeout` (which runs the cases in a child process and fails one that takes longer).

mod common;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::sync::LazyLock;
use switchyard::registry::Registry;
use switchyard::runtime::Runtime;
use switchyard::workflow::definition;
use switchyard::workflow::expressions::Expressions;
use switchyard::workflow::validate;
use switchyard_manifest::{ComponentEntry, Effect, EntryKind, Manifest};

/// `cases` per property; a case that takes longer than 10 s fails; shrinking stops after 10 s.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, timeout: 10_000, max_shrink_time: 10_000, ..ProptestConfig::default() }
}

const EXAMPLE: &str = include_str!("../../examples/auto-triage-new-tickets.yaml");

// ---------------------------------------------------------------------------------------------
// Mutations of a valid text.

/// One edit of a text; positions are fractions of its length so any edit applies to any text.
#[derive(Clone, Debug)]
enum Edit {
    InsertText(f64, String),
    DeleteChars(f64, usize),
    ReplaceChar(f64, char),
    DeleteLine(f64),
    DuplicateLine(f64),
    SwapLines(f64, f64),
    Indent(f64, usize),
    Dedent(f64),
}

/// Pieces that mean something to YAML, TOML, minijinja or a workflow.
const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    ":",
    ": ",
    "- ",
    "\n",
    "  ",
    "\t",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    "|",
    ">-",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "~",
    "null",
    "true",
    "0x1f",
    "1e999",
    "-",
    "#",
    "---",
    "...",
    "? ",
    "%YAML 1.2",
    "=",
    "[[",
    "]]",
    "if:",
    "id:",
    "steps:",
    "input:",
    "on_error:",
    "retry:",
    "trigger.",
    "steps.",
    "event.",
    " | ",
    "length",
    "default(",
    ")",
    "(",
    "\\",
    "\u{feff}",
    "\u{0}",
    "é",
    "\u{1F600}",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        1 => "[ -~]{1,8}",
        1 => any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0.0..1.0f64;
    prop_oneof![
        4 => (at.clone(), token()).prop_map(|(at, text)| Edit::InsertText(at, text)),
        3 => (at.clone(), 1..12usize).prop_map(|(at, n)| Edit::DeleteChars(at, n)),
        3 => (at.clone(), any::<char>()).prop_map(|(at, c)| Edit::ReplaceChar(at, c)),
        2 => at.clone().prop_map(Edit::DeleteLine),
        1 => at.clone().prop_map(Edit::DuplicateLine),
        1 => (at.clone(), at.clone()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        1 => (at.clone(), 1..5usize).prop_map(|(at, n)| Edit::Indent(at, n)),
        1 => at.prop_map(Edit::Dedent),
    ]
}

fn index(at: f64, len: usize) -> usize {
    ((at * len as f64) as usize).min(len)
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_string();
    for edit in edits {
        let mut chars: Vec<char> = text.chars().collect();
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        let line = |at: f64, lines: &Vec<String>| index(at, lines.len().saturating_sub(1));
        match edit {
            Edit::InsertText(at, piece) => {
                let i = index(*at, chars.len());
                chars.splice(i..i, piece.chars());
            }
            Edit::DeleteChars(at, n) => {
                let i = index(*at, chars.len());
                chars.drain(i..(i + n).min(chars.len()));
            }
            Edit::ReplaceChar(at, c) => {
                if !chars.is_empty() {
                    let i = index(*at, chars.len() - 1);
                    chars[i] = *c;
                }
            }
            Edit::DeleteLine(at) => {
                let i = line(*at, &lines);
                lines.remove(i);
            }
            Edit::DuplicateLine(at) => {
                let i = line(*at, &lines);
                lines.insert(i, lines[i].clone());
            }
            Edit::SwapLines(a, b) => {
                let (a, b) = (line(*a, &lines), line(*b, &lines));
                lines.swap(a, b);
            }
            Edit::Indent(at, n) => {
                let i = line(*at, &lines);
                lines[i] = format!("{}{}", " ".repeat(*n), lines[i]);
            }
            Edit::Dedent(at) => {
                let i = line(*at, &lines);
                lines[i] = lines[i].trim_start().to_string();
            }
        }
        text = match edit {
            Edit::InsertText(..) | Edit::DeleteChars(..) | Edit::ReplaceChar(..) => chars.into_iter().collect(),
            _ => lines.join("\n"),
        };
    }
    text
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..6)
}

/// Text that looks like YAML: keys, lists, quotes, anchors and expressions in random order.
fn yamlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![3 => token(), 1 => "[a-z_]{1,10}", 1 => Just("\n  ".to_string())], 0..60)
        .prop_map(|parts| parts.concat())
}

// ---------------------------------------------------------------------------------------------
// Workflows.

/// Checks what the parser and the validator say about `text`; panics (failing the case) only on a
/// broken promise. Returns whether the text is a valid workflow.
fn check_workflow(text: &str) -> bool {
    let parsed = definition::parse("fuzz.yaml", text);
    if let Err(problems) = &parsed {
        assert!(!problems.0.is_empty(), "a workflow was refused without a problem");
    }
    let (workflow, report) = validate::validate("fuzz.yaml", text, None, None);
    assert_eq!(workflow.is_some(), parsed.is_ok(), "validate and parse disagree on whether {text:?} parses");
    if workflow.is_none() {
        assert!(!report.problems.is_empty(), "an unparsable workflow was reported without a problem");
    }
    for problem in &report.problems {
        assert!(!problem.message.trim().is_empty(), "a problem without a message: {problem:?}");
        assert_eq!(problem.file, "fuzz.yaml");
        // Positions point into the text (0: unknown).
        assert!(problem.line <= text.split('\n').count() + 1, "problem {problem} points past the end");
    }
    report.is_valid()
}

#[test]
fn the_example_workflow_is_valid() {
    // The mutations start from a valid workflow, so the properties below reach past the YAML parser.
    assert!(check_workflow(EXAMPLE), "{:?}", validate::validate("example.yaml", EXAMPLE, None, None).1.problems);
    // And an edit is caught: a step without an action.
    let broken = EXAMPLE.replace("    action: intercom/assign-tags\n", "");
    assert!(!check_workflow(&broken));
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn workflow_reader_survives_any_string(text in any::<String>()) {
        check_workflow(&text);
    }

    #[test]
    fn workflow_reader_survives_yamlish_text(text in yamlish()) {
        check_workflow(&text);
    }

    #[test]
    fn workflow_reader_survives_mutated_workflows(edits in edits()) {
        check_workflow(&apply(EXAMPLE, &edits));
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions.

fn expressionish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => token(),
            2 => proptest::sample::select(vec![
                "trigger", "steps", "event", "trigger.id", "steps.tag.tags", "x", "1", "'a'", "[1, 2]", " and ",
                " or ", " not ", " is defined", " in ", " ~ ", " + ", " * ", " // ", " ** ", "|map(attribute='name')",
                "|join(', ')", "|length", "|tojson", "|int", "[0]", ".a", "{% if x %}", "{% endif %}",
                "{% for a in [1] %}", "{% endfor %}", "{% set a = 1 %}", "{{ 1/0 }}", "range(3)", "loop.index",
            ]).prop_map(str::to_string),
            1 => "[ -~]{1,6}",
        ],
        0..16,
    )
    .prop_map(|parts| parts.concat())
}

fn context() -> Value {
    json!({
        "trigger": { "id": "215", "contacts": { "contacts": [{ "id": "c1" }] }, "n": 3, "tags": ["a", "b"] },
        "event": { "occurred_at": 1_700_000_000, "dedupe_key": "k" },
        "steps": { "tag": { "tags": [{ "name": "needs-triage" }] } },
    })
}

fn check_expression(expressions: &Expressions, text: &str) {
    if let Err(message) = expressions.references(text) {
        assert!(!message.trim().is_empty(), "references({text:?}) failed without a message");
    }
    if let Err(message) = expressions.condition_references(text) {
        assert!(!message.trim().is_empty(), "condition_references({text:?}) failed without a message");
    }
    let context = context();
    if let Err(error) = expressions.condition(text, &context) {
        assert!(!error.message.trim().is_empty() && error.field == "if", "condition({text:?}): {error:?}");
    }
    let input = json!({ "x": text, "nested": { "list": [text] } });
    match expressions.map_input(input.as_object().unwrap(), &context) {
        Ok(Value::Object(mapped)) => assert!(mapped.contains_key("x") && mapped.contains_key("nested")),
        Ok(other) => panic!("map_input gave a non-object: {other}"),
        Err(error) => assert!(
            !error.message.trim().is_empty() && error.field.starts_with("input."),
            "map_input({text:?}): {error:?}"
        ),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn expressions_survive_any_string(text in any::<String>()) {
        check_expression(&Expressions::new(), &text);
    }

    #[test]
    fn expressions_survive_expressionish_text(text in expressionish()) {
        check_expression(&Expressions::new(), &text);
    }

    #[test]
    fn expressions_survive_mutated_expressions(
        base in proptest::sample::select(vec![
            "{{ trigger.id }}",
            "trigger.contacts is defined and trigger.contacts.contacts | length > 0",
            "{{ steps.tag.tags | map(attribute=\"name\") | join(\", \") }}",
            "<p>#{{ trigger.id }} {{ trigger.title | default(\"untitled\") }}</p>",
        ]),
        edits in edits(),
    ) {
        check_expression(&Expressions::new(), &apply(base, &edits));
    }
}

#[test]
fn a_broken_expression_is_an_error_with_a_message() {
    let expressions = Expressions::new();
    let message = expressions.references("{{ trigger. }}").unwrap_err();
    assert!(message.contains("not a valid expression"), "{message}");
    let error = expressions.condition("trigger.nope.deeper", &context()).unwrap_err();
    assert!(!error.message.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Bundle manifests.

fn version() -> impl Strategy<Value = semver::Version> {
    (0..20u64, 0..20u64, 0..100u64).prop_map(|(a, b, c)| semver::Version::new(a, b, c))
}

fn manifest() -> impl Strategy<Value = Manifest> {
    let entry = (
        "[a-z][a-z0-9-]{0,10}/[a-z][a-z0-9-]{0,16}",
        prop_oneof![Just(EntryKind::Action), Just(EntryKind::Trigger)],
        proptest::sample::select(Effect::ALL.to_vec()),
        version(),
        "[a-z0-9_-]{1,12}\\.wasm",
        "[0-9a-f]{64}",
    )
        .prop_map(|(key, kind, effect, version, file, sha256)| ComponentEntry {
            key,
            kind,
            effect,
            version,
            file,
            sha256,
        });
    (
        "[a-z0-9][a-z0-9_-]{0,20}",
        version(),
        proptest::collection::vec("[a-z0-9.-]{1,20}", 0..3),
        proptest::collection::vec(entry, 0..5),
    )
        .prop_map(|(name, version, allowed_hosts, components)| Manifest {
            bundle: switchyard_manifest::BundleInfo {
                name,
                version,
                wit: switchyard_manifest::WIT_VERSION.parse().unwrap(),
                allowed_hosts,
            },
            components,
        })
}

fn check_manifest(text: &str) {
    match Manifest::parse(text) {
        Ok(manifest) => {
            // Whatever parses writes out and reads back the same.
            let written = manifest.to_toml().expect("a parsed manifest serialises");
            let again = Manifest::parse(&written).expect("a written manifest parses");
            assert_eq!(again.to_toml().unwrap(), written);
        }
        Err(error) => assert!(!error.to_string().trim().is_empty(), "a manifest error without a message"),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn manifest_reader_survives_any_string(text in any::<String>()) {
        check_manifest(&text);
    }

    #[test]
    fn manifests_round_trip(manifest in manifest()) {
        let text = manifest.to_toml().unwrap();
        let parsed = Manifest::parse(&text).unwrap();
        prop_assert_eq!(parsed.to_toml().unwrap(), text);
        prop_assert_eq!(parsed.components.len(), manifest.components.len());
    }

    #[test]
    fn manifest_reader_survives_mutated_manifests(manifest in manifest(), edits in edits()) {
        check_manifest(&apply(&manifest.to_toml().unwrap(), &edits));
    }
}

// ---------------------------------------------------------------------------------------------
// Bundle archives, through `Registry::install`.

static RUNTIME: LazyLock<Runtime> = LazyLock::new(common::runtime);

/// Not a WebAssembly component, so even an intact archive of it is refused, at the component.
const NOT_WASM: &[u8] = b"this is not a WebAssembly component";

fn bundle_manifest() -> String {
    let entry = ComponentEntry {
        key: "fuzz/thing".into(),
        kind: EntryKind::Action,
        effect: Effect::Read,
        version: semver::Version::new(1, 0, 0),
        file: "thing.wasm".into(),
        sha256: switchyard_manifest::sha256_hex(NOT_WASM),
    };
    let info = switchyard_manifest::BundleInfo {
        name: "fuzz".into(),
        version: semver::Version::new(1, 0, 0),
        wit: switchyard_manifest::WIT_VERSION.parse().unwrap(),
        allowed_hosts: Vec::new(),
    };
    Manifest { bundle: info, components: vec![entry] }.to_toml().unwrap()
}

/// A small bundle archive: `fuzz/bundle.toml` and `fuzz/thing.wasm`, as `.tar` (or `.tar.gz`).
fn bundle_tar(gzip: bool) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in [("fuzz/bundle.toml", bundle_manifest().into_bytes()), ("fuzz/thing.wasm", NOT_WASM.to_vec())]
    {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    if !gzip {
        return tar;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&tar).unwrap();
    encoder.finish().unwrap()
}

/// Installs `bytes` as an archive into a fresh data directory; returns the error, after checking that
/// nothing was installed, on disk or in memory.
fn install(bytes: &[u8]) -> String {
    let home = tempfile::tempdir().unwrap();
    let archive = home.path().join("bundle.tar.gz");
    std::fs::write(&archive, bytes).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let registry = Registry::open(&RUNTIME, home.path()).await.unwrap();
        let error = match registry.install(&RUNTIME, &archive).await {
            Ok(installed) => panic!("a broken archive installed as {}@{}", installed.name(), installed.version()),
            Err(error) => format!("{error:#}"),
        };
        assert!(!error.trim().is_empty(), "an install failed without a message");
        assert_eq!(registry.snapshot().bundles().count(), 0, "a failed install left a bundle in the set");
        assert_nothing_on_disk(home.path());
        // A registry opened afterwards finds nothing either.
        let reopened = Registry::open(&RUNTIME, home.path()).await.unwrap();
        assert_eq!(reopened.snapshot().bundles().count(), 0);
        assert!(reopened.snapshot().problems().is_empty(), "{:?}", reopened.snapshot().problems());
        error
    })
}

fn assert_nothing_on_disk(home: &Path) {
    let left: Vec<_> =
        std::fs::read_dir(home.join("bundles")).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert!(left.is_empty(), "a failed install left {left:?} in the bundles directory");
}

#[derive(Clone, Debug)]
enum Corruption {
    Flip(f64, u8),
    Truncate(f64),
    Insert(f64, Vec<u8>),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        4 => (0.0..1.0f64, 1..=255u8).prop_map(|(at, mask)| Corruption::Flip(at, mask)),
        1 => (0.0..1.0f64).prop_map(Corruption::Truncate),
        1 => (0.0..1.0f64, proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(at, b)| Corruption::Insert(at, b)),
    ]
}

fn corrupt(mut bytes: Vec<u8>, corruptions: &[Corruption]) -> Vec<u8> {
    for corruption in corruptions {
        let len = bytes.len();
        match corruption {
            Corruption::Flip(at, mask) if len > 0 => bytes[index(*at, len - 1)] ^= mask,
            Corruption::Flip(..) => {}
            Corruption::Truncate(at) => bytes.truncate(index(*at, len)),
            Corruption::Insert(at, piece) => {
                let i = index(*at, len);
                bytes.splice(i..i, piece.iter().copied());
            }
        }
    }
    bytes
}

#[test]
fn an_intact_archive_gets_as_far_as_its_component() {
    // The archives below are corrupted from this one: it is read (plain and gzipped) and refused only
    // because its component is not WebAssembly, so a corruption exercises the archive reader itself.
    for gzip in [false, true] {
        let error = install(&bundle_tar(gzip));
        assert!(error.contains("thing.wasm"), "gzip {gzip}: {error}");
        assert!(!error.contains("tar archive"), "gzip {gzip}: {error}");
    }
    // An empty file is no archive of a bundle.
    let error = install(b"");
    assert!(error.contains("bundle.toml"), "{error}");
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn archive_reader_refuses_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096), gzip in any::<bool>()) {
        let bytes = if gzip {
            // Random bytes behind the gzip magic, so the gzip path is taken.
            let mut with_magic = vec![0x1f, 0x8b];
            with_magic.extend(bytes);
            with_magic
        } else {
            bytes
        };
        install(&bytes);
    }

    #[test]
    fn archive_reader_refuses_corrupted_archives(
        gzip in any::<bool>(),
        corruptions in proptest::collection::vec(corruption(), 1..4),
    ) {
        install(&corrupt(bundle_tar(gzip), &corruptions));
    }
}
