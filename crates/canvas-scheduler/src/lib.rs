//! The scheduler: sleeps until the earliest `dateNextSchedule` of any
//! scheduled workflow (an index lookup, not a scan), then commits every due
//! fire — a queued run keyed by (workflow, fire time) and the workflow's next
//! fire, in one transaction — and wakes the engine's workers. It only
//! enqueues; the engine runs. Any number of nodes may run it on one store:
//! a fire commits only while the workflow is still scheduled at that instant,
//! and the unique key on (workflow, fire time) admits one run per fire.

mod plan;

pub use plan::plan;

use canvas_domain::time::SharedClock;
use canvas_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A fire later than this is a misfire: it and every fire missed after
    /// it are coalesced into one run now (Quartz's fire-once-now policy).
    pub misfire_threshold: Duration,
    /// Fires committed per transaction.
    pub batch: usize,
    /// The longest sleep without looking at the store (schedules changed by other nodes).
    pub max_sleep: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            misfire_threshold: Duration::from_secs(1),
            batch: 500,
            max_sleep: Duration::from_secs(1),
        }
    }
}

/// What a scheduler works with.
pub struct SchedulerParts {
    pub store: Store,
    /// Where "now" comes from: the system's clock, or a test's.
    pub clock: SharedClock,
    /// Notified when runs were queued, so idle workers claim them at once.
    pub wake_workers: Arc<Notify>,
    /// Notified by the API when a schedule changed, so a sooner fire is not slept through.
    pub changed: Arc<Notify>,
}

pub struct Scheduler {
    parts: SchedulerParts,
    config: SchedulerConfig,
}

impl Scheduler {
    pub fn new(parts: SchedulerParts, config: SchedulerConfig) -> Self {
        Self { parts, config }
    }

    /// Fires schedules until `shutdown` turns true or its sender is gone.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let full = match self.fire_due().await {
                Ok(n) => n >= self.config.batch,
                Err(e) => {
                    tracing::error!(error = %e, "firing schedules failed");
                    false
                }
            };
            if full {
                continue; // More are due: no sleep.
            }
            let wait = self.until_next_fire().await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.parts.changed.notified() => {}
                changed = shutdown.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Commits the fires due now; returns how many fires it handled.
    pub async fn fire_due(&self) -> Result<usize, canvas_store::StoreError> {
        let at = self.parts.clock.now();
        let due = self
            .parts
            .store
            .due_schedules(at, self.config.batch as i64)
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let plans: Vec<_> = due
            .iter()
            .map(|d| plan(d, at, self.config.misfire_threshold))
            .collect();
        let queued = self.parts.store.commit_fires(&plans).await?;
        if queued > 0 {
            self.parts.wake_workers.notify_waiters();
            tracing::debug!(queued, "schedules fired");
        }
        Ok(due.len())
    }

    async fn until_next_fire(&self) -> Duration {
        match self.parts.store.earliest_fire().await {
            Ok(Some(next)) => (next - self.parts.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(self.config.max_sleep),
            Ok(None) => self.config.max_sleep,
            Err(e) => {
                tracing::error!(error = %e, "reading the next fire failed");
                self.config.max_sleep
            }
        }
    }
}
