//! The scheduler on its own thread, with its own single-threaded runtime and
//! its own store connections: its timers do not wait behind API requests or
//! block execution on the main runtime, and its CPU time is its own
//! (the `canvas-sched` thread in `/proc`).

use canvas_api::Services;
use canvas_scheduler::{Scheduler, SchedulerConfig, SchedulerParts};
use canvas_store::Store;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::watch;

/// Opens the scheduler's own store (connections belong to the runtime that
/// made them, so it cannot share the node's pool).
pub type StoreOpener =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<Store, String>> + Send>> + Send>;

pub enum SchedulerPlan {
    /// No scheduler here: API-only nodes, and tests that fire schedules
    /// themselves at chosen instants.
    Off,
    /// The scheduler on its own thread, over the store `open` makes.
    OwnThread {
        config: SchedulerConfig,
        open: StoreOpener,
    },
}

impl SchedulerPlan {
    /// Starts the thread; it ends after `shutdown` turns true (or its sender is dropped).
    pub(crate) fn start(
        self,
        services: &Services,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
        let SchedulerPlan::OwnThread { config, open } = self else {
            return Ok(None);
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let clock = services.clock.clone();
        let wake_workers = services.queue_signal.clone();
        let changed = services.schedule_signal.clone();
        let thread = std::thread::Builder::new()
            .name("canvas-sched".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let store = match open().await {
                        Ok(store) => store,
                        Err(e) => {
                            tracing::error!(
                                error = e,
                                "the scheduler could not open the store; nothing will fire"
                            );
                            return;
                        }
                    };
                    let parts = SchedulerParts {
                        store: store.clone(),
                        clock,
                        wake_workers,
                        changed,
                    };
                    Scheduler::new(parts, config).run(shutdown).await;
                    store.close().await;
                })
            })?;
        Ok(Some(thread))
    }
}
