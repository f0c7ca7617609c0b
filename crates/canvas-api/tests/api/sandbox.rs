//! Scripts run in sandbox processes the engine can kill: native code that
//! never checks QuickJS's interrupt handler is stopped all the same.

use crate::helpers::{Backend, TestApp, both_backends, spawn_app};
use crate::runs::{run_to_end, script_workflow, wait_for_end};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A loop inside one QuickJS built-in: 2^40 iterations of native code.
const NATIVE_LOOP: &str = "return [Array.prototype.join.call({ length: 2 ** 40 }, '')];";

/// The test engine's script CPU limit (`helpers::engine_config`).
const CPU_LIMIT: Duration = Duration::from_millis(1500);

/// Queues a run of `workflow` and waits until a worker has started it.
async fn started_run(app: &TestApp, workflow: &str) -> String {
    let r = app
        .post("/api/RunWorkflow", &json!({"workflowId": workflow}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let runs = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}&top=1"))
        .await;
    let id = runs.body[0]["id"].as_str().unwrap().to_string();
    let waiting = Instant::now();
    while app.get(&format!("/api/WorkflowRun?id={id}")).await.body["status"] != "Running" {
        assert!(waiting.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    id
}

/// Two records, then the loop (which never reads them).
async fn native_workflow(app: &TestApp) -> String {
    let chain = json!([
        {"blockName": "Rows", "script": "return [{ a: 1 }, { a: 2 }];"},
        {"blockName": "Native", "script": NATIVE_LOOP},
    ]);
    script_workflow(app, chain).await.0
}

fn block_error(run: &Value) -> &str {
    run["blocks"][1]["error"].as_str().unwrap_or_default()
}

async fn a_script_stuck_in_native_code_is_stopped_within_its_cpu_limit_and_a_second(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let workflow = native_workflow(&app).await;
    let id = started_run(&app, &workflow).await;
    let started = Instant::now();

    let run = wait_for_end(&app, &id).await;

    let took = started.elapsed();
    assert_eq!(run["status"], "Failed", "{run}");
    assert!(block_error(&run).contains("CPU-time limit"), "{run}");
    assert_eq!(
        run["blocks"][1]["recordsIn"], 0,
        "the input was sent ahead, and a killed script took none of it: {run}"
    );
    assert!(
        took < CPU_LIMIT + Duration::from_millis(1800),
        "stopped after {took:?}"
    );
    let (fine, _) = script_workflow(
        &app,
        json!([{"blockName": "Fine", "script": "return [{}];"}]),
    )
    .await;
    let next = run_to_end(&app, json!({"workflowId": fine})).await;
    assert_eq!(next["status"], "Succeeded", "{next}");
}

async fn cancel_run_stops_a_script_stuck_in_native_code_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let workflow = native_workflow(&app).await;
    let id = started_run(&app, &workflow).await;
    let cancelled = Instant::now();

    let r = app.post("/api/CancelRun", &json!({"runId": id})).await;
    let run = wait_for_end(&app, &id).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(run["status"], "Cancelled", "{run}");
    let took = cancelled.elapsed();
    assert!(took < Duration::from_secs(1), "cancelled after {took:?}");
}

both_backends!(
    a_script_stuck_in_native_code_is_stopped_within_its_cpu_limit_and_a_second,
    cancel_run_stops_a_script_stuck_in_native_code_at_once
);
