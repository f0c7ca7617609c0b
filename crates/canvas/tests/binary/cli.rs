//! The `canvas` binary as an operator uses it.

use crate::common::Server;
use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn canvas(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canvas"))
        .args(args)
        .env("CANVAS_DATA_DIR", data)
        .env_remove("CANVAS_DATABASE_URL")
        .env_remove("CANVAS_CONFIG")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `canvas serve` on a fresh data folder and a free port, with the keys it printed.
fn serve(data: &std::path::Path) -> (Server, Option<Value>) {
    crate::common::serve_on(data, None, true, 0)
}

#[test]
fn init_prints_the_first_keys_once_and_refuses_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let created = json(&canvas(dir.path(), &["init", "--json"]));
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["organizationId", "accountId", "consumer", "secretKey"]
    );
    assert_eq!(created["consumer"].as_str().unwrap().len(), 64);
    let again = canvas(dir.path(), &["init", "--json"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialized"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn serve_initializes_a_fresh_store_and_the_keys_work() {
    let dir = tempfile::tempdir().unwrap();
    let (server, keys) = tokio::task::spawn_blocking({
        let path = dir.path().to_path_buf();
        move || serve(&path)
    })
    .await
    .unwrap();
    let keys = keys.expect("a fresh store prints its keys");
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let auth = client
        .get(format!("{}/api/Authenticate", server.base))
        .header("Consumer", keys["consumer"].as_str().unwrap())
        .header("SecretKey", keys["secretKey"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(auth.text().await.unwrap(), "true");
}

#[test]
fn org_and_key_commands_manage_access() {
    let dir = tempfile::tempdir().unwrap();
    json(&canvas(dir.path(), &["init", "--json"]));
    let org = json(&canvas(
        dir.path(),
        &["org", "create", "--name", "Partner AS", "--json"],
    ));
    let account = org["accountId"].as_str().unwrap();
    let key = json(&canvas(
        dir.path(),
        &["keys", "create", "--account", account, "--json"],
    ));
    assert_eq!(
        key.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["consumer", "secretKey"]
    );
    let consumer = key["consumer"].as_str().unwrap();
    assert!(
        canvas(dir.path(), &["keys", "revoke", "--consumer", consumer])
            .status
            .success()
    );
    let twice = canvas(dir.path(), &["keys", "revoke", "--consumer", consumer]);
    assert!(
        !twice.status.success(),
        "a revoked key cannot be revoked again"
    );
    let organization = org["organizationId"].as_str().unwrap();
    let set = json(&canvas(
        dir.path(),
        &[
            "org",
            "allow-ips",
            "--organization",
            organization,
            "--cidr",
            "10.0.0.0/8",
            "--cidr",
            "2001:db8::/32",
            "--json",
        ],
    ));
    assert_eq!(
        set["allowedCidrs"],
        serde_json::json!(["10.0.0.0/8", "2001:db8::/32"])
    );
    let bad = canvas(
        dir.path(),
        &[
            "org",
            "allow-ips",
            "--organization",
            organization,
            "--cidr",
            "10.0.0.0/33",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--cidr"));
    let unknown = canvas(
        dir.path(),
        &[
            "keys",
            "create",
            "--account",
            &uuid::Uuid::new_v4().to_string(),
            "--json",
        ],
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _) = serve(dir.path());
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cron_next_prints_fire_times_or_an_error_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = canvas(
        dir.path(),
        &[
            "cron",
            "next",
            "0 30 2 * * ?",
            "--tz",
            "Europe/Oslo",
            "--after",
            "2026-03-28T12:00:00Z",
            "--count",
            "2",
            "--json",
        ],
    );
    // 02:30 does not exist in Oslo on 2026-03-29 (spring forward): Quartz skips that day.
    assert_eq!(
        json(&out),
        serde_json::json!(["2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"])
    );
    let bad = canvas(dir.path(), &["cron", "next", "0 0 * * * *", "--json"]);
    assert_eq!(bad.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("day-of-week AND a day-of-month")
    );
}

#[test]
fn configuration_layers_rise_from_file_to_environment_to_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (from_file, from_env, from_flag) = (
        dir.path().join("file"),
        dir.path().join("env"),
        dir.path().join("flag"),
    );
    let config = dir.path().join("canvas.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", from_file.display().to_string()),
    )
    .unwrap();
    let run = |env: Option<&std::path::Path>, flag: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_canvas"));
        cmd.args(["init", "--json", "--config"])
            .arg(&config)
            .env_remove("CANVAS_DATA_DIR")
            .env_remove("CANVAS_DATABASE_URL");
        if let Some(env) = env {
            cmd.env("CANVAS_DATA_DIR", env);
        }
        if let Some(flag) = flag {
            cmd.arg("--data-dir").arg(flag);
        }
        assert!(cmd.output().unwrap().status.success());
    };
    run(None, None);
    assert!(from_file.join("canvas.db").exists(), "the file's data_dir");
    run(Some(&from_env), None);
    assert!(
        from_env.join("canvas.db").exists(),
        "the environment over the file"
    );
    run(Some(&from_env), Some(&from_flag));
    assert!(from_flag.join("canvas.db").exists(), "the flag over both");
}

#[test]
fn a_different_master_key_is_refused_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let created = json(&canvas(dir.path(), &["init", "--json"]));
    let account = created["accountId"].as_str().unwrap();
    let other = Command::new(env!("CARGO_BIN_EXE_canvas"))
        .args(["keys", "create", "--account", account, "--json"])
        .env("CANVAS_DATA_DIR", dir.path())
        .env("CANVAS_MASTER_KEY", "cd".repeat(32))
        .env_remove("CANVAS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("master key differs"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    assert!(
        canvas(
            dir.path(),
            &["keys", "create", "--account", account, "--json"]
        )
        .status
        .success(),
        "the right key still works"
    );
}

/// `canvas cron next --json` for one case: fire times, or the error and status 2.
fn cron_next(
    dir: &std::path::Path,
    expr: &str,
    tz: &str,
    after: &str,
    count: usize,
) -> Result<Value, Value> {
    let count = count.to_string();
    let out = canvas(
        dir,
        &[
            "cron", "next", expr, "--tz", tz, "--after", after, "--count", &count, "--json",
        ],
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    match out.status.code() {
        Some(0) => Ok(printed),
        Some(2) => Err(printed),
        other => panic!("{expr}: exit status {other:?}"),
    }
}

#[test]
fn cron_next_matches_every_quartz_ground_truth_case() {
    let dir = tempfile::tempdir().unwrap();
    let raw = include_str!("../../../canvas-domain/tests/data/quartz-public.json");
    let truth: Value = serde_json::from_str(raw).unwrap();
    let mut failures = Vec::new();
    for case in truth["cases"].as_array().unwrap() {
        let expr = case["expr"].as_str().unwrap();
        let tz = case["tz"].as_str().unwrap();
        let after = case["after"].as_str().unwrap_or("2026-01-01T00:00:00Z");
        let got = cron_next(dir.path(), expr, tz, after, 5);
        let ok = match (&got, case["valid"].as_bool().unwrap()) {
            (Ok(times), true) => *times == case["next"],
            (Err(e), false) => e["error"].as_str().is_some_and(|m| !m.is_empty()),
            _ => false,
        };
        if !ok {
            failures.push(format!("{expr} ({tz}) after {after}: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_daily_0230_schedule_follows_quartz_through_daylight_saving_days() {
    let dir = tempfile::tempdir().unwrap();
    let next3 =
        |tz: &str, after: &str| cron_next(dir.path(), "0 30 2 * * ?", tz, after, 3).unwrap();
    // Spring forward: 02:30 does not exist that night, and Quartz fires no run that day.
    assert_eq!(
        next3("Europe/Oslo", "2026-03-28T12:00:00Z"),
        serde_json::json!([
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z",
            "2026-04-01T00:30:00Z"
        ])
    );
    assert_eq!(
        next3("America/New_York", "2026-03-07T12:00:00Z"),
        serde_json::json!([
            "2026-03-09T06:30:00Z",
            "2026-03-10T06:30:00Z",
            "2026-03-11T06:30:00Z"
        ])
    );
    // Fall back: Oslo lives 02:00–03:00 twice and fires once, at the second 02:30 (CET);
    // New York repeats 01:00–02:00 only, so 02:30 is plain EST.
    assert_eq!(
        next3("Europe/Oslo", "2026-10-24T12:00:00Z"),
        serde_json::json!([
            "2026-10-25T01:30:00Z",
            "2026-10-26T01:30:00Z",
            "2026-10-27T01:30:00Z"
        ])
    );
    assert_eq!(
        next3("America/New_York", "2026-10-31T12:00:00Z"),
        serde_json::json!([
            "2026-11-01T07:30:00Z",
            "2026-11-02T07:30:00Z",
            "2026-11-03T07:30:00Z"
        ])
    );
}

/// `canvas serve` made the Admin a placeholder address no mail reaches:
/// `Send email` without `to` says so instead of mailing into the void.
#[tokio::test]
async fn send_email_to_the_placeholder_address_of_a_fresh_store_fails_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let closed = crate::common::free_port().to_string();
    let env = [
        ("CANVAS_SMTP__HOST", "127.0.0.1".to_string()),
        ("CANVAS_SMTP__PORT", closed),
        ("CANVAS_SMTP__FROM", "canvas@example.com".to_string()),
    ];
    let path = dir.path().to_path_buf();
    let (server, keys) = tokio::task::spawn_blocking(move || crate::common::serve_env(&path, &env))
        .await
        .unwrap();
    let api = crate::common::Api::new(&server.base, &keys.unwrap());
    let file_hub = "9b6a04b3-c91f-4255-9033-6ac7b7a6f935";
    let files = api
        .post(
            "/api/RegApplication",
            serde_json::json!({"applicationId": file_hub, "tagText": "Files"}),
        )
        .await;
    let template = api
        .post(
            "/api/WorkflowTemplate",
            serde_json::json!({
            "name": "Mail", "state": "Published", "applications": ["CMAF"],
            "chain": [{"blockName": "Data", "script": "return [{a: 1}];"},
                      {"blockName": "Send email", "variables": {"subject": "Data"}}]}),
        )
        .await;
    let workflow = api
        .post(
            "/api/Workflow",
            serde_json::json!({"workflowTemplateId": template, "applications": {"CMAF": files}}),
        )
        .await;
    api.post(
        "/api/RunWorkflow",
        serde_json::json!({"workflowId": workflow}),
    )
    .await;
    let runs = api
        .get(&format!(
            "/api/WorkflowRuns?workflowId={}",
            workflow.as_str().unwrap()
        ))
        .await;
    let id = runs[0]["id"].as_str().unwrap();

    let run = crate::common::wait_until(&api, id, Duration::from_secs(20), |r| {
        r["status"] == "Failed" || r["status"] == "Succeeded"
    })
    .await;

    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["blocks"][1]["error"].to_string();
    assert!(
        error.contains("@canvas.local is the placeholder `canvas init` made"),
        "{run}"
    );
}

/// A node joining a shared PostgreSQL store without its master key is
/// refused before it keeps a key file of its own.
#[tokio::test]
async fn a_node_with_another_master_key_leaves_no_key_file_behind() {
    let url = crate::common::fresh_postgres_url().await;
    let first = tempfile::tempdir().unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_canvas"))
        .args(["init", "--json", "--database-url", &url])
        .env("CANVAS_DATA_DIR", first.path())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let second = tempfile::tempdir().unwrap();
    let data = second.path().join("data");

    let out = Command::new(env!("CARGO_BIN_EXE_canvas"))
        .args([
            "org",
            "create",
            "--name",
            "Other",
            "--json",
            "--database-url",
            &url,
        ])
        .env("CANVAS_DATA_DIR", &data)
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("master key differs"),
        "{stderr}"
    );
    assert!(!data.join("master.key").exists(), "a key file was kept");
}

#[test]
fn commands_on_a_data_folder_without_a_store_are_refused_and_make_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("canvas-dta");
    for args in [
        &["org", "create", "--name", "Acme", "--json"][..],
        &["keys", "revoke", "--consumer", "ABC"][..],
    ] {
        let out = canvas(&typo, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains("no initialized store at") && stderr.contains("canvas-dta"),
            "{stderr}"
        );
        assert!(!typo.exists(), "{args:?} made the folder");
    }
}

/// An operator who made the data folder (mode 0755) still gets a private
/// one: the folder 0700, the store's files 0600.
#[test]
fn the_data_folder_and_the_store_are_private_even_when_the_folder_existed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();

    json(&canvas(&data, &["init", "--json"]));

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for file in ["canvas.db", "canvas.db-wal", "canvas.db-shm", "master.key"] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert!(data.join("canvas.db").exists());
}
