//! `GET /api/Runs`: an account's runs across its workflows, newest first,
//! filtered and keyset-paged, each saying how far it got.

use crate::helpers::{
    Backend, TestApp, assert_error, both_backends, create_organization, spawn_app,
};
use crate::runs::{run_to_end, script_workflow};
use serde_json::{Value, json};

fn step(name: &str, source: &str) -> Value {
    json!({"blockName": name, "script": source, "variables": {}})
}

async fn list(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/api/Runs?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.body
}

fn ids(page: &Value) -> Vec<String> {
    page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Three good runs and two that fail in their second block.
async fn five_runs(app: &TestApp) -> (String, String) {
    let (good, _) = script_workflow(app, json!([step("One", "return [];")])).await;
    let failing = "throw new Error('boom\\nsecond line');";
    let (bad, _) = script_workflow(
        app,
        json!([step("One", "return [{n: 1}];"), step("Two", failing)]),
    )
    .await;
    for workflow in [&good, &bad, &good, &bad, &good] {
        run_to_end(app, json!({"workflowId": workflow})).await;
    }
    (good, bad)
}

async fn the_runs_list_pages_newest_first_and_says_how_far_each_run_got(backend: Backend) {
    let app = spawn_app(backend).await;
    let (good, bad) = five_runs(&app).await;

    let first = list(&app, "top=2").await;
    let after = first["next"].as_str().unwrap();
    let second = list(&app, &format!("top=2&after={after}")).await;
    let after = second["next"].as_str().unwrap();
    let third = list(&app, &format!("top=2&after={after}")).await;

    assert_eq!(third["next"], Value::Null, "the last page says so");
    let all: Vec<String> = [ids(&first), ids(&second), ids(&third)].concat();
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!((all.len(), unique.len()), (5, 5), "{all:?}");
    let queued: Vec<String> = [first, second, third]
        .iter()
        .flat_map(|p| p["runs"].as_array().unwrap().clone())
        .map(|r| r["dateQueued"].as_str().unwrap().to_string())
        .collect();
    assert!(
        queued.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {queued:?}"
    );

    let failed = list(&app, "status=failed,cancelled").await;
    assert_eq!(ids(&failed).len(), 2);
    let repeated = list(&app, "status=Failed&status=Succeeded").await;
    assert_eq!(
        ids(&repeated).len(),
        5,
        "a repeated name is every value, as checkboxes send it"
    );
    let row = &failed["runs"][0];
    assert_eq!(row["workflowId"], json!(bad));
    assert_eq!(
        (row["blocksDone"].clone(), row["blocksTotal"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(row["failedBlock"], "Two");
    let error = row["error"].as_str().unwrap();
    assert!(
        error.contains("boom") && !error.contains("second line"),
        "{error}"
    );
    assert!(
        row.get("blocks").is_none() && row.get("log").is_none(),
        "{row}"
    );
    assert!(row["durationMs"].as_i64().unwrap() >= 0);
    assert_eq!(
        ids(&list(&app, &format!("workflowId={good}")).await).len(),
        3
    );
}

async fn the_runs_list_filters_by_trigger_and_time_and_refuses_what_it_cannot_read(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    five_runs(&app).await;

    assert_eq!(ids(&list(&app, "trigger=Schedule").await).len(), 0);
    assert_eq!(ids(&list(&app, "trigger=manual&window=1h").await).len(), 5);
    assert_eq!(
        ids(&list(&app, "since=2999-01-01T00:00:00Z").await).len(),
        0
    );
    assert_eq!(
        ids(&list(&app, "until=2000-01-01T00:00:00Z").await).len(),
        0
    );
    let refusals = [
        ("status=Done", "status: 'Done' is not one of"),
        (
            "trigger=cron",
            "trigger: 'cron' is not one of Manual, Schedule",
        ),
        ("window=2d", "window: '2d' is not one of 1h, 24h, 7d"),
        ("since=yesterday", "since: 'yesterday' is not an instant"),
        ("after=not-a-cursor", "after: is not a cursor this API gave"),
        ("top=0", "top: must be a whole number from 1 to 100"),
        ("workflowId=x", "workflowId: 'x' is not a GUID"),
    ];
    for (query, message) in refusals {
        assert_error(&app.get(&format!("/api/Runs?{query}")).await, 400, message);
    }
}

/// Another organization's key sees none of these runs.
async fn another_organizations_key_lists_no_run_of_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    five_runs(&app).await;
    let (_, _, stranger) = create_organization(&app.store, &app.secrets, "Other", None).await;

    let r = app.get_as("/api/Runs", &stranger, &[]).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["runs"], json!([]));
}

both_backends!(
    the_runs_list_pages_newest_first_and_says_how_far_each_run_got,
    the_runs_list_filters_by_trigger_and_time_and_refuses_what_it_cannot_read,
    another_organizations_key_lists_no_run_of_this_one,
);
