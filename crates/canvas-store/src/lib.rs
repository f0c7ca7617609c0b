//! Canvas persistence. One [`Store`] serves both backends: the same SQL text
//! (numbered `$n` parameters, `RETURNING`, recursive CTEs — all valid on
//! SQLite and PostgreSQL) runs on whichever pool the store was opened with,
//! and each backend has its own append-only migration folder.
//! Only this crate knows SQL.

mod accounts;
mod catalog;
mod claim;
mod connect;
mod console;
mod history;
pub mod model;
#[cfg(test)]
mod query_plan;
mod queue;
mod retention;
mod run_list;
mod schedules;
mod tx;
mod workflows;
mod writer;

pub use accounts::NewOrganization;
pub use claim::Claim;
pub use console::ConsoleSession;
pub use history::HistorySpec;
pub use queue::{Lease, RunEnd};
pub use run_list::{RunFilter, RunKey, RunSummary, WorkflowHealth};
pub use schedules::{DueSchedule, FirePlan};
pub use tx::StoreTx;
pub use workflows::{Enqueued, ScheduleUpdate};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The database could not be reached or refused us, said plainly
    /// (never with the URL's password).
    #[error("{0}")]
    Connect(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(ref d) if d.is_unique_violation() => Self::Conflict("unique"),
            e => Self::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqliteDb),
    Pg(PgPool),
}

/// SQLite lets one connection write at a time, and a writer that finds the
/// lock taken sleeps in SQLite's busy handler (1, 2, 5, 10… ms). So every
/// write goes through one connection — the [`writer::Writer`], which also
/// groups concurrent writes into one commit — and reads go through
/// read-only connections, which WAL never makes wait. A write sent to a
/// reader fails (read-only), so the split cannot drift silently.
#[derive(Clone)]
struct SqliteDb {
    read: SqlitePool,
    writer: std::sync::Arc<writer::Writer>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb")
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$p` bound to the store's database (either backend);
/// the body is compiled once per backend, so one SQL text serves both. A
/// plain `with_db!` reads, `$p` a pool. `with_db!(write store, …)` writes:
/// `$p` is a connection (`&mut *p` to use it twice) — SQLite's writer,
/// inside its open batch, or one of PostgreSQL's pool — and the macro's
/// value is there once the write is committed. The dialect seam:
/// `with_db!(store, p, d = { sqlite: a, postgres: b } => body)` also binds
/// `d` to the backend's own value (a lock clause, a statement), so a
/// statement that differs by dialect is still written once.
macro_rules! with_db {
    (write $store:expr, $p:ident => $body:expr) => {
        crate::with_db!(write $store, $p, _dialect = { sqlite: (), postgres: () } => $body)
    };
    (write $store:expr, $p:ident, $d:ident = { sqlite: $sqlite:expr, postgres: $pg:expr $(,)? } => $body:expr) => {{
        metrics::counter!("canvas_store_writes_total").increment(1);
        match &$store.db {
            crate::Db::Sqlite(db) => {
                let mut slot = db.writer.slot().await?;
                let result = async {
                    #[allow(unused_imports)]
                    use sqlx::Connection as _;
                    let ($p, $d) = (slot.conn(), $sqlite);
                    Ok::<_, crate::StoreError>($body)
                }
                .await;
                slot.finish(result).await?
            }
            crate::Db::Pg(pool) => {
                let mut conn = pool.acquire().await?;
                let result = async {
                    #[allow(unused_imports)]
                    use sqlx::Connection as _;
                    let ($p, $d) = (&mut *conn, $pg);
                    Ok::<_, crate::StoreError>($body)
                }
                .await;
                if result.is_ok() {
                    metrics::counter!("canvas_store_commits_total").increment(1);
                }
                result?
            }
        }
    }};
    ($store:expr, $p:ident => $body:expr) => {{
        match &$store.db {
            crate::Db::Sqlite(db) => {
                let $p = &db.read;
                $body
            }
            crate::Db::Pg($p) => $body,
        }
    }};
    ($store:expr, $p:ident, $d:ident = { sqlite: $sqlite:expr, postgres: $pg:expr $(,)? } => $body:expr) => {{
        match &$store.db {
            crate::Db::Sqlite(db) => {
                let ($p, $d) = (&db.read, $sqlite);
                $body
            }
            crate::Db::Pg($p) => {
                let $d = $pg;
                $body
            }
        }
    }};
}
pub(crate) use with_db;

/// Rows a SQLite statement may run ahead of its reader (the largest page
/// the API reads is 1,000 rows; they are small).
const ROW_BUFFER: usize = 1024;

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// Which backend a store runs on, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens (creating when missing) the embedded SQLite store at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Rows cross from SQLite's thread to the caller's over a channel
            // of this size; at sqlx's 50 a list of 100 workflows blocked
            // SQLite's thread mid-statement (a futex wait and wake per row).
            .row_buffer_size(ROW_BUFFER);
        // The file (and its WAL) is made and migrated first, through a pool
        // of its own: the migrator takes a pool.
        let migrate = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let migrated = sqlx::migrate!("./migrations/sqlite").run(&migrate).await;
        migrate.close().await;
        migrated.map_err(StoreError::Migration)?;
        let writer = writer::Writer::for_file(path, options.clone()).await?;
        // A file connection does not drop: no ping before each use (sqlx's
        // default costs a round trip to the connection's thread per statement).
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(8)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            db: Db::Sqlite(SqliteDb { read, writer }),
        })
    }

    /// Connects to PostgreSQL; `schema`, when given, is created and used as
    /// the search path (how tests get a fresh store each).
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Connect(format!("not a valid PostgreSQL URL: {e}")))?
            // Canvas's statements are short: JIT compiling one whose estimate
            // passes `jit_above_cost` (a page of a million-run list) costs
            // 150+ ms to save microseconds (canvas-bench console, BENCHMARKS.md).
            .options([("jit", "off")]);
        connect::probe_postgres(&options).await?;
        if let Some(schema) = schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let create = format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "")
            );
            sqlx::query(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .test_before_acquire(false)
            .before_acquire(ping_when_idle)
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::Migration)?;
        Ok(Self { db: Db::Pg(pool) })
    }

    /// `postgres://...` opens PostgreSQL; `sqlite://PATH` or a bare path opens SQLite.
    pub async fn open(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url, None).await
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            Self::open_sqlite(Path::new(path)).await
        }
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Pg(_) => Backend::Postgres,
        }
    }

    /// SQLite: the commits its writer has made since the store opened
    /// (under load, several writes each). PostgreSQL: `None` — each write
    /// commits on its own connection.
    pub fn sqlite_commits(&self) -> Option<u64> {
        match &self.db {
            Db::Sqlite(db) => Some(db.writer.commits()),
            Db::Pg(_) => None,
        }
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        with_db!(self, p => sqlx::query("SELECT 1").execute(p).await.map(drop).map_err(Into::into))
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(db) => {
                db.read.close().await;
                db.writer.flush().await;
            }
            Db::Pg(p) => p.close().await,
        }
    }
}

/// A connection that waited in the pool a while is pinged before use (the
/// server may have restarted meanwhile); one in steady use is not — sqlx's
/// default pings before every statement, a round trip each.
fn ping_when_idle(
    conn: &mut sqlx::PgConnection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if meta.idle_for > Duration::from_secs(1) {
            sqlx::Connection::ping(conn).await?;
        }
        Ok(true)
    })
}

/// JSON columns are TEXT on both backends.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// The most of an error message a run keeps.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Text as the store can always hold it, the same on both backends: NUL
/// (which PostgreSQL's text refuses) becomes U+FFFD, and past
/// [`MAX_ERROR_BYTES`] the text is cut with a marker. A run's end can then
/// always be written, whatever a script threw.
pub fn recordable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\0') && text.len() <= MAX_ERROR_BYTES {
        return std::borrow::Cow::Borrowed(text);
    }
    let text = text.replace('\0', "\u{FFFD}");
    let mut end = text.len().min(MAX_ERROR_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut kept = text[..end].to_string();
    if end < text.len() {
        kept.push_str(&format!(" … [cut: {} bytes more]", text.len() - end));
    }
    std::borrow::Cow::Owned(kept)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializing plain data cannot fail")
}

#[cfg(test)]
mod tests {
    #[test]
    fn recordable_text_has_no_nul_and_is_cut_on_a_character_boundary() {
        let text = format!(
            "{}é{}",
            "a".repeat(super::MAX_ERROR_BYTES - 1),
            "\0".repeat(100)
        );
        let kept = super::recordable(&text);
        assert!(!kept.contains('\0'));
        let (head, marker) = kept.split_once(" … [cut: ").unwrap();
        assert!(
            head.len() <= super::MAX_ERROR_BYTES && head.ends_with('a'),
            "{}",
            head.len()
        );
        assert!(marker.ends_with("bytes more]"));
        assert_eq!(super::recordable("short"), "short");
    }
}
