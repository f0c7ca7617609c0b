//! `canvas serve`: open the store, initialize it on first start, serve.

use crate::admin;
use crate::config::Config;
use anyhow::Context;
use canvas_api::{ApiConfig, Application, Services};
use canvas_connectors::{ConnectorConfig, Connectors, Mailer};
use canvas_engine::{Engine, EngineConfig, EngineParts, NativeBlocks, RetryPolicy, ScriptLimits};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tracing_subscriber::EnvFilter;

fn init_logging(config: &Config) {
    let filter =
        EnvFilter::try_from_env("CANVAS_LOG").unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format.eq_ignore_ascii_case("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn api_config(config: &Config) -> anyhow::Result<ApiConfig> {
    let trusted_proxies = config
        .trusted_proxies
        .iter()
        .map(|p| canvas_domain::net::AllowList::parse(&[p]).map(|l| l.to_strings()))
        .collect::<Result<Vec<_>, _>>()
        .context("trusted_proxies")?
        .into_iter()
        .flatten()
        .map(|s| s.parse().expect("normalized CIDR parses"))
        .collect();
    Ok(ApiConfig {
        body_limit: config.body_limit_bytes,
        trusted_proxies,
        auth_cache_ttl: Duration::from_millis(config.auth_cache_ttl_ms),
        auth_failures_per_minute: config.auth_failures_per_minute,
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.listen)),
    })
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    init_logging(&config);
    // Installed before the port opens, so a SIGTERM at any moment drains.
    let shutdown = shutdown_signal()?;
    let (store, secrets) = admin::open(&config).await?;
    if !store.has_organization().await? {
        let created = admin::create_organization(&store, &secrets, "Canvas", None).await?;
        println!("{}", created.to_json());
        tracing::info!(organization = %created.organization_id, account = %created.account_id,
            "initialized a fresh store; the API key was printed to standard output once");
    }
    let datasets = crate::blobs::datasets(config.blobs.as_ref(), &config.data_dir).await?;
    let wake = Arc::new(Notify::new());
    let schedule_signal = Arc::new(Notify::new());
    let (stop_engine, engine_stopped) = watch::channel(false);
    let mut scheduler = None;
    let engine = match config.role.as_str() {
        "all" | "worker" => {
            let signals = crate::scheduling::Signals {
                wake_workers: wake.clone(),
                changed: schedule_signal.clone(),
            };
            scheduler = Some(crate::scheduling::start(
                &config,
                signals,
                engine_stopped.clone(),
            )?);
            let mut blocks = NativeBlocks::builtin();
            let deps = canvas_connectors::BlockDeps {
                mailer: mailer(&config)?,
                datasets: datasets.clone(),
            };
            connectors(&config)?.register_blocks(&mut blocks, deps);
            let parts = EngineParts {
                store: store.clone(),
                datasets: datasets.clone(),
                secrets: secrets.clone(),
                blocks,
                mailer: mailer(&config)?,
                wake: wake.clone(),
            };
            let engine = Engine::new(parts, engine_config(&config));
            Some(tokio::spawn(engine.run(engine_stopped)))
        }
        "api" => None,
        other => anyhow::bail!("role: '{other}' is not one of all, api, worker"),
    };
    if config.role == "worker" {
        tracing::info!(backend = ?store.backend(), workers = config.workers, "working");
        shutdown.await;
    } else {
        let services = Services {
            store: store.clone(),
            datasets,
            queue_signal: wake,
            schedule_signal,
            secrets,
            connectors: connectors(&config)?,
            mailer: mailer(&config)?,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let app = Application::build(api_config(&config)?, services, listener);
        tracing::info!(address = %app.local_addr()?, backend = ?store.backend(), startup_ms = started.elapsed().as_millis() as u64, "serving");
        app.run_until_stopped(shutdown).await?;
    }
    // Workers stop claiming, let running blocks finish within the grace period, hand back the rest.
    let _ = stop_engine.send(true);
    if let Some(engine) = engine {
        let _ = engine.await;
    }
    if let Some(scheduler) = scheduler {
        let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn connectors(config: &Config) -> anyhow::Result<Connectors> {
    Ok(Connectors::new(ConnectorConfig {
        timeout: Duration::from_secs(config.connector_timeout_secs),
        transfer_stall: Duration::from_secs(config.connector_stall_secs.max(1)),
        extra_ca_file: config.tls_extra_ca_file.clone(),
    })?)
}

fn mailer(config: &Config) -> anyhow::Result<Option<Mailer>> {
    config
        .smtp
        .as_ref()
        .map(Mailer::new)
        .transpose()
        .context("smtp")
}

fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term => {},
        }
        tracing::info!("shutdown requested; draining in-flight requests");
    })
}

fn engine_config(config: &Config) -> EngineConfig {
    EngineConfig {
        workers: config.workers,
        lease: Duration::from_secs(config.lease_secs),
        heartbeat: Duration::from_millis(config.heartbeat_ms),
        run_timeout: Duration::from_secs(config.run_timeout_secs),
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        retention: Duration::from_secs(config.retention_days * 24 * 3600),
        retry: RetryPolicy {
            max_attempts: config.retry_max_attempts.max(1),
            base_delay: Duration::from_millis(config.retry_base_ms),
            ..RetryPolicy::default()
        },
        script: ScriptLimits {
            cpu_time: Duration::from_millis(config.script_cpu_ms),
            memory_bytes: config.script_memory_mb * 1024 * 1024,
            max_input_records: config.script_max_input_records,
        },
        ..EngineConfig::default()
    }
}
