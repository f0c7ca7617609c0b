//! A running run's lease, renewed while the worker executes it, and the
//! flags that stop the worker: lease lost, cancel requested, interrupt.

use canvas_domain::time::now;
use canvas_store::Store;
use canvas_store::model::RunLease;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stop flags the heartbeat raises.
#[derive(Default)]
pub(crate) struct Flags {
    pub interrupt: Arc<AtomicBool>,
    pub cancel_requested: AtomicBool,
    pub lease_lost: AtomicBool,
}

/// Renews the run's lease every `heartbeat` while the run executes;
/// raises `lease_lost` (and stops) once another claim holds the run, and
/// `cancel_requested` when a user asked to cancel.
pub(crate) async fn heartbeat(
    store: Store,
    lease: RunLease,
    config: crate::EngineConfig,
    flags: Arc<Flags>,
) {
    let run = lease.run();
    loop {
        tokio::time::sleep(config.heartbeat).await;
        let expires = now() + chrono::Duration::from_std(config.lease).unwrap_or_default();
        match store.heartbeat(&lease, expires).await {
            Ok(lease) if !lease.held => {
                flags.lease_lost.store(true, Ordering::Relaxed);
                flags.interrupt.store(true, Ordering::Relaxed);
                return;
            }
            Ok(lease) if lease.cancel_requested => {
                flags.cancel_requested.store(true, Ordering::Relaxed);
                flags.interrupt.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%run, error = %e, "heartbeat failed"),
        }
    }
}
