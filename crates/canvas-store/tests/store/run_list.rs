//! The runs list over a history: pages newest first whatever the filter,
//! several statuses merged in order, keyset pages that neither skip nor repeat.

use crate::fixtures::{Backend, TestStore};
use canvas_domain::time::Timestamp;
use canvas_store::model::{RunStatus, Workflow};
use canvas_store::{HistorySpec, RunFilter, RunKey};

async fn history(t: &TestStore, workflow: &Workflow, runs: usize) -> Timestamp {
    let newest: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
    let spec = HistorySpec {
        organization: workflow.organization_id,
        account: workflow.account_id,
        workflows: vec![workflow.id],
        runs,
        newest,
        spacing: chrono::Duration::seconds(2),
    };
    t.store.fill_history(&spec).await.unwrap();
    newest
}

fn filter(workflow: &Workflow, statuses: Vec<RunStatus>, limit: i64) -> RunFilter {
    RunFilter {
        account: workflow.account_id,
        workflow: None,
        statuses,
        trigger: None,
        since: None,
        until: None,
        after: None,
        limit,
    }
}

/// 1 in 20 of the history failed, 1 in 1,000 was cancelled.
async fn several_statuses_are_merged_newest_first_and_paged_without_gaps(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    let newest = history(&t, &workflow, 3000).await;
    let asked = filter(&workflow, vec![RunStatus::Cancelled, RunStatus::Failed], 40);

    let mut seen = Vec::new();
    let mut page = t.store.list_runs(&asked).await.unwrap();
    while !page.is_empty() {
        let last = page.last().unwrap().run.clone();
        seen.extend(page.into_iter().map(|r| r.run));
        let after = RunKey {
            date_queued: last.date_queued,
            id: last.id,
        };
        let next = RunFilter {
            after: Some(after),
            ..asked.clone()
        };
        page = t.store.list_runs(&next).await.unwrap();
    }

    let failed = (0..3000).filter(|i| i % 20 == 3 && i % 1000 != 7).count();
    let cancelled = (0..3000).filter(|i| i % 1000 == 7).count();
    assert_eq!(seen.len(), failed + cancelled, "every one, once");
    assert!(
        seen.windows(2).all(|w| w[0].date_queued > w[1].date_queued),
        "newest first"
    );
    assert_eq!(seen[0].status, RunStatus::Failed);
    assert_eq!(
        seen[0].date_queued,
        newest - chrono::Duration::seconds(6),
        "run 3 is the newest failure"
    );
    assert_eq!(
        seen.iter()
            .filter(|r| r.status == RunStatus::Cancelled)
            .count(),
        3
    );
    t.drop_schema().await;
}

crate::both_backends!(several_statuses_are_merged_newest_first_and_paged_without_gaps);

/// `WorkflowRuns`' offset paging: pages newest first, none skipped or repeated.
async fn a_workflows_runs_page_by_skip_and_top_newest_first(backend: Backend) {
    let t = TestStore::new(backend).await;
    let workflow = t.workflow().await;
    let newest = history(&t, &workflow, 120).await;

    let mut seen = Vec::new();
    for skip in [0, 50, 100] {
        seen.extend(t.store.runs(workflow.id, skip, 50).await.unwrap());
    }

    assert_eq!(seen.len(), 120, "every run once");
    assert_eq!(seen[0].date_queued, newest);
    assert!(
        seen.windows(2).all(|w| w[0].date_queued > w[1].date_queued),
        "newest first, across pages"
    );
    assert!(t.store.runs(workflow.id, 120, 50).await.unwrap().is_empty());
    t.drop_schema().await;
}

crate::both_backends!(a_workflows_runs_page_by_skip_and_top_newest_first);
