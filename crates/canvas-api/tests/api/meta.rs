use crate::helpers::{Backend, assert_error, both_backends, seed_json, spawn_app};
use serde_json::json;

async fn get_metadata_lists_every_seed_route_in_the_seed_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get_raw("/api/GetMetaData", &[]).await;
    assert_eq!(r.status, 200);
    let items = r.body.as_array().unwrap();
    let seed = seed_json("[\n{\n\"name\": \"GetMetaData\"");
    for s in seed.as_array().unwrap() {
        let ours = items
            .iter()
            .find(|i| i["name"] == s["name"] && i["verb"] == s["verb"])
            .unwrap_or_else(|| panic!("missing {}", s["name"]));
        let keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "name",
                "parameters",
                "verb",
                "authenticate",
                "description",
                "returns"
            ]
        );
        assert_eq!(ours["parameters"], s["parameters"], "{}", s["name"]);
        assert_eq!(ours["description"], s["description"]);
    }
    let workflow = items
        .iter()
        .find(|i| i["name"] == "Workflow" && i["verb"] == "GET")
        .unwrap();
    assert_eq!(workflow["authenticate"], true);
    assert_eq!(items[0]["authenticate"], false);
}

async fn describe_answers_the_seed_example_and_404_for_unknown_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .get_raw("/api/Describe?name=AddWorkflowApiDto", &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, seed_json("[\n{\n\"typeName\": \"guid\""));
    let lower = app
        .get_raw("/api/describe?NAME=updateworkfowschedulerapidto", &[])
        .await;
    assert_eq!(lower.status, 200);
    assert_eq!(lower.body[0]["propertyName"], "workflowId");
    assert_error(
        &app.get_raw("/api/Describe?name=Nope", &[]).await,
        404,
        "Unknown object 'Nope'",
    );
    assert_error(
        &app.get_raw("/api/Describe", &[]).await,
        400,
        "name: is required",
    );
}

async fn openapi_is_generated_from_the_same_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get_raw("/api/openapi.json", &[]).await;
    assert_eq!(r.body["openapi"], "3.1.0");
    let workflow = &r.body["paths"]["/api/Workflow"];
    assert!(workflow["get"].is_object() && workflow["post"].is_object());
    assert_eq!(
        workflow["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AddWorkflowApiDto"
    );
    let meta = app.get_raw("/api/GetMetaData", &[]).await;
    let operations: usize = r.body["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, meta.body.as_array().unwrap().len());
}

async fn routes_and_query_names_match_case_insensitively(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.file_hub_workflow().await;
    let r = app.get(&format!("/api/workflow?ID={id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], json!(id));
    assert_eq!(app.get("/API/WORKFLOWS").await.status, 200);
}

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get_raw("/healthz", &[]).await.status, 200);
    assert_eq!(app.get_raw("/readyz", &[]).await.status, 200);
    app.get("/api/Workflows").await;
    let metrics = app.get_raw("/metrics", &[]).await;
    assert!(
        metrics.text.contains("http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("route=\"/api/Workflows\""));
    assert!(
        metrics
            .text
            .contains("http_request_duration_seconds_bucket")
    );
}

both_backends!(
    get_metadata_lists_every_seed_route_in_the_seed_shape,
    describe_answers_the_seed_example_and_404_for_unknown_names,
    openapi_is_generated_from_the_same_routes,
    routes_and_query_names_match_case_insensitively,
    health_readiness_and_metrics_answer,
);
