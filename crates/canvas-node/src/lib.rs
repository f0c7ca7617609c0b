//! The composition root. A node is the API, the engine's workers (with
//! every connector's blocks) and the scheduler, put together here once:
//! `canvas serve` builds its parts from its configuration, the API's test
//! helper from a fresh store, and both start the same `Node`.

mod scheduler;

pub use scheduler::{SchedulerPlan, StoreOpener};

mod outputs;

/// Where `Datasets` reads the small outputs the engine keeps with their
/// block records (the node wires it; tests read outputs through a fresh one).
pub fn inline_outputs(store: canvas_store::Store) -> Arc<dyn canvas_blocks::InlineOutputs> {
    Arc::new(outputs::StoredOutputs(store))
}
use canvas_api::{ApiConfig, Application, Services};
use canvas_blocks::{Datasets, NativeBlocks};
use canvas_connectors::{BlockDeps, Connectors, Mailer};
use canvas_domain::time::SharedClock;
use canvas_engine::{Engine, EngineConfig, EngineParts};
use canvas_security::Secrets;
use canvas_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// What every part of a node shares.
pub struct NodeParts {
    pub store: Store,
    pub secrets: Secrets,
    pub datasets: Datasets,
    pub connectors: Connectors,
    pub mailer: Option<Mailer>,
    /// "Now" for the API and the scheduler.
    pub clock: SharedClock,
}

/// Which parts this node runs.
pub struct NodePlan {
    /// The API on this listener; `None` in worker-only nodes.
    pub api: Option<(ApiConfig, TcpListener)>,
    /// The engine's workers; `None` in API-only nodes.
    pub engine: Option<EngineConfig>,
    /// Blocks added after the built-in and the connectors' ones (replacing
    /// those of the same name): the tests' own.
    pub extra_blocks: NativeBlocks,
    /// Build the engine but start its workers only on `HeldEngine::start`.
    pub hold_engine: bool,
    pub scheduler: SchedulerPlan,
}

/// A started node: its background parts run; `run_until_stopped` serves.
pub struct Node {
    services: Services,
    app: Option<Application>,
    stop: watch::Sender<bool>,
    engine: Option<tokio::task::JoinHandle<()>>,
    held: Option<HeldEngine>,
    scheduler: Option<std::thread::JoinHandle<()>>,
}

/// An engine built but not started (`NodePlan::hold_engine`).
pub struct HeldEngine {
    engine: Arc<Engine>,
    stopped: watch::Receiver<bool>,
}

impl HeldEngine {
    /// Starts the workers; they stop with the node.
    pub fn start(self) {
        tokio::spawn(self.engine.run(self.stopped));
    }
}

/// A node that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NodeError(String);

impl Node {
    /// Starts the engine and the scheduler the plan names, and builds the
    /// API on its listener (served by `run_until_stopped`). Must be called
    /// within a Tokio runtime.
    pub fn start(parts: NodeParts, plan: NodePlan) -> Result<Self, NodeError> {
        let services = services(parts);
        let (stop, stopped) = watch::channel(false);
        let scheduler = plan
            .scheduler
            .start(&services, stopped.clone())
            .map_err(|e| NodeError(format!("starting the scheduler: {e}")))?;
        let mut node = Self {
            app: None,
            stop,
            engine: None,
            held: None,
            scheduler,
            services,
        };
        if let Some(config) = plan.engine {
            let engine = Engine::new(node.engine_parts(plan.extra_blocks), config);
            let held = HeldEngine { engine, stopped };
            match plan.hold_engine {
                true => node.held = Some(held),
                false => node.engine = Some(tokio::spawn(held.engine.run(held.stopped))),
            }
        }
        node.app = plan
            .api
            .map(|(config, listener)| Application::build(config, node.services.clone(), listener));
        Ok(node)
    }

    /// The engine's native blocks: built-in, then every connector's, then `extra`.
    fn engine_parts(&self, extra: NativeBlocks) -> EngineParts {
        let s = &self.services;
        let mut blocks = canvas_engine::builtin_blocks();
        let deps = BlockDeps {
            mailer: s.mailer.clone(),
            datasets: s.datasets.clone(),
        };
        s.connectors.register_blocks(&mut blocks, deps);
        blocks.extend(extra);
        EngineParts {
            store: s.store.clone(),
            datasets: s.datasets.clone(),
            secrets: s.secrets.clone(),
            blocks,
            mailer: s.mailer.clone(),
            wake: s.queue_signal.clone(),
        }
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The API's address, when this node serves it.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.app.as_ref().and_then(|app| app.local_addr().ok())
    }

    /// The engine `NodePlan::hold_engine` kept from starting.
    pub fn take_held_engine(&mut self) -> Option<HeldEngine> {
        self.held.take()
    }

    /// Serves the API (if any) until `shutdown` completes, then stops the
    /// workers — running blocks get the grace period, the rest is handed
    /// back — and the scheduler.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let served = match self.app.take() {
            Some(app) => app.run_until_stopped(shutdown).await,
            None => {
                shutdown.await;
                Ok(())
            }
        };
        self.stop_background().await;
        served
    }

    async fn stop_background(self) {
        let _ = self.stop.send(true);
        if let Some(engine) = self.engine {
            let _ = engine.await;
        }
        if let Some(scheduler) = self.scheduler {
            let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
        }
    }
}

fn services(parts: NodeParts) -> Services {
    let outputs = inline_outputs(parts.store.clone());
    Services {
        store: parts.store,
        datasets: parts.datasets.with_inline(outputs),
        queue_signal: Arc::new(Notify::new()),
        schedule_signal: Arc::new(Notify::new()),
        secrets: parts.secrets,
        connectors: parts.connectors,
        mailer: parts.mailer,
        clock: parts.clock,
    }
}
