//! What every handler shares.

use crate::auth::{AuthCache, FailedAuthLimiter};
use canvas_catalog::Catalog;
use canvas_connectors::{Connectors, Mailer};
use canvas_domain::time::SharedClock;
use canvas_security::Secrets;
use canvas_store::Store;
use ipnet::IpNet;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the API layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted; larger ones get a 413.
    pub body_limit: usize,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// How long a verified key is remembered before the store is asked again
    /// (revocations and allow-list changes made elsewhere take this long).
    pub auth_cache_ttl: Duration,
    /// Wrong keys allowed per minute from one client address, and for one
    /// Consumer; beyond that a wrong key gets 429 (a correct key never does,
    /// and requests without a key are not counted).
    pub auth_failures_per_minute: u32,
    /// Base URL the server is reached at, for links in emails.
    pub public_url: String,
    /// Runs one workflow may have waiting; RunWorkflow beyond it is a 429.
    pub max_queued_runs_per_workflow: u32,
    /// Open connections and the header-read timeout.
    pub connections: crate::ConnectionLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            trusted_proxies: Vec::new(),
            auth_cache_ttl: Duration::from_secs(2),
            auth_failures_per_minute: 30,
            max_queued_runs_per_workflow: 100,
            connections: crate::ConnectionLimits {
                max_connections: 10_000,
                header_read_timeout: Duration::from_secs(65),
            },
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// The services the API is built from; the binary decides what they are.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    /// Where block outputs are kept (read by `WorkflowRunOutput`).
    pub datasets: canvas_blocks::Datasets,
    /// Wakes the engine's workers when a run is queued.
    pub queue_signal: Arc<tokio::sync::Notify>,
    /// Wakes the scheduler when a schedule changed (its next fire may be sooner).
    pub schedule_signal: Arc<tokio::sync::Notify>,
    pub secrets: Secrets,
    pub connectors: Connectors,
    pub mailer: Option<Mailer>,
    /// "Now" for every date the API writes and every next fire it computes.
    pub clock: SharedClock,
}

/// Shared by every handler; cloning it (once per request) is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

pub struct Shared {
    pub config: ApiConfig,
    pub store: Store,
    pub datasets: canvas_blocks::Datasets,
    pub queue_signal: Arc<tokio::sync::Notify>,
    pub schedule_signal: Arc<tokio::sync::Notify>,
    pub secrets: Secrets,
    pub connectors: Connectors,
    pub mailer: Option<Mailer>,
    pub clock: SharedClock,
    pub catalog: &'static Catalog,
    pub auth_cache: AuthCache,
    pub limiter: FailedAuthLimiter,
    /// `GetMetaData`'s answer, rendered once from the route table.
    pub metadata: serde_json::Value,
    pub openapi: serde_json::Value,
    /// The DTOs `Describe` answers for: those the route table names.
    pub dtos: Vec<&'static crate::spec::DtoSpec>,
}
