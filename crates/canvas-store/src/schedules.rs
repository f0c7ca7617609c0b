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

    /// Commits fires in one transaction of two statements. A plan applies
    /// only while its workflow is still scheduled at `fire` — a schedule
    /// disabled, changed, deleted or fired by another node meanwhile is left
    /// alone. A run's `date_queued` is stamped when the batch is written (not
    /// when it was planned), so lateness figures include the batch's own
    /// time. Returns the runs queued.
    pub async fn commit_fires(&self, plans: &[FirePlan]) -> Result<usize> {
        if plans.is_empty() {
            return Ok(0);
        }
        let advance = advance_sql(plans.len());
        with_db!(write self, p => {
            let mut tx = p.begin().await?;
            let mut update = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(advance));
            for plan in plans {
                update = update.bind(plan.workflow_id).bind(plan.fire).bind(plan.next);
            }
            let moved: std::collections::HashSet<Uuid> = update.fetch_all(&mut *tx).await?.into_iter().collect();
            let runs: Vec<(&NewRun, Timestamp)> = plans
                .iter()
                .filter(|plan| moved.contains(&plan.workflow_id))
                .filter_map(|plan| Some((plan.run.as_ref()?, plan.fire)))
                .collect();
            let mut queued = 0;
            if !runs.is_empty() {
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(enqueue_sql(runs.len())));
                for (run, fire) in &runs {
                    insert = insert.bind(run.id).bind(run.workflow_id).bind(run.trigger.name())
                        .bind(run.run_from).bind(run.run_till).bind(run.date_queued).bind(*fire);
                }
                queued = insert.execute(&mut *tx).await?.rows_affected() as usize;
            }
            tx.commit().await?;
            Ok(queued)
        })
    }
}

/// `$1, $2, ...` in rows of `width`, as `($1, $2), ($3, $4)`.
fn value_rows(rows: usize, width: usize, wrap: impl Fn(&str) -> String) -> String {
    (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            wrap(&params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Moves each listed workflow's next fire from `fire` to `next` where it is
/// still scheduled at `fire`; returns the ids moved. Valid on both backends.
fn advance_sql(rows: usize) -> String {
    format!(
        "WITH v(id, fire, next) AS (VALUES {}) \
         UPDATE workflows SET date_next_schedule = v.next FROM v \
         WHERE workflows.id = v.id AND workflows.is_scheduled \
         AND workflows.date_next_schedule = v.fire \
         RETURNING workflows.id",
        value_rows(rows, 3, |p| format!("({p})"))
    )
}

/// The organization of the workflow whose id follows (closed by the caller).
const ORGANIZATION_OF: &str = "(SELECT a.organization_id FROM workflows w \
     JOIN accounts a ON a.id = w.account_id WHERE w.id = ";

/// The account of the workflow whose id follows (closed by the caller).
const ACCOUNT_OF: &str = "(SELECT account_id FROM workflows WHERE id = ";

/// The runs of fires, at most one per (workflow, fire time).
fn enqueue_sql(rows: usize) -> String {
    format!(
        "INSERT INTO runs (id, workflow_id, status, trigger_kind, run_from, run_till, attempt, \
         date_queued, fire_time, organization_id, account_id) VALUES {} ON CONFLICT DO NOTHING",
        value_rows(rows, 7, |p| {
            let p: Vec<&str> = p.split(", ").collect();
            format!(
                "({}, {}, 'Queued', {}, {}, {}, 0, {}, {}, {ORGANIZATION_OF}{}), {ACCOUNT_OF}{}))",
                p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[1], p[1]
            )
        })
    )
}
