//! The Canvas REST API as a library: [`Application::build`] binds the
//! listener and wires the routes; [`Application::run_until_stopped`] serves
//! until the shutdown future completes, then drains in-flight requests.
//! Only this crate knows axum.

mod auth;
mod console;
mod error;
mod extract;
mod rejections;
mod routes;
mod serve;
mod spec;
mod state;
mod views;

pub use error::ApiError;
pub use serve::ConnectionLimits;
pub use state::{ApiConfig, Services};

use auth::{AuthCache, FailedAuthLimiter};
use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::routing::get;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::Layer;

pub struct Application {
    listener: TcpListener,
    router: Router,
    paths: Arc<HashMap<String, String>>,
    limits: ConnectionLimits,
}

impl Application {
    /// Builds the app on an already bound listener (port 0 in tests).
    pub fn build(config: ApiConfig, services: Services, listener: TcpListener) -> Self {
        let routes = routes::api();
        let limits = config.connections;
        let state = state::AppState::new(state::Shared {
            auth_cache: AuthCache::new(config.auth_cache_ttl),
            limiter: FailedAuthLimiter::new(config.auth_failures_per_minute),
            metadata: routes::metadata_json(&routes),
            openapi: routes::openapi_json(&routes),
            dtos: routes::dtos(&routes),
            config,
            store: services.store,
            datasets: services.datasets,
            queue_signal: services.queue_signal,
            schedule_signal: services.schedule_signal,
            secrets: services.secrets,
            connectors: services.connectors,
            mailer: services.mailer,
            clock: services.clock,
            catalog: canvas_catalog::Catalog::builtin(),
        });
        routes::ops::prometheus();
        let mut paths: HashMap<String, String> = HashMap::new();
        let mut router = Router::new();
        for r in routes {
            let path = r.spec.path();
            paths.insert(path.to_ascii_lowercase(), path.clone());
            router = router.route(&path, r.handler);
        }
        for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
            paths.insert(path.to_string(), path.to_string());
        }
        let router = router
            .merge(console::router())
            .route("/api/openapi.json", get(openapi))
            .route("/healthz", get(routes::ops::healthz))
            .route("/readyz", get(routes::ops::readyz))
            .route("/metrics", get(routes::ops::metrics_text))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn(routes::ops::track))
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .with_state(state);
        Self {
            listener,
            router,
            paths: Arc::new(paths),
            limits,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; requests in flight are finished first.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let paths = self.paths;
        let rewrite =
            tower::util::MapRequestLayer::new(move |req: Request| canonical_path(req, &paths));
        serve::serve(
            self.listener,
            rewrite.layer(self.router),
            self.limits,
            shutdown,
        )
        .await
    }
}

/// Routes match case-insensitively, as in the original ASP.NET service:
/// the path is looked up in lower case and replaced by its canonical casing.
fn canonical_path(mut req: Request, paths: &HashMap<String, String>) -> Request {
    let path = req.uri().path();
    let lower = path.trim_end_matches('/').to_ascii_lowercase();
    if let Some(canonical) = paths.get(&lower).filter(|c| c.as_str() != path) {
        let mut target = canonical.clone();
        if let Some(q) = req.uri().query() {
            target.push('?');
            target.push_str(q);
        }
        if let Ok(uri) = target.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

async fn openapi(
    axum::extract::State(state): axum::extract::State<state::AppState>,
) -> axum::Json<serde_json::Value> {
    axum::Json(state.openapi.clone())
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.uri().path()
    ))
}
