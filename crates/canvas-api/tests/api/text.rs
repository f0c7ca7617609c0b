//! Text the store cannot hold alike on both backends: NUL is refused at the
//! edge naming the field, and what a script throws is always recordable.

use crate::helpers::{Backend, assert_error, both_backends, spawn_app};
use crate::runs::{run_to_end, script_workflow};
use serde_json::json;

async fn nul_in_any_field_is_refused_naming_it_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let file_hub = "9b6a04b3-c91f-4255-9033-6ac7b7a6f935";
    let reg = json!({"applicationId": file_hub, "tagText": "a\u{0}b"});
    assert_error(
        &app.post("/api/RegApplication", &reg).await,
        400,
        "tagText: contains a NUL character",
    );
    let template = json!({"name": "T", "state": "Published", "applications": [],
        "chain": [{"blockName": "S", "script": "return [];", "variables": {"x": "1\u{0}"}}]});
    assert_error(
        &app.post("/api/WorkflowTemplate", &template).await,
        400,
        "chain[0].variables.x: contains a NUL character",
    );
    assert_error(
        &app.get("/api/Workflow?id=%00").await,
        400,
        "id: contains a NUL character",
    );

    assert_eq!(app.get("/api/RegApplications").await.body, json!([]));
}

/// A NUL in a 100 KB error used to leave the run Running on PostgreSQL
/// (its end could not be written) and re-run it every lease.
async fn a_script_error_with_nul_and_100_kb_ends_the_run_recorded_cut_and_summarized_in_lists(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let chain = json!([{"blockName": "Throw", "script": "throw new Error('bad\\u0000byte ' + 'x'.repeat(100000));", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;

    let run = run_to_end(&app, json!({"workflowId": workflow})).await;

    assert_eq!(run["status"], "Failed", "{}", run["status"]);
    for error in [&run["error"], &run["blocks"][0]["error"]] {
        let error = error.as_str().unwrap_or_default();
        assert!(
            error.contains("bad\u{FFFD}byte"),
            "{}",
            &error[..error.len().min(200)]
        );
        assert!(
            error.len() < 66 * 1024 && error.ends_with("bytes more]"),
            "{} bytes",
            error.len()
        );
    }
    let listed = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}"))
        .await
        .body;
    let summary = listed[0]["error"].as_str().unwrap();
    assert!(
        summary.len() < 600 && summary.ends_with("(the whole error: WorkflowRun?id=)"),
        "{summary}"
    );
}

both_backends!(
    nul_in_any_field_is_refused_naming_it_and_nothing_is_stored,
    a_script_error_with_nul_and_100_kb_ends_the_run_recorded_cut_and_summarized_in_lists,
);
