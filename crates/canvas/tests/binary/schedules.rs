//! The scheduler across restarts and nodes.

use crate::common::{Api, Launch, launch, serve};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const EVERY_SECOND: &str = "* * * ? * *";

fn instant(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn fires_missed_while_the_server_was_down_make_one_run_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, keys) = serve(dir.path());
    let keys = keys.unwrap();
    let mut api = Api::new(&server.base, &keys);
    let template = api
        .template(json!([{"blockName": "Nothing", "script": "return [];"}]))
        .await;
    let workflow = api.workflow(&template).await;
    api.schedule(&workflow, true, EVERY_SECOND).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let kill = Command::new("kill")
        .args(["-KILL", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    server.child.wait().unwrap();
    drop(server);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarted_at = Utc::now();
    let (restarted, _) = serve(dir.path());
    api.base = restarted.base.clone();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    api.schedule(&workflow, false, EVERY_SECOND).await;

    let fires = api.fires(&workflow).await;
    let late: Vec<usize> = (0..fires.len())
        .filter(|&i| instant(&fires[i].1["dateQueued"]) - fires[i].0 > chrono::Duration::seconds(2))
        .collect();
    assert_eq!(
        late.len(),
        1,
        "one run for the fires missed while down: {fires:?}"
    );
    let i = late[0];
    assert!(i >= 2, "fires before the kill: {fires:?}");
    assert_eq!(
        fires[i].0 - fires[i - 1].0,
        chrono::Duration::seconds(1),
        "keyed by the first missed fire"
    );
    assert!(instant(&fires[i].1["dateQueued"]) >= restarted_at);
    let after = &fires[i + 1..];
    assert!(after.len() >= 2, "the schedule went on: {fires:?}");
    assert!(
        after[0].0 >= restarted_at,
        "no run for the other missed fires: {fires:?}"
    );
    for pair in fires[..i].windows(2).chain(after.windows(2)) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            chrono::Duration::seconds(1),
            "{fires:?}"
        );
    }
}

#[tokio::test]
async fn two_servers_on_one_postgresql_fire_each_schedule_once_per_second() {
    let url = crate::common::fresh_postgres_url().await;
    // Late fires still fire one by one (no coalescing) on this loaded machine:
    // the test is about each fire making exactly one run.
    let env = [
        ("CANVAS_SCHEDULE_MISFIRE_MS", "30000".to_string()),
        ("CANVAS_WORKERS", "1".to_string()),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node = |dir, expect_keys| Launch {
        data: dir,
        database_url: Some(&url),
        expect_keys,
        grace: 0,
        env: &env,
    };
    let (a, keys) = launch(&node(dir_a.path(), true));
    let keys = keys.unwrap();
    let (b, _) = launch(&node(dir_b.path(), false));
    let (api_a, api_b) = (Api::new(&a.base, &keys), Api::new(&b.base, &keys));
    let template = api_a
        .template(json!([{"blockName": "Nothing", "script": "return [];"}]))
        .await;
    let mut workflows = Vec::new();
    for _ in 0..200 {
        workflows.push(api_a.workflow(&template).await);
    }
    // Each workflow's fires are counted from when its own schedule was set
    // (setting 200 takes seconds on a loaded machine).
    let mut scheduled_at = Vec::new();
    for (i, w) in workflows.iter().enumerate() {
        let node = if i % 2 == 0 { &api_a } else { &api_b };
        node.schedule(w, true, EVERY_SECOND).await;
        scheduled_at.push(Utc::now());
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    // ... and up to when its own schedule was turned off (turning 200 off
    // takes seconds too).
    let mut stopped_at = Vec::new();
    for w in &workflows {
        let before = Utc::now();
        api_b.schedule(w, false, EVERY_SECOND).await;
        stopped_at.push(before);
    }

    let mut total = 0;
    let spans = scheduled_at.iter().zip(&stopped_at);
    for (w, (started, stopped)) in workflows.iter().zip(spans) {
        let fires = api_a.fires(w).await;
        let times: Vec<_> = fires.iter().map(|(f, _)| *f).collect();
        for pair in times.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                chrono::Duration::seconds(1),
                "{w}: a gap or a double: {times:?}"
            );
        }
        let span = (*stopped - *started).num_seconds();
        assert!(
            times.len() as i64 >= span - 3,
            "{w}: {} fires in {span} s",
            times.len()
        );
        total += times.len();
    }
    assert!(total >= 200 * 18, "{total} runs");
    drop((a, b));
}
