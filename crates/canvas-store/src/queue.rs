//! The run queue: claims with leases and heartbeats, per-block results, run history.
//! Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serializes
//! writers, which gives the same guarantee. The partial unique index
//! `runs_one_running` keeps two runs of one workflow from executing at once.

use crate::model::{ClaimedRun, Run, RunBlock, RunStatus, RunTrigger};
use crate::{Db, Result, Store, StoreError, from_json, to_json, with_db};
use canvas_domain::time::Timestamp;
use canvas_domain::workflow::WorkflowStatus;
use uuid::Uuid;

/// A run `r` whose workflow has no older active run and no live one; `$now`
/// names the parameter holding the current time.
macro_rules! unblocked {
    ($now:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM runs o WHERE o.workflow_id = r.workflow_id AND o.id <> r.id \
               AND o.status IN ('Queued', 'Running') \
               AND (o.date_queued < r.date_queued OR (o.status = 'Running' AND o.lease_expires_at >= ",
            $now,
            ")))"
        )
    };
}

/// What a claim sets: `$1` the new owner, `$2` its lease's expiry, `$3` now.
macro_rules! claim_update {
    () => {
        "UPDATE runs SET status = 'Running', lease_owner = $1, lease_expires_at = $2, \
         attempt = attempt + 1, date_started = COALESCE(date_started, $3) "
    };
}

/// Claims the oldest unblocked queued run of organization `$4`, while it
/// has fewer than `$5` runs on live leases (the `runs_queued_by_org` and
/// `runs_running_by_org` indexes serve both).
macro_rules! claim_in_org_sql {
    ($lock:literal) => {
        concat!(
            claim_update!(),
            "WHERE id = (SELECT r.id FROM runs r WHERE r.status = 'Queued' AND r.organization_id = $4 AND ",
            unblocked!("$3"),
            " AND (SELECT COUNT(*) FROM runs c WHERE c.status = 'Running' AND c.organization_id = $4 \
               AND c.lease_expires_at >= $3) < $5",
            " ORDER BY r.date_queued LIMIT 1 ",
            $lock,
            ") RETURNING id, workflow_id, run_from, run_till, attempt"
        )
    };
}

/// Organizations with queued runs, the one to serve first first: fewest runs
/// on live leases (`$1` now), then the oldest queued run; only those under
/// `$2` running. The organizations are found by skipping through the
/// `runs_queued_by_org` index (one seek each, however many runs wait).
const FAIR_ORGANIZATIONS_SQL: &str = "WITH RECURSIVE orgs(o) AS ( \
       SELECT (SELECT organization_id FROM runs WHERE status = 'Queued' AND organization_id IS NOT NULL \
               ORDER BY organization_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT organization_id FROM runs WHERE status = 'Queued' AND organization_id > o \
               ORDER BY organization_id LIMIT 1) FROM orgs WHERE o IS NOT NULL), \
     load AS (SELECT o, \
       (SELECT COUNT(*) FROM runs x WHERE x.status = 'Running' AND x.organization_id = o \
        AND x.lease_expires_at >= $1) AS running, \
       (SELECT MIN(y.date_queued) FROM runs y WHERE y.status = 'Queued' AND y.organization_id = o) AS oldest \
       FROM orgs WHERE o IS NOT NULL) \
     SELECT o FROM load WHERE running < $2 ORDER BY running, oldest LIMIT 16";

/// The oldest run on an expired lease (its worker died), with the lease's holder.
const EXPIRED_CANDIDATE_SQL: &str = concat!(
    "SELECT r.id, COALESCE(r.lease_owner, '') AS lease_owner FROM runs r WHERE r.status = 'Running' AND r.lease_expires_at < $1 AND ",
    unblocked!("$1"),
    " ORDER BY r.date_queued LIMIT 1"
);

/// Takes over run `$4` if it is still on the expired lease of `$5`: a
/// compare-and-set, so of two workers that found the same run one wins.
const TAKE_OVER_SQL: &str = concat!(
    claim_update!(),
    "WHERE id = $4 AND status = 'Running' AND lease_expires_at < $3 AND COALESCE(lease_owner, '') = $5 \
     RETURNING id, workflow_id, run_from, run_till, attempt"
);

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    workflow_id: Uuid,
    run_from: i64,
    run_till: i64,
    attempt: i64,
}

#[derive(sqlx::FromRow)]
struct ExpiredRow {
    id: Uuid,
    lease_owner: String,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    workflow_id: Uuid,
    status: String,
    trigger_kind: String,
    run_from: i64,
    run_till: i64,
    attempt: i64,
    date_queued: Timestamp,
    date_started: Option<Timestamp>,
    date_finished: Option<Timestamp>,
    error: Option<String>,
    fire_time: Option<Timestamp>,
}

impl TryFrom<RunRow> for Run {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("runs.{what}: {v}"));
        Ok(Run {
            status: RunStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            trigger: RunTrigger::parse(&r.trigger_kind)
                .ok_or_else(|| corrupt("trigger_kind", &r.trigger_kind))?,
            id: r.id,
            workflow_id: r.workflow_id,
            run_from: r.run_from,
            run_till: r.run_till,
            attempt: r.attempt,
            date_queued: r.date_queued,
            date_started: r.date_started,
            date_finished: r.date_finished,
            error: r.error,
            fire_time: r.fire_time,
        })
    }
}

#[derive(sqlx::FromRow)]
struct BlockRow {
    number: i64,
    unique_block_id: Uuid,
    block_name: String,
    status: String,
    date_started: Option<Timestamp>,
    date_finished: Option<Timestamp>,
    records_in: i64,
    records_out: i64,
    log: String,
    error: Option<String>,
    output_key: Option<String>,
}

impl TryFrom<BlockRow> for RunBlock {
    type Error = StoreError;
    fn try_from(r: BlockRow) -> Result<Self> {
        Ok(RunBlock {
            status: RunStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("run_blocks.status: {}", r.status)))?,
            log: from_json("run_blocks.log", &r.log)?,
            number: r.number,
            unique_block_id: r.unique_block_id,
            block_name: r.block_name,
            date_started: r.date_started,
            date_finished: r.date_finished,
            records_in: r.records_in,
            records_out: r.records_out,
            error: r.error,
            output_key: r.output_key,
        })
    }
}

macro_rules! run_select {
    () => {
        "SELECT id, workflow_id, status, trigger_kind, run_from, run_till, attempt, date_queued, \
         date_started, date_finished, error, fire_time FROM runs "
    };
}

/// A worker's claim: who it is, until when its lease holds, and the
/// organizations' share of the workers.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub owner: &'a str,
    pub expires: Timestamp,
    pub now: Timestamp,
    pub max_running_per_organization: i64,
}

/// How a run ended, for [`Store::finish_run`].
#[derive(Debug, Clone, Copy)]
pub struct RunEnd<'a> {
    pub status: RunStatus,
    pub error: Option<&'a str>,
    /// The last block the run completed (the workflow's `currentBlock`).
    pub last_block: Option<i64>,
    pub at: Timestamp,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub held: bool,
    pub cancel_requested: bool,
}

impl Store {
    /// Claims a runnable run: a queued run of the organization with the
    /// fewest running runs — organizations take turns, and none runs more
    /// than its share at once — else a run on a lease that expired (its
    /// worker died; the claim names it). `None` when there is nothing to do.
    pub async fn claim_run(&self, claim: &Claim<'_>) -> Result<Option<ClaimedRun>> {
        let Claim {
            owner,
            expires,
            now,
            ..
        } = *claim;
        let (row, previous_owner) = match self.claim_queued(claim).await? {
            Some(row) => (row, None),
            None => match self.take_over_expired(owner, expires, now).await? {
                Some((row, previous)) => (row, Some(previous)),
                None => return Ok(None),
            },
        };
        let sql = "UPDATE workflows SET status = $2 WHERE id = $1";
        with_db!(self, p => sqlx::query(sql).bind(row.workflow_id).bind(WorkflowStatus::Running.name()).execute(p).await?.rows_affected());
        Ok(Some(ClaimedRun {
            id: row.id,
            workflow_id: row.workflow_id,
            run_from: row.run_from,
            run_till: row.run_till,
            attempt: row.attempt,
            previous_owner,
        }))
    }

    async fn claim_queued(&self, claim: &Claim<'_>) -> Result<Option<ClaimRow>> {
        let orgs: Vec<Uuid> = with_db!(self, p => sqlx::query_scalar(FAIR_ORGANIZATIONS_SQL)
            .bind(claim.now)
            .bind(claim.max_running_per_organization)
            .fetch_all(p)
            .await?);
        for org in orgs {
            if let Some(row) = self.claim_in_organization(claim, org).await? {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }

    /// SQLite runs the claim alone (one writer), so its count of running runs
    /// holds; PostgreSQL first locks the organization's row, so concurrent
    /// claims for one organization cannot both take its last place.
    async fn claim_in_organization(
        &self,
        claim: &Claim<'_>,
        org: Uuid,
    ) -> Result<Option<ClaimRow>> {
        macro_rules! query {
            ($lock:literal) => {
                sqlx::query_as(claim_in_org_sql!($lock))
                    .bind(claim.owner)
                    .bind(claim.expires)
                    .bind(claim.now)
                    .bind(org)
                    .bind(claim.max_running_per_organization)
            };
        }
        let claimed = match &self.db {
            Db::Sqlite(p) => query!("").fetch_optional(p).await,
            Db::Pg(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
                    .bind(org)
                    .execute(&mut *tx)
                    .await?;
                let claimed = query!("FOR UPDATE SKIP LOCKED")
                    .fetch_optional(&mut *tx)
                    .await;
                if claimed.is_ok() {
                    tx.commit().await?;
                }
                claimed
            }
        };
        self.claimed(claimed).await
    }

    /// Takes over the oldest run whose lease expired; with the lease's previous holder.
    async fn take_over_expired(
        &self,
        owner: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<Option<(ClaimRow, String)>> {
        let candidate: Option<ExpiredRow> = with_db!(self, p => sqlx::query_as(EXPIRED_CANDIDATE_SQL).bind(now).fetch_optional(p).await?);
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let taken = with_db!(self, p => sqlx::query_as(TAKE_OVER_SQL)
            .bind(owner)
            .bind(expires)
            .bind(now)
            .bind(candidate.id)
            .bind(&candidate.lease_owner)
            .fetch_optional(p)
            .await);
        let row = self.claimed(taken).await?;
        Ok(row.map(|row| (row, candidate.lease_owner)))
    }

    /// A claim that lost the race for its workflow (unique violation) is no claim.
    async fn claimed(
        &self,
        result: std::result::Result<Option<ClaimRow>, sqlx::Error>,
    ) -> Result<Option<ClaimRow>> {
        match result.map_err(StoreError::from) {
            Err(StoreError::Conflict(_)) => Ok(None),
            other => other,
        }
    }

    /// Extends the lease while `owner` still holds it; also reports a cancel request.
    pub async fn heartbeat(&self, run: Uuid, owner: &str, expires: Timestamp) -> Result<Lease> {
        let sql = "UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'Running' \
                   RETURNING cancel_requested";
        let row: Option<bool> = with_db!(self, p => sqlx::query_scalar(sql).bind(run).bind(owner).bind(expires).fetch_optional(p).await?);
        Ok(Lease {
            held: row.is_some(),
            cancel_requested: row.unwrap_or(false),
        })
    }

    /// Hands a run back to the queue (graceful shutdown): it resumes after its last completed block.
    pub async fn release_run(&self, run: Uuid, owner: &str) -> Result<()> {
        let sql = "UPDATE runs SET status = 'Queued', lease_owner = NULL, lease_expires_at = NULL \
                   WHERE id = $1 AND lease_owner = $2 AND status = 'Running'";
        with_db!(self, p => sqlx::query(sql).bind(run).bind(owner).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Ends a run and updates its workflow's state in one transaction.
    pub async fn finish_run(&self, run: Uuid, owner: &str, end: &RunEnd<'_>) -> Result<bool> {
        let finish = "UPDATE runs SET status = $3, error = $4, date_finished = $5, lease_owner = NULL, lease_expires_at = NULL \
                      WHERE id = $1 AND lease_owner = $2 AND status = 'Running' RETURNING workflow_id";
        let workflow = "UPDATE workflows SET status = $2, current_block = COALESCE($3, current_block), date_last_run = $4 WHERE id = $1";
        let state = if end.status == RunStatus::Failed {
            WorkflowStatus::Failed
        } else {
            WorkflowStatus::Ready
        };
        with_db!(self, p => {
            let mut tx = p.begin().await?;
            let wf: Option<Uuid> = sqlx::query_scalar(finish).bind(run).bind(owner).bind(end.status.name()).bind(end.error.map(crate::recordable)).bind(end.at).fetch_optional(&mut *tx).await?;
            if let Some(wf) = wf {
                sqlx::query(workflow).bind(wf).bind(state.name()).bind(end.last_block).bind(end.at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(wf.is_some())
        })
    }

    /// Cancels a queued run at once, or asks its worker to stop a running one.
    /// Returns the run's status after the call.
    pub async fn request_cancel(&self, run: Uuid, at: Timestamp) -> Result<RunStatus> {
        let queued = "UPDATE runs SET status = 'Cancelled', date_finished = $2, error = 'cancelled before it started' \
                      WHERE id = $1 AND status = 'Queued'";
        let running =
            "UPDATE runs SET cancel_requested = TRUE WHERE id = $1 AND status = 'Running'";
        with_db!(self, p => {
            sqlx::query(queued).bind(run).bind(at).execute(p).await?;
            sqlx::query(running).bind(run).execute(p).await?;
        });
        Ok(self.run(run).await?.status)
    }

    pub async fn run(&self, id: Uuid) -> Result<Run> {
        let sql = concat!(run_select!(), "WHERE id = $1");
        let row: RunRow = with_db!(self, p => sqlx::query_as(sql).bind(id).fetch_one(p).await?);
        row.try_into()
    }

    /// A workflow's runs, newest first.
    pub async fn runs(&self, workflow: Uuid, skip: i64, top: i64) -> Result<Vec<Run>> {
        let sql = concat!(
            run_select!(),
            "WHERE workflow_id = $1 ORDER BY date_queued DESC, id LIMIT $2 OFFSET $3"
        );
        let rows: Vec<RunRow> = with_db!(self, p => sqlx::query_as(sql).bind(workflow).bind(top).bind(skip).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn run_blocks(&self, run: Uuid) -> Result<Vec<RunBlock>> {
        let sql = "SELECT number, unique_block_id, block_name, status, date_started, date_finished, records_in, \
                   records_out, log, error, output_key FROM run_blocks WHERE run_id = $1 ORDER BY number";
        let rows: Vec<BlockRow> =
            with_db!(self, p => sqlx::query_as(sql).bind(run).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Records a block's state in a run (started, succeeded, failed...).
    pub async fn save_run_block(&self, run: Uuid, b: &RunBlock) -> Result<()> {
        let sql = "INSERT INTO run_blocks (run_id, number, unique_block_id, block_name, status, date_started, date_finished, \
                   records_in, records_out, log, error, output_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                   ON CONFLICT (run_id, number) DO UPDATE SET status = $5, date_started = $6, date_finished = $7, \
                   records_in = $8, records_out = $9, log = $10, error = $11, output_key = $12";
        with_db!(self, p => sqlx::query(sql)
            .bind(run).bind(b.number).bind(b.unique_block_id).bind(&b.block_name).bind(b.status.name())
            .bind(b.date_started).bind(b.date_finished).bind(b.records_in).bind(b.records_out)
            .bind(to_json(&b.log)).bind(b.error.as_deref().map(crate::recordable)).bind(&b.output_key)
            .execute(p).await?.rows_affected());
        Ok(())
    }

    /// The stored output of `block` from the latest run of `workflow` that completed it.
    pub async fn latest_block_output(&self, workflow: Uuid, block: Uuid) -> Result<Option<String>> {
        let sql = "SELECT b.output_key FROM run_blocks b JOIN runs r ON r.id = b.run_id \
                   WHERE r.workflow_id = $1 AND b.unique_block_id = $2 AND b.status = 'Succeeded' AND b.output_key IS NOT NULL \
                   ORDER BY b.date_finished DESC LIMIT 1";
        let key: Option<Option<String>> = with_db!(self, p => sqlx::query_scalar(sql).bind(workflow).bind(block).fetch_optional(p).await?);
        Ok(key.flatten())
    }

    /// Finished runs older than `before`, oldest first, skipping every workflow
    /// that has a run queued or running (it may still need their outputs).
    pub async fn expired_runs(&self, before: Timestamp, limit: i64) -> Result<Vec<Uuid>> {
        let sql = "SELECT r.id FROM runs r WHERE r.status IN ('Succeeded', 'Failed', 'Cancelled') AND r.date_finished < $1 \
                   AND NOT EXISTS (SELECT 1 FROM runs a WHERE a.workflow_id = r.workflow_id AND a.status IN ('Queued', 'Running')) \
                   ORDER BY r.date_finished LIMIT $2";
        with_db!(self, p => Ok(sqlx::query_scalar(sql).bind(before).bind(limit).fetch_all(p).await?))
    }

    /// Deletes a finished run and its block records.
    pub async fn delete_run(&self, id: Uuid) -> Result<()> {
        with_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM run_blocks WHERE run_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM runs WHERE id = $1 AND status IN ('Succeeded', 'Failed', 'Cancelled')").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
