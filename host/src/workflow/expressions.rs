//! Input mapping with minijinja: `{{ trigger.id }}`, `{{ steps.find.id }}`, `{{ event.occurred_at }}`.
//!
//! A string that is exactly one `{{ expression }}` evaluates to the expression's JSON value (a number
//! stays a number, an object stays an object); any other string with `{{ }}` renders as text. Undefined
//! values are errors (strict mode), so a typo names the step and field instead of sending an empty value.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// The variables an expression may use.
pub const ROOTS: &[&str] = &["trigger", "event", "steps"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ExprError {
    /// Where: `input.ticket_id`, `if`.
    pub field: String,
    pub message: String,
}

/// What a string in an input is.
#[derive(Debug, PartialEq, Eq)]
pub enum Shape<'a> {
    /// No `{{`/`{%`: sent as is.
    Literal,
    /// Exactly one `{{ expression }}`: keeps the expression's JSON type.
    Expression(&'a str),
    /// Text with expressions in it: rendered to a string.
    Template,
}

pub fn shape(text: &str) -> Shape<'_> {
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return Shape::Literal;
    }
    let trimmed = text.trim();
    if let Some(inner) = trimmed.strip_prefix("{{").and_then(|t| t.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
        && !inner.contains("{%")
    {
        return Shape::Expression(inner.trim());
    }
    Shape::Template
}

/// The expression of an `if:`, with or without surrounding `{{ }}`.
pub fn condition_expression(text: &str) -> &str {
    match shape(text) {
        Shape::Expression(inner) => inner,
        _ => text.trim(),
    }
}

pub struct Expressions {
    env: Environment<'static>,
}

impl Default for Expressions {
    fn default() -> Self {
        Self::new()
    }
}

impl Expressions {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        Expressions { env }
    }

    /// Maps a whole input object.
    pub fn map_input(&self, input: &Map<String, Value>, context: &Value) -> Result<Value, ExprError> {
        let ctx = minijinja::Value::from(minijinja::value::Serde(context));
        let mut out = Map::new();
        for (key, value) in input {
            out.insert(key.clone(), self.map_value(value, &ctx, context, &format!("input.{key}"))?);
        }
        Ok(Value::Object(out))
    }

    fn map_value(&self, value: &Value, ctx: &minijinja::Value, json: &Value, field: &str) -> Result<Value, ExprError> {
        match value {
            Value::String(text) => self.map_string(text, ctx, json, field),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.map_value(item, ctx, json, &format!("{field}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(entries) => {
                let mut out = Map::new();
                for (key, item) in entries {
                    out.insert(key.clone(), self.map_value(item, ctx, json, &format!("{field}.{key}"))?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn map_string(&self, text: &str, ctx: &minijinja::Value, json: &Value, field: &str) -> Result<Value, ExprError> {
        let error = |message: String| ExprError { field: field.to_string(), message };
        match shape(text) {
            Shape::Literal => Ok(Value::String(text.to_string())),
            Shape::Expression(expression) => {
                let compiled = self.env.compile_expression(expression).map_err(|e| error(describe(&e, text)))?;
                let value = compiled
                    .eval(ctx.clone())
                    .map_err(|e| error(explain(&e, text, &compiled.undeclared_variables(true), json)))?;
                if value.is_undefined() {
                    return Err(error(explain_undefined(text, &compiled.undeclared_variables(true), json)));
                }
                serde_json::to_value(&value).map_err(|e| error(format!("`{text}` has no JSON value: {e}")))
            }
            Shape::Template => {
                let template = self.env.template_from_str(text).map_err(|e| error(describe(&e, text)))?;
                template
                    .render(ctx.clone())
                    .map(Value::String)
                    .map_err(|e| error(explain(&e, text, &template.undeclared_variables(true), json)))
            }
        }
    }

    /// Evaluates an `if:` condition to true or false.
    pub fn condition(&self, text: &str, context: &Value) -> Result<bool, ExprError> {
        let error = |message: String| ExprError { field: "if".to_string(), message };
        let expression = condition_expression(text);
        let compiled = self.env.compile_expression(expression).map_err(|e| error(describe(&e, text)))?;
        let value = compiled
            .eval(minijinja::Value::from(minijinja::value::Serde(context)))
            .map_err(|e| error(explain(&e, text, &compiled.undeclared_variables(true), context)))?;
        if value.is_undefined() {
            return Err(error(explain_undefined(text, &compiled.undeclared_variables(true), context)));
        }
        Ok(value.is_true())
    }

    /// The variables a string refers to (dotted, e.g. `steps.find.id`), checking its syntax. Literal
    /// strings refer to nothing.
    pub fn references(&self, text: &str) -> Result<Vec<String>, String> {
        let mut variables: Vec<String> = match shape(text) {
            Shape::Literal => return Ok(Vec::new()),
            Shape::Expression(expression) => {
                self.env.compile_expression(expression).map_err(|e| describe(&e, text))?.undeclared_variables(true)
            }
            Shape::Template => {
                self.env.template_from_str(text).map_err(|e| describe(&e, text))?.undeclared_variables(true)
            }
        }
        .into_iter()
        .collect();
        variables.sort();
        Ok(variables)
    }

    /// Like [`references`](Self::references) for an `if:` condition.
    pub fn condition_references(&self, text: &str) -> Result<Vec<String>, String> {
        let compiled = self.env.compile_expression(condition_expression(text)).map_err(|e| describe(&e, text))?;
        let mut variables: Vec<String> = compiled.undeclared_variables(true).into_iter().collect();
        variables.sort();
        Ok(variables)
    }
}

/// A syntax error, with minijinja's own wording.
fn describe(error: &minijinja::Error, text: &str) -> String {
    let detail = error.detail().map(str::to_string).unwrap_or_else(|| error.kind().to_string());
    format!("`{text}` is not a valid expression: {detail}")
}

/// An evaluation error; for an undefined value it names the variable that is missing.
fn explain(
    error: &minijinja::Error,
    text: &str,
    variables: &std::collections::HashSet<String>,
    context: &Value,
) -> String {
    if error.kind() == minijinja::ErrorKind::UndefinedError {
        return explain_undefined(text, variables, context);
    }
    let detail = error.detail().map(str::to_string).unwrap_or_else(|| error.kind().to_string());
    format!("`{text}` failed: {detail}")
}

fn explain_undefined(text: &str, variables: &std::collections::HashSet<String>, context: &Value) -> String {
    let mut sorted: Vec<&String> = variables.iter().collect();
    sorted.sort();
    for variable in sorted {
        let mut current = context;
        let mut walked = Vec::new();
        for part in variable.split('.') {
            match current.get(part) {
                Some(next) => {
                    walked.push(part);
                    current = next;
                }
                None => {
                    let here =
                        if walked.is_empty() { "the context".to_string() } else { format!("`{}`", walked.join(".")) };
                    let keys = match current {
                        Value::Object(map) if !map.is_empty() => {
                            let mut keys: Vec<&str> = map.keys().map(String::as_str).take(25).collect();
                            keys.sort();
                            format!(" ({here} has: {})", keys.join(", "))
                        }
                        Value::Object(_) => format!(" ({here} is empty)"),
                        Value::Null => format!(" ({here} is null)"),
                        _ => String::new(),
                    };
                    let hint = if walked.first() == Some(&"steps") && walked.len() == 1 {
                        " (a step's output exists only once it has succeeded; skipped and failed steps have none)"
                    } else {
                        ""
                    };
                    return format!("`{text}`: `{variable}` is undefined{keys}{hint}");
                }
            }
        }
    }
    format!("`{text}` is undefined")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        assert_eq!(shape("plain"), Shape::Literal);
        assert_eq!(shape(" {{ trigger.id }} "), Shape::Expression("trigger.id"));
        assert_eq!(shape("id {{ trigger.id }}"), Shape::Template);
        assert_eq!(shape("{{ a }}{{ b }}"), Shape::Template);
    }

    #[test]
    fn undefined_names_the_variable() {
        let e = Expressions::new();
        let ctx = json!({"trigger": {"id": "1", "email": "a@b"}, "steps": {}});
        let err = e.map_input(json!({"x": "{{ trigger.idd }}"}).as_object().unwrap(), &ctx).unwrap_err();
        assert_eq!(err.field, "input.x");
        assert!(err.message.contains("`trigger.idd` is undefined") && err.message.contains("email, id"), "{err}");
    }

    #[test]
    fn a_single_expression_keeps_its_json_type() {
        let context = json!({
            "trigger": {"id": "42", "count": 7, "vip": true, "tags": ["a", "b"], "company": {"name": "Acme"}, "gone": null},
            "steps": {"find": {"id": "c1", "score": 1.5}},
            "event": {"occurred_at": 1700000000},
        });
        let input = json!({
            "count": "{{ trigger.count }}",
            "padded": "  {{ trigger.count }}  ",
            "vip": "{{ trigger.vip }}",
            "tags": "{{ trigger.tags }}",
            "company": "{{ trigger.company }}",
            "gone": "{{ trigger.gone }}",
            "score": "{{ steps.find.score * 2 }}",
            "text": "id {{ trigger.id }} has {{ trigger.count }}",
            "literal": "no expressions here",
            "nested": {"list": ["{{ steps.find.id }}", "x-{{ trigger.id }}", 3]},
            "when": "{{ event.occurred_at }}",
        });
        let mapped = Expressions::new().map_input(input.as_object().unwrap(), &context).unwrap();
        assert_eq!(mapped["count"], json!(7));
        assert_eq!(mapped["padded"], json!(7));
        assert_eq!(mapped["vip"], json!(true));
        assert_eq!(mapped["tags"], json!(["a", "b"]));
        assert_eq!(mapped["company"], json!({"name": "Acme"}));
        assert_eq!(mapped["gone"], Value::Null);
        assert_eq!(mapped["score"], json!(3.0));
        assert_eq!(mapped["text"], json!("id 42 has 7"));
        assert_eq!(mapped["literal"], json!("no expressions here"));
        assert_eq!(mapped["nested"], json!({"list": ["c1", "x-42", 3]}));
        assert_eq!(mapped["when"], json!(1700000000));
    }

    #[test]
    fn an_undefined_value_is_an_error_naming_the_field_and_variable() {
        let context = json!({"trigger": {"id": "42", "email": "a@b.c"}, "steps": {}, "event": {}});
        let expressions = Expressions::new();
        for (input, field, variable) in [
            (json!({"email": "{{ trigger.emial }}"}), "input.email", "trigger.emial"),
            (json!({"body": "hello {{ steps.find.name }}"}), "input.body", "steps.find"),
            (json!({"deep": {"list": ["{{ trigger.x.y }}"]}}), "input.deep.list[0]", "trigger.x"),
        ] {
            let error = expressions.map_input(input.as_object().unwrap(), &context).unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.message.contains(&format!("`{variable}")), "{error}");
        }
        assert!(expressions.condition("trigger.id == '42'", &context).unwrap());
        assert!(!expressions.condition("{{ trigger.nope is defined }}", &context).unwrap());
        assert!(expressions.condition("trigger.nope == 1", &context).is_err());
    }
}
