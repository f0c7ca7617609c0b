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

/// Timestamps go in and come back as written, to the microsecond (SQLite
/// keeps them as text), and compare as instants: a lease expiring at the
/// claim's very instant is not expired yet, one a microsecond before is.
async fn timestamps_come_back_as_written_and_compare_as_instants(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    let (run, written) = t.queue_at(&workflow).await;

    let read = t.store.run(run).await.unwrap().date_queued;

    assert_eq!(read.timestamp_micros(), written.timestamp_micros());
    assert_eq!(
        read.timestamp_subsec_nanos() % 1000,
        0,
        "microseconds, on both backends"
    );
    let at = read;
    let first = Claim {
        owner: "w",
        expires: at,
        now: at,
        max_running_per_organization: 100,
    };
    let claimed = t
        .store
        .claim_run(&first)
        .await
        .unwrap()
        .expect("the queued run");
    let same = Claim {
        owner: "x",
        expires: at + chrono::Duration::seconds(60),
        now: at,
        max_running_per_organization: 100,
    };
    assert!(
        t.store.claim_run(&same).await.unwrap().is_none(),
        "a lease expiring now is not expired"
    );
    let after = at + chrono::Duration::microseconds(1);
    let later = Claim {
        owner: "x",
        expires: after + chrono::Duration::seconds(60),
        now: after,
        max_running_per_organization: 100,
    };
    let taken = t
        .store
        .claim_run(&later)
        .await
        .unwrap()
        .expect("expired a microsecond ago");
    assert_eq!(
        (taken.id, taken.previous_owner.as_deref()),
        (claimed.id, Some("w"))
    );
    t.drop_schema().await;
}

both_backends!(
    of_workers_racing_for_one_run_exactly_one_wins,
    timestamps_come_back_as_written_and_compare_as_instants
);
