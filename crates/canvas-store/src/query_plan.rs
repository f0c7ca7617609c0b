//! Test support: SQLite's plan of a statement, so a test can hold a query to
//! the index it was written for.

use crate::{Db, Store};

/// An empty SQLite store to ask for plans.
pub(crate) struct Planner {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Planner {
    pub(crate) async fn open() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("plan.db"))
            .await
            .unwrap();
        Self { _dir: dir, store }
    }

    /// `EXPLAIN QUERY PLAN sql`, its lines joined by " / ".
    pub(crate) async fn plan(&self, sql: &str) -> String {
        let Db::Sqlite(pools) = &self.store.db else {
            unreachable!("a planner is SQLite")
        };
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(explain))
            .fetch_all(&pools.read)
            .await
            .unwrap();
        let lines: Vec<String> = rows
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
            .collect();
        lines.join(" / ")
    }
}

/// The plan of one statement on a fresh store.
pub(crate) async fn plan(sql: &str) -> String {
    Planner::open().await.plan(sql).await
}
