mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::*;
use intercom_emulator::{EmulatorConfig, Faults, Seed};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn pagination_loses_and_repeats_nothing_under_concurrent_writes() {
    let (_emu, c) = start_default().await;
    let mut existing = HashSet::new();
    for i in 0..120 {
        let r = c.post("/contacts", json!({"email": format!("pg{i}@example.com")})).await;
        existing.insert(id(&r.body));
    }
    // Writer: keeps creating and updating contacts while the reader pages.
    let writer = {
        let w = c.with_token(&c.token);
        tokio::spawn(async move {
            for i in 0..60 {
                let r = w.post("/contacts", json!({"email": format!("new{i}@example.com")})).await;
                assert_eq!(r.status, 200);
                tokio::task::yield_now().await;
            }
        })
    };
    for (path, search) in [("/contacts?per_page=7", false), ("/contacts/search", true)] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let r = if search {
                let mut p = json!({"per_page": 7});
                if let Some(cur) = &cursor {
                    p["starting_after"] = json!(cur);
                }
                c.post(
                    path,
                    json!({"query": {"field": "email", "operator": "~", "value": "@example.com"},
                           "sort": {"field": "created_at", "order": "ascending"},
                           "pagination": p}),
                )
                .await
            } else {
                let p = match &cursor {
                    Some(cur) => format!("{path}&starting_after={cur}"),
                    None => path.to_string(),
                };
                c.get(&p).await
            };
            assert_eq!(r.status, 200, "{}", r.body);
            for d in r.body["data"].as_array().unwrap() {
                seen.push(id(d));
            }
            match r.body["pages"]["next"]["starting_after"].as_str() {
                Some(n) => cursor = Some(n.to_string()),
                None => break,
            }
        }
        let set: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(set.len(), seen.len(), "{path}: a record was repeated");
        assert!(existing.is_subset(&set), "{path}: a record was lost");
    }
    writer.await.unwrap();
}

async fn search_count(c: &Client, path: &str, query: Value) -> (u16, i64) {
    let r = c.post(path, json!({"query": query})).await;
    (r.status, r.body["total_count"].as_i64().unwrap_or(-1))
}

#[tokio::test]
async fn search_operators_and_contact_date_days() {
    let (emu, c) = start_default().await;
    let day = 1_577_836_800; // 2020-01-01T00:00:00Z
    let st = emu.state();
    st.clock().freeze_at(day + 9 * 3600);
    let a = c
        .post(
            "/contacts",
            json!({"email": "ann@alpha.io", "name": "Ann Alpha",
                   "custom_attributes": {"seats": 5}}),
        )
        .await;
    st.clock().freeze_at(day + 86_400 + 60);
    let b = c
        .post(
            "/contacts",
            json!({"email": "bob@beta.io", "name": "Bob Beta", "role": "lead",
                   "unsubscribed_from_emails": true, "custom_attributes": {"seats": 50}}),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(b.status, 200);
    let p = "/contacts/search";
    let q = |f: &str, op: &str, v: Value| json!({"field": f, "operator": op, "value": v});
    // Strings.
    assert_eq!(search_count(&c, p, q("email", "=", json!("ann@alpha.io"))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("email", "!=", json!("ann@alpha.io"))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("name", "~", json!("beta"))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("name", "!~", json!("beta"))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("email", "^", json!("bob"))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("email", "$", json!(".io"))).await, (200, 2));
    assert_eq!(search_count(&c, p, q("role", "IN", json!(["user", "lead"]))).await, (200, 2));
    assert_eq!(search_count(&c, p, q("role", "NIN", json!(["lead"]))).await, (200, 1));
    // Booleans and integers.
    assert_eq!(search_count(&c, p, q("unsubscribed_from_emails", "=", json!(true))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("custom_attributes.seats", ">", json!(10))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("custom_attributes.seats", "<=", json!(5))).await, (200, 1));
    // Dates by calendar day (UTC).
    assert_eq!(search_count(&c, p, q("created_at", "=", json!(day + 3600))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("created_at", ">", json!(day + 23 * 3600))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("created_at", ">", json!(day - 1))).await, (200, 2));
    assert_eq!(search_count(&c, p, q("created_at", "<", json!(day + 86_400 + 3600))).await, (200, 1));
    assert_eq!(search_count(&c, p, q("created_at", "=", json!(format!("{day}")))).await, (200, 1));
    for op in ["!=", ">=", "<="] {
        assert_eq!(search_count(&c, p, q("created_at", op, json!(day))).await.0, 400);
    }
    assert_eq!(search_count(&c, p, q("created_at", "IN", json!([day]))).await.0, 400);
    // Type checks and limits.
    assert_eq!(search_count(&c, p, q("created_at", "=", json!("foorbar"))).await.0, 400);
    assert_eq!(search_count(&c, p, q("no_such_field", "=", json!("x"))).await.0, 400);
    assert_eq!(search_count(&c, p, q("email", ">", json!("x"))).await.0, 400);
    let many: Vec<Value> = (0..16).map(|i| q("name", "=", json!(format!("n{i}")))).collect();
    assert_eq!(search_count(&c, p, json!({"operator": "OR", "value": many})).await.0, 400);
    let deep = json!({"operator": "AND", "value": [{"operator": "OR", "value": [
        {"operator": "AND", "value": [{"operator": "OR", "value": [q("name", "=", json!("x"))]}]}]}]});
    assert_eq!(search_count(&c, p, deep).await.0, 400);
    let nested = json!({"operator": "AND", "value": [
        {"operator": "OR", "value": [q("email", "^", json!("ann")), q("email", "^", json!("bob"))]},
        {"operator": "OR", "value": [q("role", "=", json!("lead")), q("name", "~", json!("zzz"))]}]});
    assert_eq!(search_count(&c, p, nested).await, (200, 1));
    // Sorting.
    let r = c
        .post(
            p,
            json!({"query": q("email", "$", json!(".io")),
                        "sort": {"field": "created_at", "order": "ascending"}}),
        )
        .await;
    assert_eq!(r.body["data"][0]["email"], "ann@alpha.io");
    let r = c
        .post(
            p,
            json!({"query": q("email", "$", json!(".io")),
                        "sort": {"field": "created_at", "order": "descending"}}),
        )
        .await;
    assert_eq!(r.body["data"][0]["email"], "bob@beta.io");
    // Conversations: full-precision inclusive dates.
    let conv =
        c.post("/conversations", json!({"from": {"type": "user", "id": id(&a.body)}, "body": "Hello world"})).await;
    assert_eq!(conv.status, 200);
    let now = st.now();
    let cp = "/conversations/search";
    assert_eq!(search_count(&c, cp, q("created_at", ">", json!(now))).await, (200, 1));
    assert_eq!(search_count(&c, cp, q("created_at", "<", json!(now - 1))).await, (200, 0));
    assert_eq!(search_count(&c, cp, q("source.body", "~", json!("world"))).await, (200, 1));
    assert_eq!(search_count(&c, cp, q("source.body", "~", json!("wor"))).await, (200, 0));
}

#[tokio::test]
async fn oauth_code_flow_expiry_and_reuse() {
    let (emu, c) = start_default().await;
    let st = emu.state();
    st.clock().freeze_at(1_800_000_000);
    st.add_oauth_client("my-app", "s3cret", vec!["https://app.example.com/cb".into()]);
    let second = st.add_workspace("Second", "EU", "second-token");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let authorize = |ws: Option<&str>| {
        let mut url =
            format!("{}/oauth?client_id=my-app&state=xyz&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", c.base);
        if let Some(w) = ws {
            url.push_str(&format!("&workspace={w}"));
        }
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 302);
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            assert!(loc.starts_with("https://app.example.com/cb?code="), "{loc}");
            assert!(loc.ends_with("&state=xyz"), "{loc}");
            loc.split("code=").nth(1).unwrap().split('&').next().unwrap().to_string()
        }
    };
    let exchange = |code: String, secret: &str, form: bool| {
        let http = http.clone();
        let url = format!("{}/auth/eagle/token", c.base);
        let secret = secret.to_string();
        async move {
            let params = [("code", code.as_str()), ("client_id", "my-app"), ("client_secret", &secret)];
            let rb = http.post(url);
            let rb = if form {
                rb.form(&params)
            } else {
                rb.json(&json!({"code": code, "client_id": "my-app", "client_secret": secret}))
            };
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Happy path (form-encoded) and reuse.
    let code = authorize(None).await;
    let (s, body) = exchange(code.clone(), "s3cret", true).await;
    assert_eq!(s, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(body["token"], token.as_str());
    assert_eq!(body["token_type"], "Bearer");
    let me = c.with_token(&token).get("/me").await;
    assert_eq!(me.status, 200);
    let (s, body) = exchange(code, "s3cret", true).await;
    assert_eq!(s, 400);
    assert_eq!(body["errors"][0]["code"], "invalid_grant");
    // Wrong secret.
    let code = authorize(None).await;
    assert_eq!(exchange(code.clone(), "nope", false).await.0, 401);
    // Expiry after 5 minutes (JSON body).
    st.clock().advance(301);
    let (s, body) = exchange(code, "s3cret", false).await;
    assert_eq!(s, 400);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("expired"));
    let code = authorize(None).await;
    st.clock().advance(299);
    assert_eq!(exchange(code, "s3cret", false).await.0, 200);
    // A token for the second workspace.
    let code = authorize(Some(&second)).await;
    let (_, body) = exchange(code, "s3cret", false).await;
    let t2 = body["access_token"].as_str().unwrap().to_string();
    let me2 = c.with_token(&t2).get("/me").await;
    assert_eq!(me2.body["app"]["id_code"], second.as_str());
    assert_eq!(me2.body["app"]["region"], "EU");
    // Manual approval.
    st.set_oauth_auto_approve(false);
    let r = http
        .get(format!("{}/oauth?client_id=my-app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("approve=1"));
}

#[tokio::test]
async fn workspaces_are_isolated() {
    let (emu, c) = start_default().await;
    let id_code = emu.state().add_workspace("Other", "AU", "other-token");
    let other = c.with_token("other-token");
    let a = c.post("/contacts", json!({"email": "iso@example.com"})).await;
    let aid = id(&a.body);
    assert_eq!(other.get(&format!("/contacts/{aid}")).await.status, 404);
    let s = other
        .post("/contacts/search", json!({"query": {"field": "email", "operator": "=", "value": "iso@example.com"}}))
        .await;
    assert_eq!(s.body["total_count"], 0);
    // The same email may exist in both workspaces.
    assert_eq!(other.post("/contacts", json!({"email": "iso@example.com"})).await.status, 200);
    let me = other.get("/me").await;
    assert_eq!(me.body["app"]["id_code"], id_code.as_str());
    assert_eq!(me.body["app"]["region"], "AU");
    assert_ne!(c.get("/me").await.body["app"]["id_code"], id_code.as_str());
    // Rate limits are per workspace.
    emu.state().set_rate_limit(3);
    emu.state().clock().freeze_at(1_800_000_000);
    for _ in 0..3 {
        assert_eq!(c.get("/me").await.status, 200);
    }
    assert_eq!(c.get("/me").await.status, 429);
    assert_eq!(other.get("/me").await.status, 200);
}

#[tokio::test]
async fn fault_knobs() {
    let (emu, c) = start_default().await;
    let st = emu.state();
    st.set_faults(Faults { error_500_rate: 1.0, ..Default::default() });
    let r = c.get("/me").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["type"], "error.list");
    st.set_faults(Faults { error_429_rate: 1.0, ..Default::default() });
    let r = c.get("/me").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error_code(), "rate_limit_exceeded");
    st.set_faults(Faults { latency_ms: 150, ..Default::default() });
    let t = Instant::now();
    assert_eq!(c.get("/me").await.status, 200);
    assert!(t.elapsed().as_millis() >= 150);
    st.set_faults(Faults { drop_rate: 1.0, ..Default::default() });
    let r = c.http.get(format!("{}/me", c.base)).bearer_auth(&c.token).send().await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection must not yield a complete response");
    // Search lag: records invisible to search for N seconds after a write.
    st.set_faults(Faults { search_lag_secs: 30, ..Default::default() });
    c.post("/contacts", json!({"email": "lag@example.com"})).await;
    let q = json!({"query": {"field": "email", "operator": "=", "value": "lag@example.com"}});
    assert_eq!(c.post("/contacts/search", q.clone()).await.body["total_count"], 0);
    st.clock().advance(31);
    assert_eq!(c.post("/contacts/search", q.clone()).await.body["total_count"], 1);
    // Run-time control through the admin endpoints.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_emulator/faults", c.base))
        .json(&json!({"error_500_rate": 1.0, "search_lag_secs": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.get("/me").await.status, 500);
    http.post(format!("{}/_emulator/faults", c.base)).json(&json!({"error_500_rate": 0.0})).send().await.unwrap();
    assert_eq!(c.get("/me").await.status, 200);
    let r = http.post(format!("{}/_emulator/reset", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.post("/contacts/search", q).await.body["total_count"], 0);
}

#[tokio::test]
async fn request_counts_count_dispatched_requests_only() {
    let (emu, c) = start_default().await;
    let st = emu.state();
    let http = reqwest::Client::new();
    let admin_counts = || async {
        let r = http.get(format!("{}/_emulator/requests", c.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    assert!(st.request_counts().is_empty());
    assert_eq!(admin_counts().await, json!({}));

    // One per dispatched request, keyed by method + the spec's path template.
    assert_eq!(c.get("/me").await.status, 200);
    assert_eq!(st.request_count("GET /me"), 1);
    assert_eq!(c.get("/me").await.status, 200);
    assert_eq!(st.request_count("GET /me"), 2);
    let r = c.post("/contacts", json!({"email": "count@example.com"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cid = id(&r.body);
    assert_eq!(c.get(&format!("/contacts/{cid}")).await.status, 200);
    assert_eq!(c.get("/contacts/000000000000000000000000").await.status, 404);
    let q = json!({"query": {"field": "email", "operator": "=", "value": "count@example.com"}});
    assert_eq!(c.post("/contacts/search", q).await.status, 200);
    assert_eq!(st.request_count("POST /contacts"), 1);
    assert_eq!(st.request_count("GET /contacts/{contact_id}"), 2, "a handler's 404 is counted");
    assert_eq!(st.request_count("POST /contacts/search"), 1);
    assert_eq!(st.request_count("GET /contacts"), 0);
    assert_eq!(st.request_count("nonsense"), 0);

    // Refused before a handler: not counted.
    assert_eq!(c.with_token("wrong").get("/me").await.status, 401);
    assert_eq!(c.get_as(Some("9.9"), "/me").await.status, 400);
    assert_eq!(c.get("/no/such/path").await.status, 404);
    assert_eq!(c.post("/contacts", json!({"email": 5})).await.status, 400);
    st.set_faults(Faults { error_500_rate: 1.0, ..Default::default() });
    assert_eq!(c.get("/me").await.status, 500);
    st.set_faults(Faults { error_429_rate: 1.0, ..Default::default() });
    assert_eq!(c.get("/me").await.status, 429);
    st.set_faults(Faults { drop_rate: 1.0, ..Default::default() });
    let r = c.http.get(format!("{}/me", c.base)).bearer_auth(&c.token).send().await;
    assert!(match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    });
    st.set_faults(Faults::default());
    st.set_rate_limit(0);
    assert_eq!(c.get("/me").await.status, 429);
    st.set_rate_limit(1000);
    let expected =
        [("GET /contacts/{contact_id}", 2u64), ("GET /me", 2), ("POST /contacts", 1), ("POST /contacts/search", 1)];
    let expected: std::collections::BTreeMap<String, u64> = expected.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(st.request_counts(), expected);
    assert_eq!(admin_counts().await, serde_json::to_value(&expected).unwrap());

    // Zeroed by /_emulator/requests/reset ...
    let r = http.post(format!("{}/_emulator/requests/reset", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(st.request_counts().is_empty());
    assert_eq!(admin_counts().await, json!({}));
    // ... and by the world reset (library and endpoint).
    c.get("/me").await;
    assert_eq!(st.request_count("GET /me"), 1);
    st.reset();
    assert_eq!(st.request_count("GET /me"), 0);
    c.get("/me").await;
    let r = http.post(format!("{}/_emulator/reset", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(st.request_counts().is_empty());
}

#[tokio::test]
async fn response_delay_holds_the_answer_of_an_applied_write() {
    let (emu, c) = start_default().await;
    let st = emu.state();
    let tt = id(&c.get("/ticket_types").await.body["data"][0]);
    // Settable through the admin endpoint, merged with the other knobs.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_emulator/faults", c.base))
        .json(&json!({"response_delay_ms": 1500}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["response_delay_ms"], 1500);
    assert_eq!(st.faults(), Faults { response_delay_ms: 1500, ..Default::default() });
    st.reset_request_counts();

    // The client gives up before the answer; the ticket exists and was counted anyway.
    let t = Instant::now();
    let r = c
        .http
        .post(format!("{}/tickets", c.base))
        .bearer_auth(&c.token)
        .timeout(std::time::Duration::from_millis(300))
        .json(&json!({"ticket_type_id": tt, "contacts": [{"email": "delayed@example.com"}]}))
        .send()
        .await;
    let elapsed = t.elapsed();
    let err = r.expect_err("the response must be held past the client timeout");
    assert!(err.is_timeout(), "{err}");
    assert!(elapsed.as_millis() < 1000, "{elapsed:?}");
    assert_eq!(st.request_count("POST /tickets"), 1);
    assert_eq!(st.with_workspace(|ws| ws.tickets.len()), 1);
    assert!(st.with_workspace(|ws| ws.contact_by_email("delayed@example.com").is_some()));

    // A patient client gets the answer, no earlier than the delay.
    st.set_faults(Faults { response_delay_ms: 200, ..Default::default() });
    let t = Instant::now();
    let r = c.get("/me").await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed().as_millis() >= 200);
    // Requests refused before a handler are not held.
    st.set_faults(Faults { response_delay_ms: 1500, ..Default::default() });
    let t = Instant::now();
    assert_eq!(c.with_token("wrong").get("/me").await.status, 401);
    assert!(t.elapsed().as_millis() < 1000);
}

#[tokio::test]
async fn companies_scroll_and_list() {
    let (emu, c) = start(EmulatorConfig { seed: Some(Seed::Demo), ..Default::default() }).await;
    // Companies without contacts are hidden from lists.
    let lonely = c.post("/companies", json!({"company_id": "lonely", "name": "Lonely"})).await;
    let lonely_id = id(&lonely.body);
    let mut seen = HashSet::new();
    let first = c.get("/companies/scroll").await;
    assert_eq!(first.status, 200);
    let param = first.body["scroll_param"].as_str().unwrap().to_string();
    for d in first.body["data"].as_array().unwrap() {
        seen.insert(id(d));
    }
    // Only one scroll at a time.
    let again = c.get("/companies/scroll").await;
    assert_eq!(again.status, 400);
    assert_eq!(again.error_code(), "scroll_exists");
    loop {
        let r = c.get(&format!("/companies/scroll?scroll_param={param}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let data = r.body["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        for d in data {
            assert!(seen.insert(id(d)), "repeated company");
        }
    }
    assert!(!seen.contains(&lonely_id));
    assert!(seen.len() >= 20);
    // A finished scroll can be restarted; an idle one expires after a minute.
    assert_eq!(c.get("/companies/scroll").await.status, 200);
    assert_eq!(c.get("/companies/scroll").await.status, 400);
    emu.state().clock().advance(61);
    assert_eq!(c.get("/companies/scroll").await.status, 200);
    let l = c.post("/companies/list?per_page=5&page=2", json!(null)).await;
    assert_eq!(l.status, 200);
    assert_eq!(l.body["pages"]["page"], 2);
    assert_eq!(l.body["data"].as_array().unwrap().len(), 5);
    // Delete archives and detaches.
    let target = c.get("/companies?company_id=cmp-0002").await;
    let cid = id(&target.body["data"][0]);
    assert!(target.body["data"][0]["user_count"].as_i64().unwrap() > 0);
    assert_eq!(c.delete(&format!("/companies/{cid}")).await.status, 200);
    assert_eq!(c.get(&format!("/companies/{cid}")).await.status, 404);
    assert_eq!(c.get(&format!("/companies/{cid}/contacts")).await.status, 404);
}

#[tokio::test]
async fn tags_tickets_events_semantics() {
    let (emu, c) = start(EmulatorConfig { seed: Some(Seed::Demo), ..Default::default() }).await;
    // Tag upsert is case-insensitive; in-use tags cannot be deleted.
    let a = c.post("/tags", json!({"name": "Priority"})).await;
    let b = c.post("/tags", json!({"name": "PRIORITY"})).await;
    assert_eq!(a.body["id"], b.body["id"]);
    let vip =
        c.get("/tags").await.body["data"].as_array().unwrap().iter().find(|t| t["name"] == "VIP").cloned().unwrap();
    let r = c.delete(&format!("/tags/{}", id(&vip))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "tag_has_dependent_objects");
    let r = c.delete(&format!("/tags/{}", id(&a.body))).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_null());
    // Tickets: exactly one contact; unknown email creates a contact; state must belong.
    let tt = c.get("/ticket_types").await.body["data"][0].clone();
    let r = c
        .post(
            "/tickets",
            json!({"ticket_type_id": id(&tt), "contacts": [
            {"email": "x1@example.com"}, {"email": "x2@example.com"}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c.post("/tickets", json!({"ticket_type_id": id(&tt), "contacts": [{"email": "fresh@example.com"}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.body["id"], r.body["ticket_id"]);
    let tid = id(&r.body);
    let s = c
        .post("/contacts/search", json!({"query": {"field": "email", "operator": "=", "value": "fresh@example.com"}}))
        .await;
    assert_eq!(s.body["total_count"], 1);
    let r = c.put(&format!("/tickets/{tid}"), json!({"ticket_state_id": "123"})).await;
    assert_eq!(r.error_code(), "ticket_state_id_invalid");
    let r = c.put(&format!("/tickets/{tid}"), json!({"assignee_id": "424242"})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "assignee_not_found");
    let r = c.put(&format!("/tickets/{tid}"), json!({"open": false})).await;
    assert_eq!(r.body["open"], false);
    assert_eq!(r.body["ticket_state"]["category"], "resolved");
    assert!(r.body["previous_ticket_state_id"].is_string());
    // Events: 202, dedupe, metadata capped at 10 keys, unknown user 404.
    let uid = emu.state().with_workspace(|ws| ws.contacts.values().next().unwrap().id.clone());
    let meta: serde_json::Map<String, Value> = (0..12).map(|i| (format!("k{i:02}"), json!(format!("v{i}")))).collect();
    for _ in 0..2 {
        let r = c
            .post(
                "/events",
                json!({"event_name": "clicked", "created_at": 1_700_000_000,
                                    "id": uid, "metadata": meta}),
            )
            .await;
        assert_eq!(r.status, 202);
    }
    let r = c.get(&format!("/events?type=user&intercom_user_id={uid}")).await;
    let clicked: Vec<&Value> =
        r.body["events"].as_array().unwrap().iter().filter(|e| e["event_name"] == "clicked").collect();
    assert_eq!(clicked.len(), 1);
    assert_eq!(clicked[0]["metadata"].as_object().unwrap().len(), 10);
    let r = c.post("/events", json!({"event_name": "x", "created_at": 1, "user_id": "nobody"})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn state_file_persists_and_reloads() {
    let dir = std::env::temp_dir().join(format!("emu-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let cfg = EmulatorConfig { state_file: Some(file.clone()), ..Default::default() };
    let (emu, c) = start(cfg.clone()).await;
    let r = c.post("/contacts", json!({"email": "persist@example.com"})).await;
    let cid = id(&r.body);
    emu.shutdown().await;
    assert!(file.exists());
    let (emu2, c2) = start(cfg).await;
    let g = c2.get(&format!("/contacts/{cid}")).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["email"], "persist@example.com");
    emu2.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn demo_seed_is_deterministic_and_realistic() {
    let (e1, c1) = start(EmulatorConfig { seed: Some(Seed::Demo), ..Default::default() }).await;
    let (e2, _c2) = start(EmulatorConfig { seed: Some(Seed::Demo), ..Default::default() }).await;
    let ids = |e: &intercom_emulator::RunningEmulator| {
        e.state().with_workspace(|ws| ws.contacts.values().map(|c| c.id.clone()).collect::<Vec<_>>())
    };
    assert_eq!(ids(&e1), ids(&e2));
    assert!(ids(&e1).len() >= 300);
    let l = c1.get("/contacts?per_page=150").await;
    assert_eq!(l.body["data"].as_array().unwrap().len(), 150);
    assert!(c1.get("/conversations").await.body["total_count"].as_i64().unwrap() >= 100);
    assert!(c1.post("/tickets/search", json!({"query": {"field": "created_at", "operator": ">", "value": 0}})).await.body["total_count"].as_i64().unwrap() >= 30);
}
