//! Retention's side of the store: which finished runs expired, oldest
//! first, and deleting them in batches — each batch read from an index in
//! its order and deleted in one statement, so a batch costs its own rows
//! however long the history is.

use crate::{Result, Store, with_db};
use canvas_domain::time::Timestamp;
use uuid::Uuid;

impl Store {
    /// Finished runs older than `before`, oldest first, skipping every workflow
    /// that has a run queued or running (it may still need their outputs).
    /// Read from `runs_finished` in its order: a batch costs its own rows,
    /// however long the history.
    pub async fn expired_runs(&self, before: Timestamp, limit: i64) -> Result<Vec<Uuid>> {
        with_db!(self, p, hint = { sqlite: " INDEXED BY runs_finished", postgres: "" } => {
            let sql = expired_runs_sql(hint);
            Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(before).bind(limit).fetch_all(p).await?)
        })
    }

    /// Deletes finished runs and their block records (a run no longer
    /// finished is left alone) in one statement; how many runs went.
    pub async fn delete_runs(&self, ids: &[Uuid]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        // Their block records go by the foreign key's cascade.
        let deleted = with_db!(write self, p => {
            let mut q = sqlx::QueryBuilder::new(DELETE_FINISHED_RUNS);
            push_ids(&mut q, ids);
            q.build().execute(p).await?.rows_affected()
        });
        Ok(deleted)
    }
}

/// Deletes the runs listed after it (`push_ids`) that are finished. The
/// status is tested as what it is not: SQLite, without statistics, read
/// `status IN (…finished…)` from `runs_status` (every finished run, over a
/// second a batch at a million) rather than the ids from the primary key.
const DELETE_FINISHED_RUNS: &str =
    "DELETE FROM runs WHERE status NOT IN ('Queued', 'Running') AND id IN (";

fn expired_runs_sql(hint: &str) -> String {
    format!(
        "SELECT r.id FROM runs r{hint} WHERE r.status IN ('Succeeded', 'Failed', 'Cancelled') AND r.date_finished < $1 \
         AND NOT EXISTS (SELECT 1 FROM runs a WHERE a.workflow_id = r.workflow_id AND a.status IN ('Queued', 'Running')) \
         ORDER BY r.date_finished LIMIT $2"
    )
}

/// `ids` as bound values separated by commas, and the closing parenthesis.
fn push_ids<'q, DB: sqlx::Database>(
    q: &'q mut sqlx::QueryBuilder<DB>,
    ids: &[Uuid],
) -> &'q mut sqlx::QueryBuilder<DB>
where
    Uuid: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(")")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_plan::plan;

    /// Retention's batch (the engine's `RETENTION_BATCH`).
    const RETENTION_BATCH: usize = 200;

    #[tokio::test]
    async fn expired_runs_are_read_from_their_index_in_order_on_sqlite() {
        let plan = plan(&expired_runs_sql(" INDEXED BY runs_finished")).await;
        assert!(
            plan.contains("SEARCH r USING INDEX runs_finished"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
    }

    #[tokio::test]
    async fn a_batch_is_deleted_by_key_not_by_a_scan_on_sqlite() {
        let ids: Vec<String> = (0..RETENTION_BATCH)
            .map(|n| format!("${}", n + 1))
            .collect();
        let plan = plan(&format!("{DELETE_FINISHED_RUNS}{})", ids.join(", "))).await;
        assert!(
            plan.contains("SEARCH runs USING INDEX sqlite_autoindex_runs_1 (id=?)"),
            "{plan}"
        );
    }
}
