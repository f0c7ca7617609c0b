//! Several writes made atomic: `Store::begin`, the writes on the
//! `StoreTx`, `commit`. Dropped without `commit`, nothing is written.

use crate::{Db, Result, Store};
use sqlx::{Postgres, Sqlite, Transaction};

pub struct StoreTx {
    pub(crate) tx: Tx,
}

pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Pg(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the transaction's connection (either
/// backend); compiled once per backend, like `with_db!`.
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.tx {
            crate::tx::Tx::Sqlite(t) => {
                let $c = &mut **t;
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
            crate::tx::Tx::Sqlite(t) => {
                let ($c, $d) = (&mut **t, $sqlite);
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
            Db::Sqlite(p) => Tx::Sqlite(p.write.begin().await?),
            Db::Pg(p) => Tx::Pg(p.begin().await?),
        };
        Ok(StoreTx { tx })
    }
}

impl StoreTx {
    pub async fn commit(self) -> Result<()> {
        crate::count_write!(write);
        match self.tx {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Pg(t) => t.commit().await?,
        }
        Ok(())
    }
}
