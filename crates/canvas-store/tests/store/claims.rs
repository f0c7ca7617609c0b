//! Claims and leases: one winner per run, and writes by the lease holder only.

use crate::both_backends;
use crate::fixtures::{Backend, TestStore};
use canvas_domain::time::now;
use canvas_store::Claim;

fn claim(owner: &str, lease_secs: i64) -> Claim<'_> {
    let at = now();
    Claim {
        owner,
        expires: at + chrono::Duration::seconds(lease_secs),
        now: at,
        max_running_per_organization: 100,
    }
}

/// Eight workers race for one queued run: exactly one claims it.
async fn of_workers_racing_for_one_run_exactly_one_wins(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    let run = t.queue(&workflow).await;

    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = t.store.clone();
            tokio::spawn(async move {
                let owner = format!("worker-{i}");
                store.claim_run(&claim(&owner, 60)).await.unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for racer in racers {
        if let Some(claimed) = racer.await.unwrap() {
            won.push(claimed);
        }
    }

    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!((won[0].id, won[0].attempt), (run, 1));
    t.drop_schema().await;
}

/// Timestamps go in and come back equal (SQLite keeps them as text): the
/// run's queue time read back is the one written, to the microsecond.
async fn timestamps_come_back_as_they_were_written(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    let run = t.queue(&workflow).await;

    let read = t.store.run(run).await.unwrap();
    let again = t.store.run(run).await.unwrap();

    assert_eq!(read.date_queued, again.date_queued);
    assert_eq!(
        read.date_queued.timestamp_subsec_nanos() % 1000,
        0,
        "microseconds, on both backends"
    );
    t.drop_schema().await;
}

both_backends!(
    of_workers_racing_for_one_run_exactly_one_wins,
    timestamps_come_back_as_they_were_written
);
