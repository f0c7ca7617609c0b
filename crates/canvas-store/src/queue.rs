//! The run queue after the claim (`claim.rs`): leases and heartbeats,
//! per-block results, run history.

use crate::model::RunLease;
use crate::model::{Run, RunBlock, RunStatus, RunTrigger};
use crate::{Result, Store, StoreError, from_json, to_json, with_db};
use canvas_domain::time::Timestamp;
use canvas_domain::workflow::WorkflowStatus;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
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

/// A block record written only while the lease `$13`/`$14` holds the run;
/// `$lock` locks the run's row where the backend can.
macro_rules! save_run_block_sql {
    ($lock:literal) => {
        concat!(
            "INSERT INTO run_blocks (run_id, number, unique_block_id, block_name, status, date_started, date_finished, \
             records_in, records_out, log, error, output_key) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
             WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1 AND lease_owner = $13 AND attempt = $14 AND status = 'Running'",
            $lock,
            ") ON CONFLICT (run_id, number) DO UPDATE SET status = $5, date_started = $6, date_finished = $7, \
             records_in = $8, records_out = $9, log = $10, error = $11, output_key = $12"
        )
    };
}

impl Store {
    /// Extends the lease while it is still held; also reports a cancel request.
    pub async fn heartbeat(&self, lease: &RunLease, expires: Timestamp) -> Result<Lease> {
        let sql = "UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND attempt = $4 \
                   AND status = 'Running' RETURNING cancel_requested";
        let row: Option<bool> = with_db!(self, p => sqlx::query_scalar(sql).bind(lease.run()).bind(lease.owner()).bind(expires).bind(lease.attempt()).fetch_optional(p).await?);
        Ok(Lease {
            held: row.is_some(),
            cancel_requested: row.unwrap_or(false),
        })
    }

    /// Hands a run back to the queue (graceful shutdown): it resumes after its last completed block.
    pub async fn release_run(&self, lease: &RunLease) -> Result<()> {
        let sql = "UPDATE runs SET status = 'Queued', lease_owner = NULL, lease_expires_at = NULL \
                   WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND status = 'Running'";
        with_db!(self, p => sqlx::query(sql).bind(lease.run()).bind(lease.owner()).bind(lease.attempt()).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Ends a run and updates its workflow's state in one transaction.
    pub async fn finish_run(&self, lease: &RunLease, end: &RunEnd<'_>) -> Result<bool> {
        let finish = "UPDATE runs SET status = $3, error = $4, date_finished = $5, lease_owner = NULL, lease_expires_at = NULL \
                      WHERE id = $1 AND lease_owner = $2 AND attempt = $6 AND status = 'Running' RETURNING workflow_id";
        let workflow = "UPDATE workflows SET status = $2, current_block = COALESCE($3, current_block), date_last_run = $4 WHERE id = $1";
        let state = if end.status == RunStatus::Failed {
            WorkflowStatus::Failed
        } else {
            WorkflowStatus::Ready
        };
        with_db!(self, p => {
            let mut tx = p.begin().await?;
            let wf: Option<Uuid> = sqlx::query_scalar(finish).bind(lease.run()).bind(lease.owner()).bind(end.status.name()).bind(end.error.map(crate::recordable)).bind(end.at).bind(lease.attempt()).fetch_optional(&mut *tx).await?;
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

    /// Records a block's state in a run (started, succeeded, failed...)
    /// while the lease is held, in the same statement; false (nothing
    /// written) once another holder took the run over.
    pub async fn save_run_block(&self, lease: &RunLease, b: &RunBlock) -> Result<bool> {
        // PostgreSQL locks the run's row, so a takeover committing meanwhile
        // is seen (READ COMMITTED re-checks a locked row); SQLite has one writer.
        let written = with_db!(self, p, sql = {
            sqlite: save_run_block_sql!(""),
            postgres: save_run_block_sql!(" FOR SHARE"),
        } => sqlx::query(sql)
            .bind(lease.run()).bind(b.number).bind(b.unique_block_id).bind(&b.block_name).bind(b.status.name())
            .bind(b.date_started).bind(b.date_finished).bind(b.records_in).bind(b.records_out)
            .bind(to_json(&b.log)).bind(b.error.as_deref().map(crate::recordable)).bind(&b.output_key)
            .bind(lease.owner()).bind(lease.attempt())
            .execute(p).await?.rows_affected());
        Ok(written > 0)
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
