//! `cargo xtask demo`: the main job on the embedded default, the Intercom emulator.

use crate::{build, cargo, status};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const TOKEN: &str = "demo-token";

/// Stops the emulator however the demo ends.
struct Emulator(Child);

impl Drop for Emulator {
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

    let mut child = Command::new(bin.join("intercom-emulator"))
        .args(["--port", "0", "--token", TOKEN, "--seed", "demo"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the Intercom emulator")?;
    let stdout = child.stdout.take().context("emulator stdout")?;
    let _emulator = Emulator(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base_url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http"))
        .context("the emulator did not print its address")?
        .to_string();
    println!("== Intercom emulator (seeded demo workspace) at {base_url}");

    let contact = create_contact(&base_url)?;
    let id = contact["id"].as_str().context("contact without id")?.to_string();
    println!("== created contact {id} (ada@example.com) through Intercom's API");

    let home = root.join("target/demo-home");
    let switchyard = |args: &[&str]| -> Result<std::process::Output> {
        let mut cmd = Command::new(bin.join("switchyard"));
        cmd.args(args).env("SWITCHYARD_HOME", &home).env("SWITCHYARD_TOKEN", TOKEN);
        cmd.output().context("running switchyard")
    };
    let bundle = bundles.join("intercom");
    let bundle = bundle.to_str().context("bundle path is not UTF-8")?;

    println!("\n$ switchyard action list --bundle {bundle}");
    let out = switchyard(&["action", "list", "--bundle", bundle])?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    ensure_ok(&out)?;

    let cases = [
        ("by email", json!({"email": "ada@example.com"})),
        ("by external_id", json!({"external_id": "ada-1"})),
        ("by id", json!({"id": id})),
    ];
    for (what, input) in cases {
        let input = input.to_string();
        println!(
            "\n$ switchyard action run intercom/find-contact --bundle {bundle} --base-url {base_url} --input '{input}'   # {what}"
        );
        let out = switchyard(&[
            "action",
            "run",
            "intercom/find-contact",
            "--bundle",
            bundle,
            "--base-url",
            &base_url,
            "--input",
            &input,
        ])?;
        ensure_ok(&out)?;
        let found: Value = serde_json::from_slice(&out.stdout).context("find-contact output is not JSON")?;
        if found["id"] != json!(id) {
            bail!("find-contact {what} returned {} instead of {id}", found["id"]);
        }
        println!(
            "found {} <{}> (role {})",
            found["id"],
            found["email"].as_str().unwrap_or(""),
            found["role"].as_str().unwrap_or("")
        );
    }

    println!(
        "\n$ switchyard action run intercom/find-contact ... --input '{{\"email\":\"nobody@example.com\"}}'   # not found"
    );
    let out = switchyard(&[
        "action",
        "run",
        "intercom/find-contact",
        "--bundle",
        bundle,
        "--base-url",
        &base_url,
        "--input",
        r#"{"email":"nobody@example.com"}"#,
    ])?;
    print!("{}", String::from_utf8_lossy(&out.stderr));
    println!("(exit code {})", out.status.code().unwrap_or(-1));
    if out.status.code() != Some(3) {
        bail!("expected exit code 3 (not found)");
    }
    println!("\n== demo finished: Find Contact ran as a sandboxed component against the emulator");
    Ok(())
}

fn create_contact(base_url: &str) -> Result<Value> {
    let body = json!({"role": "user", "email": "ada@example.com", "external_id": "ada-1", "name": "Ada Lovelace"});
    let response = ureq::post(&format!("{base_url}/contacts"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Intercom-Version", "2.16")
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(&body)
        .context("creating the demo contact")?;
    let status = response.status().as_u16();
    let value: Value = response.into_body().read_json().context("reading the emulator's answer")?;
    match status {
        200 => Ok(value),
        409 => {
            // Already there from an earlier run against a persisted state: find its id in the message.
            let message = value.pointer("/errors/0/message").and_then(Value::as_str).unwrap_or_default();
            let id = message.rsplit("id=").next().unwrap_or_default().trim().to_string();
            Ok(json!({"id": id}))
        }
        _ => bail!("the emulator refused the demo contact: HTTP {status}: {value}"),
    }
}

fn ensure_ok(out: &std::process::Output) -> Result<()> {
    if !out.status.success() {
        bail!("switchyard failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
