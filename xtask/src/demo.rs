//! `cargo xtask demo`: the main job end to end on the embedded default.
//!
//! Builds the bundles, starts the Intercom emulator with a seeded demo workspace, connects it through
//! the emulator's OAuth flow, installs the intercom bundle, enables the four example workflows, starts
//! `switchyard run` (which runs the installed bundles), makes
//! activity in the workspace (tickets, contact updates, conversations, a company), waits until every
//! expected change has happened and every run has finished, prints what ran and what changed, and
//! exits non-zero if anything expected is missing or failed.

use crate::{build, cargo, status};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The emulator's own access token, used here to play the workspace's users and teammates.
const ADMIN_TOKEN: &str = "demo-token";
const CLIENT_ID: &str = "switchyard-demo";
const CLIENT_SECRET: &str = "demo-client-secret";
/// The line `switchyard connect` prints the authorize URL on.
const AUTHORIZE_LINE: &str = "Authorize switchyard in the browser: ";
/// The example workflows poll every minute; the demo polls every 2 seconds so it ends quickly.
const DEMO_INTERVAL: &str = "2s";
const EXAMPLES: [&str; 4] =
    ["auto-triage-new-tickets", "keep-contacts-enriched", "conversations-to-tickets", "upsert-companies-link-contacts"];
const DEADLINE: Duration = Duration::from_secs(240);

/// A child process stopped however the demo ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn demo(root: &Path) -> Result<()> {
    let bundles = build::build(root)?;
    let mut cmd = cargo(root);
    cmd.args(["build", "-p", "switchyard", "-p", "intercom-emulator"]);
    status(cmd, "cargo build (host and emulator)")?;
    let bin = root.join("target/debug");
    let home = root.join("target/demo-home");
    if home.exists() {
        std::fs::remove_dir_all(&home).with_context(|| format!("clearing {}", home.display()))?;
    }
    std::fs::create_dir_all(&home)?;
    let sy = Switchyard { bin: bin.join("switchyard"), home: home.clone() };
    let bundle = bundles.join("intercom");
    let bundle = bundle.to_str().context("bundle path is not UTF-8")?.to_string();

    step("Starting the Intercom emulator with a seeded demo workspace");
    let (_emulator, base) = start_emulator(&bin)?;
    let api = Api { base: base.clone() };
    api.call(
        "POST",
        "/_emulator/oauth/clients",
        Some(json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})),
    )?;
    api.call("POST", "/_emulator/oauth/auto_approve", Some(json!({"enabled": true})))?;
    println!("   {base}");

    step("Connecting the workspace as `acme` through Intercom's OAuth flow");
    connect(&sy, &base)?;
    print!("{}", sy.ok(&["connections", "list"])?);

    step("Installing the intercom bundle the build wrote (the daemon runs the installed bundles)");
    print!("{}", sy.ok(&["bundle", "install", &bundle])?);

    step("Enabling the four example workflows (polling every 2 s for the demo)");
    let workflows = home.join("workflows");
    std::fs::create_dir_all(&workflows)?;
    for name in EXAMPLES {
        let text = std::fs::read_to_string(root.join(format!("examples/{name}.yaml")))?;
        let text = text.lines().map(demo_interval).collect::<Vec<_>>().join("\n");
        let path = workflows.join(format!("{name}.yaml"));
        std::fs::write(&path, text)?;
        sy.ok(&["workflow", "enable", path.to_str().context("path")?])?;
    }
    print!("{}", sy.ok(&["workflow", "list"])?);

    step("Starting the host: `switchyard run`");
    let log = std::fs::File::create(home.join("run.log"))?;
    let host = Command::new(&sy.bin)
        .args(["run"])
        .env("SWITCHYARD_HOME", &home)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting switchyard run")?;
    let host = Guard(host);
    // Let the first polls set their watermarks before anything happens.
    std::thread::sleep(Duration::from_secs(3));

    step("Making activity in the workspace");
    let activity = Activity::make(&api)?;

    step("Waiting for the workflows to run");
    let started = Instant::now();
    let outcome = loop {
        let missing = activity.missing(&api)?;
        let runs = sy.runs()?;
        let unfinished = runs.iter().filter(|r| !matches!(r["status"].as_str(), Some("succeeded" | "failed"))).count();
        let failed: Vec<&Value> =
            runs.iter().filter(|r| matches!(r["status"].as_str(), Some("failed" | "needs_attention"))).collect();
        if !failed.is_empty() {
            break Err(format!("{} run(s) failed: {}", failed.len(), json!(failed)));
        }
        if missing.is_empty() && unfinished == 0 {
            break Ok(runs);
        }
        if started.elapsed() > DEADLINE {
            break Err(format!("after {DEADLINE:?}: still missing {missing:?}; {unfinished} run(s) unfinished"));
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    stop(host)?;

    let runs = match outcome {
        Ok(runs) => runs,
        Err(problem) => {
            eprintln!("{}", sy.ok(&["runs", "list"]).unwrap_or_default());
            bail!("the demo did not complete: {problem} (host log: {})", home.join("run.log").display());
        }
    };
    step("Runs");
    print!("{}", sy.ok(&["runs", "list"])?);
    let mut by_workflow = std::collections::BTreeMap::<String, usize>::new();
    for run in &runs {
        *by_workflow.entry(run["workflow"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    for (workflow, count) in &by_workflow {
        println!("   {workflow:<34} {count} run(s), all succeeded");
    }
    step("What changed in the workspace");
    for line in activity.changes(&api)? {
        println!("   {line}");
    }
    println!("\n== demo finished in {:.0} s: every expected run completed", started.elapsed().as_secs_f64());
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// Shortens a workflow's polling interval for the demo.
fn demo_interval(line: &str) -> String {
    match line.trim_start().strip_prefix("interval:") {
        Some(_) => format!("{}interval: {DEMO_INTERVAL}", &line[..line.len() - line.trim_start().len()]),
        None => line.to_string(),
    }
}

fn start_emulator(bin: &Path) -> Result<(Guard, String)> {
    let mut child = Command::new(bin.join("intercom-emulator"))
        .args(["--port", "0", "--token", ADMIN_TOKEN, "--seed", "demo"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the Intercom emulator")?;
    let stdout = child.stdout.take().context("emulator stdout")?;
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line.trim().rsplit(' ').next().filter(|u| u.starts_with("http")).context("no emulator address")?;
    Ok((guard, base.to_string()))
}

/// Runs `switchyard connect intercom` and plays the user's browser: follows the authorize URL it
/// prints, which the emulator approves and redirects to the command's loopback callback.
fn connect(sy: &Switchyard, base: &str) -> Result<()> {
    let (authorize, token) = (format!("{base}/oauth"), format!("{base}/auth/eagle/token"));
    let args = [
        "connect",
        "intercom",
        "--name",
        "acme",
        "--client-id",
        CLIENT_ID,
        "--authorize-url",
        &authorize,
        "--token-url",
        &token,
        "--base-url",
        base,
        "--callback-port",
        "0",
        "--no-browser",
        "--timeout",
        "60",
    ];
    let mut child = sy
        .command(&args)
        .env("SWITCHYARD_CLIENT_SECRET", CLIENT_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting switchyard connect")?;
    let stderr = child.stderr.take().context("connect stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().context("switchyard connect ended without printing the authorize URL")??;
        if let Some(url) = line.strip_prefix(AUTHORIZE_LINE) {
            break url.to_string();
        }
    };
    println!("   authorize URL: {url}");
    let page = ureq::get(&url).call().context("following the authorize URL")?;
    println!("   callback: HTTP {}", page.status());
    let output = child.wait_with_output()?;
    if !output.status.success() {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        bail!("switchyard connect failed: {}", rest.join("\n"));
    }
    Ok(())
}

struct Switchyard {
    bin: PathBuf,
    home: PathBuf,
}

impl Switchyard {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).env("SWITCHYARD_HOME", &self.home).env_remove("SWITCHYARD_TOKEN");
        cmd
    }

    /// Runs a command that must succeed and returns its stdout.
    fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output().context("running switchyard")?;
        if !out.status.success() {
            bail!("switchyard {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn runs(&self) -> Result<Vec<Value>> {
        let text = self.ok(&["runs", "list", "--json", "--limit", "500"])?;
        serde_json::from_str(&text).context("runs list --json")
    }
}

/// Intercom's REST API on the emulator, as the workspace's own users and teammates would use it.
struct Api {
    base: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let response = match body {
            Some(body) => ureq::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("content-type", "application/json")
                .header("authorization", &auth)
                .header("intercom-version", "2.16")
                .body(body.to_string())
                .map_err(anyhow::Error::from)
                .and_then(|req| ureq::run(req).map_err(anyhow::Error::from)),
            None => ureq::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("authorization", &auth)
                .header("intercom-version", "2.16")
                .body(())
                .map_err(anyhow::Error::from)
                .and_then(|req| ureq::run(req).map_err(anyhow::Error::from)),
        }
        .with_context(|| format!("{method} {path}"))?;
        let text = response.into_body().read_to_string()?;
        Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }
}

fn text(value: &Value, pointer: &str) -> String {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// What the demo did in the workspace, and what the workflows should have made of it.
struct Activity {
    since: i64,
    tickets: Vec<String>,
    ticket_contact: String,
    enriched: Vec<(String, String)>,
    conversations: Vec<String>,
    company_id: String,
    primary: (String, String),
}

impl Activity {
    fn make(api: &Api) -> Result<Activity> {
        let since = api.call("GET", "/_emulator/clock", None)?["now"].as_i64().unwrap_or(0);
        let contacts = api.call("GET", "/contacts?per_page=20", None)?;
        let contacts: Vec<Value> = contacts["data"]
            .as_array()
            .context("contact list")?
            .iter()
            .filter(|c| c["email"].as_str().is_some_and(|e| !e.is_empty()) && c["role"] == "user")
            .cloned()
            .collect();
        if contacts.len() < 6 {
            bail!("the demo workspace has too few users with an email");
        }
        let types = api.call("GET", "/ticket_types", None)?;
        let ticket_type = types["data"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["category"] == "Customer"))
            .map(|t| text(t, "/id"))
            .context("no Customer ticket type")?;

        let ticket_contact = text(&contacts[0], "/id");
        let mut tickets = Vec::new();
        for title in ["CSV export times out", "Cannot invite a teammate"] {
            let ticket = api.call(
                "POST",
                "/tickets",
                Some(json!({"ticket_type_id": ticket_type, "contacts": [{"id": ticket_contact}],
                            "ticket_attributes": {"_default_title_": title, "_default_description_": "Reported by the customer"}})),
            )?;
            println!("   new ticket #{} \"{title}\"", text(&ticket, "/ticket_id"));
            tickets.push(text(&ticket, "/id"));
        }
        let mut enriched = Vec::new();
        for (contact, name) in contacts[1..3].iter().zip(["Grace Hopper", "Katherine Johnson"]) {
            let id = text(contact, "/id");
            api.call("PUT", &format!("/contacts/{id}"), Some(json!({"name": name})))?;
            println!("   contact {} renamed to {name}", text(contact, "/email"));
            enriched.push((id, text(contact, "/email")));
        }
        let mut conversations = Vec::new();
        for (contact, body) in contacts[3..5].iter().zip(["My invoices are missing", "The mobile app crashes on login"])
        {
            let message = api.call(
                "POST",
                "/conversations",
                Some(json!({"from": {"type": "user", "id": text(contact, "/id")}, "body": body})),
            )?;
            println!("   new conversation from {}: \"{body}\"", text(contact, "/email"));
            conversations.push(text(&message, "/conversation_id"));
        }
        let company_id = format!("demo-rockets-{since}");
        let primary = (text(&contacts[5], "/id"), text(&contacts[5], "/email"));
        let company = api.call(
            "POST",
            "/companies",
            Some(json!({"company_id": company_id, "name": "Acme Rockets", "custom_attributes": {"primary_contact_email": primary.1}})),
        )?;
        // Intercom lists (and scrolls) only companies with at least one contact.
        api.call(
            "POST",
            &format!("/contacts/{}/companies", text(&contacts[0], "/id")),
            Some(json!({"id": text(&company, "/id")})),
        )?;
        println!("   new company Acme Rockets ({company_id}), primary contact {}", primary.1);
        Ok(Activity { since, tickets, ticket_contact, enriched, conversations, company_id, primary })
    }

    fn tag_names(object: &Value) -> Vec<String> {
        object.pointer("/tags/tags").and_then(Value::as_array).into_iter().flatten().map(|t| text(t, "/name")).collect()
    }

    fn notes(api: &Api, contact: &str, containing: &str) -> Result<usize> {
        let notes = api.call("GET", &format!("/contacts/{contact}/notes"), None)?;
        Ok(notes["data"].as_array().into_iter().flatten().filter(|n| text(n, "/body").contains(containing)).count())
    }

    /// Tickets created since the demo began (the two it opened and the two converted from conversations).
    fn new_tickets(&self, api: &Api) -> Result<Vec<Value>> {
        let query = json!({"query": {"field": "created_at", "operator": ">", "value": self.since - 1}, "pagination": {"per_page": 50}});
        let found = api.call("POST", "/tickets/search", Some(query))?;
        Ok(found["tickets"].as_array().cloned().unwrap_or_default())
    }

    /// The expected changes not seen yet.
    fn missing(&self, api: &Api) -> Result<Vec<String>> {
        let mut missing = Vec::new();
        let tickets = self.new_tickets(api)?;
        for id in &self.tickets {
            let ticket = api.call("GET", &format!("/tickets/{id}"), None)?;
            if !Self::tag_names(&ticket).contains(&"needs-triage".to_string()) {
                missing.push(format!("ticket {id} tagged needs-triage"));
            }
        }
        if Self::notes(api, &self.ticket_contact, "New ticket")? < self.tickets.len() {
            missing.push("a triage note per ticket on the contact".into());
        }
        for (id, email) in &self.enriched {
            let contact = api.call("GET", &format!("/contacts/{id}"), None)?;
            if text(&contact, "/custom_attributes/enriched_email") != *email {
                missing.push(format!("contact {email} enriched"));
            }
            if Self::notes(api, id, "Enriched from")? != 1 {
                missing.push(format!("exactly one enrichment note on {email}"));
            }
        }
        let converted =
            tickets.iter().filter(|t| Self::tag_names(t).contains(&"from-conversation".to_string())).count();
        if converted < self.conversations.len() {
            missing.push(format!(
                "{} conversations converted to tagged tickets ({converted} so far)",
                self.conversations.len()
            ));
        }
        let companies = api.call("GET", &format!("/companies?company_id={}", self.company_id), None)?;
        let company = companies.pointer("/data/0").cloned().unwrap_or(Value::Null);
        if text(&company, "/custom_attributes/linked_contact_email") != self.primary.1 {
            missing.push("company linked to its primary contact".into());
        } else {
            let linked = api.call("GET", &format!("/contacts/{}/companies", self.primary.0), None)?;
            if !linked["companies"].as_array().into_iter().flatten().any(|c| c["company_id"] == json!(self.company_id))
            {
                missing.push("primary contact attached to the company".into());
            }
        }
        Ok(missing)
    }

    fn changes(&self, api: &Api) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for ticket in self.new_tickets(api)? {
            lines.push(format!(
                "ticket #{} \"{}\": tags [{}]",
                text(&ticket, "/ticket_id"),
                text(&ticket, "/ticket_attributes/_default_title_"),
                Self::tag_names(&ticket).join(", ")
            ));
        }
        lines.push(format!(
            "contact {}: {} triage note(s)",
            self.ticket_contact,
            Self::notes(api, &self.ticket_contact, "New ticket")?
        ));
        for (id, email) in &self.enriched {
            let contact = api.call("GET", &format!("/contacts/{id}"), None)?;
            lines.push(format!(
                "contact {email}: email_domain = {}, 1 enrichment note (no self-triggering loop)",
                text(&contact, "/custom_attributes/email_domain")
            ));
        }
        lines.push(format!("company {}: linked to {} and attached to that contact", self.company_id, self.primary.1));
        Ok(lines)
    }
}

/// Stops `switchyard run` with SIGTERM, as an operator would, and waits for its graceful shutdown.
fn stop(mut host: Guard) -> Result<()> {
    let pid = host.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().context("sending SIGTERM")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = host.0.try_wait()? {
            println!("   switchyard run stopped ({status})");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("switchyard run did not stop within 30 s of SIGTERM")
}
