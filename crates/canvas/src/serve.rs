//! `canvas serve`: open the store, initialize it on first start, serve.

use crate::config::{Config, ListenAddr, LogFormat};
use anyhow::Context;
use canvas_api::ApiConfig;
use canvas_blocks::NativeBlocks;
use canvas_connectors::{ConnectorConfig, Connectors, Mailer};
use canvas_domain::time::SystemClock;
use canvas_engine::{EngineConfig, RetryPolicy, SandboxProgram, ScriptLimits};
use canvas_node::{Node, NodeParts, NodePlan, SchedulerPlan};
use canvas_scheduler::SchedulerConfig;
use canvas_security::Secrets;
use canvas_store::Store;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

fn init_logging(config: &Config) {
    let filter = crate::logging::from_env_or(&config.log_level);
    // Colour codes only where a person reads them: not in files or pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn api_config(config: &Config, max_connections: usize) -> ApiConfig {
    // Checked when the configuration was loaded.
    let trusted_proxies = config.trusted_proxy_nets().unwrap_or_default();
    ApiConfig {
        body_limit: config.body_limit_bytes,
        trusted_proxies,
        auth_cache_ttl: Duration::from_millis(config.auth_cache_ttl_ms),
        auth_failures_per_minute: config.auth_failures_per_minute,
        max_queued_runs_per_workflow: config.max_queued_runs_per_workflow,
        connections: canvas_api::ConnectionLimits {
            max_connections,
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        },
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.listen)),
    }
}

/// `max_connections`, lowered (and said) when the open-file limit, raised
/// to its hard limit first, leaves less room.
fn connections_cap(config: &Config) -> usize {
    let open_files = crate::fds::raise_limit();
    let cap = crate::fds::connection_cap(config.max_connections, open_files);
    if cap < config.max_connections {
        tracing::warn!(
            max_connections = config.max_connections,
            open_files,
            lowered_to = cap,
            "max_connections lowered to fit the open-file limit (raise it with ulimit -n or LimitNOFILE)"
        );
    }
    cap
}

/// What start-up builds before it changes anything: a mistake found here
/// leaves the data folder and the store as they were.
struct Checked {
    connectors: Connectors,
    mailer: Option<Mailer>,
    /// The S3-compatible store when `[blobs]` names one; the local folder is made later.
    remote_datasets: Option<canvas_blocks::Datasets>,
    listener: Option<tokio::net::TcpListener>,
}

async fn check(config: &Config) -> anyhow::Result<Checked> {
    let connectors = connectors(config)?;
    let mailer = mailer(config)?;
    let remote_datasets = match &config.blobs {
        Some(blobs) => Some(crate::blobs::remote(blobs).await?),
        None => None,
    };
    let listener = match config.role.runs_api() {
        true => Some(bind(&config.listen).await?),
        false => None,
    };
    Ok(Checked {
        connectors,
        mailer,
        remote_datasets,
        listener,
    })
}

/// Binds the listen address, saying plainly why it cannot be had.
async fn bind(listen: &ListenAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use std::io::ErrorKind;
    tokio::net::TcpListener::bind(listen.host_port())
        .await
        .map_err(|e| {
            let why = match e.kind() {
                ErrorKind::AddrInUse => "is already in use by another process".to_string(),
                ErrorKind::PermissionDenied => {
                    "needs privileges this process lacks (ports below 1024)".to_string()
                }
                ErrorKind::AddrNotAvailable => "is not an address of this machine".to_string(),
                _ => format!("cannot be listened on ({e})"),
            };
            anyhow::anyhow!("listen: {listen} {why}")
        })
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    init_logging(&config);
    // Installed before the port opens, so a SIGTERM at any moment drains.
    let shutdown = shutdown_signal()?;
    let checked = check(&config).await?;
    let _lock = lock_embedded_store(&config)?;
    let (store, secrets) = open_and_initialize(&config).await?;
    let Checked {
        connectors,
        mailer,
        remote_datasets,
        listener,
    } = checked;
    let datasets = match remote_datasets {
        Some(remote) => remote,
        None => crate::blobs::local(&config.data_dir)?,
    }
    .with_quotas(config.file_quotas());
    if let Some(mailer) = mailer.clone() {
        tokio::spawn(warn_when_smtp_is_unreachable(mailer, config.smtp_address()));
    }
    let parts = NodeParts {
        store: store.clone(),
        secrets,
        datasets,
        connectors,
        mailer,
        clock: SystemClock::shared(),
    };
    let node = Node::start(parts, plan(&config, listener))?;
    match node.local_addr() {
        None => tracing::info!(backend = ?store.backend(), workers = config.workers, "working"),
        Some(address) => tracing::info!(%address, backend = ?store.backend(),
            startup_ms = started.elapsed().as_millis() as u64, "serving"),
    }
    node.run_until_stopped(shutdown).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// What this node runs, by its role.
fn plan(config: &Config, listener: Option<tokio::net::TcpListener>) -> NodePlan {
    let api = listener.map(|l| (api_config(config, connections_cap(config)), l));
    let engine = config.role.runs_engine().then(|| engine_config(config));
    let scheduler = match config.role.runs_engine() {
        false => SchedulerPlan::Off,
        true => {
            let own = config.clone();
            SchedulerPlan::OwnThread {
                config: SchedulerConfig {
                    misfire_threshold: Duration::from_millis(config.schedule_misfire_ms),
                    ..SchedulerConfig::default()
                },
                open: Box::new(move || {
                    Box::pin(async move {
                        crate::bootstrap::open_store(&own)
                            .await
                            .map_err(|e| format!("{e:#}"))
                    })
                }),
            }
        }
    };
    NodePlan {
        api,
        engine,
        extra_blocks: NativeBlocks::default(),
        hold_engine: false,
        scheduler,
    }
}

/// SMTP is optional: a relay that does not answer is said at start (and
/// mails fail, transiently, until it does) rather than keeping Canvas down.
async fn warn_when_smtp_is_unreachable(mailer: Mailer, address: String) {
    let checked = tokio::time::timeout(Duration::from_secs(10), mailer.check_reachable()).await;
    let problem = match checked {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 10 s".to_string(),
    };
    tracing::warn!(smtp = %address, problem, "emails will fail until the SMTP server answers");
}

/// One server per embedded store: the data folder's lock, held while serving.
fn lock_embedded_store(config: &Config) -> anyhow::Result<Option<crate::lock::DataDirLock>> {
    if config.database_url.is_some() {
        return Ok(None);
    }
    crate::bootstrap::create_private_dir(&config.data_dir)?;
    Ok(Some(crate::lock::lock_data_dir(&config.data_dir)?))
}

/// Opens the store; a fresh one gets its first organization, whose key is
/// printed to standard output once.
async fn open_and_initialize(config: &Config) -> anyhow::Result<(Store, Secrets)> {
    let (store, secrets) = crate::bootstrap::open(config).await?;
    if !store.has_organization().await? {
        let created =
            crate::bootstrap::create_organization(&store, &secrets, "Canvas", None).await?;
        println!("{}", created.to_json());
        tracing::info!(organization = %created.organization_id, account = %created.account_id,
            "initialized a fresh store; the API key was printed to standard output once");
    }
    Ok((store, secrets))
}

fn connectors(config: &Config) -> anyhow::Result<Connectors> {
    Ok(Connectors::new(ConnectorConfig {
        timeout: Duration::from_secs(config.connector_timeout_secs),
        transfer_stall: Duration::from_secs(config.connector_stall_secs.max(1)),
        extra_ca_file: config.tls_extra_ca_file.clone(),
        // Checked when the configuration was loaded.
        egress: config.egress_policy().unwrap_or_default(),
        vendor_bases: config.vendor_bases().unwrap_or_default(),
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
        max_running_per_organization: config.max_running_per_organization(),
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
            max_log_bytes: config.script_max_log_bytes,
        },
        // Scripts run in `canvas sandbox` processes of this very executable.
        sandbox: SandboxProgram::this_executable(&["sandbox"]).unwrap_or_default(),
        ..EngineConfig::default()
    }
}
