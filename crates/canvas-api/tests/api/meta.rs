use crate::helpers::{Backend, TestApp, assert_error, both_backends, seed_json, spawn_app};
use serde_json::{Value, json};

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

/// Every `"$ref"` anywhere in `value`, with the JSON pointer it was found at.
fn refs<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(target)) => found.push((at.clone(), target)),
                    _ => refs(v, format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// `Describe`'s answer for `name`, as sorted (property, required) pairs.
async fn described(app: &TestApp, name: &str) -> Vec<(String, bool)> {
    let r = app
        .get_raw(&format!("/api/Describe?name={name}"), &[])
        .await;
    assert_eq!(r.status, 200, "Describe?name={name}: {}", r.text);
    let fields = r.body.as_array().expect("an array of properties");
    fields
        .iter()
        .map(|f| {
            let property = f["propertyName"].as_str().unwrap().to_string();
            (property, f["isRequired"].as_bool().unwrap())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A schema's properties as sorted (property, required) pairs.
fn schema_fields(schema: &Value) -> Vec<(String, bool)> {
    let required = schema["required"].as_array().unwrap();
    let mut fields: Vec<(String, bool)> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), required.contains(&json!(k))))
        .collect();
    fields.sort();
    fields
}

async fn every_openapi_reference_resolves_and_every_schema_is_described(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get_raw("/api/openapi.json", &[]).await.body;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    for (at, target) in &found {
        let name = target.strip_prefix("#/components/schemas/");
        let name = name.unwrap_or_else(|| panic!("{at}: {target} is not a schema reference"));
        assert!(
            schemas.contains_key(name),
            "{at}: {target} does not resolve"
        );
    }
    assert!(
        found
            .iter()
            .any(|(_, t)| *t == "#/components/schemas/CancelRunApiDto")
    );
    for (name, schema) in schemas.iter().filter(|(name, _)| *name != "Error") {
        assert_eq!(described(&app, name).await, schema_fields(schema), "{name}");
    }
    assert!(
        schemas.contains_key("ChainApiDto"),
        "a DTO held by another is described too"
    );
}

async fn file_endpoints_are_documented_with_the_content_type_they_send(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get_raw("/api/openapi.json", &[]).await.body;
    for path in ["/api/WorkflowRunFile", "/api/FileHubFile"] {
        let content = &doc["paths"][path]["get"]["responses"]["200"]["content"];
        assert_eq!(
            content,
            &json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}),
            "{path}"
        );
    }
    let stored = app
        .post(
            "/api/StoreFileHubFile",
            &json!({"name": "a.bin", "contentBase64": "AAE="}),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let fetched = app
        .client
        .get(app.url("/api/FileHubFile?name=a.bin"))
        .header("Consumer", &app.keys.consumer)
        .header("SecretKey", &app.keys.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        fetched.headers()["content-type"],
        "application/octet-stream",
        "what the document says is what the server sends"
    );
    let json_routes = &doc["paths"]["/api/FileHubFiles"]["get"]["responses"]["200"]["content"];
    assert!(json_routes["application/json"].is_object(), "{json_routes}");
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
    every_openapi_reference_resolves_and_every_schema_is_described,
    file_endpoints_are_documented_with_the_content_type_they_send,
    routes_and_query_names_match_case_insensitively,
    health_readiness_and_metrics_answer,
);

/// Methods a client makes up all count as `other`: they add no series.
#[tokio::test]
async fn made_up_methods_add_no_metric_series() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    for n in 0..500 {
        let method = reqwest::Method::from_bytes(format!("ODD{n}").as_bytes()).unwrap();
        let _ = app
            .client
            .request(method, format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
    }

    let metrics = app.get_raw("/metrics", &[]).await.text;

    assert!(
        !metrics.contains("method=\"ODD"),
        "a made-up method became a label"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}
