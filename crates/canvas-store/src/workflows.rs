//! Workflows and their runs.

use crate::model::{AuditEntry, NewRun, RunStatus, Workflow, WorkflowSummary};
use crate::tx::with_tx;
use crate::{Result, Store, StoreError, StoreTx, from_json, to_json, with_db};
use canvas_domain::catalog::ChainBlock;
use canvas_domain::time::Timestamp;
use canvas_domain::workflow::{WorkflowStatus, rebase_chain};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: Uuid,
    account_id: Uuid,
    organization_id: Uuid,
    template_id: Option<Uuid>,
    name: String,
    description: String,
    status: String,
    is_scheduled: bool,
    schedule_frequency: Option<String>,
    is_customized_structure: bool,
    applications: String,
    date_created: Timestamp,
    date_modified: Timestamp,
    date_last_run: Option<Timestamp>,
    date_next_schedule: Option<Timestamp>,
    current_block: i64,
}

#[derive(sqlx::FromRow)]
struct WorkflowRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    chain: String,
}

impl TryFrom<SummaryRow> for WorkflowSummary {
    type Error = StoreError;
    fn try_from(r: SummaryRow) -> Result<Self> {
        Ok(WorkflowSummary {
            status: WorkflowStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("workflows.status: {}", r.status)))?,
            applications: from_json("workflows.applications", &r.applications)?,
            id: r.id,
            account_id: r.account_id,
            organization_id: r.organization_id,
            template_id: r.template_id,
            name: r.name,
            description: r.description,
            is_scheduled: r.is_scheduled,
            schedule_frequency: r.schedule_frequency,
            is_customized_structure: r.is_customized_structure,
            date_created: r.date_created,
            date_modified: r.date_modified,
            date_last_run: r.date_last_run,
            date_next_schedule: r.date_next_schedule,
            current_block: r.current_block,
        })
    }
}

impl TryFrom<WorkflowRow> for Workflow {
    type Error = StoreError;
    fn try_from(r: WorkflowRow) -> Result<Self> {
        let chain = from_json("workflows.chain", &r.chain)?;
        Ok(WorkflowSummary::try_from(r.summary)?.with_chain(chain))
    }
}

/// The columns of a [`WorkflowSummary`]; `workflow_select!` adds the chain.
macro_rules! summary_columns {
    () => {
        "id, account_id, organization_id, template_id, name, description, status, is_scheduled, \
         schedule_frequency, is_customized_structure, applications, date_created, date_modified, \
         date_last_run, date_next_schedule, current_block"
    };
}

macro_rules! workflow_select {
    () => {
        concat!("SELECT ", summary_columns!(), ", chain FROM workflows ")
    };
}

/// A schedule change: on or off, its frequency and the next fire.
pub struct ScheduleUpdate<'a> {
    pub is_scheduled: bool,
    pub frequency: Option<&'a str>,
    pub next: Option<Timestamp>,
    pub at: Timestamp,
}

/// What [`Store::enqueue_run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// The workflow already has as many runs waiting as allowed.
    QueueFull,
}

impl Store {
    pub async fn insert_workflow(&self, w: &Workflow) -> Result<()> {
        let sql = "INSERT INTO workflows (id, account_id, organization_id, template_id, name, description, status, \
                   is_scheduled, schedule_frequency, is_customized_structure, applications, chain, date_created, \
                   date_modified, date_last_run, date_next_schedule, current_block) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";
        with_db!(write self, p => sqlx::query(sql)
            .bind(w.id).bind(w.account_id).bind(w.organization_id).bind(w.template_id).bind(&w.name)
            .bind(&w.description).bind(w.status.name()).bind(w.is_scheduled).bind(&w.schedule_frequency)
            .bind(w.is_customized_structure).bind(to_json(&w.applications)).bind(to_json(&w.chain))
            .bind(w.date_created).bind(w.date_modified).bind(w.date_last_run).bind(w.date_next_schedule)
            .bind(w.current_block)
            .execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn workflow(&self, id: Uuid) -> Result<Workflow> {
        let sql = concat!(workflow_select!(), "WHERE id = $1");
        let row: WorkflowRow =
            with_db!(self, p => sqlx::query_as(sql).bind(id).fetch_one(p).await?);
        row.try_into()
    }

    /// An account's workflows, oldest first, without their chains.
    pub async fn workflows(&self, account: Uuid) -> Result<Vec<WorkflowSummary>> {
        let sql = concat!(
            "SELECT ",
            summary_columns!(),
            " FROM workflows WHERE account_id = $1 ORDER BY date_created, id"
        );
        let rows: Vec<SummaryRow> =
            with_db!(self, p => sqlx::query_as(sql).bind(account).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Deletes a workflow with its runs; `NotFound` when it is not there.
    pub async fn delete_workflow(&self, id: Uuid) -> Result<()> {
        let n = with_db!(write self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM runs WHERE workflow_id = $1").bind(id).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM workflows WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    pub async fn update_schedule(&self, id: Uuid, s: &ScheduleUpdate<'_>) -> Result<()> {
        let sql = "UPDATE workflows SET is_scheduled = $2, schedule_frequency = COALESCE($3, schedule_frequency), \
                   date_next_schedule = $4, date_modified = $5 WHERE id = $1";
        let n = with_db!(write self, p => sqlx::query(sql)
            .bind(id).bind(s.is_scheduled).bind(s.frequency).bind(s.next).bind(s.at)
            .execute(p).await?.rows_affected());
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Queues a run of a workflow that still exists, unless it already has
    /// `max_queued` runs waiting — and concurrent callers cannot both take
    /// the last place: on SQLite the insert is the transaction's first
    /// statement (a write from the start, never a read upgraded under
    /// contention; one writer), PostgreSQL first locks the workflow's row.
    /// `audit`, when given, lands with the run or not at all.
    pub async fn enqueue_run(
        &self,
        run: &NewRun,
        max_queued: i64,
        audit: Option<&AuditEntry>,
    ) -> Result<Enqueued> {
        let insert = "INSERT INTO runs (id, workflow_id, status, trigger_kind, run_from, run_till, attempt, date_queued, organization_id, account_id) \
                      SELECT $1, $2, $3, $4, $5, $6, 0, $7, a.organization_id, a.id FROM workflows w JOIN accounts a ON a.id = w.account_id \
                      WHERE w.id = $2 AND (SELECT COUNT(*) FROM runs WHERE workflow_id = $2 AND status = 'Queued') < $8";
        // One bind list for both backends' query types.
        macro_rules! query {
            () => {
                sqlx::query(insert)
                    .bind(run.id)
                    .bind(run.workflow_id)
                    .bind(RunStatus::Queued.name())
                    .bind(run.trigger.name())
                    .bind(run.run_from)
                    .bind(run.run_till)
                    .bind(run.date_queued)
                    .bind(max_queued)
            };
        }
        // The run and its audit entry land in one transaction.
        let mut tx = self.begin().await?;
        let inserted = with_tx!(tx, c, lock = {
            sqlite: None::<&str>,
            postgres: Some("SELECT id FROM workflows WHERE id = $1 FOR UPDATE"),
        } => {
            if let Some(lock) = lock {
                sqlx::query(lock).bind(run.workflow_id).execute(&mut *c).await?;
            }
            query!().execute(&mut *c).await?.rows_affected()
        });
        if inserted == 1 {
            if let Some(entry) = audit {
                tx.record_audit(entry).await?;
            }
            tx.commit().await?;
            return Ok(Enqueued::Queued);
        }
        drop(tx);
        let exists = "SELECT COUNT(*) FROM workflows WHERE id = $1";
        let found: i64 = with_db!(self, p => sqlx::query_scalar(exists).bind(run.workflow_id).fetch_one(p).await?);
        match found {
            0 => Err(StoreError::NotFound),
            _ => Ok(Enqueued::QueueFull),
        }
    }

    /// Gives every workflow made from `template` (and not customized) the
    /// newly committed `chain`, keeping its own variable values. Returns how
    /// many workflows changed.
    pub async fn rebase_workflows(
        &self,
        template: Uuid,
        chain: &[ChainBlock],
        at: Timestamp,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = tx.rebase_workflows(template, chain, at).await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl StoreTx {
    /// [`Store::rebase_workflows`], in this transaction (with the template's
    /// publication: a workflow never sees a version that was not saved).
    pub async fn rebase_workflows(
        &mut self,
        template: Uuid,
        chain: &[ChainBlock],
        at: Timestamp,
    ) -> Result<u64> {
        let select = concat!(
            workflow_select!(),
            "WHERE template_id = $1 AND NOT is_customized_structure"
        );
        let update = "UPDATE workflows SET chain = $2, date_modified = $3 WHERE id = $1";
        with_tx!(self, c => {
            let rows: Vec<WorkflowRow> = sqlx::query_as(select).bind(template).fetch_all(&mut *c).await?;
            let mut n = 0;
            for row in rows {
                let old: Vec<ChainBlock> = from_json("workflows.chain", &row.chain)?;
                let new = rebase_chain(chain, &old);
                n += sqlx::query(update).bind(row.summary.id).bind(to_json(&new)).bind(at).execute(&mut *c).await?.rows_affected();
            }
            Ok(n)
        })
    }
}
