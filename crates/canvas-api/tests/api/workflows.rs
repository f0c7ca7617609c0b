use crate::helpers::{Backend, assert_error, both_backends, seed_json, spawn_app};
use canvas_domain::account::AccountRole;
use serde_json::json;

async fn a_workflow_is_created_read_listed_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.file_hub_workflow().await;
    let r = app.get(&format!("/api/Workflow?id={id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seed = seed_json("{\n\"id\": \"b459cf22");
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, seed.as_object().unwrap().keys().collect::<Vec<_>>());
    assert_eq!(r.body["name"], "Mail it");
    assert_eq!(r.body["status"], "Ready");
    assert_eq!(r.body["currentBlock"], 0);
    assert_eq!(r.body["regApplicationIds"].as_array().unwrap().len(), 1);
    let list = app.get("/api/Workflows").await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0], r.body);
    let deleted = app.get(&format!("/api/DeleteWorkflow?id={id}")).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (200, "true"));
    assert_error(
        &app.get(&format!("/api/Workflow?id={id}")).await,
        404,
        "Unknown workflow",
    );
}

async fn unknown_templates_get_the_seed_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let body =
        json!({"workflowTemplateId": "1be52876-aca2-4ece-ba31-11e0d98ddc19", "applications": {}});
    assert_error(
        &app.post("/api/Workflow", &body).await,
        404,
        "Unknown workflow template 1be52876-aca2-4ece-ba31-11e0d98ddc19",
    );
}

async fn applications_must_map_to_the_accounts_own_matching_registrations(backend: Backend) {
    let app = spawn_app(backend).await;
    let (template, block) = app.file_hub_template(&app.keys).await;
    let app = &app;
    let post = |apps: serde_json::Value| {
        let body = json!({"workflowTemplateId": template, "applications": apps});
        async move { app.post("/api/Workflow", &body).await }
    };
    assert_error(
        &post(json!({})).await,
        400,
        "applications.CMAF: is required",
    );
    assert_error(
        &post(json!({"CMAF": "nope"})).await,
        400,
        "applications.CMAF: 'nope' is not a GUID",
    );
    assert_error(
        &post(json!({"CMAF": uuid::Uuid::new_v4()})).await,
        400,
        "no registered application",
    );
    let (_, user) = app
        .account_with_key(app.organization, AccountRole::User)
        .await;
    let foreign = app.register_file_hub(&user).await;
    assert_error(
        &post(json!({"CMAF": foreign})).await,
        400,
        "no registered application",
    );
    let own = app.register_file_hub(&app.keys).await;
    assert_error(
        &post(json!({"CMAF": own, "FTP": own})).await,
        400,
        "applications.FTP: the template does not use FTP",
    );
    let bad_chain = json!({"workflowTemplateId": template, "applications": {"cmaf": own},
        "chain": [{"uniqueBlockId": block, "variables": {"colour": "red"}}]});
    assert_error(
        &app.post("/api/Workflow", &bad_chain).await,
        400,
        "chain[0].variables.colour: block 'Send email' has no variable 'colour'",
    );
    assert!(
        app.get("/api/Workflows")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty(),
        "failed posts leave nothing"
    );
    let ok = json!({"workflowTemplateId": template, "applications": {"cmaf": own}, "chain": [{"uniqueBlockId": block, "variables": {"subject": "Hi"}}]});
    assert_eq!(app.post("/api/Workflow", &ok).await.status, 200);
}

async fn run_workflow_queues_a_run_and_checks_the_block_range(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.file_hub_workflow().await;
    let r = app
        .post("/api/RunWorkflow", &json!({"workflowId": id}))
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, Some("Workflow will now run"))
    );
    assert_eq!(
        app.post(
            "/api/RunWorkflow",
            &json!({"workflowId": id, "runTillBlock": 1})
        )
        .await
        .status,
        200
    );
    let path = format!("/api/WorkflowRuns?workflowId={id}");
    let runs =
        async |app: &crate::helpers::TestApp| app.get(&path).await.body.as_array().unwrap().len();
    assert_eq!(runs(&app).await, 2);
    assert_error(
        &app.post(
            "/api/RunWorkflow",
            &json!({"workflowId": id, "runTillBlock": 2}),
        )
        .await,
        400,
        "runTillBlock: must be between 1 and 1",
    );
    assert_error(
        &app.post(
            "/api/RunWorkflow",
            &json!({"workflowId": id, "runFromBlock": 0}),
        )
        .await,
        400,
        "runFromBlock",
    );
    assert_error(
        &app.post(
            "/api/RunWorkflow",
            &json!({"workflowId": uuid::Uuid::new_v4()}),
        )
        .await,
        404,
        "Unknown workflow",
    );
    assert_eq!(runs(&app).await, 2, "refused runs queue nothing");
}

async fn the_scheduler_is_set_validated_and_turned_off(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.file_hub_workflow().await;
    let freq = r#"{"cronSchedule":"0 0 2,6 ? * TUE *","timeZone":"Europe/Oslo"}"#;
    let on = app
        .post(
            "/api/WorkflowScheduler",
            &json!({"workflowId": id, "isScheduled": true, "scheduleFrequency": freq}),
        )
        .await;
    assert_eq!(
        (on.status, on.body.as_str()),
        (200, Some("Workflow Scheduler enabled"))
    );
    let w = app.get(&format!("/api/Workflow?id={id}")).await;
    assert_eq!(w.body["isScheduled"], true);
    assert_eq!(w.body["schedulerFrequency"], freq);
    let next = w.body["dateNextSchedule"].as_str().unwrap();
    assert!(
        next.ends_with("+00:00")
            && (next.contains("T00:00:00")
                || next.contains("T01:00:00")
                || next.contains("T04:00:00")
                || next.contains("T05:00:00")),
        "{next}"
    );
    let bad = app.post("/api/WorkflowScheduler", &json!({"workflowId": id, "isScheduled": true, "scheduleFrequency": "{\"cronSchedule\":\"0 0 * * * *\"}"})).await;
    assert_error(
        &bad,
        400,
        "scheduleFrequency.cronSchedule: invalid Quartz cron expression",
    );
    let zone = app.post("/api/WorkflowScheduler", &json!({"workflowId": id, "isScheduled": true, "scheduleFrequency": "{\"cronSchedule\":\"0 0 * ? * *\",\"timeZone\":\"Mars/Base\"}"})).await;
    assert_error(
        &zone,
        400,
        "scheduleFrequency.timeZone: unknown time zone 'Mars/Base'",
    );
    assert_eq!(
        app.get(&format!("/api/Workflow?id={id}")).await.body["schedulerFrequency"],
        freq,
        "refused changes change nothing"
    );
    let off = app
        .post(
            "/api/WorkflowScheduler",
            &json!({"workflowId": id, "isScheduled": false}),
        )
        .await;
    assert_eq!(off.body.as_str(), Some("Workflow Scheduler disabled"));
    let w = app.get(&format!("/api/Workflow?id={id}")).await;
    assert_eq!(
        (
            w.body["isScheduled"].as_bool(),
            w.body["dateNextSchedule"].is_null()
        ),
        (Some(false), true)
    );
}

both_backends!(
    a_workflow_is_created_read_listed_and_deleted,
    unknown_templates_get_the_seed_message,
    applications_must_map_to_the_accounts_own_matching_registrations,
    run_workflow_queues_a_run_and_checks_the_block_range,
    the_scheduler_is_set_validated_and_turned_off,
);
