//! SQLite's group commit. One connection writes; each write takes it in
//! turn (a [`Slot`]) and runs inside the batch transaction that connection
//! has open. The write that finds nobody waiting behind it commits the
//! batch, so under load many runs' writes share one commit — one WAL append
//! of each page they touched (the newest page of every `runs` index is
//! touched by every run) instead of one per write. A write returns only
//! once its batch is committed: durable exactly as if it had committed
//! alone, or an error if the batch could not be.
//!
//! A write that fails ends its batch at once (what came before it is
//! committed; SQLite has rolled back the failed statement). A transaction
//! ([`crate::StoreTx`]) runs in a savepoint, so dropping it undoes only its
//! own writes. Ending a batch runs in a task of its own, so a caller
//! cancelled meanwhile cannot cut a commit in half; a slot dropped midway
//! is ended by such a task too, and a write whose batch nobody ended ends
//! it itself after [`ORPHAN_AFTER`]. A process has one writer per file
//! (the scheduler's store shares the node's), so its writers never wait on
//! each other in SQLite's busy handler.

use crate::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteTransactionManager};
use sqlx::{ConnectOptions, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

/// A batch commits after this many writes even while more wait…
const MAX_WRITES: u32 = 64;
/// …or once it has been open this long: waiting writes are not held back
/// beyond it by the ones queued behind them.
const MAX_OPEN: Duration = Duration::from_millis(10);
/// A write waits this long for its batch to be committed by a later write
/// before it commits it itself (the later write was cancelled while queued).
const ORPHAN_AFTER: Duration = Duration::from_millis(25);

/// How a batch ended: `None` while it is open.
type Outcome = Option<std::result::Result<(), String>>;

pub(crate) struct Writer {
    batch: Arc<Mutex<Batch>>,
    /// Writes queued for the connection: while one waits, a finished write
    /// leaves the batch open for it.
    waiting: AtomicUsize,
    commits: AtomicU64,
}

struct Batch {
    conn: Option<SqliteConnection>,
    options: SqliteConnectOptions,
    /// The open batch's number, or the last one's.
    number: u64,
    open: bool,
    writes: u32,
    opened: Instant,
    /// A transaction's savepoint is open: its own, while its slot is held;
    /// one left by a dropped transaction otherwise (undone before going on).
    savepoint: bool,
    /// Where the open batch's outcome is told to the writes in it.
    outcome: watch::Sender<Outcome>,
}

/// The writers of this process, by database file.
static WRITERS: std::sync::Mutex<Vec<(PathBuf, Weak<Writer>)>> = std::sync::Mutex::new(Vec::new());

impl Writer {
    /// The writer of the (migrated) file at `path`: this process's own if
    /// it has one, else a new one on a connection of its own.
    pub(crate) async fn for_file(path: &Path, options: SqliteConnectOptions) -> Result<Arc<Self>> {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        if let Some(writer) = Self::registered(&path) {
            return Ok(writer);
        }
        let made = Self::new(options.connect().await?, options);
        let mut writers = WRITERS.lock().unwrap_or_else(|p| p.into_inner());
        writers.retain(|(_, w)| w.strong_count() > 0);
        if let Some((_, w)) = writers.iter().find(|(p, _)| *p == path)
            && let Some(writer) = w.upgrade()
        {
            return Ok(writer);
        }
        writers.push((path, Arc::downgrade(&made)));
        Ok(made)
    }

    fn registered(path: &Path) -> Option<Arc<Self>> {
        let writers = WRITERS.lock().unwrap_or_else(|p| p.into_inner());
        let (_, w) = writers.iter().find(|(p, _)| p == path)?;
        w.upgrade()
    }

    fn new(conn: SqliteConnection, options: SqliteConnectOptions) -> Arc<Self> {
        let batch = Batch {
            conn: Some(conn),
            options,
            number: 0,
            open: false,
            writes: 0,
            opened: Instant::now(),
            savepoint: false,
            outcome: watch::Sender::new(None),
        };
        Arc::new(Self {
            batch: Arc::new(Mutex::new(batch)),
            waiting: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
        })
    }

    /// The connection, in turn, inside an open batch.
    pub(crate) async fn slot(self: &Arc<Self>) -> Result<Slot> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let queued = Queued(&self.waiting);
        let mut guard = self.batch.clone().lock_owned().await;
        drop(queued);
        if guard.savepoint || !guard.open {
            // A dropped transaction's batch is ended first; how it went was
            // told to its writes, not to this one.
            guard = self.settle_detached(guard).await?;
            guard.begin().await?;
        }
        guard.writes += 1;
        Ok(Slot {
            number: guard.number,
            outcome: guard.outcome.subscribe(),
            guard: Some(guard),
            writer: self.clone(),
        })
    }

    /// Ends the open batch in a task of its own — a cancelled caller cannot
    /// interrupt a commit — and hands the batch back.
    async fn settle_detached(
        self: &Arc<Self>,
        mut guard: OwnedMutexGuard<Batch>,
    ) -> Result<OwnedMutexGuard<Batch>> {
        let writer = self.clone();
        let task = tokio::spawn(async move {
            writer.settle(&mut guard).await;
            guard
        });
        task.await.map_err(|e| {
            StoreError::Database(sqlx::Error::Protocol(format!("ending a batch: {e}")))
        })
    }

    /// Ends the open batch: a dropped transaction's savepoint undone, the
    /// rest committed; every write in it is told how it went.
    async fn settle(&self, batch: &mut Batch) {
        if !batch.open {
            return;
        }
        let result = match batch.undo_savepoint().await {
            Ok(()) => batch.commit().await,
            Err(e) => Err(e),
        };
        batch.open = false;
        match &result {
            Ok(()) => {
                metrics::counter!("canvas_store_commits_total").increment(1);
                self.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.number, "SQLite batch could not be committed")
            }
        }
        let told = result.as_ref().map(drop).map_err(ToString::to_string);
        batch.outcome.send_replace(Some(told));
        if result.is_err() {
            batch.reconnect().await;
        }
    }

    /// Waits until the slot's batch has ended; its outcome.
    async fn ended(
        self: &Arc<Self>,
        number: u64,
        outcome: &mut watch::Receiver<Outcome>,
    ) -> Result<()> {
        loop {
            if let Some(told) = outcome.borrow_and_update().clone() {
                return told.map_err(|why| {
                    StoreError::Database(sqlx::Error::Protocol(format!(
                        "the write was not committed: {why}"
                    )))
                });
            }
            match tokio::time::timeout(ORPHAN_AFTER, outcome.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(StoreError::Database(sqlx::Error::Protocol(
                        "the write's batch ended untold".into(),
                    )));
                }
                Err(_) => {
                    let batch = self.batch.clone().lock_owned().await;
                    if batch.open && batch.number == number {
                        drop(self.settle_detached(batch).await);
                    }
                }
            }
        }
    }

    /// The commits made so far.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Commits whatever batch is open (shutdown).
    pub(crate) async fn flush(self: &Arc<Self>) {
        let batch = self.batch.clone().lock_owned().await;
        drop(self.settle_detached(batch).await);
    }
}

/// Counts a write queued for the connection until it holds it (or was cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn broken(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(what.into()))
}

impl Batch {
    fn conn(&mut self) -> Result<&mut SqliteConnection> {
        self.conn
            .as_mut()
            .ok_or_else(|| broken("SQLite's writer has no connection"))
    }

    async fn begin(&mut self) -> Result<()> {
        let clean = self
            .conn
            .as_ref()
            .is_some_and(|c| SqliteTransactionManager::get_transaction_depth(c) == 0);
        if !clean {
            self.reconnect().await;
        }
        let conn = self.conn()?;
        SqliteTransactionManager::begin(conn, Some("BEGIN IMMEDIATE".into_sql_str())).await?;
        self.number += 1;
        self.open = true;
        self.writes = 0;
        self.opened = Instant::now();
        self.outcome = watch::Sender::new(None);
        Ok(())
    }

    /// Commits, and checks the connection is out of its transaction: a
    /// nested transaction a write left open would make sqlx's COMMIT a mere
    /// RELEASE of its savepoint.
    async fn commit(&mut self) -> Result<()> {
        let conn = self.conn()?;
        SqliteTransactionManager::commit(conn).await?;
        match SqliteTransactionManager::get_transaction_depth(conn) {
            0 => Ok(()),
            _ => Err(broken("a write left a transaction open in the batch")),
        }
    }

    async fn undo_savepoint(&mut self) -> Result<()> {
        if self.savepoint {
            let conn = self.conn()?;
            sqlx::query("ROLLBACK TO canvas_tx")
                .execute(&mut *conn)
                .await?;
            sqlx::query("RELEASE canvas_tx").execute(conn).await?;
            self.savepoint = false;
        }
        Ok(())
    }

    /// After a failed commit the connection's transaction state is unknown
    /// (SQLite may have rolled back on its own): a fresh connection starts
    /// clean, and closing the old one rolls back whatever it had open.
    async fn reconnect(&mut self) {
        self.savepoint = false;
        self.conn = None;
        match self.options.connect().await {
            Ok(conn) => self.conn = Some(conn),
            Err(e) => tracing::error!(error = %e, "SQLite writer could not reconnect"),
        }
    }

    fn due(&self) -> bool {
        self.writes >= MAX_WRITES || self.opened.elapsed() >= MAX_OPEN
    }
}

/// The writer's connection, held by one write (or transaction) at a time.
pub(crate) struct Slot {
    guard: Option<OwnedMutexGuard<Batch>>,
    writer: Arc<Writer>,
    number: u64,
    outcome: watch::Receiver<Outcome>,
}

impl Slot {
    fn batch(&mut self) -> &mut Batch {
        self.guard
            .as_mut()
            .expect("a slot holds the batch until it finishes")
    }

    /// The connection, inside the open batch (a slot exists only then).
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        self.batch()
            .conn
            .as_mut()
            .expect("an open batch has its connection")
    }

    /// Opens the savepoint a transaction's writes run in.
    pub(crate) async fn savepoint(&mut self) -> Result<()> {
        sqlx::query("SAVEPOINT canvas_tx")
            .execute(self.conn())
            .await?;
        self.batch().savepoint = true;
        Ok(())
    }

    /// Keeps the transaction's writes (they commit with the batch).
    pub(crate) async fn release_savepoint(&mut self) -> Result<()> {
        sqlx::query("RELEASE canvas_tx")
            .execute(self.conn())
            .await?;
        self.batch().savepoint = false;
        Ok(())
    }

    /// Undoes the transaction's writes (its savepoint), keeping the batch.
    pub(crate) async fn rollback_savepoint(&mut self) -> Result<()> {
        self.batch().undo_savepoint().await
    }

    /// Hands the connection on and waits for the batch's commit: the write's
    /// own result, or the commit's error.
    pub(crate) async fn finish<T>(mut self, result: Result<T>) -> Result<T> {
        let writer = self.writer.clone();
        let guard = self.guard.take().expect("finished once");
        let alone = writer.waiting.load(Ordering::Acquire) == 0;
        if result.is_err() || alone || guard.due() {
            // A failed write's error is its own; the batch's outcome is
            // heard by the writes before it.
            drop(writer.settle_detached(guard).await);
        } else {
            drop(guard);
        }
        let value = result?;
        writer.ended(self.number, &mut self.outcome).await?;
        Ok(value)
    }
}

impl Drop for Slot {
    /// A write cancelled midway, or a transaction dropped uncommitted: its
    /// savepoint is undone and its batch ended, so no write waits on it.
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let writer = self.writer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { writer.settle(&mut guard).await });
        }
        // Without a runtime the next slot (or a waiting write) ends it.
    }
}
