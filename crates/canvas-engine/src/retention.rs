//! Retention: finished runs and their stored outputs are deleted once older
//! than the retention period — never while their workflow has a run queued
//! or running, which may still read them (`runFromBlock`).

use crate::Engine;
use canvas_domain::time::Timestamp;
use std::sync::Arc;
use tokio::sync::watch;

impl Engine {
    /// Deletes what expired before `now - retention`; returns how many runs went.
    pub async fn sweep(&self, now: Timestamp) -> Result<usize, canvas_store::StoreError> {
        let before = now - chrono::Duration::from_std(self.config.retention).unwrap_or_default();
        let mut deleted = 0;
        loop {
            let expired = self.store.expired_runs(before, 100).await?;
            if expired.is_empty() {
                return Ok(deleted);
            }
            for run in expired {
                for block in self.store.run_blocks(run).await? {
                    let Some(key) = &block.output_key else {
                        continue;
                    };
                    if let Err(e) = self.datasets.delete(key).await {
                        tracing::warn!(%run, %key, error = %e, "deleting an expired output failed");
                    }
                }
                // What attempts wrote without recording it goes too.
                if let Err(e) = self.datasets.delete_run(run).await {
                    tracing::warn!(%run, error = %e, "deleting an expired run's outputs failed");
                }
                self.store.delete_run(run).await?;
                deleted += 1;
            }
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
