//! Organizations take turns at the workers: one tenant's flood of runs
//! does not delay another's.

use crate::helpers::{
    Backend, Keys, Options, TestApp, both_backends, create_organization, spawn_app_opts,
};
use canvas_domain::account::AccountRole;
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

/// Queues `count` runs over `workflows`, as RunWorkflow does (through the
/// store: fifteen thousand HTTP calls would take minutes in a debug build).
async fn flood(app: &TestApp, workflows: &[String], count: usize) {
    for n in 0..count {
        let run = canvas_store::model::NewRun {
            id: uuid::Uuid::new_v4(),
            workflow_id: workflows[n % workflows.len()].parse().unwrap(),
            trigger: canvas_store::model::RunTrigger::Manual,
            run_from: 1,
            run_till: 1,
            date_queued: canvas_domain::time::now(),
        };
        let queued = app.store.enqueue_run(&run, 100, None).await.unwrap();
        assert_eq!(queued, canvas_store::Enqueued::Queued);
    }
}

/// `count` workflows of one script block, through `keys`.
async fn workflows(app: &TestApp, keys: &Keys, script: &str, count: usize) -> Vec<String> {
    let chain = json!([{"blockName": "Script", "script": script}]);
    let template = json!({"name": "S", "state": "Published", "applications": [], "chain": chain});
    let template = post(app, keys, "/api/WorkflowTemplate", template).await;
    workflows_of(app, keys, &template, count).await
}

/// `count` workflows of `template`, through `keys`.
async fn workflows_of(app: &TestApp, keys: &Keys, template: &Value, count: usize) -> Vec<String> {
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
    flood(&app, &busy, FLOOD).await;
    app.start_engine();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, keys) = create_organization(&app.store, &app.secrets, "Other", None).await;
    let quick = workflows(&app, &keys, "return [{ ok: true }];", 1)
        .await
        .remove(0);

    let (run, took) = run_and_time(&app, &keys, &quick).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert!(took < Duration::from_secs(2), "finished after {took:?}");
}

/// Queues a run of `workflow` through `keys` and waits for its end; how long it took.
async fn run_and_time(app: &TestApp, keys: &Keys, workflow: &str) -> (Value, Duration) {
    let queued = Instant::now();
    post(
        app,
        keys,
        "/api/RunWorkflow",
        json!({"workflowId": workflow}),
    )
    .await;
    loop {
        let path = format!("/api/WorkflowRuns?workflowId={workflow}");
        let run = app.get_as(&path, keys, &[]).await.body[0].clone();
        if !matches!(run["status"].as_str(), Some("Queued" | "Running")) {
            return (run, queued.elapsed());
        }
        assert!(queued.elapsed() < Duration::from_secs(20), "still {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Within an organization at its share of the workers, accounts take
/// turns: the account served longest ago goes first, not the oldest run.
async fn accounts_of_one_organization_take_turns(backend: Backend) {
    let options = Options {
        hold_engine: true,
        ..Options::default()
    };
    let app = spawn_app_opts(backend, options).await;
    let chain = json!([{"blockName": "Script", "script": BUSY}]);
    let template = json!({"name": "S", "state": "Published", "applications": [], "chain": chain});
    let template = post(&app, &app.keys, "/api/WorkflowTemplate", template).await;
    let busy = workflows_of(&app, &app.keys, &template, 4).await;
    flood(&app, &busy, 400).await;
    let (_, colleague) = app
        .account_with_key(app.organization, AccountRole::User)
        .await;
    let chain = json!([{"blockName": "Quick", "script": "return [{ ok: true }];"}]);
    let quick_template =
        json!({"name": "Q", "state": "Published", "applications": [], "chain": chain});
    let quick_template = post(&app, &app.keys, "/api/WorkflowTemplate", quick_template).await;
    let quick = workflows_of(&app, &colleague, &quick_template, 1)
        .await
        .remove(0);
    app.start_engine();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (run, took) = run_and_time(&app, &colleague, &quick).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    // At most the busy run in progress (1 s) goes before it.
    assert!(took < Duration::from_secs(2), "finished after {took:?}");
}

both_backends!(
    another_organizations_run_is_not_held_up_by_a_flooded_queue,
    accounts_of_one_organization_take_turns
);
