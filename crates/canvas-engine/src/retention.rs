//! Retention: finished runs and their stored outputs are deleted once older
//! than the retention period — never while their workflow has a run queued
//! or running, which may still read them (`runFromBlock`).

use crate::Engine;
use canvas_domain::time::Timestamp;
use std::sync::Arc;
use tokio::sync::watch;

/// Runs deleted per transaction: a batch holds the store's writer for a
/// few milliseconds, whatever the history's length.
const RETENTION_BATCH: i64 = 200;

impl Engine {
    /// Deletes what expired before `now - retention`, in batches of
    /// `RETENTION_BATCH` runs (one transaction each); returns how many runs went.
    pub async fn sweep(&self, now: Timestamp) -> Result<usize, canvas_store::StoreError> {
        let before = now - chrono::Duration::from_std(self.config.retention).unwrap_or_default();
        let mut deleted = 0;
        loop {
            let expired = self.store.expired_runs(before, RETENTION_BATCH).await?;
            if expired.is_empty() {
                return Ok(deleted);
            }
            // Outputs first: a run whose records went could not be found again.
            for run in &expired {
                if let Err(e) = self.datasets.delete_run(*run).await {
                    tracing::warn!(%run, error = %e, "deleting an expired run's outputs failed");
                }
            }
            let went = self.store.delete_runs(&expired).await? as usize;
            if went == 0 {
                return Ok(deleted); // they stopped being finished: nothing to do
            }
            deleted += went;
            // The API and the runs share the store: let them in between batches.
            tokio::task::yield_now().await;
        }
    }

    pub(crate) async fn sweep_periodically(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.sweep(canvas_domain::time::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    runs = n,
                    "retention: deleted expired runs and their outputs"
                ),
                Err(e) => tracing::error!(error = %e, "retention sweep failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.sweep_every) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
