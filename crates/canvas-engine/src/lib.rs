//! The Canvas workflow engine: workers claim queued runs from the store and
//! execute their block chains, holding a lease renewed by heartbeats. A run
//! whose worker dies is claimed again once its lease expires and resumes
//! after its last completed block.

mod apps;
mod contexts;
mod execute;
mod heartbeat;
mod meter;
mod notify;
mod retention;
mod run_block;
pub mod sandbox;
mod script;
mod utility;

pub use sandbox::SandboxProgram;
pub use script::ScriptLimits;
pub use utility::builtin_blocks;

use canvas_blocks::{Datasets, NativeBlocks};
use canvas_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Runs executed at once by this process.
    pub workers: usize,
    /// Runs of one organization executing at once (counted over every node
    /// sharing the store), so one tenant cannot hold every worker.
    pub max_running_per_organization: usize,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    pub heartbeat: Duration,
    /// How often an idle worker looks for work it was not woken for.
    pub poll: Duration,
    pub script: ScriptLimits,
    /// The program scripts run in (`canvas sandbox`).
    pub sandbox: SandboxProgram,
    pub run_timeout: Duration,
    /// How long running blocks may finish after SIGTERM before their runs are handed back.
    pub shutdown_grace: Duration,
    /// Retries of a block that failed with a transient error.
    pub retry: RetryPolicy,
    /// Finished runs and their outputs are deleted after this long.
    pub retention: Duration,
    pub sweep_every: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            max_running_per_organization: 1,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            poll: Duration::from_millis(500),
            script: ScriptLimits::default(),
            sandbox: SandboxProgram::default(),
            run_timeout: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(20),
            retry: RetryPolicy::default(),
            retention: Duration::from_secs(30 * 24 * 3600),
            sweep_every: Duration::from_secs(3600),
        }
    }
}

/// Exponential backoff with jitter for transient block failures.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): base · 2^(attempt−1),
    /// capped, times a random factor in [0.5, 1.5) so retries spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        exp.min(self.max_delay).mul_f64(0.5 + rand::random::<f64>())
    }
}

/// What the engine works with; the binary decides what they are.
pub struct EngineParts {
    pub store: Store,
    pub datasets: Datasets,
    /// Opens registered applications' credentials for the blocks that use them.
    pub secrets: canvas_security::Secrets,
    /// The blocks written in Rust: [`NativeBlocks::builtin`] plus the connectors'.
    pub blocks: NativeBlocks,
    /// Failure notifications; logged when `None`.
    pub mailer: Option<canvas_mail::Mailer>,
    /// Notified when a run is queued, so an idle worker claims it at once.
    pub wake: Arc<Notify>,
}

pub struct Engine {
    store: Store,
    datasets: Datasets,
    secrets: canvas_security::Secrets,
    blocks: NativeBlocks,
    mailer: Option<canvas_mail::Mailer>,
    config: EngineConfig,
    sandboxes: sandbox::Sandboxes,
    /// This process's name on the leases it takes.
    node: String,
    wake: Arc<Notify>,
}

impl Engine {
    pub fn new(parts: EngineParts, config: EngineConfig) -> Arc<Self> {
        let node = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let EngineParts {
            store,
            datasets,
            secrets,
            blocks,
            mailer,
            wake,
        } = parts;
        let sandboxes = sandbox::Sandboxes::new(config.sandbox.clone(), config.workers);
        Arc::new(Self {
            store,
            datasets,
            secrets,
            blocks,
            mailer,
            sandboxes,
            config,
            node,
            wake,
        })
    }

    /// Runs the workers until `shutdown` turns true; in-flight runs get the
    /// grace period to finish, then are handed back to the queue.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let workers: Vec<_> = (0..self.config.workers.max(1))
            .map(|_| tokio::spawn(self.clone().worker(shutdown.clone())))
            .collect();
        let sweeper = tokio::spawn(self.clone().sweep_periodically(shutdown.clone()));
        for w in workers {
            let _ = w.await;
        }
        sweeper.abort();
    }

    async fn worker(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let now = canvas_domain::time::now();
            let expires = now + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
            let claim = canvas_store::Claim {
                owner: &self.node,
                expires,
                now,
                max_running_per_organization: self.config.max_running_per_organization.max(1)
                    as i64,
            };
            match self.store.claim_run(&claim).await {
                Ok(Some(run)) => {
                    log_takeover(&run);
                    self.execute(run, shutdown.clone()).await
                }
                Ok(None) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                        changed = shutdown.changed() => {
                            // The sender is gone: nobody can ask for work any more.
                            if changed.is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "claiming a run failed");
                    tokio::time::sleep(self.config.poll).await;
                }
            }
        }
    }
}

/// One line when a claim took a run over from a worker whose lease expired
/// (the worker died): which run, whose lease, and which attempt this is.
fn log_takeover(run: &canvas_store::model::ClaimedRun) {
    if let Some(previous) = &run.previous_owner {
        tracing::warn!(
            run = %run.id,
            previous_owner = %previous,
            attempt = run.attempt,
            "run taken over after its lease expired"
        );
    }
}
