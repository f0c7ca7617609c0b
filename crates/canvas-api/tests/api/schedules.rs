//! The scheduler through the API: fires become runs, once each, and changes
//! to a schedule take effect at once.

use crate::helpers::{Backend, Options, TestApp, both_backends, spawn_app, spawn_app_opts};
use crate::runs::script_workflow;
use canvas_domain::time::ManualClock;
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

/// The instant clocked apps start at: a quarter second past a whole second.
fn t0() -> DateTime<Utc> {
    "2026-03-29T01:00:00.250Z".parse().unwrap()
}

/// `t0` plus whole seconds.
fn t(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

/// An app whose scheduler the test runs at instants of its choosing.
async fn spawn_clocked(backend: Backend) -> TestApp {
    let options = Options {
        clock: Some(ManualClock::at(t0())),
        ..Options::default()
    };
    spawn_app_opts(backend, options).await
}

async fn next_schedule(app: &TestApp, workflow: &str) -> Value {
    let w = app.get(&format!("/api/Workflow?id={workflow}")).await.body;
    w["dateNextSchedule"].clone()
}

async fn a_per_second_schedule_fires_once_for_each_second(backend: Backend) {
    let app = spawn_clocked(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;

    for second in 1..=10 {
        assert_eq!(app.fire_schedules_at(t(second)).await, 1, "second {second}");
        assert_eq!(app.fire_schedules_at(t(second)).await, 0, "once only");
    }

    let fires = fires(&app, &workflow).await;
    let whole = |s| t(s) - chrono::Duration::milliseconds(250);
    assert_eq!(fires, (1..=10).map(whole).collect::<Vec<_>>());
    for run in runs(&app, &workflow).await {
        let late = instant(&run["dateQueued"]) - instant(&run["dateScheduled"]);
        assert_eq!(late, chrono::Duration::milliseconds(250), "{run}");
    }
}

async fn fires_missed_beyond_the_threshold_make_one_run_and_the_schedule_goes_on_from_now(
    backend: Backend,
) {
    let app = spawn_clocked(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;
    app.fire_schedules_at(t(1)).await;

    assert_eq!(app.fire_schedules_at(t(300)).await, 1, "one due row");

    let fires = fires(&app, &workflow).await;
    assert_eq!(
        fires.len(),
        2,
        "one run stands for 298 missed fires: {fires:?}"
    );
    assert_eq!(
        instant(&next_schedule(&app, &workflow).await),
        t(301) - chrono::Duration::milliseconds(250)
    );
}

async fn disabling_a_schedule_stops_it_before_the_next_fire(backend: Backend) {
    let app = spawn_clocked(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;
    app.fire_schedules_at(t(1)).await;
    app.fire_schedules_at(t(2)).await;

    set_schedule(&app, &workflow, false, EVERY_SECOND).await;
    let later = [
        app.fire_schedules_at(t(3)).await,
        app.fire_schedules_at(t(60)).await,
    ];

    assert_eq!(later, [0, 0], "nothing is due any more");
    assert_eq!(fires(&app, &workflow).await.len(), 2);
    assert_eq!(next_schedule(&app, &workflow).await, Value::Null);
}

async fn changing_or_deleting_a_schedule_takes_effect_at_once(backend: Backend) {
    let app = spawn_clocked(backend).await;
    let changed = scheduled_workflow(&app, EVERY_SECOND).await;
    let deleted = scheduled_workflow(&app, EVERY_SECOND).await;
    assert_eq!(app.fire_schedules_at(t(1)).await, 2);

    set_schedule(
        &app,
        &changed,
        true,
        r#"{"cronSchedule":"0 0 0 1 1 ? 2099"}"#,
    )
    .await;
    let r = app.get(&format!("/api/DeleteWorkflow?id={deleted}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let later = [
        app.fire_schedules_at(t(2)).await,
        app.fire_schedules_at(t(3)).await,
    ];

    assert_eq!(
        later,
        [0, 0],
        "the new expression rules; the deleted one is gone"
    );
    assert_eq!(runs(&app, &changed).await.len(), 1);
    let next = next_schedule(&app, &changed).await;
    assert_eq!(
        next.as_str().unwrap(),
        "2099-01-01T00:00:00+00:00",
        "{next}"
    );
    let earliest = app.store.earliest_fire().await.unwrap().unwrap();
    assert_eq!(earliest.to_rfc3339(), "2099-01-01T00:00:00+00:00");
}

async fn date_next_schedule_is_always_the_next_fire(backend: Backend) {
    let app = spawn_clocked(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;

    for second in 1..=3 {
        app.fire_schedules_at(t(second)).await;
        let last = *fires(&app, &workflow).await.last().unwrap();
        let next = instant(&next_schedule(&app, &workflow).await);
        assert_eq!(
            next - last,
            chrono::Duration::seconds(1),
            "after second {second}"
        );
    }
}

/// The one test on the real clock: the scheduler thread fires by itself.
async fn a_per_second_schedule_fires_by_itself_on_the_real_clock(backend: Backend) {
    let app = spawn_app(backend).await;
    let workflow = scheduled_workflow(&app, EVERY_SECOND).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runs(&app, &workflow).await.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    set_schedule(&app, &workflow, false, EVERY_SECOND).await;

    let fires = fires(&app, &workflow).await;
    assert!(fires.len() >= 3, "{} fires in 10 s", fires.len());
    for pair in fires.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::Duration::seconds(1), "{fires:?}");
    }
}

both_backends!(
    a_per_second_schedule_fires_once_for_each_second,
    fires_missed_beyond_the_threshold_make_one_run_and_the_schedule_goes_on_from_now,
    disabling_a_schedule_stops_it_before_the_next_fire,
    changing_or_deleting_a_schedule_takes_effect_at_once,
    date_next_schedule_is_always_the_next_fire,
    a_per_second_schedule_fires_by_itself_on_the_real_clock
);
