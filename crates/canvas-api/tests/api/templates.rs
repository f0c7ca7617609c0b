use crate::helpers::{
    Backend, assert_error, both_backends, create_organization, seed_json, spawn_app,
};
use canvas_domain::account::AccountRole;
use serde_json::json;

/// The seed's three as the seed lists them — but "Transferring of Orders &
/// Customers", a draft in the seed, is published now that its blocks run —
/// and the seed's "Order transferring" workflow as a fourth.
async fn workflow_templates_start_with_the_seeds_three_and_order_transferring(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/api/WorkflowTemplates").await;
    assert_eq!(r.status, 200);
    let mut expected = seed_json("[\n{\n\"id\": \"bbe52876");
    let transferring = &mut expected[2];
    transferring["state"] = json!("Published");
    transferring["version"] = json!("0.0.1");
    transferring["draftIsCommitted"] = json!(true);
    transferring["dateCommitted"] = transferring["dateModified"].clone();
    let listed = r.body.as_array().unwrap();
    assert_eq!(listed[..3], expected.as_array().unwrap()[..]);
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[3]["name"], "Order transferring");
    assert_eq!(listed[3]["applications"], json!(["MYST2", "TRIP"]));
}

async fn organization_templates_publish_versions_that_reach_workflows(backend: Backend) {
    let app = spawn_app(backend).await;
    let block = uuid::Uuid::new_v4();
    let draft = json!({"name": "Mail", "applications": ["cmaf"], "chain": [
        {"uniqueBlockId": block, "blockName": "Send email", "variables": {"subject": "v1", "fileName": "A"}}]});
    let id = app.post_id("/api/WorkflowTemplate", &draft).await;
    let reg = app.register_file_hub(&app.keys).await;
    let make = json!({"workflowTemplateId": id, "applications": {"CMAF": reg}, "chain": [{"uniqueBlockId": block, "variables": {"subject": "mine"}}]});
    assert_error(
        &app.post("/api/Workflow", &make).await,
        400,
        "has no published version",
    );

    let mut published = draft.clone();
    published["id"] = json!(id);
    published["state"] = json!("Published");
    assert_eq!(
        app.post("/api/WorkflowTemplate", &published).await.status,
        200
    );
    let listed = app.get("/api/WorkflowTemplates").await;
    let t = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            t["state"].as_str(),
            t["version"].as_str(),
            t["draftIsCommitted"].as_bool()
        ),
        (Some("Published"), Some("1"), Some(true))
    );
    assert_eq!(t["organizationId"], app.organization.to_string());
    assert_eq!(t["applications"], json!(["CMAF"]));
    let workflow = app.post("/api/Workflow", &make).await;
    assert_eq!(workflow.status, 200, "{}", workflow.text);

    published["chain"][0]["variables"]["note"] = json!("added in v2");
    app.post("/api/WorkflowTemplate", &published).await;
    let v2 = app.get("/api/WorkflowTemplates").await;
    let t = v2
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(t["version"], "2");
    let wid: uuid::Uuid = workflow.body.as_str().unwrap().parse().unwrap();
    let chain = app.store.workflow(wid).await.unwrap().chain;
    assert_eq!(
        chain[0].variables["subject"], "mine",
        "the workflow's own value is kept"
    );
    assert_eq!(
        chain[0].variables["note"], "added in v2",
        "the new version's structure arrives"
    );
}

async fn template_validation_names_the_bad_part(backend: Backend) {
    let app = spawn_app(backend).await;
    let base = json!({"name": "T", "applications": ["CMAF"], "chain": [{"blockName": "Send email", "variables": {}}]});
    let mut unknown_app = base.clone();
    unknown_app["applications"] = json!(["NOPE"]);
    assert_error(
        &app.post("/api/WorkflowTemplate", &unknown_app).await,
        400,
        "applications[0]: unknown application 'NOPE'",
    );
    let mut unknown_block = base.clone();
    unknown_block["chain"][0]["blockName"] = json!("FTP Upload");
    assert_error(
        &app.post("/api/WorkflowTemplate", &unknown_block).await,
        400,
        "chain[0].blockName: no application of this template offers a block 'FTP Upload'",
    );
    let mut bad_var = base.clone();
    bad_var["chain"][0]["variables"] = json!({"subject": 5});
    assert_error(
        &app.post("/api/WorkflowTemplate", &bad_var).await,
        400,
        "chain[0].variables.subject: must be a string",
    );
    let mut bad_source = base.clone();
    bad_source["chain"][0]["datasource"] = json!(uuid::Uuid::new_v4());
    assert_error(
        &app.post("/api/WorkflowTemplate", &bad_source).await,
        400,
        "chain[0].datasource",
    );
    let script = json!({"name": "S", "applications": [], "chain": [{"blockName": "Uppercase", "script": "return input;"}]});
    assert_eq!(
        app.post("/api/WorkflowTemplate", &script).await.status,
        200,
        "script blocks need no application"
    );
    let builtin = json!({"id": "bbe52876-aca2-4ece-ba31-11e0d98ddc19", "name": "X", "applications": ["CMAF"], "chain": [{"blockName": "Send email"}]});
    assert_error(
        &app.post("/api/WorkflowTemplate", &builtin).await,
        403,
        "built-in template",
    );
    let (_, user) = app
        .account_with_key(app.organization, AccountRole::User)
        .await;
    assert_error(
        &app.post_as("/api/WorkflowTemplate", &user, &[], base.to_string())
            .await,
        403,
        "Admin or SuperPartner",
    );
}

async fn templates_are_visible_below_their_organization_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (template, _) = app.file_hub_template(&app.keys).await;
    let (_, _, child) =
        create_organization(&app.store, &app.secrets, "Customer", Some(app.organization)).await;
    let seen = app.get_as("/api/WorkflowTemplates", &child, &[]).await;
    assert!(
        seen.text.contains(&template.to_string()),
        "a customer sees its partner's templates"
    );
    let (_, _, stranger) = create_organization(&app.store, &app.secrets, "Stranger", None).await;
    assert!(
        !app.get_as("/api/WorkflowTemplates", &stranger, &[])
            .await
            .text
            .contains(&template.to_string())
    );
    let other_edit = json!({"id": template, "name": "Hijack", "applications": ["CMAF"], "chain": [{"blockName": "Send email"}]});
    assert_error(
        &app.post_as(
            "/api/WorkflowTemplate",
            &stranger,
            &[],
            other_edit.to_string(),
        )
        .await,
        404,
        "Unknown workflow template",
    );
}

/// Writes on a store transaction land together at commit, or not at all:
/// a template saved and its workflows rebased, then the transaction
/// dropped, leaves the template and its workflows as they were.
async fn a_store_transaction_dropped_before_commit_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (workflow, _) = crate::runs::script_workflow(
        &app,
        json!([{"blockName": "One", "script": "return [];", "variables": {}}]),
    )
    .await;
    let stored = app.store.workflow(workflow.parse().unwrap()).await.unwrap();
    let template_id = stored.template_id.unwrap();
    let mut changed = app.store.template(template_id).await.unwrap();
    changed.name = "Renamed".into();
    changed.chain[0].block_name = "Two".into();

    let mut tx = app.store.begin().await.unwrap();
    tx.save_template(&changed).await.unwrap();
    let rebased = tx
        .rebase_workflows(template_id, &changed.chain, canvas_domain::time::now())
        .await
        .unwrap();
    drop(tx);

    assert_eq!(rebased, 1);
    assert_ne!(
        app.store.template(template_id).await.unwrap().name,
        "Renamed"
    );
    assert_eq!(
        app.store.workflow(stored.id).await.unwrap().chain[0].block_name,
        "One"
    );
    let mut tx = app.store.begin().await.unwrap();
    tx.save_template(&changed).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        app.store.template(template_id).await.unwrap().name,
        "Renamed"
    );
}

both_backends!(
    a_store_transaction_dropped_before_commit_changes_nothing,
    workflow_templates_start_with_the_seeds_three_and_order_transferring,
    organization_templates_publish_versions_that_reach_workflows,
    template_validation_names_the_bad_part,
    templates_are_visible_below_their_organization_only,
);

/// Publishing a template, rebasing its workflows and the audit entry land
/// together: a store that refuses the audit entry (a trigger here; a full
/// disk in life) leaves the template unpublished — no change goes unaudited.
#[tokio::test]
async fn a_template_whose_audit_entry_cannot_be_written_is_not_saved() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut db = app.sqlite_behind_canvas().await;
    let refuse = "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
                  BEGIN SELECT RAISE(ABORT, 'no room left'); END";
    sqlx::query(refuse).execute(&mut db).await.unwrap();
    let template = json!({"name": "Audited", "state": "Published", "applications": ["cmaf"], "chain": [
        {"uniqueBlockId": uuid::Uuid::new_v4(), "blockName": "Send email", "variables": {"subject": "s", "fileName": "A"}}]});

    let r = app.post("/api/WorkflowTemplate", &template).await;

    assert_eq!(r.status, 500, "{}", r.text);
    let listed = app.get("/api/WorkflowTemplates").await.body;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(!names.contains(&"Audited"), "{names:?}");
}
