//! `switchyard workflow validate`: everything that can be checked without running. Every problem
//! names the file, line and field.

use super::definition::{self, ErrorPolicy, Problem, Source, Workflow};
use super::executor::{Components, Connections};
use super::expressions::{Expressions, ROOTS, Shape, shape};
use crate::runtime::LoadedComponent;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What validation found: problems make the file invalid; notes say what could not be checked.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Validates workflow `text` (from `file`). Components are checked when `components` is given,
/// connections when `connections` can tell.
pub fn validate(
    file: &str,
    text: &str,
    components: Option<&dyn Components>,
    connections: Option<&dyn Connections>,
) -> (Option<Workflow>, Report) {
    let mut report = Report::default();
    let (workflow, source) = match definition::parse(file, text) {
        Ok(parsed) => parsed,
        Err(problems) => {
            report.problems = problems.0;
            return (None, report);
        }
    };
    let mut checker =
        Checker { source: &source, components, connections, report: &mut report, expressions: Expressions::new() };
    checker.check(&workflow);
    report.problems.sort_by_key(|p| (p.line, p.column));
    if components.is_none() {
        report.notes.push("components were not checked: pass --bundle DIR to check keys, versions and inputs".into());
    }
    match connections {
        None => report.notes.push("connections were not checked: the connection store is not available".into()),
        Some(c) if workflow_connections(&workflow).iter().any(|name| c.exists(name).is_none()) => {
            report.notes.push("connections were not checked: this connection source cannot list names".into())
        }
        Some(_) => {}
    }
    (Some(workflow), report)
}

fn workflow_connections(workflow: &Workflow) -> Vec<&str> {
    let mut names: Vec<&str> = workflow.trigger.connection.iter().map(String::as_str).collect();
    names.extend(workflow.steps.iter().filter_map(|s| s.connection.as_deref()));
    names
}

struct Checker<'a> {
    source: &'a Source,
    components: Option<&'a dyn Components>,
    connections: Option<&'a dyn Connections>,
    report: &'a mut Report,
    expressions: Expressions,
}

impl Checker<'_> {
    fn problem(&mut self, pointer: &str, message: impl Into<String>) {
        let problem = self.source.problem(pointer, message);
        self.report.problems.push(problem);
    }

    fn check(&mut self, workflow: &Workflow) {
        let trigger = &workflow.trigger;
        self.check_version_req(trigger.version.as_deref(), "/trigger/version");
        if let Some(interval) = &trigger.interval {
            match definition::parse_duration(interval) {
                Ok(d) if d.as_secs() < 1 => self.problem("/trigger/interval", "the interval must be at least 1s"),
                Ok(_) => {}
                Err(e) => self.problem("/trigger/interval", e),
            }
        }
        self.check_connection(trigger.connection.as_deref(), "/trigger/connection");
        if let Some(components) = self.components {
            match components.trigger(&trigger.key, trigger.version.as_deref()) {
                Ok(component) => {
                    let settings = Value::Object(trigger.settings.clone());
                    self.check_against_schema(&component, &settings, &[], "/trigger/settings", "setting");
                }
                Err(e) => {
                    let message = component_problem(components, &trigger.key, e);
                    self.problem("/trigger/key", message)
                }
            }
        }

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, step) in workflow.steps.iter().enumerate() {
            let at = format!("/steps/{index}");
            if let Some(first) = seen.insert(&step.id, index) {
                self.problem(
                    &format!("{at}/id"),
                    format!("step id `{}` is already used by steps[{first}]; ids must be unique", step.id),
                );
            }
            self.check_version_req(step.version.as_deref(), &format!("{at}/version"));
            self.check_connection(step.connection.as_deref(), &format!("{at}/connection"));
            if let ErrorPolicy::Retry(retry) = &step.on_error
                && let Err(e) = definition::parse_duration(&retry.backoff)
            {
                self.problem(&format!("{at}/on_error/retry/backoff"), e);
            }
            if let Some(condition) = &step.condition {
                match self.expressions.condition_references(condition) {
                    Ok(variables) => self.check_references(workflow, index, &variables, &format!("{at}/if")),
                    Err(e) => self.problem(&format!("{at}/if"), e),
                }
            }
            let mut dynamic = Vec::new();
            for (key, value) in &step.input {
                let pointer = format!("{at}/input/{}", key.replace('~', "~0").replace('/', "~1"));
                if self.check_value(workflow, index, value, &pointer) {
                    dynamic.push(key.clone());
                }
            }
            if let Some(components) = self.components {
                match components.action(&step.action, step.version.as_deref()) {
                    Ok(component) => {
                        let input = Value::Object(step.input.clone());
                        self.check_against_schema(&component, &input, &dynamic, &format!("{at}/input"), "input");
                    }
                    Err(e) => {
                        let message = component_problem(components, &step.action, e);
                        self.problem(&format!("{at}/action"), message)
                    }
                }
            }
        }
    }

    /// Checks the expressions in `value`; returns whether it holds any (is dynamic).
    fn check_value(&mut self, workflow: &Workflow, index: usize, value: &Value, pointer: &str) -> bool {
        match value {
            Value::String(text) => {
                if shape(text) == Shape::Literal {
                    return false;
                }
                match self.expressions.references(text) {
                    Ok(variables) => self.check_references(workflow, index, &variables, pointer),
                    Err(e) => self.problem(pointer, e),
                }
                true
            }
            Value::Array(items) => {
                let mut any = false;
                for (i, item) in items.iter().enumerate() {
                    any |= self.check_value(workflow, index, item, &format!("{pointer}/{i}"));
                }
                any
            }
            Value::Object(entries) => {
                let mut any = false;
                for (key, item) in entries {
                    any |= self.check_value(
                        workflow,
                        index,
                        item,
                        &format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")),
                    );
                }
                any
            }
            _ => false,
        }
    }

    fn check_references(&mut self, workflow: &Workflow, index: usize, variables: &[String], pointer: &str) {
        for variable in variables {
            let mut parts = variable.split('.');
            let root = parts.next().unwrap_or_default();
            if !ROOTS.contains(&root) {
                self.problem(
                    pointer,
                    format!(
                        "unknown variable `{root}`: expressions can use {}",
                        ROOTS.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
                    ),
                );
                continue;
            }
            if root != "steps" {
                continue;
            }
            let Some(id) = parts.next() else {
                continue;
            };
            let here = &workflow.steps[index].id;
            match workflow.step_index(id) {
                None => self.problem(pointer, format!("`{variable}` refers to step `{id}`, which does not exist")),
                Some(j) if j == index => self.problem(pointer, format!("`{variable}`: step `{here}` cannot use its own output")),
                Some(j) if j > index => self.problem(
                    pointer,
                    format!("`{variable}` refers to step `{id}`, which runs later (steps[{j}]); a step can use only the output of steps before it"),
                ),
                Some(_) => {}
            }
        }
    }

    fn check_version_req(&mut self, requirement: Option<&str>, pointer: &str) {
        if let Some(requirement) = requirement
            && let Err(e) = semver::VersionReq::parse(requirement)
        {
            self.problem(pointer, format!("{requirement:?} is not a semver requirement ({e}); write e.g. ^0.1"));
        }
    }

    fn check_connection(&mut self, name: Option<&str>, pointer: &str) {
        if let (Some(name), Some(connections)) = (name, self.connections)
            && connections.exists(name) == Some(false)
        {
            self.problem(
                pointer,
                format!("there is no connection named `{name}`; `switchyard connections list` shows them"),
            );
        }
    }

    /// Checks the static part of an input against the component's JSON Schema. `dynamic` keys hold
    /// expressions: only their presence is known, so errors about their values are not reported.
    fn check_against_schema(
        &mut self,
        component: &LoadedComponent,
        value: &Value,
        dynamic: &[String],
        at: &str,
        what: &str,
    ) {
        let Ok(schema) = serde_json::from_str::<Value>(&component.description.input_schema) else { return };
        let Ok(validator) = jsonschema::validator_for(&schema) else { return };
        let mut candidate = value.as_object().cloned().unwrap_or_else(Map::new);
        for key in dynamic {
            candidate.insert(key.clone(), Value::Null);
        }
        let candidate = Value::Object(candidate);
        let key = component.key().to_string();
        for error in validator.iter_errors(&candidate) {
            use jsonschema::error::ValidationErrorKind as Kind;
            let path = error.instance_path().as_str().to_string();
            let first = path.split('/').nth(1).unwrap_or_default().replace("~1", "/").replace("~0", "~");
            if dynamic.contains(&first) {
                continue;
            }
            match error.kind() {
                Kind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    self.problem(&format!("{at}{path}"), format!("missing required {what} `{name}` of {key}"));
                }
                Kind::AdditionalProperties { unexpected } => {
                    let allowed = schema["properties"]
                        .as_object()
                        .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default();
                    for name in unexpected {
                        self.problem(
                            &format!("{at}{path}/{name}"),
                            format!("{key} has no {what} `{name}` (it takes: {allowed})"),
                        );
                    }
                }
                // Combinators over several fields may be satisfied by the fields given as expressions.
                Kind::OneOfNotValid { .. }
                | Kind::OneOfMultipleValid { .. }
                | Kind::AnyOf { .. }
                | Kind::Not { .. }
                    if path.is_empty() && !dynamic.is_empty() => {}
                _ => self.problem(&format!("{at}{path}"), format!("{key}: {error}")),
            }
        }
    }
}

/// An unknown key gets a short message with the closest known key; other failures (wrong kind,
/// version mismatch) keep their own message.
fn component_problem(components: &dyn Components, key: &str, error: anyhow::Error) -> String {
    let keys = components.keys();
    if keys.is_empty() || keys.iter().any(|k| k == key) {
        return format!("{error:#}");
    }
    let closest = keys
        .iter()
        .map(|k| (strsim::jaro_winkler(k, key), k))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.85)
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_else(|| "; `switchyard action list --bundle DIR` lists the components".to_string());
    format!("unknown component `{key}`{closest}")
}
