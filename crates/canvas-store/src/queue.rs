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
            inline_output: None,
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
    /// The record of the block the run ended on, written with the end.
    pub block: Option<&'a RunBlock>,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub held: bool,
    pub cancel_requested: bool,
}

/// Block records written only while the lease (`$1` run, `$2` owner, `$3`
/// attempt) holds the run, `rows` of them in one statement (a block's end
/// and the next one's start land together); `lock` locks the run's row
/// where the backend can.
fn save_run_blocks_sql(rows: usize, lock: &str) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let at = 4 + i * 12;
            let params: Vec<String> = (at..at + 12).map(|n| format!("${n}")).collect();
            format!("($1, {})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO run_blocks (run_id, number, unique_block_id, block_name, status, date_started, date_finished, \
         records_in, records_out, log, error, output_key, output) \
         SELECT * FROM (VALUES {}) AS v \
         WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND status = 'Running'{lock}) \
         ON CONFLICT (run_id, number) DO UPDATE SET status = excluded.status, date_started = excluded.date_started, \
         date_finished = excluded.date_finished, records_in = excluded.records_in, records_out = excluded.records_out, \
         log = excluded.log, error = excluded.error, output_key = excluded.output_key, output = excluded.output",
        values.join(", ")
    )
}

/// Binds a lease and its block records to `save_run_blocks_sql`'s statement.
macro_rules! bind_run_blocks {
    ($sql:expr, $lease:expr, $blocks:expr) => {{
        let mut q = sqlx::query(sqlx::AssertSqlSafe($sql))
            .bind($lease.run())
            .bind($lease.owner())
            .bind($lease.attempt());
        for b in $blocks {
            q = q
                .bind(b.number)
                .bind(b.unique_block_id)
                .bind(b.block_name.clone())
                .bind(b.status.name())
                .bind(b.date_started)
                .bind(b.date_finished)
                .bind(b.records_in)
                .bind(b.records_out)
                .bind(to_json(&b.log))
                .bind(
                    b.error
                        .as_deref()
                        .map(|e| crate::recordable(e).into_owned()),
                )
                .bind(b.output_key.clone())
                .bind(b.inline_output.clone());
        }
        q
    }};
}

/// PostgreSQL locks the run's row while writing about it, so a takeover
/// committing meanwhile is seen (READ COMMITTED re-checks a locked row);
/// SQLite has one writer.
const LOCK_RUN: (&str, &str) = ("", " FOR SHARE");

impl Store {
    /// Extends the lease while it is still held; also reports a cancel request.
    pub async fn heartbeat(&self, lease: &RunLease, expires: Timestamp) -> Result<Lease> {
        let sql = "UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND attempt = $4 \
                   AND status = 'Running' RETURNING cancel_requested";
        let row: Option<bool> = with_db!(write self, p => sqlx::query_scalar(sql).bind(lease.run()).bind(lease.owner()).bind(expires).bind(lease.attempt()).fetch_optional(p).await?);
        Ok(Lease {
            held: row.is_some(),
            cancel_requested: row.unwrap_or(false),
        })
    }

    /// Hands a run back to the queue (graceful shutdown): it resumes after its last completed block.
    pub async fn release_run(&self, lease: &RunLease) -> Result<()> {
        let sql = "UPDATE runs SET status = 'Queued', lease_owner = NULL, lease_expires_at = NULL \
                   WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND status = 'Running'";
        with_db!(write self, p => sqlx::query(sql).bind(lease.run()).bind(lease.owner()).bind(lease.attempt()).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Ends a run — with its last block's record, when given — and updates
    /// its workflow's state, in one transaction.
    pub async fn finish_run(&self, lease: &RunLease, end: &RunEnd<'_>) -> Result<bool> {
        let finish = "UPDATE runs SET status = $3, error = $4, date_finished = $5, lease_owner = NULL, lease_expires_at = NULL \
                      WHERE id = $1 AND lease_owner = $2 AND attempt = $6 AND status = 'Running' RETURNING workflow_id";
        let workflow = "UPDATE workflows SET status = $2, current_block = COALESCE($3, current_block), date_last_run = $4 WHERE id = $1";
        let state = if end.status == RunStatus::Failed {
            WorkflowStatus::Failed
        } else {
            WorkflowStatus::Ready
        };
        let blocks = end.block.map(std::slice::from_ref).unwrap_or_default();
        with_db!(write self, p, lock = { sqlite: LOCK_RUN.0, postgres: LOCK_RUN.1 } => {
            let mut tx = p.begin().await?;
            if !blocks.is_empty() {
                let sql = save_run_blocks_sql(blocks.len(), lock);
                bind_run_blocks!(sql, lease, blocks).execute(&mut *tx).await?;
            }
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
        with_db!(write self, p => {
            sqlx::query(queued).bind(run).bind(at).execute(&mut *p).await?;
            sqlx::query(running).bind(run).execute(p).await?;
        });
        Ok(self.run(run).await?.status)
    }

    pub async fn run(&self, id: Uuid) -> Result<Run> {
        let sql = concat!(run_select!(), "WHERE id = $1");
        let row: RunRow = with_db!(self, p => sqlx::query_as(sql).bind(id).fetch_one(p).await?);
        row.try_into()
    }

    /// A workflow's runs, newest first, `skip` runs from the newest.
    pub async fn runs(&self, workflow: Uuid, skip: i64, top: i64) -> Result<Vec<Run>> {
        let sql = WORKFLOW_RUNS_SQL;
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
        self.save_run_blocks(lease, std::slice::from_ref(b)).await
    }

    /// Records several blocks' states at once (one block's end and the
    /// next one's start), under the lease, in one statement.
    pub async fn save_run_blocks(&self, lease: &RunLease, blocks: &[RunBlock]) -> Result<bool> {
        if blocks.is_empty() {
            return Ok(true);
        }
        let written = with_db!(write self, p, lock = { sqlite: LOCK_RUN.0, postgres: LOCK_RUN.1 } => {
            let sql = save_run_blocks_sql(blocks.len(), lock);
            bind_run_blocks!(sql, lease, blocks).execute(p).await?.rows_affected()
        });
        Ok(written > 0)
    }

    /// Block `number`'s output of run `run` when it was kept with its record
    /// under `key` (`None`: it is in the blob store, or there is none).
    pub async fn inline_output(
        &self,
        run: Uuid,
        number: i64,
        key: &str,
    ) -> Result<Option<Vec<u8>>> {
        let sql =
            "SELECT output FROM run_blocks WHERE run_id = $1 AND number = $2 AND output_key = $3";
        let found: Option<Option<Vec<u8>>> = with_db!(self, p => sqlx::query_scalar(sql).bind(run).bind(number).bind(key).fetch_optional(p).await?);
        Ok(found.flatten())
    }

    /// The stored output of `block` from the latest run of `workflow` that completed it.
    pub async fn latest_block_output(&self, workflow: Uuid, block: Uuid) -> Result<Option<String>> {
        let sql = "SELECT b.output_key FROM run_blocks b JOIN runs r ON r.id = b.run_id \
                   WHERE r.workflow_id = $1 AND b.unique_block_id = $2 AND b.status = 'Succeeded' AND b.output_key IS NOT NULL \
                   ORDER BY b.date_finished DESC LIMIT 1";
        let key: Option<Option<String>> = with_db!(self, p => sqlx::query_scalar(sql).bind(workflow).bind(block).fetch_optional(p).await?);
        Ok(key.flatten())
    }
}

/// The page's ids first, from `runs_by_workflow` alone (it holds the id):
/// the runs skipped are stepped over in the index, never read from the
/// table (PostgreSQL read every skipped row: 118 ms for the 1,000th page
/// of 50 at a million runs); then the page's rows by primary key.
const WORKFLOW_RUNS_SQL: &str = concat!(
    run_select!(),
    "WHERE id IN (SELECT id FROM runs WHERE workflow_id = $1 \
     ORDER BY date_queued DESC, id DESC LIMIT $2 OFFSET $3) \
     ORDER BY date_queued DESC, id DESC"
);

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_workflows_runs_skip_through_the_index_alone_on_sqlite() {
        let plan = crate::query_plan::plan(super::WORKFLOW_RUNS_SQL).await;
        let skipping = "SEARCH runs USING COVERING INDEX runs_by_workflow (workflow_id=?)";
        assert!(plan.contains(skipping), "{plan}");
        assert!(plan.contains("(id=?)"), "the page's rows by key: {plan}");
        assert_eq!(
            plan.matches("TEMP B-TREE").count(),
            1,
            "only the page is sorted: {plan}"
        );
    }
}
