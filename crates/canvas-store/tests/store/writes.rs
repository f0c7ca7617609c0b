//! Writes under concurrency: each lands once, durable when it returns; on
//! SQLite concurrent writes share commits, and a failed, dropped or
//! cancelled write takes nothing of the others' with it.

use crate::both_backends;
use crate::fixtures::{Backend, TestStore};
use canvas_domain::time::now;
use canvas_store::model::AuditEntry;
use canvas_store::{Store, StoreError};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

fn entry(organization: Uuid, action: &str) -> AuditEntry {
    AuditEntry {
        id: Uuid::new_v4(),
        at: now(),
        organization_id: organization,
        actor_account_id: None,
        acting_account_id: None,
        action: action.into(),
        target: None,
        client_ip: None,
    }
}

async fn recorded(store: &Store, organization: Uuid) -> HashSet<Uuid> {
    let log = store.audit_log(organization, 0, 1000).await.unwrap();
    log.into_iter().map(|e| e.id).collect()
}

/// 48 writes at once: each is readable (from another connection) the
/// moment it returns, and on SQLite they took far fewer commits than 48.
async fn concurrent_writes_are_each_durable_on_return_and_share_commits(backend: Backend) {
    let t = TestStore::new(backend).await;
    let org = t.workflow().await.organization_id;
    let commits_before = t.store.sqlite_commits();

    let writers: Vec<_> = (0..48)
        .map(|i| {
            let store = t.store.clone();
            tokio::spawn(async move {
                let e = entry(org, &format!("write {i}"));
                store.record_audit(&e).await.unwrap();
                let seen = recorded(&store, org).await;
                assert!(seen.contains(&e.id), "write {i} not readable on return");
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }

    assert_eq!(recorded(&t.store, org).await.len(), 48);
    if let (Some(before), Some(after)) = (commits_before, t.store.sqlite_commits()) {
        assert!(
            after - before < 24,
            "48 writes took {} commits",
            after - before
        );
    }
    t.drop_schema().await;
}

/// Every third of 24 concurrent writes breaks a unique key: those fail
/// alone; the writes batched with them all land.
async fn a_failing_write_fails_alone(backend: Backend) {
    let t = TestStore::new(backend).await;
    let org = t.workflow().await.organization_id;
    let existing = entry(org, "first");
    t.store.record_audit(&existing).await.unwrap();

    let writers: Vec<_> = (0..24)
        .map(|i| {
            let store = t.store.clone();
            let e = match i % 3 {
                0 => AuditEntry {
                    action: format!("duplicate {i}"),
                    ..existing.clone()
                },
                _ => entry(org, &format!("write {i}")),
            };
            tokio::spawn(async move { (e.id, store.record_audit(&e).await) })
        })
        .collect();
    let mut landed = HashSet::from([existing.id]);
    for w in writers {
        match w.await.unwrap() {
            (id, Ok(())) => assert!(landed.insert(id)),
            (id, Err(e)) => {
                assert_eq!(id, existing.id);
                assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
            }
        }
    }

    assert_eq!(landed.len(), 17);
    assert_eq!(recorded(&t.store, org).await, landed);
    t.drop_schema().await;
}

/// A transaction dropped uncommitted while other writes wait for the
/// writer: its own write is gone, theirs land.
async fn a_dropped_transaction_takes_only_its_own_writes_with_it(backend: Backend) {
    let t = TestStore::new(backend).await;
    let org = t.workflow().await.organization_id;
    let mut tx = t.store.begin().await.unwrap();
    tx.record_audit(&entry(org, "in the dropped transaction"))
        .await
        .unwrap();

    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = t.store.clone();
            let e = entry(org, &format!("write {i}"));
            tokio::spawn(async move { store.record_audit(&e).await.map(|()| e.id) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(tx);
    let mut landed = HashSet::new();
    for w in writers {
        landed.insert(w.await.unwrap().unwrap());
    }

    assert_eq!(recorded(&t.store, org).await, landed);
    assert_eq!(landed.len(), 8);
    t.drop_schema().await;
}

/// A transaction rolled back while other writes wait: its write is gone,
/// theirs land, and the store takes writes after it.
async fn a_rolled_back_transaction_undoes_only_its_own_writes(backend: Backend) {
    let t = TestStore::new(backend).await;
    let org = t.workflow().await.organization_id;
    let mut tx = t.store.begin().await.unwrap();
    tx.record_audit(&entry(org, "rolled back")).await.unwrap();
    let waiting = {
        let store = t.store.clone();
        let e = entry(org, "waiting");
        tokio::spawn(async move { store.record_audit(&e).await.map(|()| e.id) })
    };

    tx.rollback().await.unwrap();
    let after = entry(org, "after");
    t.store.record_audit(&after).await.unwrap();

    let waited = waiting.await.unwrap().unwrap();
    assert_eq!(
        recorded(&t.store, org).await,
        HashSet::from([waited, after.id])
    );
    t.drop_schema().await;
}

/// Writes cancelled at every point of their course (queued, writing,
/// waiting for the commit) while others run: the writer keeps serving,
/// and every write that returned Ok is there.
async fn cancelled_writes_hold_nothing_up_and_lose_nothing_returned(backend: Backend) {
    let t = TestStore::new(backend).await;
    let org = t.workflow().await.organization_id;

    let steady = {
        let store = t.store.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let e = entry(org, &format!("steady {i}"));
                store.record_audit(&e).await.unwrap();
                ids.push(e.id);
            }
            ids
        })
    };
    let mut returned = Vec::new();
    for i in 0..200u64 {
        let e = entry(org, &format!("cancelled {i}"));
        let budget = Duration::from_micros(20 * (i % 25));
        if let Ok(Ok(())) = tokio::time::timeout(budget, t.store.record_audit(&e)).await {
            returned.push(e.id);
        }
    }
    let steady = tokio::time::timeout(Duration::from_secs(10), steady)
        .await
        .expect("the steady writes were held up")
        .unwrap();
    let last = entry(org, "after");
    tokio::time::timeout(Duration::from_secs(5), t.store.record_audit(&last))
        .await
        .expect("the writer no longer serves")
        .unwrap();

    let seen = recorded(&t.store, org).await;
    for id in steady.iter().chain(&returned).chain([&last.id]) {
        assert!(seen.contains(id), "{id} returned Ok but is not there");
    }
    t.drop_schema().await;
}

/// A second store opened on the same SQLite file in this process (the
/// scheduler's) writes through the same writer: no two writers waiting on
/// each other in SQLite's busy handler, and both stores' writes land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_on_one_sqlite_file_share_its_writer() {
    let t = TestStore::new(Backend::Sqlite).await;
    let org = t.workflow().await.organization_id;
    let second = Store::open_sqlite(&t.sqlite_file().unwrap()).await.unwrap();

    let (a, b) = (entry(org, "first store"), entry(org, "second store"));
    let (first_wrote, second_wrote) =
        tokio::join!(t.store.record_audit(&a), second.record_audit(&b));
    first_wrote.unwrap();
    second_wrote.unwrap();

    assert_eq!(t.store.sqlite_commits(), second.sqlite_commits());
    assert_eq!(recorded(&second, org).await, HashSet::from([a.id, b.id]));
}

both_backends!(
    concurrent_writes_are_each_durable_on_return_and_share_commits,
    a_failing_write_fails_alone,
    a_dropped_transaction_takes_only_its_own_writes_with_it,
    a_rolled_back_transaction_undoes_only_its_own_writes,
    cancelled_writes_hold_nothing_up_and_lose_nothing_returned,
);
