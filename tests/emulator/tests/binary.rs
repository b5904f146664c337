//! The CLI prints exactly one line once bound and stops on SIGTERM, flushing `--state`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn binary_prints_one_line_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("emu-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);
    let mut child = Command::new(env!("CARGO_BIN_EXE_intercom-emulator"))
        .args(["--port", "0", "--token", "bin-token", "--seed", "demo", "--rate-limit", "50"])
        .args(["--fault-response-delay-ms", "5"])
        .arg("--state")
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn binary");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("intercom-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let r = c.get(format!("{url}/me")).bearer_auth("bin-token").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "50");
        let r = c
            .post(format!("{url}/contacts"))
            .bearer_auth("bin-token")
            .json(&serde_json::json!({"email": "bin@example.com"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let f: serde_json::Value = c.get(format!("{url}/_emulator/faults")).send().await.unwrap().json().await.unwrap();
        assert_eq!(f["response_delay_ms"], 5);
    });

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.trim().is_empty(), "extra stdout: {rest:?}");
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("bin@example.com"));
    let _ = std::fs::remove_dir_all(&dir);
}
