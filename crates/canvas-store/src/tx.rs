//! Several writes made atomic: `Store::begin`, the writes on the
//! `StoreTx`, `commit`. Dropped without `commit`, nothing is written.

use crate::{Db, Result, Store};
use sqlx::{Postgres, Transaction};

pub struct StoreTx {
    pub(crate) tx: Tx,
}

pub(crate) enum Tx {
    /// SQLite's writer, held from `begin` to `commit`; the writes run in a savepoint.
    Sqlite(crate::writer::Slot),
    Pg(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the transaction's connection (either
/// backend); compiled once per backend, like `with_db!`.
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.tx {
            crate::tx::Tx::Sqlite(slot) => {
                let $c = slot.conn();
                $body
            }
            crate::tx::Tx::Pg(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
    ($tx:expr, $c:ident, $d:ident = { sqlite: $sqlite:expr, postgres: $pg:expr $(,)? } => $body:expr) => {
        match &mut $tx.tx {
            crate::tx::Tx::Sqlite(slot) => {
                let ($c, $d) = (slot.conn(), $sqlite);
                $body
            }
            crate::tx::Tx::Pg(t) => {
                let ($c, $d) = (&mut **t, $pg);
                $body
            }
        }
    };
}
pub(crate) use with_tx;

impl Store {
    /// A transaction: the writes made on it land together at `commit`, or not at all.
    pub async fn begin(&self) -> Result<StoreTx> {
        let tx = match &self.db {
            Db::Sqlite(db) => {
                let mut slot = db.writer.slot().await?;
                slot.savepoint().await?;
                Tx::Sqlite(slot)
            }
            Db::Pg(p) => Tx::Pg(p.begin().await?),
        };
        Ok(StoreTx { tx })
    }
}

impl StoreTx {
    /// Undoes the transaction's writes now. (Dropping it does too, from a
    /// task, and on SQLite ends the batch it was in: a claim that found
    /// nothing rolls back here and leaves the batch to the writes behind it.)
    pub async fn rollback(self) -> Result<()> {
        match self.tx {
            Tx::Sqlite(mut slot) => {
                let undone = slot.rollback_savepoint().await;
                slot.finish(undone).await
            }
            Tx::Pg(t) => Ok(t.rollback().await?),
        }
    }

    pub async fn commit(self) -> Result<()> {
        metrics::counter!("canvas_store_writes_total").increment(1);
        match self.tx {
            Tx::Sqlite(mut slot) => {
                let released = slot.release_savepoint().await;
                slot.finish(released).await?
            }
            Tx::Pg(t) => {
                t.commit().await?;
                metrics::counter!("canvas_store_commits_total").increment(1);
            }
        }
        Ok(())
    }
}
