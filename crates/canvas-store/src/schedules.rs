//! Schedules: which scheduled workflows are due, and committing their fires.
//! A fire moves the workflow's `date_next_schedule` only from the instant it
//! fired (compare-and-set), and its run carries the fire time under a unique
//! index: one run per (workflow, fire time), however many nodes fire.

use crate::model::NewRun;
use crate::{Result, Store, with_db};
use canvas_domain::time::Timestamp;
use uuid::Uuid;

/// A scheduled workflow whose next fire is due.
#[derive(Debug, Clone)]
pub struct DueSchedule {
    pub workflow_id: Uuid,
    pub fire: Timestamp,
    pub frequency: Option<String>,
    /// Blocks in the workflow's chain (a scheduled run runs them all).
    pub blocks: i64,
}

/// What the scheduler decided about one due fire.
#[derive(Debug, Clone)]
pub struct FirePlan {
    pub workflow_id: Uuid,
    /// The fire being handled: the workflow's `date_next_schedule` now.
    pub fire: Timestamp,
    /// The following fire; `None` when the schedule fires no more.
    pub next: Option<Timestamp>,
    /// The run to queue for this fire; `None` to skip it.
    pub run: Option<NewRun>,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: Uuid,
    date_next_schedule: Timestamp,
    schedule_frequency: Option<String>,
    chain: String,
}

impl Store {
    /// The earliest next fire of any scheduled workflow (an index lookup).
    pub async fn earliest_fire(&self) -> Result<Option<Timestamp>> {
        let sql = "SELECT MIN(date_next_schedule) FROM workflows WHERE is_scheduled";
        Ok(with_db!(self, p => sqlx::query_scalar(sql).fetch_one(p).await?))
    }

    /// Up to `limit` scheduled workflows whose next fire is at or before `now`, earliest first.
    pub async fn due_schedules(&self, now: Timestamp, limit: i64) -> Result<Vec<DueSchedule>> {
        let sql = "SELECT id, date_next_schedule, schedule_frequency, chain FROM workflows \
                   WHERE is_scheduled AND date_next_schedule <= $1 \
                   ORDER BY date_next_schedule LIMIT $2";
        let rows: Vec<DueRow> =
            with_db!(self, p => sqlx::query_as(sql).bind(now).bind(limit).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|r| DueSchedule {
                workflow_id: r.id,
                fire: r.date_next_schedule,
                frequency: r.schedule_frequency,
                blocks: serde_json::from_str::<Vec<serde::de::IgnoredAny>>(&r.chain)
                    .map(|c| c.len() as i64)
                    .unwrap_or(0),
            })
            .collect())
    }

    /// Commits fires in one transaction. A plan applies only while its
    /// workflow is still scheduled at `fire` — a schedule disabled, changed,
    /// deleted or fired by another node meanwhile is left alone. Returns the
    /// runs queued.
    pub async fn commit_fires(&self, plans: &[FirePlan]) -> Result<usize> {
        let advance = "UPDATE workflows SET date_next_schedule = $3 \
                       WHERE id = $1 AND is_scheduled AND date_next_schedule = $2";
        let enqueue = "INSERT INTO runs (id, workflow_id, status, trigger_kind, run_from, run_till, \
                       attempt, date_queued, fire_time) VALUES ($1, $2, 'Queued', $3, $4, $5, 0, $6, $7) \
                       ON CONFLICT DO NOTHING";
        with_db!(self, p => {
            let mut tx = p.begin().await?;
            let mut queued = 0;
            for plan in plans {
                let moved = sqlx::query(advance).bind(plan.workflow_id).bind(plan.fire).bind(plan.next)
                    .execute(&mut *tx).await?.rows_affected();
                let Some(run) = plan.run.as_ref().filter(|_| moved == 1) else { continue };
                queued += sqlx::query(enqueue).bind(run.id).bind(run.workflow_id).bind(run.trigger.name())
                    .bind(run.run_from).bind(run.run_till).bind(run.date_queued).bind(plan.fire)
                    .execute(&mut *tx).await?.rows_affected() as usize;
            }
            tx.commit().await?;
            Ok(queued)
        })
    }
}
