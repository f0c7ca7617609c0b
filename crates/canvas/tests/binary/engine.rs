//! The engine across process deaths: `kill -9` and SIGTERM in the middle of a run.

use crate::common::{Api, serve, serve_on, serve_with_grace, wait_until};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

/// A two-block workflow whose second block keeps a worker busy for `millis`, and its queued run.
async fn start_slow_run(api: &Api, millis: u64) -> String {
    let chain = json!([
        {"blockName": "Fast", "script": "return [{ n: 1 }, { n: 2 }];"},
        {"blockName": "Slow", "script": format!("const end = Date.now() + {millis}; while (Date.now() < end) {{}} return input.map(r => ({{ n: r.n * 10 }}));")},
    ]);
    start_run(api, chain).await
}

/// A workflow of `chain`, and its queued run.
async fn start_run(api: &Api, chain: serde_json::Value) -> String {
    let template = api
        .post(
            "/api/WorkflowTemplate",
            json!({"name": "Slow", "state": "Published", "applications": [], "chain": chain}),
        )
        .await;
    let workflow = api
        .post(
            "/api/Workflow",
            json!({"workflowTemplateId": template, "applications": {}}),
        )
        .await;
    assert_eq!(
        api.post("/api/RunWorkflow", json!({"workflowId": workflow}))
            .await,
        "Workflow will now run"
    );
    let runs = api
        .get(&format!(
            "/api/WorkflowRuns?workflowId={}",
            workflow.as_str().unwrap()
        ))
        .await;
    runs[0]["id"].as_str().unwrap().to_string()
}

async fn interrupted_run_completes_once_after_restart(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, keys) = serve(dir.path());
    let mut api = Api::new(&server.base, &keys.unwrap());
    let run = start_slow_run(&api, 1500).await;
    let before = wait_until(&api, &run, Duration::from_secs(20), |r| {
        r["blocks"][0]["status"] == "Succeeded" && r["blocks"][1]["status"] == "Running"
    })
    .await;
    let kill = Command::new("kill")
        .args([signal, &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = server.child.wait().unwrap();
    if signal == "-TERM" {
        assert!(
            status.success(),
            "SIGTERM exits cleanly, handing the run back: {status}"
        );
    }
    drop(server);
    let (restarted, _) = serve(dir.path());
    api.base = restarted.base.clone();
    let after = wait_until(&api, &run, Duration::from_secs(20), |r| {
        !matches!(r["status"].as_str(), Some("Queued" | "Running"))
    })
    .await;
    assert_eq!(after["status"], "Succeeded", "{after}");
    assert_eq!(
        after["attempt"], 2,
        "claimed again after the interruption: {after}"
    );
    assert_eq!(
        after["blocks"][0]["dateFinished"], before["blocks"][0]["dateFinished"],
        "the completed block did not run again"
    );
    assert_eq!(
        api.get(&format!("/api/WorkflowRunOutput?id={run}&block=1"))
            .await,
        json!([{"n": 1}, {"n": 2}])
    );
    assert_eq!(
        api.get(&format!("/api/WorkflowRunOutput?id={run}&block=2"))
            .await,
        json!([{"n": 10}, {"n": 20}])
    );
    let runs = api
        .get(&format!(
            "/api/WorkflowRuns?workflowId={}",
            after["workflowId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "one run, not a copy");
}

#[tokio::test]
async fn a_run_killed_with_sigkill_resumes_after_its_last_block_on_restart() {
    interrupted_run_completes_once_after_restart("-KILL").await;
}

#[tokio::test]
async fn sigterm_hands_a_running_run_back_and_it_resumes_on_restart() {
    interrupted_run_completes_once_after_restart("-TERM").await;
}

#[tokio::test]
async fn two_servers_on_one_postgresql_run_each_queued_run_exactly_once() {
    let url = crate::common::fresh_postgres_url().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, keys) = serve_on(dir_a.path(), Some(&url), true, 0);
    let keys = keys.expect("the first server initializes the store");
    let (b, _) = serve_on(dir_b.path(), Some(&url), false, 0);
    let api = |base: &str| Api {
        base: base.to_string(),
        consumer: keys["consumer"].as_str().unwrap().into(),
        secret: keys["secretKey"].as_str().unwrap().into(),
        client: reqwest::Client::new(),
    };
    let (api_a, api_b) = (api(&a.base), api(&b.base));
    let chain = json!([{"blockName": "One", "script": "return [{ at: Date.now() }];"}]);
    let template = api_a
        .post(
            "/api/WorkflowTemplate",
            json!({"name": "Tiny", "state": "Published", "applications": [], "chain": chain}),
        )
        .await;
    let mut workflows = Vec::new();
    for _ in 0..50 {
        workflows.push(
            api_a
                .post(
                    "/api/Workflow",
                    json!({"workflowTemplateId": template, "applications": {}}),
                )
                .await,
        );
    }
    for round in 0..10 {
        for (i, w) in workflows.iter().enumerate() {
            let node = if (i + round) % 2 == 0 { &api_a } else { &api_b };
            assert_eq!(
                node.post("/api/RunWorkflow", json!({"workflowId": w}))
                    .await,
                "Workflow will now run"
            );
        }
    }
    let started = Instant::now();
    for w in &workflows {
        let path = format!(
            "/api/WorkflowRuns?workflowId={}&top=100",
            w.as_str().unwrap()
        );
        loop {
            let runs = api_b.get(&path).await;
            let runs = runs.as_array().unwrap();
            assert_eq!(runs.len(), 10);
            if runs.iter().all(|r| r["status"] == "Succeeded") {
                assert!(
                    runs.iter().all(|r| r["attempt"] == 1),
                    "a run was claimed twice: {runs:?}"
                );
                break;
            }
            assert!(
                runs.iter().all(|r| matches!(
                    r["status"].as_str(),
                    Some("Queued" | "Running" | "Succeeded")
                )),
                "{runs:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "500 runs did not finish in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn sigterm_lets_a_running_block_finish_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, keys) = serve_with_grace(dir.path(), 10);
    let api = Api::new(&server.base, &keys.unwrap());
    let run = start_slow_run(&api, 800).await;
    wait_until(&api, &run, Duration::from_secs(20), |r| {
        r["blocks"][1]["status"] == "Running"
    })
    .await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(server.child.wait().unwrap().success());
    drop(server);
    let (restarted, _) = serve(dir.path());
    let api = Api {
        base: restarted.base.clone(),
        ..api
    };
    let after = api.get(&format!("/api/WorkflowRun?id={run}")).await;
    assert_eq!(
        after["status"], "Succeeded",
        "finished before the process exited: {after}"
    );
    assert_eq!(after["attempt"], 1);
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let parent_of = |stat: &str| -> Option<u32> {
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            parent_of(&stat) == Some(pid)
        })
        .collect()
}

/// A script spinning inside a QuickJS built-in never reaches the interrupt
/// handler; SIGTERM still stops the server within its grace, and the
/// script's sandbox process goes with it.
#[tokio::test]
async fn sigterm_stops_the_server_within_its_grace_while_a_script_spins_in_native_code() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, keys) = serve_with_grace(dir.path(), 1);
    let api = Api::new(&server.base, &keys.unwrap());
    let native = "return [Array.prototype.join.call({ length: 2 ** 40 }, '')];";
    let run = start_run(&api, json!([{"blockName": "Native", "script": native}])).await;
    wait_until(&api, &run, Duration::from_secs(20), |r| {
        r["blocks"][0]["status"] == "Running"
    })
    .await;
    // The block is recorded Running just before its sandbox takes the script.
    let waiting = Instant::now();
    let mut sandboxes = children_of(server.child.id());
    while sandboxes.is_empty() && waiting.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        sandboxes = children_of(server.child.id());
    }
    assert!(!sandboxes.is_empty(), "the script runs in a child process");
    let stopping = Instant::now();

    let term = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    let status = server.child.wait().unwrap();

    assert!(term.success() && status.success(), "{status}");
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(4), "stopped after {took:?}");
    for pid in sandboxes {
        let gone = Instant::now();
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                gone.elapsed() < Duration::from_secs(3),
                "sandbox {pid} outlived the server"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
