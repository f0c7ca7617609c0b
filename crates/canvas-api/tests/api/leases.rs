//! A run is written about by the holder of its lease only: a worker that
//! lost it (paused past its lease while another took the run over) changes
//! nothing — not the block records, not the run's end, not its lease.

use crate::helpers::{Backend, Options, TestApp, both_backends, spawn_app_opts};
use crate::runs::{script_workflow, wait_for_end};
use canvas_domain::time::{Timestamp, now};
use canvas_store::model::{ClaimedRun, RunBlock, RunStatus};
use canvas_store::{Claim, RunEnd};
use serde_json::json;

fn claim(owner: &str, now: Timestamp, lease_secs: i64) -> Claim<'_> {
    Claim {
        owner,
        expires: now + chrono::Duration::seconds(lease_secs),
        now,
        max_running_per_organization: 10,
    }
}

fn block(status: RunStatus, error: Option<&str>, output: Option<&str>) -> RunBlock {
    RunBlock {
        number: 1,
        unique_block_id: uuid::Uuid::new_v4(),
        block_name: "One".into(),
        status,
        date_started: Some(now()),
        date_finished: Some(now()),
        records_in: 0,
        records_out: 1,
        log: Vec::new(),
        error: error.map(str::to_string),
        output_key: output.map(str::to_string),
        inline_output: None,
    }
}

/// A queued run, claimed by `first` on a lease of one second.
async fn claimed_run(app: &TestApp, first: &str) -> ClaimedRun {
    let (workflow, _) = script_workflow(
        app,
        json!([crate::connectors::script("return [{ n: 1 }];")]),
    )
    .await;
    let r = app
        .post("/api/RunWorkflow", &json!({"workflowId": workflow}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.store
        .claim_run(&claim(first, now(), 1))
        .await
        .unwrap()
        .expect("the queued run")
}

async fn a_worker_that_lost_its_lease_writes_nothing_about_the_run(backend: Backend) {
    let options = Options {
        hold_engine: true,
        ..Options::default()
    };
    let app = spawn_app_opts(backend, options).await;
    let stale = claimed_run(&app, "node-a").await;
    // Node A pauses past its lease; node B takes the run over.
    let later = now() + chrono::Duration::seconds(5);
    let holder = app
        .store
        .claim_run(&claim("node-b", later, 60))
        .await
        .unwrap()
        .expect("the takeover");
    assert_eq!(
        (holder.id, holder.previous_owner.as_deref()),
        (stale.id, Some("node-a"))
    );
    let done = block(
        RunStatus::Succeeded,
        None,
        Some("runs/x/attempt-2/block-1.ndjson"),
    );
    assert!(
        app.store
            .save_run_block(&holder.lease, &done)
            .await
            .unwrap()
    );

    let failed = block(RunStatus::Failed, Some("stale"), None);
    let wrote = app
        .store
        .save_run_block(&stale.lease, &failed)
        .await
        .unwrap();
    let beat = app.store.heartbeat(&stale.lease, later).await.unwrap();
    let end = RunEnd {
        status: RunStatus::Failed,
        error: Some("stale"),
        last_block: None,
        block: None,
        at: later,
    };
    let ended = app.store.finish_run(&stale.lease, &end).await.unwrap();
    app.store.release_run(&stale.lease).await.unwrap();

    assert!(
        !wrote && !beat.held && !ended,
        "the stale worker is refused every write"
    );
    let blocks = app.store.run_blocks(stale.id).await.unwrap();
    let kept: Vec<_> = blocks
        .iter()
        .map(|b| (b.status, b.output_key.clone(), b.error.clone()))
        .collect();
    assert_eq!(
        kept,
        vec![(RunStatus::Succeeded, done.output_key.clone(), None)],
        "the holder's record stands"
    );
    assert_eq!(
        app.store.run(stale.id).await.unwrap().status,
        RunStatus::Running
    );
    // The same node taking its own run over again holds a new attempt: the
    // lease of the attempt before is refused too.
    let much_later = later + chrono::Duration::seconds(120);
    let again = app
        .store
        .claim_run(&claim("node-b", much_later, 60))
        .await
        .unwrap()
        .expect("a second takeover");
    assert_eq!(again.lease.owner(), holder.lease.owner());
    assert!(
        !app.store
            .save_run_block(&holder.lease, &failed)
            .await
            .unwrap()
    );
    assert!(
        !app.store
            .heartbeat(&holder.lease, much_later)
            .await
            .unwrap()
            .held
    );
    let end_then = RunEnd {
        at: much_later,
        ..end
    };
    assert!(
        !app.store
            .finish_run(&holder.lease, &end_then)
            .await
            .unwrap()
    );
    app.store.release_run(&holder.lease).await.unwrap();
    assert_eq!(
        app.store.run(stale.id).await.unwrap().status,
        RunStatus::Running,
        "an older attempt's release is refused"
    );
    assert!(
        app.store
            .heartbeat(&again.lease, much_later)
            .await
            .unwrap()
            .held
    );
    assert!(app.store.save_run_block(&again.lease, &done).await.unwrap());
}

/// The engine itself: a run claimed by a worker whose lease then passed to
/// this server's engine ends once, with the new holder's records.
async fn a_run_taken_over_ends_once_with_the_new_holders_records(backend: Backend) {
    let options = Options {
        hold_engine: true,
        ..Options::default()
    };
    let app = spawn_app_opts(backend, options).await;
    let stale = claimed_run(&app, "paused-node").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    app.start_engine();
    let run = wait_for_end(&app, &stale.id.to_string()).await;
    let late = block(RunStatus::Failed, Some("written by a paused worker"), None);
    let wrote = app.store.save_run_block(&stale.lease, &late).await.unwrap();

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert!(!wrote, "the paused worker wakes up and is refused");
    let blocks = app.store.run_blocks(stale.id).await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].status, RunStatus::Succeeded);
    let key = blocks[0].output_key.as_deref().unwrap();
    assert!(
        key.contains("/attempt-2/"),
        "outputs are keyed by attempt: {key}"
    );
}

both_backends!(
    a_worker_that_lost_its_lease_writes_nothing_about_the_run,
    a_run_taken_over_ends_once_with_the_new_holders_records
);
