use crate::helpers::{
    Backend, assert_error, both_backends, spawn_app, spawn_app_with, test_config,
};

async fn malformed_bodies_get_a_400_naming_the_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |body: &str| app.post_as("/api/RunWorkflow", &app.keys, &[], body.to_string());
    assert_error(
        &post("{not json").await,
        400,
        "request body is not valid JSON",
    );
    assert_error(&post("").await, 400, "request body is empty");
    assert_error(&post("[1,2]").await, 400, "must be a JSON object");
    assert_error(&post(r#"{"workflowId": 5}"#).await, 400, "workflowId: ");
    assert_error(
        &post(r#"{"workflowId": "abc"}"#).await,
        400,
        "workflowId: is not a GUID",
    );
    assert_error(
        &post(r#"{"workflowId": null}"#).await,
        400,
        "workflowId: is required",
    );
    let id = uuid::Uuid::new_v4();
    assert_error(
        &post(&format!(
            r#"{{"workflowId": "{id}", "runFromBlock": "two"}}"#
        ))
        .await,
        400,
        "runFromBlock: invalid type",
    );
    assert_error(
        &app.get("/api/Workflow?id=12345").await,
        400,
        "id: '12345' is not a GUID",
    );
    assert_error(&app.get("/api/Workflow").await, 400, "id: is required");
}

async fn oversized_bodies_get_a_413(backend: Backend) {
    let app = spawn_app_with(
        backend,
        canvas_api::ApiConfig {
            body_limit: 1024,
            ..test_config()
        },
    )
    .await;
    let big = format!(
        r#"{{"workflowId": "{}", "pad": "{}"}}"#,
        uuid::Uuid::new_v4(),
        "x".repeat(4096)
    );
    assert_error(
        &app.post_as("/api/RunWorkflow", &app.keys, &[], big).await,
        413,
        "larger than the limit of 1024 bytes",
    );
}

async fn unknown_routes_and_methods_answer_in_the_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(
        &app.get("/api/Nope").await,
        404,
        "No route for GET /api/Nope",
    );
    assert_error(
        &app.post("/api/Workflows", &serde_json::json!({})).await,
        405,
        "POST is not allowed",
    );
}

both_backends!(
    malformed_bodies_get_a_400_naming_the_problem,
    oversized_bodies_get_a_413,
    unknown_routes_and_methods_answer_in_the_error_shape,
);
