//! Retention's reads and deletes: expired runs oldest first, a batch at a
//! time; a batch goes in one transaction with its block records; a run
//! that is not finished, or whose workflow is busy, stays.

use crate::both_backends;
use crate::fixtures::{Backend, TestStore};
use canvas_store::HistorySpec;

async fn expired_runs_go_oldest_first_a_batch_at_a_time_with_their_blocks(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    let newest: canvas_domain::time::Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
    let spec = HistorySpec {
        organization: workflow.organization_id,
        account: workflow.account_id,
        workflows: vec![workflow.id],
        runs: 450,
        newest,
        spacing: chrono::Duration::seconds(2),
    };
    t.store.fill_history(&spec).await.unwrap();
    let before = newest + chrono::Duration::hours(1);

    let first = t.store.expired_runs(before, 200).await.unwrap();
    assert_eq!(first.len(), 200);
    let mut finished = Vec::new();
    for id in &first {
        finished.push(t.store.run(*id).await.unwrap().date_finished.unwrap());
    }
    assert!(finished.is_sorted(), "oldest first");
    let oldest = newest - chrono::Duration::seconds(2 * 449);
    assert!(
        finished[0] - oldest < chrono::Duration::seconds(10),
        "{finished:?}"
    );
    assert_eq!(t.store.delete_runs(&first).await.unwrap(), 200);
    assert!(t.store.run(first[0]).await.is_err(), "the run is gone");
    assert!(
        t.store.run_blocks(first[0]).await.unwrap().is_empty(),
        "its blocks too"
    );

    let second = t.store.expired_runs(before, 200).await.unwrap();
    assert_eq!(second.len(), 200);
    assert!(second.iter().all(|id| !first.contains(id)));
    let cutoff = newest - chrono::Duration::seconds(2 * 100);
    assert!(
        t.store.expired_runs(cutoff, 1000).await.unwrap().len() < 250,
        "only what finished before the cutoff"
    );

    let queued = t.queue(&workflow).await;
    assert!(
        t.store.expired_runs(before, 200).await.unwrap().is_empty(),
        "the workflow is busy"
    );
    assert_eq!(
        t.store.delete_runs(&[queued, second[0]]).await.unwrap(),
        1,
        "only the finished one"
    );
    assert!(
        t.store.run(queued).await.is_ok(),
        "a queued run is never deleted"
    );
    t.drop_schema().await;
}

both_backends!(expired_runs_go_oldest_first_a_batch_at_a_time_with_their_blocks);
