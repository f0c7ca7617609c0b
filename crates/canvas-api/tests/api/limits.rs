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

/// An app whose blocks may store 1,000 bytes of files a try, and whose
/// accounts 1,000 bytes in File Hub.
async fn app_with_small_quotas(backend: Backend) -> TestApp {
    let options = Options {
        quotas: canvas_blocks::FileQuotas {
            block_files_bytes: 1000,
            filehub_bytes: 1000,
        },
        ..Options::default()
    };
    spawn_app_opts(backend, options).await
}

async fn a_block_storing_files_beyond_its_quota_fails_and_keeps_none(backend: Backend) {
    let app = app_with_small_quotas(backend).await;
    let save = "saveFile('a.txt', 'a'.repeat(600)); saveFile('b.txt', 'b'.repeat(600)); return [];";
    let (workflow, _) = script_workflow(&app, json!([{"blockName": "Save", "script": save}])).await;

    let run = crate::runs::run_to_end(&app, json!({"workflowId": workflow})).await;

    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["blocks"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("1200 bytes, over the server's max_block_files_bytes (1000)"),
        "{error}"
    );
    // The failed try's first file was removed with it; within the quota, it stays.
    assert_eq!(files_of(&app, &run).await, 0);
    let one = "saveFile('a.txt', 'a'.repeat(600)); return [];";
    let (workflow, _) = script_workflow(&app, json!([{"blockName": "One", "script": one}])).await;
    let run = crate::runs::run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(files_of(&app, &run).await, 1);
}

/// How many files block 1 of `run` left in the blob store.
async fn files_of(app: &TestApp, run: &serde_json::Value) -> usize {
    let key = canvas_blocks::Datasets::key(run["id"].as_str().unwrap().parse().unwrap(), 1, 1);
    app.datasets.files(&key).await.unwrap().len()
}

async fn file_hub_refuses_a_file_beyond_the_accounts_quota_and_keeps_the_rest(backend: Backend) {
    let app = app_with_small_quotas(backend).await;
    let store = |name: &str, size: usize| json!({"name": name, "content": "x".repeat(size)});
    assert_eq!(
        app.post("/api/StoreFileHubFile", &store("a.txt", 600))
            .await
            .status,
        200
    );

    let refused = app
        .post("/api/StoreFileHubFile", &store("b.txt", 600))
        .await;
    let replaced = app
        .post("/api/StoreFileHubFile", &store("a.txt", 900))
        .await;

    assert_error(
        &refused,
        400,
        "content: the account's File Hub would hold 1200 bytes, over the server's filehub_max_bytes (1000)",
    );
    assert_eq!(
        replaced.status, 200,
        "replacing a file counts it once: {}",
        replaced.text
    );
    assert_eq!(
        app.get("/api/FileHubFiles").await.body,
        json!([{"name": "a.txt", "size": 900}])
    );
}

both_backends!(
    a_workflow_queues_at_most_its_limit_of_runs,
    concurrent_callers_cannot_overshoot_the_queue_limit,
    a_block_storing_files_beyond_its_quota_fails_and_keeps_none,
    file_hub_refuses_a_file_beyond_the_accounts_quota_and_keeps_the_rest,
);
