//! `commit_fires`: a fire is committed once — a compare-and-set of the
//! workflow's next fire — however many schedulers commit it, and never
//! after the schedule moved.

use crate::both_backends;
use crate::fixtures::{Backend, TestStore};
use canvas_domain::time::Timestamp;
use canvas_store::model::{NewRun, RunTrigger, Workflow};
use canvas_store::{FirePlan, ScheduleUpdate};
use uuid::Uuid;

fn at(seconds: i64) -> Timestamp {
    "2026-03-29T01:00:00Z".parse::<Timestamp>().unwrap() + chrono::Duration::seconds(seconds)
}

/// Schedules `workflow` every second, its next fire at `at(1)`.
async fn schedule(t: &TestStore, workflow: &Workflow, next: Timestamp) {
    let update = ScheduleUpdate {
        is_scheduled: true,
        frequency: Some(r#"{"cronSchedule":"* * * ? * *"}"#),
        next: Some(next),
        at: at(0),
    };
    t.store.update_schedule(workflow.id, &update).await.unwrap();
}

/// What a scheduler decides for the fire at `fire`: a run queued at `queued`.
fn plan(workflow: &Workflow, fire: Timestamp, queued: Timestamp) -> FirePlan {
    FirePlan {
        workflow_id: workflow.id,
        fire,
        next: Some(fire + chrono::Duration::seconds(1)),
        run: Some(NewRun {
            id: Uuid::new_v4(),
            workflow_id: workflow.id,
            trigger: RunTrigger::Schedule,
            run_from: 1,
            run_till: 1,
            date_queued: queued,
        }),
    }
}

/// Four schedulers commit the same fire at once: one run, the schedule moved once.
async fn a_fire_committed_by_racing_schedulers_queues_one_run(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    schedule(&t, &workflow, at(1)).await;

    let racers: Vec<_> = (0..4)
        .map(|_| {
            let (store, plan) = (t.store.clone(), plan(&workflow, at(1), at(1)));
            tokio::spawn(async move { store.commit_fires(&[plan]).await.unwrap() })
        })
        .collect();
    let mut queued = 0;
    for racer in racers {
        queued += racer.await.unwrap();
    }

    assert_eq!(queued, 1);
    assert_eq!(t.store.runs(workflow.id, 0, 10).await.unwrap().len(), 1);
    let moved = t.store.workflow(workflow.id).await.unwrap();
    assert_eq!(moved.date_next_schedule, Some(at(2)));
    t.drop_schema().await;
}

/// A plan made before the schedule changed commits nothing and leaves the change.
async fn a_fire_whose_schedule_moved_meanwhile_commits_nothing(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    schedule(&t, &workflow, at(1)).await;
    let stale = plan(&workflow, at(1), at(1));
    schedule(&t, &workflow, at(3600)).await;

    let queued = t.store.commit_fires(&[stale]).await.unwrap();

    assert_eq!(queued, 0);
    assert!(t.store.runs(workflow.id, 0, 10).await.unwrap().is_empty());
    let kept = t.store.workflow(workflow.id).await.unwrap();
    assert_eq!(kept.date_next_schedule, Some(at(3600)));
    t.drop_schema().await;
}

/// The store takes "now" from its caller: the run is queued at the plan's
/// instant and scheduled at its fire, not at the store's clock.
async fn a_committed_run_carries_the_plans_instants(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    schedule(&t, &workflow, at(1)).await;
    let queued_at = at(1) + chrono::Duration::milliseconds(250);

    t.store
        .commit_fires(&[plan(&workflow, at(1), queued_at)])
        .await
        .unwrap();

    let runs = t.store.runs(workflow.id, 0, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].date_queued, queued_at);
    assert_eq!(runs[0].fire_time, Some(at(1)));
    t.drop_schema().await;
}

both_backends!(
    a_fire_committed_by_racing_schedulers_queues_one_run,
    a_fire_whose_schedule_moved_meanwhile_commits_nothing,
    a_committed_run_carries_the_plans_instants
);
