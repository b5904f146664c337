//! The workflow file format: YAML, parsed with saphyr so every value keeps its line and column.
//!
//! A file is checked in three passes, each naming file, line and field on failure: YAML syntax,
//! the published JSON Schema (generated from the types below, so unknown keys and wrong shapes are
//! caught with their position), then typed deserialization. Deeper checks (components, expressions,
//! step references) live in `validate.rs`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// A workflow: when the trigger fires, run the steps in order.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Switchyard workflow")]
pub struct Workflow {
    /// Unique name: `workflow enable/disable` and `runs list --workflow` use it.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"), length(max = 100))]
    pub name: String,
    /// What the workflow does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub trigger: TriggerSpec,
    /// The steps, run in order for each trigger event.
    #[schemars(length(min = 1))]
    pub steps: Vec<Step>,
}

/// The trigger that starts a run: a polling trigger component on a connection.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// The trigger component's key, e.g. `intercom/new-ticket`.
    #[schemars(regex(pattern = r"^[a-z0-9-]+/[a-z0-9-]+$"))]
    pub key: String,
    /// A semver requirement on the component's version, e.g. `^0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The connection (see `switchyard connections list`) the trigger polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// How often to poll, e.g. `60s`, `5m`. Defaults to 60 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// The trigger's settings: an object matching the trigger's input schema.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub settings: Map<String, Value>,
}

/// One step: an action called with input mapped from the trigger event and earlier steps.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The step's id, unique in the workflow; later steps read its output as `steps.<id>`.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub id: String,
    /// The action component's key, e.g. `intercom/assign-tags`.
    #[schemars(regex(pattern = r"^[a-z0-9-]+/[a-z0-9-]+$"))]
    pub action: String,
    /// A semver requirement on the component's version, e.g. `^0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The connection the action runs on; defaults to the trigger's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// A condition (a minijinja expression, with or without `{{ }}`); the step is skipped when false.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The action's input. Strings may contain `{{ expressions }}`; a string that is exactly one
    /// expression keeps the expression's JSON type.
    #[serde(default)]
    pub input: Map<String, Value>,
    /// What to do when the step fails. Defaults to `stop`.
    #[serde(default)]
    pub on_error: ErrorPolicy,
}

/// What happens when a step fails.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// The run fails at this step; later steps do not run.
    #[default]
    Stop,
    /// The failure is recorded and the next step runs; this step's output is undefined.
    Continue,
    /// Try again with exponential backoff, then stop (or continue, with `then`).
    Retry(RetryPolicy),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    #[schemars(range(min = 2, max = 20))]
    pub max_attempts: u32,
    /// The wait before the second attempt, e.g. `1s`; it doubles for each attempt after that.
    #[serde(default = "default_backoff")]
    pub backoff: String,
    /// The error kinds worth retrying. Defaults to transient failures: rate limits, upstream 5xx
    /// and transport errors, timeouts and component crashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<ErrorKind>>,
    /// What to do when the attempts run out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<AfterRetries>,
}

fn default_backoff() -> String {
    "1s".to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AfterRetries {
    Stop,
    Continue,
}

/// A failure's kind, as recorded in run history and named in `retry.on` (its policy lives beside
/// the invocation error it classifies).
pub use crate::runtime::error::ErrorKind;

impl RetryPolicy {
    /// Whether `on` lists `kind` (without `on`, the executor decides by the error itself).
    pub fn retries(&self, kind: ErrorKind) -> bool {
        self.on.as_ref().is_some_and(|kinds| kinds.contains(&kind))
    }

    /// The wait before attempt `next` (2 for the first retry): backoff * 2^(next-2), capped at 5 minutes.
    pub fn delay_before(&self, next: u32) -> Duration {
        let base = parse_duration(&self.backoff).unwrap_or(Duration::from_secs(1));
        let factor = 1u32.checked_shl(next.saturating_sub(2)).unwrap_or(u32::MAX);
        base.saturating_mul(factor).min(Duration::from_secs(300))
    }
}

impl ErrorPolicy {
    pub fn max_attempts(&self) -> u32 {
        match self {
            ErrorPolicy::Retry(retry) => retry.max_attempts.max(1),
            _ => 1,
        }
    }

    /// Whether the run goes on after this step finally failed.
    pub fn continues(&self) -> bool {
        match self {
            ErrorPolicy::Stop => false,
            ErrorPolicy::Continue => true,
            ErrorPolicy::Retry(retry) => retry.then == Some(AfterRetries::Continue),
        }
    }
}

/// Parses `60s`, `5m`, `1h 30m`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 30s, 5m or 1h"))
}

impl TriggerSpec {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

    pub fn interval(&self) -> Duration {
        self.interval.as_deref().and_then(|i| parse_duration(i).ok()).unwrap_or(Self::DEFAULT_INTERVAL)
    }
}

impl Workflow {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The connection a step runs on: its own, else the trigger's.
    pub fn step_connection<'a>(&'a self, step: &'a Step) -> Option<&'a str> {
        step.connection.as_deref().or(self.trigger.connection.as_deref())
    }
}

/// The JSON Schema of the workflow format, as published in `docs/workflow.schema.json`.
pub fn json_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Workflow)).expect("the schema serializes");
    if let Some(object) = schema.as_object_mut() {
        object.insert("$id".into(), Value::String("https://switchyard.dev/schemas/workflow.schema.json".into()));
    }
    schema
}

fn schema_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| jsonschema::validator_for(&json_schema()).expect("the workflow schema is valid"))
}

/// One thing wrong with a workflow file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
    /// The field, dotted: `steps[1].input.ticket_id`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.field.is_empty()) {
            (0, true) => write!(f, "{}: {}", self.file, self.message),
            (0, false) => write!(f, "{}: {}: {}", self.file, self.field, self.message),
            (line, true) => write!(f, "{}:{line}:{}: {}", self.file, self.column, self.message),
            (line, false) => write!(f, "{}:{line}:{}: {}: {}", self.file, self.column, self.field, self.message),
        }
    }
}

/// Everything wrong with a workflow file.
#[derive(Clone, Debug, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Where each value of the document is: JSON pointer -> (line, column), both 1-based. For a mapping
/// entry it is the key's position, which is where a reader looks.
#[derive(Clone, Debug, Default)]
pub struct Positions(HashMap<String, (usize, usize)>);

impl Positions {
    /// The position of `pointer`, or of its closest ancestor that has one.
    pub fn of(&self, pointer: &str) -> (usize, usize) {
        let mut pointer = pointer;
        loop {
            if let Some(position) = self.0.get(pointer) {
                return *position;
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => return (0, 0),
            }
        }
    }
}

/// A parsed workflow file: the typed workflow, its JSON form and where each value sits.
#[derive(Clone, Debug)]
pub struct Source {
    pub file: String,
    pub text: String,
    pub value: Value,
    pub positions: Positions,
}

impl Source {
    pub fn problem(&self, pointer: &str, message: impl Into<String>) -> Problem {
        let (line, column) = self.positions.of(pointer);
        Problem { file: self.file.clone(), line, column, field: field_name(pointer), message: message.into() }
    }
}

/// A JSON pointer written for people: `/steps/1/input/id` -> `steps[1].input.id`.
pub fn field_name(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.parse::<usize>().is_ok() && !out.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Reads and parses a workflow file.
pub fn load(path: &Path) -> Result<(Workflow, Source), Problems> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    parse(&path.display().to_string(), &text)
}

/// Parses workflow YAML `text`; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<(Workflow, Source), Problems> {
    let (value, positions) = yaml_to_json(file, text)?;
    let source = Source { file: file.to_string(), text: text.to_string(), value, positions };
    let problems: Vec<Problem> =
        schema_validator().iter_errors(&source.value).map(|error| schema_problem(&source, &error)).collect();
    if !problems.is_empty() {
        return Err(Problems(dedupe(problems)));
    }
    let workflow: Workflow = serde_path_to_error::deserialize(&source.value).map_err(|e| {
        let pointer = path_to_pointer(e.path());
        Problems(vec![source.problem(&pointer, e.inner().to_string())])
    })?;
    Ok((workflow, source))
}

fn dedupe(mut problems: Vec<Problem>) -> Vec<Problem> {
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert((p.line, p.field.clone(), p.message.clone())));
    problems
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", escape(key))),
            Segment::Enum { variant } => pointer.push_str(&format!("/{}", escape(variant))),
            Segment::Unknown => {}
        }
    }
    pointer
}

/// Turns a schema error into a readable problem at the right place.
fn schema_problem(source: &Source, error: &jsonschema::ValidationError<'_>) -> Problem {
    use jsonschema::error::ValidationErrorKind as Kind;
    let pointer = error.instance_path().as_str().to_string();
    match error.kind() {
        Kind::AdditionalProperties { unexpected } => {
            let key = unexpected.first().cloned().unwrap_or_default();
            let allowed = allowed_keys(&pointer);
            let child = format!("{pointer}/{}", escape(&key));
            source.problem(&child, format!("unknown key `{key}`{allowed}"))
        }
        Kind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let message = format!("missing required key `{name}`");
            let mut problem = source.problem(&pointer, message);
            problem.field =
                if problem.field.is_empty() { name.to_string() } else { format!("{}.{name}", problem.field) };
            problem
        }
        Kind::Pattern { pattern } => {
            let hint = match pattern.as_str() {
                r"^[A-Za-z_][A-Za-z0-9_]*$" => "a step id must be letters, digits and `_`, not starting with a digit, so that `steps.<id>` works in expressions".to_string(),
                r"^[a-z0-9-]+/[a-z0-9-]+$" => "a component key looks like `intercom/find-contact`".to_string(),
                _ => format!("it must match {pattern}"),
            };
            source.problem(&pointer, format!("{} is not valid: {hint}", error.instance()))
        }
        Kind::OneOfNotValid { context } | Kind::AnyOf { context } => {
            // When one branch got further (its errors sit deeper than here), that branch is what the
            // author meant: report its errors instead of "matches none of".
            let deeper: Vec<_> =
                context.iter().flatten().filter(|e| e.instance_path().as_str().len() > pointer.len()).collect();
            match deeper.first() {
                Some(inner) => schema_problem(source, inner),
                None if pointer.ends_with("/on_error") => source.problem(
                    &pointer,
                    format!(
                        "{} is not an error policy: write `stop`, `continue`, or `retry: {{max_attempts: N, backoff: 1s}}`",
                        error.instance()
                    ),
                ),
                None => source.problem(&pointer, error.to_string()),
            }
        }
        _ => source.problem(&pointer, error.to_string()),
    }
}

/// " (expected one of: a, b)" for the object at `pointer`, from the schema's property list.
fn allowed_keys(pointer: &str) -> String {
    let depth: Vec<&str> = pointer.split('/').skip(1).collect();
    let keys: &[&str] = match depth.as_slice() {
        [] => &["name", "description", "trigger", "steps"],
        ["trigger"] => &["key", "version", "connection", "interval", "settings"],
        ["steps", _] => &["id", "action", "version", "connection", "if", "input", "on_error"],
        ["steps", _, "on_error"] => &["retry"],
        ["steps", _, "on_error", "retry"] => &["max_attempts", "backoff", "on", "then"],
        _ => return String::new(),
    };
    format!("; expected one of: {}", keys.join(", "))
}

/// Converts the YAML document to JSON and records each value's position.
fn yaml_to_json(file: &str, text: &str) -> Result<(Value, Positions), Problems> {
    use saphyr::{LoadableYamlNode, MarkedYaml};
    let problem = |line: usize, column: usize, message: String| Problem {
        file: file.to_string(),
        line,
        column,
        field: String::new(),
        message,
    };
    let documents = MarkedYaml::load_from_str(text).map_err(|e| {
        Problems(vec![problem(e.marker().line(), e.marker().col() + 1, format!("YAML syntax error: {}", e.info()))])
    })?;
    let document = match documents.len() {
        0 => {
            return Err(Problems(vec![problem(
                0,
                0,
                "the file is empty; a workflow needs `name`, `trigger` and `steps`".into(),
            )]));
        }
        1 => &documents[0],
        _ => {
            return Err(Problems(vec![problem(
                0,
                0,
                "the file holds several YAML documents; put one workflow per file".into(),
            )]));
        }
    };
    let mut positions = Positions::default();
    let value = convert(document, String::new(), &mut positions).map_err(|(pointer, message)| {
        let (line, column) = positions.of(&pointer);
        Problems(vec![Problem { file: file.to_string(), line, column, field: field_name(&pointer), message }])
    })?;
    Ok((value, positions))
}

fn position(node: &saphyr::MarkedYaml<'_>) -> (usize, usize) {
    (node.span.start.line(), node.span.start.col() + 1)
}

fn convert(
    node: &saphyr::MarkedYaml<'_>,
    pointer: String,
    positions: &mut Positions,
) -> Result<Value, (String, String)> {
    use saphyr::{Scalar, YamlData};
    positions.0.entry(pointer.clone()).or_insert_with(|| position(node));
    Ok(match &node.data {
        YamlData::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::from(*i),
            Scalar::FloatingPoint(f) => serde_json::Number::from_f64(f.into_inner())
                .map(Value::Number)
                .ok_or_else(|| (pointer.clone(), format!("{} is not a finite number", f.into_inner())))?,
            Scalar::String(s) => Value::String(s.to_string()),
        },
        YamlData::Representation(text, _, _) => Value::String(text.to_string()),
        YamlData::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(convert(item, format!("{pointer}/{i}"), positions)?);
            }
            Value::Array(out)
        }
        YamlData::Mapping(entries) => {
            let mut out = Map::new();
            for (key, value) in entries {
                let name = match &key.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Value(Scalar::Null) => "null".to_string(),
                    _ => {
                        positions.0.insert(format!("{pointer}/?"), position(key));
                        return Err((format!("{pointer}/?"), "mapping keys must be plain strings".into()));
                    }
                };
                let child = format!("{pointer}/{}", escape(&name));
                positions.0.insert(child.clone(), position(key));
                out.insert(name, convert(value, child, positions)?);
            }
            Value::Object(out)
        }
        YamlData::Tagged(_, inner) => convert(inner, pointer, positions)?,
        YamlData::Alias(_) => {
            return Err((
                pointer,
                "YAML anchors and aliases are not supported in workflow files; repeat the value".into(),
            ));
        }
        YamlData::BadValue => return Err((pointer, "this value cannot be read".into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_published_schema_matches_the_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/workflow.schema.json");
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("UPDATE_WORKFLOW_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/workflow.schema.json is out of date: regenerate it with \
             `UPDATE_WORKFLOW_SCHEMA=1 cargo test -p switchyard --lib the_published_schema`"
        );
    }

    const FULL: &str = r#"
name: full
description: every field
trigger:
  key: intercom/contact-updated
  version: "^1"
  connection: acme
  interval: 5m
  settings: { backfill_days: 1 }
steps:
  - id: find
    action: intercom/find-contact
    version: ">=1"
    connection: other
    if: "{{ trigger.email is defined }}"
    input:
      email: "{{ trigger.email }}"
    on_error:
      retry: { max_attempts: 4, backoff: 250ms, on: [not_found], then: continue }
  - id: note
    action: intercom/add-note-to-contact
    input: { contact_id: "{{ steps.find.id }}", body: "hi" }
    on_error: continue
"#;

    #[test]
    fn parses_every_field() {
        let (workflow, _) = parse("full.yaml", FULL).unwrap();
        assert_eq!(workflow.name, "full");
        assert_eq!(workflow.trigger.interval(), Duration::from_secs(300));
        assert_eq!(workflow.trigger.settings["backfill_days"], json!(1));
        let find = &workflow.steps[0];
        assert_eq!(workflow.step_connection(find), Some("other"));
        assert_eq!(workflow.step_connection(&workflow.steps[1]), Some("acme"));
        let ErrorPolicy::Retry(retry) = &find.on_error else { panic!("retry policy expected") };
        assert_eq!(retry.max_attempts, 4);
        assert_eq!(retry.delay_before(2), Duration::from_millis(250));
        assert_eq!(retry.delay_before(4), Duration::from_millis(1000));
        assert!(find.on_error.continues());
        assert_eq!(workflow.steps[1].on_error, ErrorPolicy::Continue);
    }
}
