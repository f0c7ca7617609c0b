//! Limits on what one tenant can grow.

use crate::helpers::{Backend, Options, assert_error, both_backends, spawn_app_opts, test_config};
use crate::runs::script_workflow;
use serde_json::json;

async fn a_workflow_queues_at_most_its_limit_of_runs(backend: Backend) {
    let options = Options {
        config: canvas_api::ApiConfig {
            max_queued_runs_per_workflow: 3,
            ..test_config()
        },
        // No worker claims: the runs stay queued.
        hold_engine: true,
        ..Options::default()
    };
    let app = spawn_app_opts(backend, options).await;
    let (workflow, _) =
        script_workflow(&app, json!([{"blockName": "S", "script": "return [];"}])).await;
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

both_backends!(a_workflow_queues_at_most_its_limit_of_runs);
