//! The runs list: an account's runs, newest first, filtered and keyset-paged
//! — what the console's Runs page and `GET /api/Runs` show. Each row says
//! how far the run got (blocks done, the failing block's name) but carries
//! no log and no records.

use crate::model::{Run, RunStatus, RunTrigger};
use crate::queue::RunRow;
use crate::{Result, Store, StoreError, with_db};
use canvas_domain::time::Timestamp;
use uuid::Uuid;

/// Which runs, and where the page starts.
#[derive(Debug, Clone)]
pub struct RunFilter {
    pub account: Uuid,
    pub workflow: Option<Uuid>,
    /// Any of these; empty for every status.
    pub statuses: Vec<RunStatus>,
    pub trigger: Option<RunTrigger>,
    /// Queued at or after.
    pub since: Option<Timestamp>,
    /// Queued before.
    pub until: Option<Timestamp>,
    /// The keyset: runs after this one in the order (older, or as old with a smaller id).
    pub after: Option<RunKey>,
    pub limit: i64,
}

/// A run's place in the list's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunKey {
    pub date_queued: Timestamp,
    pub id: Uuid,
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run: Run,
    pub workflow_name: String,
    /// Blocks of the run that succeeded.
    pub blocks_done: i64,
    /// The first block that failed, by name.
    pub failed_block: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    run: RunRow,
    workflow_name: Option<String>,
    blocks_done: i64,
    failed_block: Option<String>,
}

/// The filters' SQL, with numbered parameters from `$2` (`$1` is the account).
fn conditions(f: &RunFilter) -> String {
    let mut sql = String::new();
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if f.workflow.is_some() {
        sql += &format!(" AND workflow_id = {}", next());
    }
    if !f.statuses.is_empty() {
        let list: Vec<String> = f.statuses.iter().map(|_| next()).collect();
        sql += &format!(" AND status IN ({})", list.join(", "));
    }
    if f.trigger.is_some() {
        sql += &format!(" AND trigger_kind = {}", next());
    }
    if f.since.is_some() {
        sql += &format!(" AND date_queued >= {}", next());
    }
    if f.until.is_some() {
        sql += &format!(" AND date_queued < {}", next());
    }
    if f.after.is_some() {
        let (at, id) = (next(), next());
        // The first term bounds the index range (an OR cannot): a deep page
        // is a seek, not a walk past every newer run.
        sql += &format!(
            " AND date_queued <= {at} AND (date_queued < {at} OR (date_queued = {at} AND id < {id}))"
        );
    }
    sql + &format!(" ORDER BY date_queued DESC, id DESC LIMIT {}", next())
}

/// The index that serves `f` in the list's order (one status at most: more
/// are one query each). SQLite is told (`INDEXED BY`): without statistics
/// its planner may take the account's index and filter a million rows;
/// PostgreSQL's planner has them.
fn index(f: &RunFilter) -> &'static str {
    match (f.workflow.is_some(), f.statuses.len() == 1) {
        (true, true) => "runs_by_workflow_status",
        (true, false) => "runs_by_workflow",
        (false, true) => "runs_by_account_status",
        (false, false) => "runs_by_account",
    }
}

/// The page of runs itself: one index range read in order, no sort.
fn runs_sql(f: &RunFilter, hint: &str) -> String {
    format!(
        "SELECT id, workflow_id, status, trigger_kind, run_from, run_till, attempt, date_queued, \
         date_started, date_finished, error, fire_time FROM runs{hint} WHERE account_id = $1{}",
        conditions(f)
    )
}

/// The page with what each row shows: its workflow's name, how far it got.
fn list_sql(f: &RunFilter, hint: &str) -> String {
    format!(
        "SELECT q.*, w.name AS workflow_name, \
         (SELECT COUNT(*) FROM run_blocks b WHERE b.run_id = q.id AND b.status = 'Succeeded') AS blocks_done, \
         (SELECT b.block_name FROM run_blocks b WHERE b.run_id = q.id AND b.status = 'Failed' ORDER BY b.number LIMIT 1) AS failed_block \
         FROM ({}) q LEFT JOIN workflows w ON w.id = q.workflow_id ORDER BY q.date_queued DESC, q.id DESC",
        runs_sql(f, hint)
    )
}

impl Store {
    /// One page of an account's runs, newest first. Several statuses are
    /// one query each (each an index range in order), merged: a rare
    /// status never makes the page scan the common ones.
    pub async fn list_runs(&self, f: &RunFilter) -> Result<Vec<RunSummary>> {
        if f.statuses.len() <= 1 {
            return self.list_runs_in_order(f).await;
        }
        let mut rows = Vec::new();
        for status in &f.statuses {
            let one = RunFilter {
                statuses: vec![*status],
                ..f.clone()
            };
            rows.extend(self.list_runs_in_order(&one).await?);
        }
        Ok(newest_first(rows, f.limit, |r| r))
    }

    /// One page of the runs of several accounts (a partner's), newest
    /// first, each with its account: one page per account, merged — each
    /// still an index range read in order.
    pub async fn list_runs_across(
        &self,
        accounts: &[Uuid],
        f: &RunFilter,
    ) -> Result<Vec<(Uuid, RunSummary)>> {
        let mut rows = Vec::new();
        for account in accounts {
            let one = RunFilter {
                account: *account,
                ..f.clone()
            };
            let page = self.list_runs(&one).await?;
            rows.extend(page.into_iter().map(|r| (*account, r)));
        }
        Ok(newest_first(rows, f.limit, |(_, r)| r))
    }

    async fn list_runs_in_order(&self, f: &RunFilter) -> Result<Vec<RunSummary>> {
        let rows: Vec<SummaryRow> = with_db!(self, p, hint = {
            sqlite: format!(" INDEXED BY {}", index(f)),
            postgres: String::new(),
        } => {
            let sql = list_sql(f, &hint);
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(f.account);
            if let Some(w) = f.workflow {
                q = q.bind(w);
            }
            for s in &f.statuses {
                q = q.bind(s.name());
            }
            if let Some(t) = f.trigger {
                q = q.bind(t.name());
            }
            if let Some(t) = f.since {
                q = q.bind(t);
            }
            if let Some(t) = f.until {
                q = q.bind(t);
            }
            if let Some(k) = f.after {
                q = q.bind(k.date_queued).bind(k.id);
            }
            q.bind(f.limit).fetch_all(p).await?
        });
        rows.into_iter().map(summary).collect()
    }
}

/// How a workflow has been doing: its last runs' statuses, newest first,
/// and how many of its runs failed since an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowHealth {
    pub recent: Vec<RunStatus>,
    pub failed_since: i64,
}

impl Store {
    /// `workflow`'s last `last` runs' statuses and its failures queued at or
    /// after `since` (indexes `runs_by_workflow`, `runs_by_workflow_status`).
    pub async fn workflow_health(
        &self,
        workflow: Uuid,
        last: i64,
        since: Timestamp,
    ) -> Result<WorkflowHealth> {
        let recent_sql = "SELECT status FROM runs WHERE workflow_id = $1 \
                          ORDER BY date_queued DESC LIMIT $2";
        let failed_sql = "SELECT COUNT(*) FROM runs WHERE workflow_id = $1 \
                          AND status = 'Failed' AND date_queued >= $2";
        let (names, failed_since): (Vec<String>, i64) = with_db!(self, p => (
            sqlx::query_scalar(recent_sql).bind(workflow).bind(last).fetch_all(p).await?,
            sqlx::query_scalar(failed_sql).bind(workflow).bind(since).fetch_one(p).await?,
        ));
        let recent = names
            .iter()
            .map(|n| {
                RunStatus::parse(n).ok_or_else(|| StoreError::Corrupt(format!("run status '{n}'")))
            })
            .collect::<Result<_>>()?;
        Ok(WorkflowHealth {
            recent,
            failed_since,
        })
    }
}

/// `rows` in the list's order (date queued, then id, newest first), cut to `limit`.
fn newest_first<T>(mut rows: Vec<T>, limit: i64, summary: impl Fn(&T) -> &RunSummary) -> Vec<T> {
    rows.sort_by(|a, b| {
        let key = |r: &RunSummary| (r.run.date_queued, r.run.id);
        key(summary(b)).cmp(&key(summary(a)))
    });
    rows.truncate(limit.max(0) as usize);
    rows
}

fn summary(row: SummaryRow) -> Result<RunSummary> {
    Ok(RunSummary {
        run: row.run.try_into()?,
        workflow_name: row.workflow_name.unwrap_or_default(),
        blocks_done: row.blocks_done,
        failed_block: row.failed_block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the filters the console and `GET /api/Runs` offer.
    fn every_filter() -> Vec<RunFilter> {
        let mut all = Vec::new();
        for workflow in [None, Some(Uuid::nil())] {
            for statuses in [vec![], vec![RunStatus::Cancelled]] {
                for trigger in [None, Some(RunTrigger::Schedule)] {
                    for since in [None, Some(Timestamp::default())] {
                        for after in [
                            None,
                            Some(RunKey {
                                date_queued: Timestamp::default(),
                                id: Uuid::nil(),
                            }),
                        ] {
                            all.push(RunFilter {
                                account: Uuid::nil(),
                                workflow,
                                statuses: statuses.clone(),
                                trigger,
                                since,
                                until: since,
                                after,
                                limit: 51,
                            });
                        }
                    }
                }
            }
        }
        all
    }

    #[tokio::test]
    async fn every_filter_reads_its_page_from_an_index_in_order_on_sqlite() {
        let planner = crate::query_plan::Planner::open().await;
        for f in every_filter() {
            let hint = format!(" INDEXED BY {}", index(&f));
            let plan = planner.plan(&runs_sql(&f, &hint)).await;
            assert!(
                plan.contains(&format!("SEARCH runs USING INDEX {}", index(&f))),
                "{f:?}: {plan}"
            );
            assert!(
                !plan.contains("TEMP B-TREE"),
                "sorted, not read in order: {f:?}: {plan}"
            );
            assert!(
                f.after.is_none() || plan.contains("date_queued<?"),
                "a page after a cursor starts at the cursor: {f:?}: {plan}"
            );
        }
    }

    #[test]
    fn every_filter_gets_its_own_numbered_parameter_in_bind_order() {
        let f = RunFilter {
            account: Uuid::nil(),
            workflow: Some(Uuid::nil()),
            statuses: vec![RunStatus::Failed, RunStatus::Cancelled],
            trigger: Some(RunTrigger::Schedule),
            since: None,
            until: Some(Timestamp::default()),
            after: Some(RunKey {
                date_queued: Timestamp::default(),
                id: Uuid::nil(),
            }),
            limit: 50,
        };
        assert_eq!(
            conditions(&f),
            " AND workflow_id = $2 AND status IN ($3, $4) AND trigger_kind = $5 \
             AND date_queued < $6 AND date_queued <= $7 AND (date_queued < $7 OR (date_queued = $7 AND id < $8)) \
             ORDER BY date_queued DESC, id DESC LIMIT $9"
        );
    }
}
