//! Files blocks store beside their records: WorkflowRunFiles, WorkflowRunFile.

use crate::helpers::{Backend, both_backends, spawn_app};
use crate::runs::{run_to_end, script_workflow};
use serde_json::json;

async fn a_format_block_stores_a_file_that_can_be_listed_and_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([
        {"blockName": "Rows", "script": "return [{ a: '1', b: 'x, y' }, { a: '2', b: 'z' }];", "variables": {}},
        {"blockName": "Format CSV", "variables": {"fileName": "export-{runId}.csv"}},
    ]);
    let (workflow, _) = script_workflow(&app, chain).await;

    let run = run_to_end(&app, json!({"workflowId": workflow})).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let name = format!("export-{id}.csv");
    let csv = "a,b\n1,\"x, y\"\n2,z\n";
    let listed = app
        .get(&format!("/api/WorkflowRunFiles?id={id}&block=2"))
        .await;
    assert_eq!(listed.body, json!([{"name": name, "size": csv.len()}]));
    let file = app
        .get(&format!("/api/WorkflowRunFile?id={id}&block=2&name={name}"))
        .await;
    assert_eq!((file.status, file.text.as_str()), (200, csv));
    let none = app
        .get(&format!("/api/WorkflowRunFiles?id={id}&block=1"))
        .await;
    assert_eq!(none.body, json!([]));
    let missing = app
        .get(&format!(
            "/api/WorkflowRunFile?id={id}&block=2&name=other.csv"
        ))
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    let sneaky = app
        .get(&format!(
            "/api/WorkflowRunFile?id={id}&block=2&name=..%2F..%2Fcanvas.db"
        ))
        .await;
    assert_eq!(sneaky.status, 400, "{}", sneaky.text);
    assert!(sneaky.text.contains("name:"), "{}", sneaky.text);
}

async fn scripts_store_files_with_save_file(backend: Backend) {
    let app = spawn_app(backend).await;
    let source = "saveFile('hello-' + variables.who + '.txt', 'hi ' + variables.who); saveFile('data.json', { n: 1 }); return [{ ok: true }];";
    let chain = json!([{"blockName": "Files", "script": source, "variables": {"who": "ada"}}]);
    let (workflow, _) = script_workflow(&app, chain).await;

    let run = run_to_end(&app, json!({"workflowId": workflow})).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let listed = app
        .get(&format!("/api/WorkflowRunFiles?id={id}&block=1"))
        .await;
    assert_eq!(
        listed.body,
        json!([{"name": "data.json", "size": 7}, {"name": "hello-ada.txt", "size": 6}])
    );
    let file = app
        .get(&format!(
            "/api/WorkflowRunFile?id={id}&block=1&name=hello-ada.txt"
        ))
        .await;
    assert_eq!(file.text, "hi ada");
    let bad = script_workflow(&app, json!([{"blockName": "Bad", "script": "saveFile('../x', 'no'); return [];", "variables": {}}])).await.0;
    let failed = run_to_end(&app, json!({"workflowId": bad})).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("file name '../x'"),
        "{failed}"
    );
}

/// Past 1 MiB a Format block's file is streamed to the store and its
/// record names the file instead of carrying it.
async fn a_large_formatted_file_is_stored_whole_and_named_in_the_record(backend: Backend) {
    let app = spawn_app(backend).await;
    let rows = "return Array.from({length: 30000}, (_, i) => ({ id: i, text: 'x'.repeat(40) }));";
    let chain = json!([
        {"blockName": "Rows", "script": rows, "variables": {}},
        {"blockName": "Format CSV", "variables": {"fileName": "big.csv"}},
    ]);
    let (workflow, _) = script_workflow(&app, chain).await;

    let run = run_to_end(&app, json!({"workflowId": workflow})).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let mut csv = String::from("id,text\n");
    for i in 0..30000 {
        csv += &format!("{i},{}\n", "x".repeat(40));
    }
    assert!(csv.len() > 1 << 20);
    let record = crate::runs::output(&app, id, 2).await;
    assert_eq!(record, json!([{"fileName": "big.csv", "size": csv.len()}]));
    let file = app
        .get(&format!(
            "/api/WorkflowRunFile?id={id}&block=2&name=big.csv"
        ))
        .await;
    assert_eq!(file.text.len(), csv.len());
    assert!(file.text == csv, "the stored file is the whole CSV");
}

both_backends!(
    a_format_block_stores_a_file_that_can_be_listed_and_read,
    scripts_store_files_with_save_file,
    a_large_formatted_file_is_stored_whole_and_named_in_the_record
);
