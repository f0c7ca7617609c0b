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
//! own writes. A slot dropped midway (its caller cancelled) is cleaned up
//! by a task, and a write whose batch nobody ended ends it itself after
//! [`ORPHAN_AFTER`].

use crate::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteTransactionManager};
use sqlx::{ConnectOptions, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
/// How many failed batch numbers are remembered for the writes waiting on them.
const FAILED_KEPT: usize = 64;

pub(crate) struct Writer {
    batch: Arc<Mutex<Batch>>,
    /// Writes queued for the connection: while one waits, a finished write
    /// leaves the batch open for it.
    waiting: AtomicUsize,
    /// The number of the last batch ended (committed or failed).
    ended: watch::Sender<u64>,
    failed: std::sync::Mutex<VecDeque<(u64, String)>>,
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
}

impl Writer {
    /// Takes over `conn` (migrations already run on it).
    pub(crate) fn new(conn: SqliteConnection, options: SqliteConnectOptions) -> Arc<Self> {
        let batch = Batch {
            conn: Some(conn),
            options,
            number: 0,
            open: false,
            writes: 0,
            opened: Instant::now(),
            savepoint: false,
        };
        Arc::new(Self {
            batch: Arc::new(Mutex::new(batch)),
            waiting: AtomicUsize::new(0),
            ended: watch::Sender::new(0),
            failed: std::sync::Mutex::new(VecDeque::new()),
            commits: AtomicU64::new(0),
        })
    }

    /// The connection, in turn, inside an open batch.
    pub(crate) async fn slot(self: &Arc<Self>) -> Result<Slot> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let queued = Queued(&self.waiting);
        let guard = self.batch.clone().lock_owned().await;
        drop(queued);
        let mut slot = Slot {
            guard: Some(guard),
            writer: self.clone(),
            number: 0,
        };
        let batch = slot.batch();
        if batch.savepoint || !batch.open {
            self.settle(batch).await?;
            batch.begin().await?;
        }
        batch.writes += 1;
        slot.number = batch.number;
        Ok(slot)
    }

    /// Ends the open batch: a dropped transaction's savepoint undone, the
    /// rest committed. Every write waiting on it hears how it went.
    async fn settle(&self, batch: &mut Batch) -> Result<()> {
        if !batch.open {
            return Ok(());
        }
        let outcome = match batch.undo_savepoint().await {
            Ok(()) => batch.commit().await,
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            tracing::error!(error = %e, batch = batch.number, "SQLite batch could not be committed");
            batch.reconnect().await;
            let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
            if failed.len() == FAILED_KEPT {
                failed.pop_front();
            }
            failed.push_back((batch.number, e.to_string()));
        } else {
            metrics::counter!("canvas_store_commits_total").increment(1);
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        batch.open = false;
        self.ended.send_replace(batch.number);
        outcome
    }

    /// Waits until batch `number` has ended; its outcome.
    async fn ended(&self, number: u64) -> Result<()> {
        let mut ended = self.ended.subscribe();
        loop {
            if *ended.borrow_and_update() >= number {
                return self.outcome(number);
            }
            if tokio::time::timeout(ORPHAN_AFTER, ended.changed())
                .await
                .is_err()
            {
                let mut batch = self.batch.lock().await;
                if batch.open && batch.number == number {
                    let _ = self.settle(&mut batch).await;
                }
            }
        }
    }

    fn outcome(&self, number: u64) -> Result<()> {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        match failed.iter().find(|(n, _)| *n == number) {
            None => Ok(()),
            Some((_, why)) => Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "the write was not committed: {why}"
            )))),
        }
    }

    /// The commits made so far.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Commits whatever batch is open (shutdown).
    pub(crate) async fn flush(&self) {
        let mut batch = self.batch.lock().await;
        let _ = self.settle(&mut batch).await;
    }
}

/// Counts a write queued for the connection until it holds it (or was cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Batch {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("the writer always has a connection")
    }

    async fn begin(&mut self) -> Result<()> {
        if self.conn.is_none() {
            self.reconnect().await;
        }
        let conn = self.conn.as_mut().ok_or_else(|| {
            StoreError::Database(sqlx::Error::Protocol("SQLite could not be reopened".into()))
        })?;
        SqliteTransactionManager::begin(conn, Some("BEGIN IMMEDIATE".into_sql_str())).await?;
        self.number += 1;
        self.open = true;
        self.writes = 0;
        self.opened = Instant::now();
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        SqliteTransactionManager::commit(self.conn()).await?;
        Ok(())
    }

    async fn undo_savepoint(&mut self) -> Result<()> {
        if self.savepoint {
            let conn = self.conn();
            sqlx::query("ROLLBACK TO canvas_tx")
                .execute(&mut *conn)
                .await?;
            sqlx::query("RELEASE canvas_tx").execute(conn).await?;
            self.savepoint = false;
        }
        Ok(())
    }

    /// After a failed commit the connection's transaction state is unknown
    /// (SQLite may have rolled back on its own): a fresh connection starts clean.
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
}

impl Slot {
    fn batch(&mut self) -> &mut Batch {
        self.guard
            .as_mut()
            .expect("a slot holds the batch until it finishes")
    }

    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        self.batch().conn()
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
        let mut guard = self.guard.take().expect("finished once");
        let alone = writer.waiting.load(Ordering::Acquire) == 0;
        if result.is_err() || alone || guard.due() {
            // A failed write's error is its own; the batch's outcome is
            // heard by the writes before it.
            let _ = writer.settle(&mut guard).await;
        }
        drop(guard);
        let value = result?;
        writer.ended(self.number).await?;
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
            runtime.spawn(async move {
                let _ = writer.settle(&mut guard).await;
            });
        }
        // Without a runtime the next slot (or a waiting write) ends it.
    }
}
