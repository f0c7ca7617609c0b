//! Limits on what one tenant can grow.

use crate::helpers::{
    Backend, Options, TestApp, assert_error, both_backends, spawn_app_opts, test_config,
};
use crate::runs::script_workflow;
use serde_json::json;

/// An app whose workflows may queue 3 runs, with no worker claiming them
/// (they stay queued), and one workflow of it.
async fn app_queuing_three(backend: Backend) -> (TestApp, String) {
    let options = Options {
        config: canvas_api::ApiConfig {
            max_queued_runs_per_workflow: 3,
            ..test_config()
        },
        hold_engine: true,
        ..Options::default()
    };
    let app = spawn_app_opts(backend, options).await;
    let (workflow, _) =
        script_workflow(&app, json!([{"blockName": "S", "script": "return [];"}])).await;
    (app, workflow)
}

async fn a_workflow_queues_at_most_its_limit_of_runs(backend: Backend) {
    let (app, workflow) = app_queuing_three(backend).await;
    let body = json!({"workflowId": workflow});
    for _ in 0..3 {
        assert_eq!(app.post("/api/RunWorkflow", &body).await.status, 200);
    }

    let fourth = app.post("/api/RunWorkflow", &body).await;

    assert_error(
        &fourth,
        429,
        "already has 3 runs waiting (max_queued_runs_per_workflow)",
    );
    let runs = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}"))
        .await
        .body;
    assert_eq!(runs.as_array().unwrap().len(), 3);
}

/// Twenty callers at once cannot take more places than there are.
async fn concurrent_callers_cannot_overshoot_the_queue_limit(backend: Backend) {
    let (app, workflow) = app_queuing_three(backend).await;
    let body = json!({"workflowId": workflow}).to_string();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url, keys, body) = (
            app.client.clone(),
            app.url("/api/RunWorkflow"),
            app.keys.clone(),
            body.clone(),
        );
        calls.spawn(async move {
            let sent = client
                .post(url)
                .header("Consumer", keys.consumer)
                .header("SecretKey", keys.secret)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            sent.status().as_u16()
        });
    }

    let statuses = calls.join_all().await;

    let queued = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(queued, 3, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    let runs = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}"))
        .await
        .body;
    assert_eq!(runs.as_array().unwrap().len(), 3);
}

both_backends!(
    a_workflow_queues_at_most_its_limit_of_runs,
    concurrent_callers_cannot_overshoot_the_queue_limit,
);
