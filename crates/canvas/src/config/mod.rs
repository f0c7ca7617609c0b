//! Configuration: defaults, then `canvas.toml` (or `--config`), then
//! `CANVAS_*` environment variables, then flags — in rising precedence.
//! Every key is known and every value checked here, before the server
//! touches anything: a mistake is one line naming where it was made.

mod env;
mod explain;
mod values;
mod vendors;

use crate::blobs::BlobConfig;
use canvas_connectors::SmtpConfig;
use figment::providers::{Format, Serialized, Toml};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
pub use values::{DatabaseUrl, ListenAddr, LogFormat, Role};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: ListenAddr,
    pub data_dir: PathBuf,
    /// PostgreSQL; absent (or empty) for the embedded SQLite store.
    #[serde(deserialize_with = "values::empty_is_none")]
    pub database_url: Option<DatabaseUrl>,
    /// 64 hex characters; when absent, `<data_dir>/master.key` is used (and made).
    pub master_key: Option<SecretText>,
    pub body_limit_bytes: usize,
    /// Open connections; beyond it a new one is closed at once. Keep it
    /// below the process's file-descriptor limit (`ulimit -n`).
    pub max_connections: usize,
    /// A connection that has not sent a whole request head by then is
    /// closed; hyper re-arms it after each answer, so it is also the
    /// keep-alive idle limit: keep it above a load balancer's idle timeout.
    pub header_read_timeout_ms: u64,
    pub trusted_proxies: Vec<String>,
    pub auth_cache_ttl_ms: u64,
    pub auth_failures_per_minute: u32,
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub connector_timeout_secs: u64,
    /// A file transfer with no byte moving for this long fails (transient).
    pub connector_stall_secs: u64,
    pub tls_extra_ca_file: Option<PathBuf>,
    pub role: Role,
    pub workers: usize,
    /// Runs of one organization executing at once; default half the workers, at least 1.
    pub max_running_runs_per_organization: Option<usize>,
    /// Runs one workflow may have waiting; RunWorkflow beyond it is a 429.
    pub max_queued_runs_per_workflow: u32,
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
    /// What a block's `log()` lines may hold; beyond it the log is cut.
    pub script_max_log_bytes: usize,
    /// Files one try of one block may store; beyond it the try fails.
    pub max_block_files_bytes: u64,
    /// Files one account may keep in File Hub; a write beyond it is refused.
    pub filehub_max_bytes: u64,
    /// A schedule fire later than this is a misfire: it and the fires missed
    /// after it make one run now.
    pub schedule_misfire_ms: u64,
    #[serde(skip_serializing)]
    pub smtp: Option<SmtpConfig>,
    /// An S3-compatible store for block outputs; `<data_dir>/blobs` when absent.
    #[serde(skip_serializing)]
    pub blobs: Option<BlobConfig>,
    /// Internal address ranges connectors may reach (none by default).
    pub egress: EgressConfig,
    /// Vendors' base URLs for this deployment, by short name.
    pub vendors: std::collections::BTreeMap<String, vendors::VendorConfig>,
}

/// `[egress]`: what tenants' connectors may reach beyond the public internet.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// CIDR ranges or addresses, e.g. `["10.20.0.0/16"]`.
    pub allow: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ListenAddr::parse("127.0.0.1:8080").expect("a valid address"),
            data_dir: PathBuf::from("./canvas-data"),
            database_url: None,
            master_key: None,
            body_limit_bytes: 1024 * 1024,
            max_connections: 10_000,
            header_read_timeout_ms: 65_000,
            trusted_proxies: Vec::new(),
            auth_cache_ttl_ms: 2000,
            auth_failures_per_minute: 30,
            public_url: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            connector_timeout_secs: 15,
            connector_stall_secs: 60,
            tls_extra_ca_file: None,
            role: Role::All,
            workers: 2,
            max_running_runs_per_organization: None,
            max_queued_runs_per_workflow: 100,
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
            script_max_log_bytes: 1024 * 1024,
            max_block_files_bytes: 1 << 30,
            filehub_max_bytes: 10 << 30,
            schedule_misfire_ms: 1000,
            smtp: None,
            blobs: None,
            egress: EgressConfig::default(),
            vendors: Default::default(),
        }
    }
}

/// A secret's text: taken as given, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

/// Values given as flags; `None` leaves the lower layers alone.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// May hold a password: never shown by `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<SecretText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
}

/// A configuration mistake, said in one line: where, what, what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let default_file = Path::new("canvas.toml");
        let file = file.or_else(|| default_file.exists().then_some(default_file));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "--config: {} is not a file",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        let (env, secrets) = env::layers();
        let figment = figment.merge(env).merge(secrets).merge(Flags(overrides));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError(explain::figment_error(&figment, e)))?;
        config
            .check()
            .map_err(|(key, problem)| ConfigError(explain::at(&figment, &key, &problem)))?;
        Ok(config)
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("canvas.db")
    }

    /// `[vendors.<SHORT>] base_url`, checked.
    pub fn vendor_bases(&self) -> Result<canvas_connectors::VendorBases, (String, String)> {
        vendors::bases(&self.vendors)
    }

    /// The egress policy `[egress] allow` opens.
    pub fn egress_policy(&self) -> Result<canvas_domain::egress::EgressPolicy, String> {
        canvas_domain::egress::EgressPolicy::allowing(&self.egress.allow).map_err(|e| e.to_string())
    }

    /// `host:port` of `[smtp]`, for logs.
    pub fn smtp_address(&self) -> String {
        self.smtp
            .as_ref()
            .map(|s| format!("{}:{}", s.host, s.port))
            .unwrap_or_default()
    }

    /// `trusted_proxies` as networks; the error names the entry that is not one.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        let mut nets = Vec::new();
        for proxy in &self.trusted_proxies {
            let list = canvas_domain::net::AllowList::parse(&[proxy])
                .map_err(|e| format!("'{proxy}': {e}"))?;
            nets.extend(
                list.to_strings()
                    .iter()
                    .filter_map(|cidr| cidr.parse::<ipnet::IpNet>().ok()),
            );
        }
        Ok(nets)
    }

    /// The limits on stored files.
    pub fn file_quotas(&self) -> canvas_blocks::FileQuotas {
        canvas_blocks::FileQuotas {
            block_files_bytes: self.max_block_files_bytes,
            filehub_bytes: self.filehub_max_bytes,
        }
    }

    /// `max_running_runs_per_organization`, or its default: half the workers, at least 1.
    pub fn max_running_per_organization(&self) -> usize {
        self.max_running_runs_per_organization
            .unwrap_or((self.workers / 2).max(1))
    }

    /// Values whose type alone does not bound them: `(key, problem)`.
    fn check(&self) -> Result<(), (String, String)> {
        let ranges: [(&str, u64, u64, u64); 20] = [
            ("workers", self.workers as u64, 1, 256),
            (
                "max_running_runs_per_organization",
                self.max_running_per_organization() as u64,
                1,
                256,
            ),
            (
                "max_connections",
                self.max_connections as u64,
                16,
                1_000_000,
            ),
            (
                "header_read_timeout_ms",
                self.header_read_timeout_ms,
                100,
                600_000,
            ),
            (
                "max_queued_runs_per_workflow",
                self.max_queued_runs_per_workflow.into(),
                1,
                1_000_000,
            ),
            ("lease_secs", self.lease_secs, 1, 86_400),
            (
                "body_limit_bytes",
                self.body_limit_bytes as u64,
                1024,
                1 << 30,
            ),
            (
                "auth_failures_per_minute",
                self.auth_failures_per_minute.into(),
                1,
                1_000_000,
            ),
            (
                "connector_timeout_secs",
                self.connector_timeout_secs,
                1,
                3600,
            ),
            ("connector_stall_secs", self.connector_stall_secs, 1, 86_400),
            ("run_timeout_secs", self.run_timeout_secs, 1, 7 * 86_400),
            ("retention_days", self.retention_days, 1, 36_500),
            ("retry_max_attempts", self.retry_max_attempts.into(), 1, 100),
            ("script_cpu_ms", self.script_cpu_ms, 1, 86_400_000),
            ("script_memory_mb", self.script_memory_mb as u64, 1, 65_536),
            (
                "script_max_input_records",
                self.script_max_input_records as u64,
                1,
                100_000_000,
            ),
            (
                "schedule_misfire_ms",
                self.schedule_misfire_ms,
                0,
                86_400_000,
            ),
            (
                "script_max_log_bytes",
                self.script_max_log_bytes as u64,
                1024,
                1 << 30,
            ),
            (
                "max_block_files_bytes",
                self.max_block_files_bytes,
                1,
                1 << 50,
            ),
            ("filehub_max_bytes", self.filehub_max_bytes, 1, 1 << 50),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err((
                    key.into(),
                    format!("{value} is out of range; expected {min} to {max}"),
                ));
            }
        }
        if !(10..self.lease_secs * 1000).contains(&self.heartbeat_ms) {
            let problem = format!(
                "{} is out of range; expected 10 to {}: heartbeats must come more often than \
                 lease_secs ({} s), or a live worker's runs are taken over",
                self.heartbeat_ms,
                self.lease_secs * 1000 - 1,
                self.lease_secs
            );
            return Err(("heartbeat_ms".into(), problem));
        }
        self.check_texts()
    }

    fn check_texts(&self) -> Result<(), (String, String)> {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            let problem = format!(
                "'{}' is not a log filter ({e}); expected error, warn, info, debug, trace or a filter such as info,canvas_engine=debug",
                self.log_level
            );
            return Err(("log_level".into(), problem));
        }
        self.trusted_proxy_nets()
            .map_err(|problem| ("trusted_proxies".to_string(), problem))?;
        self.egress_policy()
            .map_err(|problem| ("egress.allow".to_string(), problem))?;
        self.vendor_bases()?;
        if let Some(smtp) = &self.smtp
            && smtp.username.is_some() != smtp.password.is_some()
        {
            let problem = "username and password go together: give both, or neither for a relay without login";
            let given = match smtp.password {
                Some(_) => "smtp.password",
                None => "smtp.username",
            };
            return Err((given.into(), problem.into()));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            let problem = format!("'{url}' is not an http:// or https:// URL");
            return Err(("public_url".into(), problem));
        }
        if let Some(blobs) = &self.blobs
            && blobs
                .endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"))
            && !blobs.allow_http
        {
            let problem = "an http:// endpoint needs allow_http = true (or an https:// endpoint)";
            return Err(("blobs.endpoint".into(), problem.into()));
        }
        if let Some(SecretText(hex)) = &self.master_key
            && canvas_security::MasterKey::from_hex(hex).is_err()
        {
            // Never echo the key itself.
            let problem = format!("expected 64 hex characters, got {} characters", hex.len());
            return Err(("master_key".into(), problem));
        }
        Ok(())
    }
}

/// The command line's flags as a configuration layer, named as flags in errors.
struct Flags<'a>(&'a Overrides);

impl Provider for Flags<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named("command line").interpolater(|_: &Profile, keys: &[&str]| {
            format!("--{}", keys.join(".").replace('_', "-"))
        })
    }

    fn data(&self) -> figment::Result<figment::value::Map<Profile, figment::value::Dict>> {
        Serialized::defaults(self.0).data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ```toml block of README.md's "Operating": every key in it known,
    /// every value valid.
    #[test]
    fn the_readme_sample_configuration_loads() {
        let readme = include_str!("../../../../README.md");
        let operating = readme.find("## Operating").expect("an Operating section");
        let readme = &readme[operating..];
        let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let sample = &readme[start..start + readme[start..].find("```").unwrap()];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("canvas.toml");
        std::fs::write(&file, sample).unwrap();
        let config = Config::load(Some(&file), &Overrides::default())
            .unwrap_or_else(|e| panic!("README's canvas.toml: {e}"));
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.smtp.is_some() && config.blobs.is_some());
    }

    /// Every secret a configuration holds is hidden from `Debug`, so no log
    /// line or panic message can carry it.
    #[test]
    fn debug_never_shows_a_secret_of_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("canvas.toml");
        let key = "a".repeat(64);
        std::fs::write(
            &file,
            format!(
                "master_key = \"{key}\"\n[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nfrom = \"canvas@example.com\"\nusername = \"u\"\npassword = \"smtp-pw-31\"\n\
                 [blobs]\nurl = \"s3://b\"\naccess_key_id = \"AKIA1\"\nsecret_access_key = \"s3-secret-77\"\n"
            ),
        )
        .unwrap();
        let overrides = Overrides {
            database_url: Some(SecretText("postgres://u:db-pw-55@127.0.0.1/x".into())),
            ..Overrides::default()
        };
        let config = Config::load(Some(&file), &overrides).unwrap();
        let shown = format!("{config:?} {overrides:?}");
        for secret in [key.as_str(), "smtp-pw-31", "s3-secret-77", "db-pw-55"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
