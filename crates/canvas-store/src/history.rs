//! A long run history written straight into the store, for the benchmarks
//! that ask how Canvas behaves with a million finished runs behind it
//! (`canvas-bench console`). Rows are made by the store's own encoders, in
//! multi-row inserts, so they read back exactly as runs the engine wrote.

use crate::{Result, Store, with_db};
use canvas_domain::time::Timestamp;
use uuid::Uuid;

/// Rows one INSERT carries (each run row binds 13 values, each block row 9).
const ROWS_PER_INSERT: usize = 500;

/// Which history to write.
pub struct HistorySpec {
    pub organization: Uuid,
    pub account: Uuid,
    /// The runs are spread over these workflows, in turn.
    pub workflows: Vec<Uuid>,
    pub runs: usize,
    /// The newest run's queue time; each older one `spacing` before.
    pub newest: Timestamp,
    pub spacing: chrono::Duration,
}

/// One history run's fields that vary.
struct Row {
    id: Uuid,
    workflow: Uuid,
    status: &'static str,
    trigger: &'static str,
    queued: Timestamp,
    error: Option<String>,
}

/// Run `i` of the history: 1 in 20 failed, 1 in 1,000 cancelled, every
/// third scheduled.
fn row(spec: &HistorySpec, i: usize) -> Row {
    let status = match i {
        i if i % 1000 == 7 => "Cancelled",
        i if i % 20 == 3 => "Failed",
        _ => "Succeeded",
    };
    Row {
        id: Uuid::new_v4(),
        workflow: spec.workflows[i % spec.workflows.len()],
        status,
        trigger: if i.is_multiple_of(3) {
            "Schedule"
        } else {
            "Manual"
        },
        queued: spec.newest - spec.spacing * i as i32,
        error: (status == "Failed")
            .then(|| format!("block 2 (Deliver): the server answered 502 on attempt {i}")),
    }
}

impl Store {
    /// Writes `spec.runs` finished two-block runs, newest first.
    pub async fn fill_history(&self, spec: &HistorySpec) -> Result<()> {
        if spec.workflows.is_empty() {
            return Ok(());
        }
        let mut i = 0;
        while i < spec.runs {
            let rows: Vec<Row> = (i..spec.runs.min(i + ROWS_PER_INSERT))
                .map(|n| row(spec, n))
                .collect();
            self.insert_history(spec, &rows).await?;
            i += rows.len();
        }
        // After a load this size PostgreSQL's autovacuum vacuums (the
        // visibility map: index-only scans) and analyzes the tables on its
        // own, minutes later; the benchmarks measure the state after it.
        with_db!(write self, p, analyze = { sqlite: None::<&str>, postgres: Some("VACUUM ANALYZE runs, run_blocks") } => {
            if let Some(sql) = analyze {
                sqlx::query(sql).execute(p).await?;
            }
        });
        Ok(())
    }

    async fn insert_history(&self, spec: &HistorySpec, rows: &[Row]) -> Result<()> {
        let runs = "INSERT INTO runs (id, workflow_id, organization_id, account_id, status, \
                    trigger_kind, run_from, run_till, attempt, date_queued, date_started, \
                    date_finished, error) ";
        let blocks = "INSERT INTO run_blocks (run_id, number, unique_block_id, block_name, \
                      status, date_started, date_finished, records_in, records_out) ";
        let second = chrono::Duration::milliseconds(1500);
        with_db!(write self, p => {
            let mut tx = p.begin().await?;
            let mut q = sqlx::QueryBuilder::new(runs);
            q.push_values(rows, |mut b, r| {
                b.push_bind(r.id).push_bind(r.workflow).push_bind(spec.organization)
                    .push_bind(spec.account).push_bind(r.status).push_bind(r.trigger)
                    .push_bind(1_i64).push_bind(2_i64).push_bind(1_i64).push_bind(r.queued)
                    .push_bind(r.queued).push_bind(r.queued + second * 2).push_bind(r.error.clone());
            });
            q.build().execute(&mut *tx).await?;
            let mut q = sqlx::QueryBuilder::new(blocks);
            q.push_values(rows.iter().flat_map(|r| [(r, 1_i64), (r, 2_i64)]), |mut b, (r, n)| {
                let failed = n == 2 && r.status != "Succeeded";
                let (name, status) = match (n, failed) {
                    (1, _) => ("Fetch", "Succeeded"),
                    (_, true) => ("Deliver", r.status),
                    _ => ("Deliver", "Succeeded"),
                };
                b.push_bind(r.id).push_bind(n).push_bind(Uuid::nil()).push_bind(name)
                    .push_bind(status).push_bind(r.queued + second * (n as i32 - 1))
                    .push_bind(r.queued + second * n as i32).push_bind(10_i64).push_bind(10_i64);
            });
            q.build().execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
