//! Organizations take turns at the workers: one tenant's flood of runs
//! does not delay another's.

use crate::helpers::{
    Backend, Keys, Options, TestApp, both_backends, create_organization, spawn_app_opts,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Runs the flooding organization queues.
const FLOOD: usize = 15_000;

/// A block that keeps a worker busy for a second.
const BUSY: &str = "const end = Date.now() + 1000; while (Date.now() < end) {} return [];";

async fn post(app: &TestApp, keys: &Keys, path: &str, body: Value) -> Value {
    let r = app.post_as(path, keys, &[], body.to_string()).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.body
}

/// Queues `FLOOD` runs over `workflows`, as RunWorkflow does (through the
/// store: fifteen thousand HTTP calls would take minutes in a debug build).
async fn flood(app: &TestApp, workflows: &[String]) {
    for n in 0..FLOOD {
        let run = canvas_store::model::NewRun {
            id: uuid::Uuid::new_v4(),
            workflow_id: workflows[n % workflows.len()].parse().unwrap(),
            trigger: canvas_store::model::RunTrigger::Manual,
            run_from: 1,
            run_till: 1,
            date_queued: canvas_domain::time::now(),
        };
        let queued = app.store.enqueue_run(&run, 100).await.unwrap();
        assert_eq!(queued, canvas_store::Enqueued::Queued);
    }
}

/// `count` workflows of one script block, through `keys`.
async fn workflows(app: &TestApp, keys: &Keys, script: &str, count: usize) -> Vec<String> {
    let chain = json!([{"blockName": "Script", "script": script}]);
    let template = json!({"name": "S", "state": "Published", "applications": [], "chain": chain});
    let template = post(app, keys, "/api/WorkflowTemplate", template).await;
    let mut made = Vec::new();
    for _ in 0..count {
        let body = json!({"workflowTemplateId": template, "applications": {}});
        let workflow = post(app, keys, "/api/Workflow", body).await;
        made.push(workflow.as_str().unwrap().to_string());
    }
    made
}

async fn another_organizations_run_is_not_held_up_by_a_flooded_queue(backend: Backend) {
    let options = Options {
        hold_engine: true,
        ..Options::default()
    };
    let app = spawn_app_opts(backend, options).await;
    // 100 runs each: the default max_queued_runs_per_workflow.
    let busy = workflows(&app, &app.keys, BUSY, FLOOD / 100).await;
    flood(&app, &busy).await;
    app.start_engine();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, keys) = create_organization(&app.store, &app.secrets, "Other", None).await;
    let quick = workflows(&app, &keys, "return [{ ok: true }];", 1)
        .await
        .remove(0);
    let queued = Instant::now();

    post(
        &app,
        &keys,
        "/api/RunWorkflow",
        json!({"workflowId": quick}),
    )
    .await;
    let run = loop {
        let runs = app
            .get_as(&format!("/api/WorkflowRuns?workflowId={quick}"), &keys, &[])
            .await;
        let run = runs.body[0].clone();
        if !matches!(run["status"].as_str(), Some("Queued" | "Running")) {
            break run;
        }
        assert!(queued.elapsed() < Duration::from_secs(10), "still {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let took = queued.elapsed();
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert!(took < Duration::from_secs(2), "finished after {took:?}");
}

both_backends!(another_organizations_run_is_not_held_up_by_a_flooded_queue);
