//! Configuration: defaults, then `canvas.toml` (or `--config`), then
//! `CANVAS_*` environment variables, then flags — in rising precedence.

use canvas_connectors::SmtpConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; empty for the embedded SQLite store.
    pub database_url: Option<String>,
    /// 64 hex characters; when absent, `<data_dir>/master.key` is used (and made).
    pub master_key: Option<String>,
    pub body_limit_bytes: usize,
    pub trusted_proxies: Vec<String>,
    pub auth_cache_ttl_ms: u64,
    pub auth_failures_per_minute: u32,
    pub public_url: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    pub log_level: String,
    pub connector_timeout_secs: u64,
    /// A file transfer with no byte moving for this long fails (transient).
    pub connector_stall_secs: u64,
    pub tls_extra_ca_file: Option<PathBuf>,
    /// `all` (API and workers), `api` or `worker`.
    pub role: String,
    pub workers: usize,
    pub lease_secs: u64,
    pub heartbeat_ms: u64,
    pub run_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    pub retention_days: u64,
    pub retry_max_attempts: u32,
    pub retry_base_ms: u64,
    pub script_cpu_ms: u64,
    pub script_memory_mb: usize,
    pub script_max_input_records: usize,
    /// A schedule fire later than this is a misfire: it and the fires missed
    /// after it make one run now.
    pub schedule_misfire_ms: u64,
    #[serde(skip_serializing)]
    pub smtp: Option<SmtpConfig>,
    /// An S3-compatible store for block outputs; `<data_dir>/blobs` when absent.
    #[serde(skip_serializing)]
    pub blobs: Option<crate::blobs::BlobConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("./canvas-data"),
            database_url: None,
            master_key: None,
            body_limit_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            auth_cache_ttl_ms: 2000,
            auth_failures_per_minute: 30,
            public_url: None,
            log_format: "text".into(),
            log_level: "info".into(),
            connector_timeout_secs: 15,
            connector_stall_secs: 60,
            tls_extra_ca_file: None,
            role: "all".into(),
            workers: 2,
            lease_secs: 30,
            heartbeat_ms: 5000,
            run_timeout_secs: 3600,
            shutdown_grace_secs: 20,
            retention_days: 30,
            retry_max_attempts: 4,
            retry_base_ms: 500,
            script_cpu_ms: 30_000,
            script_memory_mb: 256,
            script_max_input_records: 100_000,
            schedule_misfire_ms: 1000,
            smtp: None,
            blobs: None,
        }
    }
}

/// Values given as flags; `None` leaves the lower layers alone.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Box<figment::Error>> {
        let default_file = Path::new("canvas.toml");
        let file = file.or_else(|| default_file.exists().then_some(default_file));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("CANVAS_").split("__").ignore(&["config"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("canvas.db")
    }
}
