//! The scheduler on its own thread, with its own single-threaded runtime and
//! its own store connections: its timers do not wait behind API requests or
//! block execution on the main runtime, and its CPU time is its own
//! (the `canvas-sched` thread in `/proc`).

use crate::config::Config;
use anyhow::Context;
use canvas_scheduler::{Scheduler, SchedulerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// The signals the scheduler shares with the rest of the process.
pub struct Signals {
    /// Notified when runs were queued.
    pub wake_workers: Arc<Notify>,
    /// Notified by the API when a schedule changed.
    pub changed: Arc<Notify>,
}

/// Starts the scheduler; it stops when `shutdown` turns true. The returned
/// thread ends after that.
pub fn start(
    config: &Config,
    signals: Signals,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("the scheduler's runtime")?;
    let config = config.clone();
    let scheduler_config = SchedulerConfig {
        misfire_threshold: Duration::from_millis(config.schedule_misfire_ms),
        ..SchedulerConfig::default()
    };
    std::thread::Builder::new()
        .name("canvas-sched".into())
        .spawn(move || {
            runtime.block_on(async move {
                let store = match crate::bootstrap::open_store(&config).await {
                    Ok(store) => store,
                    Err(e) => {
                        tracing::error!(
                            error = format!("{e:#}"),
                            "the scheduler could not open the store; nothing will fire"
                        );
                        return;
                    }
                };
                let scheduler = Scheduler::new(
                    store.clone(),
                    scheduler_config,
                    signals.wake_workers,
                    signals.changed,
                );
                scheduler.run(shutdown).await;
                store.close().await;
            })
        })
        .context("starting the scheduler thread")
}
