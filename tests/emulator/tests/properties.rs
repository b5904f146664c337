//! Property tests of the search query language: `search::parse` (and `search::eval` over what it
//! accepts) never panics on any JSON, and refuses what it cannot read with a 4xx error that has a code
//! and a message; `POST /contacts/search`, strict and lenient, answers any body, JSON or not, within
//! seconds with a list or a 4xx in Intercom's error shape (`{"type": "error.list", "errors": [...]}`),
//! never a 5xx or a dropped connection.
//!
//! Bounded for a 2-core machine: at most 256 cases per property, each under proptest's `timeout`.

use intercom_emulator::api::{contacts, conversations, tickets};
use intercom_emulator::search::{self, DateMode, FType, FVal};
use intercom_emulator::{EmulatorConfig, RunningEmulator, Seed};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use std::time::Duration;

/// `cases` per property; a case that takes longer than 10 s fails; shrinking stops after 10 s.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, timeout: 10_000, max_shrink_time: 10_000, ..ProptestConfig::default() }
}

const OPERATORS: &[&str] =
    &["AND", "OR", "=", "!=", "IN", "NIN", "<", "<=", ">", ">=", "~", "!~", "^", "$", "and", "XOR", "", "=="];

const FIELDS: &[&str] = &[
    "id",
    "email",
    "name",
    "role",
    "created_at",
    "updated_at",
    "last_seen_at",
    "signed_up_at",
    "unsubscribed_from_emails",
    "tag_id",
    "company_ids",
    "custom_attributes.plan",
    "custom_attributes.",
    "location.country",
    "state",
    "open",
    "source.body",
    "contact_ids",
    "ticket_attributes._default_title_",
    "nope",
    "",
];

const KEYS: &[&str] =
    &["operator", "field", "value", "query", "pagination", "per_page", "starting_after", "sort", "order"];

/// The whole range of integers: the day arithmetic on dates saturates at the edges (it overflowed
/// before; see [`date_day_arithmetic_at_the_i64_edges`]).
const DAY_SAFE_MIN: i64 = i64::MIN;
const DAY_SAFE_MAX: i64 = i64::MAX;

/// Numbers at the edges (day arithmetic on dates, float-to-int) and ordinary ones.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (DAY_SAFE_MIN..=DAY_SAFE_MAX).prop_map(Value::from),
        2 => proptest::sample::select(vec![
            DAY_SAFE_MIN, -86_400, -1, 0, 1, 86_399, 86_400, 1_700_000_000, DAY_SAFE_MAX,
        ])
        .prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => proptest::num::f64::NORMAL.prop_map(Value::from),
        1 => proptest::sample::select(vec![1e300, -1e300, 0.5, -0.5, 9.3e18, -9.3e18]).prop_map(Value::from),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => proptest::sample::select(FIELDS).prop_map(str::to_string),
        2 => proptest::sample::select(OPERATORS).prop_map(str::to_string),
        1 => proptest::sample::select(vec!["true", "false", "1700000000", " 42 ", "-0", "ascending", "descending"])
            .prop_map(str::to_string),
        2 => any::<String>().prop_map(|s| s.chars().take(24).collect()),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        3 => number(),
        3 => text().prop_map(Value::from),
    ]
}

/// Any JSON value, with keys that mean something to a search more often than not.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![3 => proptest::sample::select(KEYS).prop_map(str::to_string), 1 => text()];
    leaf().prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A query as a client writes one, right or wrong: filters and groups, nested past the limit, with
/// keys missing, values of the wrong type and too many children now and then.
fn query() -> impl Strategy<Value = Value> {
    let filter = (
        proptest::option::weighted(0.95, proptest::sample::select(OPERATORS)),
        proptest::option::weighted(0.9, proptest::sample::select(FIELDS)),
        proptest::option::weighted(
            0.9,
            prop_oneof![3 => leaf(), 1 => proptest::collection::vec(leaf(), 0..4).prop_map(Value::Array)],
        ),
    )
        .prop_map(|(operator, field, value)| {
            let mut object = Map::new();
            if let Some(operator) = operator {
                object.insert("operator".into(), operator.into());
            }
            if let Some(field) = field {
                object.insert("field".into(), field.into());
            }
            if let Some(value) = value {
                object.insert("value".into(), value);
            }
            Value::Object(object)
        });
    let filter = prop_oneof![8 => filter, 1 => json_value()];
    filter.prop_recursive(4, 64, 18, |inner| {
        (
            proptest::sample::select(vec!["AND", "OR", "AND", "OR", "=", "and"]),
            prop_oneof![
                6 => proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                1 => proptest::collection::vec(inner.clone(), 14..18).prop_map(Value::Array),
                1 => inner,
            ],
        )
            .prop_map(|(operator, value)| json!({ "operator": operator, "value": value }))
    })
}

/// A search body: a query, sometimes pagination and sort, sometimes no query or not an object at all.
fn body() -> impl Strategy<Value = Value> {
    (
        prop_oneof![6 => query().prop_map(Some), 1 => json_value().prop_map(Some), 1 => Just(None)],
        proptest::option::weighted(0.3, json_value()),
        proptest::option::weighted(0.2, json_value()),
        proptest::option::weighted(
            0.3,
            (prop_oneof![Just(Value::Null), number(), text().prop_map(Value::from)], text()),
        ),
    )
        .prop_map(|(query, sort, other, pagination)| {
            let mut body = Map::new();
            if let Some(query) = query {
                body.insert("query".into(), query);
            }
            if let Some(sort) = sort {
                body.insert("sort".into(), sort);
            }
            if let Some(other) = other {
                body.insert("extra".into(), other);
            }
            if let Some((per_page, after)) = pagination {
                body.insert("pagination".into(), json!({ "per_page": per_page, "starting_after": after }));
            }
            Value::Object(body)
        })
}

type FieldType = fn(&str) -> Option<FType>;

/// What a record holds for a field, whatever its type: evaluation must cope with every mix.
fn values() -> Vec<FVal> {
    vec![
        FVal::Null,
        FVal::Str("Ada@Example.com".into()),
        FVal::Str(String::new()),
        FVal::Int(1_700_000_000),
        FVal::Int(i64::MIN),
        FVal::Int(i64::MAX),
        FVal::Bool(true),
        FVal::List(vec!["a".into(), "B".into()]),
        FVal::List(Vec::new()),
    ]
}

fn check_parse(query: &Value) {
    let languages: [(FieldType, DateMode); 3] = [
        (contacts::field_type, DateMode::Day),
        (conversations::field_type, DateMode::Inclusive),
        (tickets::field_type, DateMode::Inclusive),
    ];
    for (field_type, date_mode) in languages {
        match search::parse(query, &field_type, date_mode) {
            Ok(node) => {
                for value in values() {
                    search::eval(&node, &|_| value.clone(), date_mode);
                }
            }
            Err(error) => {
                assert!(error.status.is_client_error(), "{query}: refused with {}", error.status);
                assert!(!error.code.is_empty() && !error.message.trim().is_empty(), "{query}: {error:?}");
                let body = error.body("req");
                assert_eq!(body["type"], "error.list");
                assert_eq!(body["errors"][0]["code"], error.code.as_str());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn parse_survives_any_json(value in json_value()) {
        check_parse(&value);
    }

    #[test]
    fn parse_survives_query_shaped_json(query in query()) {
        check_parse(&query);
    }
}

#[test]
fn parse_refuses_what_intercom_refuses() {
    let cases = [
        json!("not an object"),
        json!({ "field": "email", "value": "a" }),
        json!({ "operator": "=", "value": "a" }),
        json!({ "operator": "=", "field": "nope", "value": "a" }),
        json!({ "operator": "IN", "field": "email", "value": "a" }),
        json!({ "operator": "AND", "value": [] }),
        // Groups nest 3 deep at most (the root group and two below it).
        json!({ "operator": "AND", "value": [{ "operator": "OR", "value": [{ "operator": "AND", "value": [
            { "operator": "OR", "value": [{ "operator": "=", "field": "email", "value": "a" }] }] }] }] }),
    ];
    for query in cases {
        let error = search::parse(&query, &contacts::field_type, DateMode::Day).expect_err(&query.to_string());
        assert_eq!(error.status.as_u16(), 400, "{query}");
    }
    search::parse(&json!({ "operator": "=", "field": "email", "value": "a" }), &contacts::field_type, DateMode::Day)
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Through HTTP.

struct Server {
    tokio: tokio::runtime::Runtime,
    strict: RunningEmulator,
    lenient: RunningEmulator,
    http: reqwest::Client,
}

/// Two emulators with the demo workspace (so accepted queries are evaluated against contacts), one
/// strict and one not (so bodies the spec refuses still reach the parser), and no rate limit to speak of.
static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let spawn = |strict: bool| {
        let config = EmulatorConfig {
            strict,
            seed: Some(Seed::Demo),
            rate_limit_per_window: 1_000_000,
            ..EmulatorConfig::default()
        };
        tokio.block_on(intercom_emulator::spawn(config)).expect("the emulator starts")
    };
    let (strict, lenient) = (spawn(true), spawn(false));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(8)).build().unwrap();
    Server { tokio, strict, lenient, http }
});

/// Sends `body` (raw bytes) to `POST /contacts/search`; checks the answer's shape; returns its status.
fn search_raw(emulator: &RunningEmulator, body: Vec<u8>) -> u16 {
    let server = &*SERVER;
    let (status, text) = server.tokio.block_on(async {
        let response = server
            .http
            .post(format!("{}/contacts/search", emulator.base_url()))
            .bearer_auth(emulator.token())
            .header("Intercom-Version", "2.16")
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer (hung or dropped) to {}: {e}", String::from_utf8_lossy(&body)));
        let status = response.status().as_u16();
        (status, response.text().await.expect("the answer's body"))
    });
    let shown = String::from_utf8_lossy(&body);
    let answer: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{shown}: answer {status} is not JSON ({e}): {text}"));
    match status {
        200 => {
            assert_eq!(answer["type"], "list", "{shown}: {answer}");
            assert!(answer["data"].is_array(), "{shown}: {answer}");
        }
        400..=499 => {
            assert_eq!(answer["type"], "error.list", "{shown}: {answer}");
            assert!(answer["request_id"].is_string(), "{shown}: {answer}");
            let first = &answer["errors"][0];
            assert!(first["code"].as_str().is_some_and(|c| !c.is_empty()), "{shown}: {answer}");
            assert!(first["message"].as_str().is_some_and(|m| !m.trim().is_empty()), "{shown}: {answer}");
        }
        other => panic!("{shown}: answered {other}: {answer}"),
    }
    status
}

fn check_search(body: &Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let malformed = match body.get("query") {
        Some(query) => search::parse(query, &contacts::field_type, DateMode::Day).is_err(),
        None => true,
    };
    for emulator in [&SERVER.strict, &SERVER.lenient] {
        let status = search_raw(emulator, bytes.clone());
        if malformed {
            assert!((400..500).contains(&status), "{body}: a malformed query was answered {status}");
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn search_endpoint_answers_any_body(body in body()) {
        check_search(&body);
    }

    #[test]
    fn search_endpoint_answers_any_json(body in json_value()) {
        check_search(&body);
    }

    #[test]
    fn search_endpoint_answers_bytes_that_are_not_json(bytes in proptest::collection::vec(any::<u8>(), 1..256)) {
        prop_assume!(serde_json::from_slice::<Value>(&bytes).is_err());
        prop_assume!(!bytes.iter().all(u8::is_ascii_whitespace));
        for emulator in [&SERVER.strict, &SERVER.lenient] {
            let status = search_raw(emulator, bytes.clone());
            prop_assert!((400..500).contains(&status), "not JSON, answered {}", status);
        }
    }
}

#[test]
fn a_good_query_finds_contacts() {
    // The properties above only hold against an emulator that answers: a good query gets a list.
    let body = json!({ "query": { "operator": "AND", "value": [
        { "operator": "~", "field": "email", "value": "@" },
        { "operator": ">", "field": "created_at", "value": 0 },
    ] } });
    for emulator in [&SERVER.strict, &SERVER.lenient] {
        assert_eq!(search_raw(emulator, serde_json::to_vec(&body).unwrap()), 200);
    }
}

/// A date within a day of the ends of i64 (`{"operator": "=", "field": "created_at", "value":
/// 9223372036854775807}`) overflows `v - v.rem_euclid(86_400)` / `day + 86_400` in
/// `search::eval_filter`: a panic in a debug build (the HTTP connection is dropped), a wrapped
/// comparison in a release build. Found by `parse_survives_query_shaped_json`.
#[test]
fn date_day_arithmetic_at_the_i64_edges() {
    for value in [i64::MIN, i64::MAX] {
        for op in ["=", "<", ">"] {
            let query = json!({ "operator": op, "field": "created_at", "value": value });
            let node = search::parse(&query, &contacts::field_type, DateMode::Day).unwrap();
            search::eval(&node, &|_| FVal::Int(1_700_000_000), DateMode::Day);
        }
    }
}

#[test]
fn date_edges_over_http() {
    for value in [i64::MIN, i64::MAX] {
        let body = json!({ "query": { "operator": "=", "field": "created_at", "value": value } });
        for emulator in [&SERVER.strict, &SERVER.lenient] {
            search_raw(emulator, serde_json::to_vec(&body).unwrap());
        }
    }
}
