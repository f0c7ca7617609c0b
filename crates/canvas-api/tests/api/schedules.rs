//! The scheduler through the API: fires become runs, once each, and changes
//! to a schedule take effect at once.

use crate::helpers::{Backend, TestApp, both_backends, spawn_app};
use crate::runs::script_workflow;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::time::Duration;

const EVERY_SECOND: &str = r#"{"cronSchedule":"* * * ? * *"}"#;

async fn scheduled_workflow(app: &TestApp, frequency: &str) -> String {
    let chain = json!([{"blockName": "Nothing", "script": "return [];", "variables": {}}]);
    let (workflow, _) = script_workflow(app, chain).await;
    set_schedule(app, &workflow, true, frequency).await;
    workflow
}

async fn set_schedule(app: &TestApp, workflow: &str, on: bool, frequency: &str) {
    let r = app
        .post(
            "/api/WorkflowScheduler",
            &json!({"workflowId": workflow, "isScheduled": on, "scheduleFrequency": frequency}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn runs(app: &TestApp, workflow: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}&top=1000"))
        .await;
    r.body.as_array().unwrap().clone()
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The fire times of a workflow's scheduled runs, oldest first.
async fn fires(app: &TestApp, workflow: &str) -> Vec<DateTime<Utc>> {
    let mut fires: Vec<_> = runs(app, workflow)
        .await
        .iter()
        .map(|r| {
            assert_eq!(r["trigger"], "Schedule", "{r}");
            instant(&r["dateScheduled"])
        })
        .collect();
    fires.sort();
    fires
}

async fn a_per_second_schedule_fires_every_second_for_ten_seconds(backend: Backend) {
    let app = spawn_app(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;

    tokio::time::sleep(Duration::from_millis(10_500)).await;
    set_schedule(&app, &workflow, false, EVERY_SECOND).await;

    let all = runs(&app, &workflow).await;
    let fires = fires(&app, &workflow).await;
    assert!(fires.len() >= 10, "{} fires in 10.5 s", fires.len());
    for pair in fires.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "no gap and no double: {fires:?}"
        );
    }
    for run in &all {
        let late = instant(&run["dateQueued"]) - instant(&run["dateScheduled"]);
        assert!(
            late < chrono::Duration::milliseconds(500),
            "queued {late} late: {run}"
        );
    }
}

async fn disabling_a_schedule_stops_it_before_the_next_fire(backend: Backend) {
    let app = spawn_app(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;
    tokio::time::sleep(Duration::from_millis(2_200)).await;

    set_schedule(&app, &workflow, false, EVERY_SECOND).await;
    let acknowledged = Utc::now();
    let count = runs(&app, &workflow).await.len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    assert!(count >= 2, "it fired before: {count}");
    let after = fires(&app, &workflow).await;
    assert_eq!(after.len(), count, "no fire after the change: {after:?}");
    assert!(after.iter().all(|f| *f <= acknowledged));
    let w = app.get(&format!("/api/Workflow?id={workflow}")).await.body;
    assert_eq!(w["dateNextSchedule"], Value::Null, "{w}");
}

async fn changing_or_deleting_a_schedule_takes_effect_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let changed = scheduled_workflow(&app, EVERY_SECOND).await;
    let deleted = scheduled_workflow(&app, EVERY_SECOND).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    set_schedule(
        &app,
        &changed,
        true,
        r#"{"cronSchedule":"0 0 0 1 1 ? 2099"}"#,
    )
    .await;
    let r = app.get(&format!("/api/DeleteWorkflow?id={deleted}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let count = runs(&app, &changed).await.len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    assert_eq!(
        runs(&app, &changed).await.len(),
        count,
        "the new expression rules"
    );
    let w = app.get(&format!("/api/Workflow?id={changed}")).await.body;
    assert!(
        w["dateNextSchedule"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-01"),
        "{w}"
    );
    assert!(
        app.store
            .earliest_fire()
            .await
            .unwrap()
            .unwrap()
            .to_rfc3339()
            .starts_with("2099")
    );
}

async fn date_next_schedule_is_always_the_next_fire(backend: Backend) {
    let app = spawn_app(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;
    tokio::time::sleep(Duration::from_millis(2_300)).await;

    // The workflow and its fires are read between two fires: a fire that
    // lands between the two reads would compare one fire with the next.
    let (w, last) = loop {
        let before = fires(&app, &workflow).await;
        let w = app.get(&format!("/api/Workflow?id={workflow}")).await.body;
        if fires(&app, &workflow).await == before {
            break (w, *before.last().unwrap());
        }
    };
    let next = instant(&w["dateNextSchedule"]);

    assert_eq!(next - last, chrono::Duration::seconds(1), "{w}");
}

both_backends!(
    a_per_second_schedule_fires_every_second_for_ten_seconds,
    disabling_a_schedule_stops_it_before_the_next_fire,
    changing_or_deleting_a_schedule_takes_effect_at_once,
    date_next_schedule_is_always_the_next_fire
);
