//! The embedded OpenAPI description of Intercom's REST API 2.16, parsed once.
//!
//! The spec is translated from OpenAPI 3.0 schema dialect into JSON Schema 2020-12:
//! `nullable: true` becomes a union with `null`, `oneOf` becomes `anyOf` (the spec's `oneOf`
//! branches overlap, so a literal `oneOf` would refuse valid traffic), `format` is dropped
//! (ids are opaque strings, ENDPOINTS.md §9), and `$ref`s point into `$defs`.
//! Request schemas additionally accept both strings and integers for id-like properties.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value};

static SPEC_TEXT: &str = include_str!("../spec/api.intercom.io.yaml");
static SPEC: OnceLock<Spec> = OnceLock::new();

/// The parsed spec (parsed on first use, then shared).
pub fn spec() -> &'static Spec {
    SPEC.get_or_init(|| Spec::load().expect("embedded OpenAPI spec must parse"))
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub schema: Value,
}

pub struct Operation {
    pub operation_id: String,
    pub method: String,
    pub path: String,
    segments: Vec<Seg>,
    pub params: Vec<Param>,
    pub body_schema: Option<Value>,
    pub body_required: bool,
    /// Named request-body examples from the spec (used by tests).
    pub body_examples: Vec<(String, Value)>,
    /// status code -> response schema (raw OpenAPI); `None` for bodiless responses.
    pub responses: Vec<(String, Option<Value>)>,
    req_validator: OnceLock<Option<Validator>>,
    resp_validators: OnceLock<HashMap<String, Validator>>,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.operation_id)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Param(String),
}

pub struct Spec {
    pub ops: Vec<Operation>,
    req_defs: Map<String, Value>,
    resp_defs: Map<String, Value>,
    by_len: HashMap<usize, Vec<usize>>,
}

/// Result of matching a request line against the spec's paths.
pub enum RouteMatch<'a> {
    Found(&'a Operation, Vec<(String, String)>),
    MethodNotAllowed,
    NotFound,
}

/// A request-validation failure, already mapped to Intercom's vocabulary.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Request,
    Response,
}

fn yaml_to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => format!("{other:?}"),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn rewrite_ref(r: &str) -> String {
    match r.strip_prefix("#/components/schemas/") {
        Some(name) => format!("#/$defs/{name}"),
        None => r.to_string(),
    }
}

fn is_id_name(name: &str) -> bool {
    name == "id" || name.ends_with("_id")
}

/// Translate one OpenAPI schema object into JSON Schema 2020-12.
fn translate(v: &Value, mode: Mode) -> Value {
    let Some(obj) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
    for (k, val) in obj {
        match k.as_str() {
            "nullable" | "format" | "example" | "examples" | "description" | "title" | "discriminator" | "readOnly"
            | "writeOnly" | "xml" | "externalDocs" | "deprecated" => {}
            k if k.starts_with("x-") => {}
            "exclusiveMinimum" | "exclusiveMaximum" if val.is_boolean() => {}
            "$ref" => {
                out.insert("$ref".into(), Value::String(rewrite_ref(val.as_str().unwrap_or(""))));
            }
            "properties" | "patternProperties" => {
                let mut props = Map::new();
                if let Some(m) = val.as_object() {
                    for (pk, pv) in m {
                        let mut t = translate(pv, mode);
                        if mode == Mode::Request && is_id_name(pk) {
                            relax_id(&mut t);
                        }
                        props.insert(pk.clone(), t);
                    }
                }
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" | "propertyNames" => {
                out.insert(k.clone(), translate(val, mode));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let arr = val.as_array().map(|a| a.iter().map(|s| translate(s, mode)).collect()).unwrap_or_default();
                let key = if k == "allOf" { "allOf" } else { "anyOf" };
                // Merge with an existing anyOf (oneOf + anyOf on the same object).
                if key == "anyOf" && out.contains_key("anyOf") {
                    let existing = out.remove("anyOf").unwrap_or(Value::Null);
                    out.insert(
                        "allOf".into(),
                        Value::Array(vec![
                            serde_json::json!({ "anyOf": existing }),
                            serde_json::json!({ "anyOf": arr }),
                        ]),
                    );
                } else {
                    out.insert(key.into(), Value::Array(arr));
                }
            }
            _ => {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    // An object-typed schema with a type keyword plus allOf/$ref: keep as is.
    if nullable {
        // Any nullable schema accepts null; enums get null added implicitly by the union.
        return serde_json::json!({ "anyOf": [ { "type": "null" }, Value::Object(out) ] });
    }
    Value::Object(out)
}

/// Ids are opaque (ENDPOINTS.md §9): accept strings and integers, no length constraints.
fn relax_id(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(t) = obj.get("type").and_then(Value::as_str)
        && (t == "string" || t == "integer")
    {
        obj.insert("type".into(), serde_json::json!(["string", "integer"]));
        obj.remove("minLength");
        obj.remove("maxLength");
        obj.remove("pattern");
        obj.remove("minimum");
        obj.remove("maximum");
    }
    if let Some(Value::Array(alts)) = obj.get_mut("anyOf") {
        for a in alts {
            relax_id(a);
        }
    }
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if k == "$ref"
                    && let Some(name) = val.as_str().and_then(|s| s.strip_prefix("#/$defs/"))
                {
                    out.insert(name.to_string());
                }
                collect_refs(val, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn compile(schema: &Value, defs: &Map<String, Value>) -> Option<Validator> {
    // Embed only the transitive closure of referenced definitions.
    let mut needed = BTreeSet::new();
    collect_refs(schema, &mut needed);
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = needed.iter().cloned().collect();
    while let Some(n) = queue.pop() {
        if !done.insert(n.clone()) {
            continue;
        }
        if let Some(d) = defs.get(&n) {
            let mut more = BTreeSet::new();
            collect_refs(d, &mut more);
            queue.extend(more.into_iter().filter(|m| !done.contains(m)));
        }
    }
    let mut root = match schema {
        Value::Object(m) => m.clone(),
        _ => return None,
    };
    let mut sub = Map::new();
    for n in &done {
        if let Some(d) = defs.get(n) {
            sub.insert(n.clone(), d.clone());
        }
    }
    root.insert("$defs".into(), Value::Object(sub));
    root.insert("$schema".into(), Value::String("https://json-schema.org/draft/2020-12/schema".into()));
    match jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(false)
        .build(&Value::Object(root))
    {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("could not compile schema: {e}");
            None
        }
    }
}

fn split_path(p: &str) -> Vec<&str> {
    p.split('/').filter(|s| !s.is_empty()).collect()
}

impl Spec {
    fn load() -> anyhow::Result<Spec> {
        let y: serde_norway::Value = serde_norway::from_str(SPEC_TEXT)?;
        let doc = yaml_to_json(y);
        let schemas = doc.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut req_defs = Map::new();
        let mut resp_defs = Map::new();
        for (k, v) in &schemas {
            req_defs.insert(k.clone(), translate(v, Mode::Request));
            resp_defs.insert(k.clone(), translate(v, Mode::Response));
        }
        // Custom attribute values are checked against data attributes by Intercom, not by
        // the schema (the spec's own examples send arrays for custom object references).
        req_defs.insert("custom_attributes".into(), serde_json::json!({ "type": "object" }));
        // Event metadata values may be text, numbers, dates, rich links and money: the operation's own
        // description documents all of them, though the schema says `additionalProperties: string`.
        if let Some(metadata) =
            req_defs.get_mut("create_data_event_request").and_then(|v| v.pointer_mut("/properties/metadata"))
        {
            *metadata = serde_json::json!({
                "type": "object",
                "additionalProperties": { "anyOf": [
                    { "type": ["string", "number", "integer", "boolean"] },
                    { "type": "object", "required": ["url", "value"] },
                    { "type": "object", "required": ["amount", "currency"] }
                ]}
            });
        }
        // Company custom attributes: the spec's own example sends `true` and `155.5` where the schema says
        // strings; Intercom checks them against the data attributes instead.
        for name in ["create_or_update_company_request", "update_company_request"] {
            if let Some(attributes) =
                req_defs.get_mut(name).and_then(|v| v.pointer_mut("/properties/custom_attributes"))
            {
                *attributes = serde_json::json!({ "type": "object" });
            }
        }
        // A contact quick reply carries `reply_options` and no `body` (spec example).
        if let Some(en) = req_defs
            .get_mut("contact_reply_base_request")
            .and_then(|v| v.pointer_mut("/properties/message_type/enum"))
            .and_then(Value::as_array_mut)
        {
            en.push(Value::String("quick_reply".into()));
        }
        if let Some(req) = req_defs
            .get_mut("contact_reply_base_request")
            .and_then(|v| v.get_mut("required"))
            .and_then(Value::as_array_mut)
        {
            req.retain(|f| f != "body");
        }
        // The spec's examples send `inapp` and `conversation` as well as `in_app`.
        if let Some(en) = req_defs
            .get_mut("create_message_request")
            .and_then(|v| v.pointer_mut("/anyOf/1/properties/message_type/enum"))
            .and_then(Value::as_array_mut)
        {
            en.push(Value::String("inapp".into()));
            en.push(Value::String("conversation".into()));
        }
        // Intercom accepts search groups that mix single filters and nested groups.
        if let Some(m) = req_defs
            .get_mut("multiple_filter_search_request")
            .and_then(|v| v.pointer_mut("/properties"))
            .and_then(Value::as_object_mut)
        {
            m.insert(
                "value".into(),
                serde_json::json!({
                    "type": "array",
                    "items": { "anyOf": [
                        { "$ref": "#/$defs/single_filter_search_request" },
                        { "$ref": "#/$defs/multiple_filter_search_request" }
                    ]}
                }),
            );
        }
        let mut ops = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                let shared: Vec<Value> = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
                for (method, op) in item {
                    if !matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
                        continue;
                    }
                    let mut params = Vec::new();
                    let all = shared.iter().chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten());
                    for p in all {
                        let p = resolve_param(&doc, p);
                        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                        if name == "Intercom-Version" {
                            continue;
                        }
                        params.push(Param {
                            name: name.to_string(),
                            location: p.get("in").and_then(Value::as_str).unwrap_or("").to_string(),
                            required: p.get("required").and_then(Value::as_bool) == Some(true),
                            schema: p.get("schema").cloned().unwrap_or(Value::Null),
                        });
                    }
                    let body = op.get("requestBody");
                    let body_schema = body.and_then(|b| b.pointer("/content/application~1json/schema")).cloned();
                    let body_examples = body
                        .and_then(|b| b.pointer("/content/application~1json/examples"))
                        .and_then(Value::as_object)
                        .map(|m| m.iter().filter_map(|(k, v)| v.get("value").map(|x| (k.clone(), x.clone()))).collect())
                        .unwrap_or_default();
                    let body_required = body.and_then(|b| b.get("required")).and_then(Value::as_bool).unwrap_or(false);
                    let mut responses = Vec::new();
                    if let Some(r) = op.get("responses").and_then(Value::as_object) {
                        for (status, resp) in r {
                            let resp = match resp.get("$ref").and_then(Value::as_str) {
                                Some(r) => doc
                                    .pointer(&r.trim_start_matches('#').replace("~", "~0"))
                                    .cloned()
                                    .unwrap_or(Value::Null),
                                None => resp.clone(),
                            };
                            let schema =
                                resp.pointer("/content/application~1json/schema").filter(|s| !s.is_null()).cloned();
                            responses.push((status.clone(), schema));
                        }
                    }
                    let segments = split_path(path)
                        .into_iter()
                        .map(|s| {
                            if s.starts_with('{') && s.ends_with('}') {
                                Seg::Param(s[1..s.len() - 1].to_string())
                            } else {
                                Seg::Lit(s.to_string())
                            }
                        })
                        .collect();
                    ops.push(Operation {
                        operation_id: op.get("operationId").and_then(Value::as_str).unwrap_or("").to_string(),
                        method: method.to_uppercase(),
                        path: path.clone(),
                        segments,
                        params,
                        body_schema,
                        body_required,
                        body_examples,
                        responses,
                        req_validator: OnceLock::new(),
                        resp_validators: OnceLock::new(),
                    });
                }
            }
        }
        let mut by_len: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            by_len.entry(op.segments.len()).or_default().push(i);
        }
        // Most literal segments first, so `/contacts/search` beats `/contacts/{id}`.
        for v in by_len.values_mut() {
            v.sort_by_key(|&i| {
                std::cmp::Reverse(
                    ops[i]
                        .segments
                        .iter()
                        .enumerate()
                        .map(|(pos, s)| if matches!(s, Seg::Lit(_)) { 1usize << (16 - pos.min(15)) } else { 0 })
                        .sum::<usize>(),
                )
            });
        }
        Ok(Spec { ops, req_defs, resp_defs, by_len })
    }

    /// Match a concrete request against the spec's operations.
    pub fn route(&self, method: &str, path: &str) -> RouteMatch<'_> {
        let segs = split_path(path);
        let Some(cands) = self.by_len.get(&segs.len()) else {
            return RouteMatch::NotFound;
        };
        let mut path_matched = false;
        for &i in cands {
            let op = &self.ops[i];
            let ok = op.segments.iter().zip(&segs).all(|(s, actual)| match s {
                Seg::Lit(l) => l == actual,
                Seg::Param(_) => true,
            });
            if !ok {
                continue;
            }
            if op.method == method {
                let params = op
                    .segments
                    .iter()
                    .zip(&segs)
                    .filter_map(|(s, actual)| match s {
                        Seg::Param(p) => Some((p.clone(), percent_decode(actual))),
                        Seg::Lit(_) => None,
                    })
                    .collect();
                return RouteMatch::Found(op, params);
            }
            path_matched = true;
        }
        if path_matched { RouteMatch::MethodNotAllowed } else { RouteMatch::NotFound }
    }

    /// The operation declared for this method and path template (e.g. `/contacts/{contact_id}`).
    pub fn operation(&self, method: &str, template: &str) -> Option<&Operation> {
        self.ops.iter().find(|o| o.method.eq_ignore_ascii_case(method) && o.path == template)
    }

    pub fn operation_by_id(&self, id: &str) -> Option<&Operation> {
        self.ops.iter().find(|o| o.operation_id == id)
    }

    /// Validate a response body against the schema the spec declares for `status`.
    /// `Ok(false)` means the spec declares no JSON schema for that status.
    pub fn validate_response(&self, op: &Operation, status: u16, body: &Value) -> Result<bool, String> {
        let validators = op.resp_validators.get_or_init(|| {
            let mut m = HashMap::new();
            for (st, schema) in &op.responses {
                if let Some(s) = schema
                    && let Some(v) = compile(&translate(s, Mode::Response), &self.resp_defs)
                {
                    m.insert(st.clone(), v);
                }
            }
            m
        });
        let key = status.to_string();
        let Some(v) = validators.get(&key) else {
            return Ok(false);
        };
        let errs: Vec<String> =
            v.iter_errors(body).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        if errs.is_empty() { Ok(true) } else { Err(errs.join("; ")) }
    }

    /// Validate a value against a named `components/schemas` entry (response dialect).
    pub fn validate_component(&self, name: &str, body: &Value) -> Result<(), String> {
        let schema = serde_json::json!({ "$ref": format!("#/$defs/{name}") });
        let v = compile(&schema, &self.resp_defs).ok_or_else(|| format!("no schema {name}"))?;
        let errs: Vec<String> =
            v.iter_errors(body).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
    }

    /// Validate a request body against the operation's requestBody schema.
    pub fn validate_request_body(&self, op: &Operation, body: &Value) -> Result<(), Invalid> {
        let v = op.req_validator.get_or_init(|| {
            op.body_schema.as_ref().and_then(|s| compile(&translate(s, Mode::Request), &self.req_defs))
        });
        let Some(v) = v else {
            return Ok(());
        };
        match v.validate(body) {
            Ok(()) => Ok(()),
            Err(e) => Err(map_error(&e)),
        }
    }
}

fn resolve_param(doc: &Value, p: &Value) -> Value {
    match p.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).cloned().unwrap_or(Value::Null),
        None => p.clone(),
    }
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pointer_to_field(p: &str) -> String {
    p.trim_start_matches('/').replace('/', ".")
}

fn join_field(base: &str, prop: &str) -> String {
    if base.is_empty() { prop.to_string() } else { format!("{base}.{prop}") }
}

/// Map a JSON-Schema error onto Intercom's `parameter_not_found` / `parameter_invalid`.
fn map_error(e: &ValidationError<'_>) -> Invalid {
    let base = pointer_to_field(e.instance_path().as_str());
    match e.kind() {
        ValidationErrorKind::Required { property } => {
            let prop = property.as_str().unwrap_or("").to_string();
            let field = join_field(&base, &prop);
            Invalid { code: "parameter_not_found", message: format!("{field} is required"), field }
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Ignore `null` alternatives of nullable schemas when the value is not null,
            // then report the branch that got furthest (fewest errors, deepest path).
            let here = e.instance_path().as_str();
            let not_null_branch = |c: &&Vec<ValidationError<'static>>| {
                !(c.len() == 1
                    && matches!(c[0].kind(), ValidationErrorKind::Type { .. })
                    && c[0].instance_path().as_str() == here
                    && c[0].to_string().contains("\"null\""))
            };
            let has_real = context.iter().filter(|c| !c.is_empty()).any(|c| not_null_branch(&c));
            let best =
                context.iter().filter(|c| !c.is_empty()).filter(|c| !has_real || not_null_branch(c)).min_by_key(|c| {
                    let depth = c.iter().map(|e| e.instance_path().as_str().len()).max().unwrap_or(0);
                    (c.len(), std::cmp::Reverse(depth))
                });
            match best.and_then(|b| b.first()) {
                Some(inner) => map_error(inner),
                None => Invalid {
                    code: "parameter_invalid",
                    message: if base.is_empty() {
                        "Invalid request body".to_string()
                    } else {
                        format!("{base} is invalid")
                    },
                    field: base,
                },
            }
        }
        ValidationErrorKind::Type { .. } => Invalid {
            code: "parameter_invalid",
            message: format!("{} has the wrong type: {e}", field_or_body(&base)),
            field: base,
        },
        ValidationErrorKind::Enum { options } => Invalid {
            code: "parameter_invalid",
            message: format!("{} must be one of {}", field_or_body(&base), options),
            field: base,
        },
        _ => Invalid {
            code: "parameter_invalid",
            message: format!("{} is invalid: {e}", field_or_body(&base)),
            field: base,
        },
    }
}

fn field_or_body(f: &str) -> &str {
    if f.is_empty() { "body" } else { f }
}

/// Check a query/path parameter value against its declared primitive type.
pub fn check_param_type(p: &Param, value: &str) -> bool {
    // Ids are opaque strings even where the spec says integer.
    if p.location == "path" || is_id_name(&p.name) {
        return true;
    }
    match p.schema.get("type").and_then(Value::as_str) {
        Some("integer") => value.parse::<i64>().is_ok(),
        Some("number") => value.parse::<f64>().is_ok(),
        Some("boolean") => matches!(value, "true" | "false"),
        _ => true,
    }
}
