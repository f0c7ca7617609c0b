//! Connectors: the code that talks to an application itself — the
//! credential check at registration (`RegApplication`), the application's
//! native blocks and the operations scripts call on `apps.<SHORT>`. Heavy
//! client libraries (FTP, SQL drivers) stay in this crate.

mod filehub;
mod files;
mod ftp;
mod http;
mod reach;
mod remote;
mod sftp;
mod sql;
mod transfer;
mod vendor;

pub use vendor::{VendorBases, vendor_base, vendor_short_names};

pub use canvas_mail::{AttachmentMail, MailError, Mailer, SmtpConfig, SmtpSecurity};

use canvas_blocks::{BlockError, NativeBlocks};
use canvas_domain::catalog::{Application, ConnectorKind};
use canvas_domain::credentials::Credentials;
pub use canvas_domain::egress::EgressPolicy;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings shared by every connector.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// How long connecting and logging in may take before the application counts as unreachable.
    pub timeout: Duration,
    /// How long a file transfer may go without a byte moving before it
    /// counts as lost (a transient error: the engine tries again).
    pub transfer_stall: Duration,
    /// Extra PEM certificates trusted for TLS (e.g. a company CA for FTPS).
    pub extra_ca_file: Option<PathBuf>,
    /// The addresses connectors may reach (internal ones refused unless allowed).
    pub egress: EgressPolicy,
    /// Deployments' base URLs for vendors (`[vendors.<SHORT>] base_url`).
    pub vendor_bases: VendorBases,
}

impl ConnectorConfig {
    fn reach(&self) -> reach::Reach {
        reach::Reach {
            timeout: self.timeout,
            egress: self.egress.clone(),
        }
    }
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            transfer_stall: Duration::from_secs(60),
            extra_ca_file: None,
            egress: EgressPolicy::default(),
            vendor_bases: VendorBases::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    /// The application answered and refused the credentials.
    #[error("Authentication Error: {0}")]
    Rejected(String),
    /// The application could not be reached or spoke no known protocol.
    #[error("Authentication Error: could not reach {0}")]
    Unreachable(String),
    /// The application's address is one connectors may not reach.
    #[error("{0}")]
    NotAllowed(String),
    /// No connector has been built for this application yet.
    #[error(
        "{0} cannot be registered yet: its connector is not implemented in this version of Canvas"
    )]
    NoConnector(String),
}

/// What a connector's work can end in; mapped once to a [`CheckError`] at
/// registration and to a [`BlockError`] in a run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectorError {
    /// The application refused the credentials.
    #[error("{0}")]
    Rejected(String),
    /// Not reachable now (connection refused, timeout).
    #[error("could not reach {0}")]
    Unreachable(String),
    /// Failed in a way worth another try (connection lost, a 4xx FTP reply).
    #[error("{0}")]
    Transient(String),
    /// The application said no, and would again.
    #[error("{0}")]
    Failed(String),
    /// The application has nothing at the address asked (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The block's variables or arguments are wrong.
    #[error("{0}")]
    Invalid(String),
    /// The address is one the egress policy refuses.
    #[error("{0}")]
    NotAllowed(String),
}

impl From<ConnectorError> for CheckError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Rejected(m)
            | ConnectorError::Failed(m)
            | ConnectorError::NotFound(m)
            | ConnectorError::Invalid(m) => CheckError::Rejected(m),
            ConnectorError::Unreachable(m) | ConnectorError::Transient(m) => {
                CheckError::Unreachable(m)
            }
            ConnectorError::NotAllowed(m) => CheckError::NotAllowed(m),
        }
    }
}

impl From<ConnectorError> for BlockError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Rejected(m) => BlockError::Unauthorized(m),
            e @ ConnectorError::Unreachable(_) => BlockError::Transient(e.to_string()),
            ConnectorError::Transient(m) => BlockError::Transient(m),
            ConnectorError::Failed(m)
            | ConnectorError::NotFound(m)
            | ConnectorError::Invalid(m)
            | ConnectorError::NotAllowed(m) => BlockError::Permanent(m),
        }
    }
}

/// What a successful check established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOutcome {
    /// Whether the check talked to the application (File Hub needs no check).
    pub verified_remotely: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct ConfigError(String);

#[derive(Clone)]
pub struct Connectors {
    config: ConnectorConfig,
    tls: Arc<rustls::ClientConfig>,
    http: http::Http,
    turns: vendor::Turns,
}

impl Connectors {
    pub fn new(config: ConnectorConfig) -> Result<Self, ConfigError> {
        let tls = Arc::new(tls_config(config.extra_ca_file.as_deref())?);
        let http = http::Http::new(&tls, config.reach());
        Ok(Self {
            config,
            tls,
            http,
            turns: vendor::Turns::default(),
        })
    }

    /// Checks `credentials` against the application itself.
    pub async fn check(
        &self,
        app: &Application,
        credentials: &Credentials,
    ) -> Result<CheckOutcome, CheckError> {
        let reach = self.config.reach();
        let timeout = reach.timeout;
        let checked = match app.connector {
            Some(ConnectorKind::FileHub) => {
                return Ok(CheckOutcome {
                    verified_remotely: false,
                });
            }
            Some(ConnectorKind::Ftp) => ftp::check(credentials, self.tls.clone(), &reach).await,
            Some(ConnectorKind::Sftp) => sftp::check(credentials, &reach).await,
            Some(ConnectorKind::Mssql) => {
                sql::check(sql::Dialect::MsSql, credentials, &reach).await
            }
            Some(ConnectorKind::Postgresql) => {
                sql::check(sql::Dialect::Postgres, credentials, &reach).await
            }
            Some(ConnectorKind::Mysql) => {
                sql::check(sql::Dialect::MySql, credentials, &reach).await
            }
            Some(ConnectorKind::Http) => {
                let probe = http::check(&self.http, credentials, session_policy(app));
                match tokio::time::timeout(timeout, probe).await {
                    Ok(result) => result,
                    Err(_) => Err(ConnectorError::Unreachable(format!(
                        "the server: no answer within {} s",
                        timeout.as_secs()
                    ))),
                }
            }
            Some(ConnectorKind::Vendor) => {
                let vendor =
                    vendor::Vendor::of(app, &self.http, &self.config.vendor_bases, &self.turns);
                match vendor {
                    Some(Ok(vendor)) => {
                        match tokio::time::timeout(timeout, vendor.check(credentials)).await {
                            Ok(result) => result,
                            Err(_) => Err(ConnectorError::Unreachable(format!(
                                "{}: no answer within {} s",
                                app.name,
                                timeout.as_secs()
                            ))),
                        }
                    }
                    Some(Err(e)) => Err(ConnectorError::Failed(e)),
                    None => return Err(CheckError::NoConnector(app.name.clone())),
                }
            }
            None => return Err(CheckError::NoConnector(app.name.clone())),
        };
        checked?;
        Ok(CheckOutcome {
            verified_remotely: true,
        })
    }

    /// Adds every connector's blocks and script operations to `blocks`.
    pub fn register_blocks(&self, blocks: &mut NativeBlocks, deps: BlockDeps) {
        let services = BlockServices {
            tls: self.tls.clone(),
            reach: self.config.reach(),
            stall: self.config.transfer_stall,
            mailer: deps.mailer,
            datasets: deps.datasets,
        };
        for app in canvas_catalog::Catalog::builtin().applications() {
            match app.connector {
                Some(ConnectorKind::Ftp) => {
                    transfer::register(blocks, &services, remote::Protocol::Ftp, &app.short_name)
                }
                Some(ConnectorKind::Sftp) => {
                    transfer::register(blocks, &services, remote::Protocol::Sftp, &app.short_name)
                }
                Some(ConnectorKind::FileHub) => {
                    filehub::register(blocks, &services, &app.short_name)
                }
                Some(ConnectorKind::Postgresql) => sql::register(
                    blocks,
                    sql::Dialect::Postgres,
                    &app.short_name,
                    services.reach.clone(),
                ),
                Some(ConnectorKind::Mysql) => sql::register(
                    blocks,
                    sql::Dialect::MySql,
                    &app.short_name,
                    services.reach.clone(),
                ),
                Some(ConnectorKind::Http) => http::register(blocks, self.http.clone(), app),
                Some(ConnectorKind::Vendor) => {
                    match vendor::Vendor::of(
                        app,
                        &self.http,
                        &self.config.vendor_bases,
                        &self.turns,
                    ) {
                        Some(Ok(v)) => vendor::register(blocks, v),
                        Some(Err(e)) => {
                            tracing::error!(error = %e, "a vendor's declaration is wrong")
                        }
                        None => {}
                    }
                }
                Some(ConnectorKind::Mssql) => sql::register(
                    blocks,
                    sql::Dialect::MsSql,
                    &app.short_name,
                    services.reach.clone(),
                ),
                None => {}
            }
        }
    }
}

/// What the server gives the connectors' blocks.
pub struct BlockDeps {
    /// Sends File Hub's `Send email`; without it that block fails saying
    /// no SMTP server is configured.
    pub mailer: Option<Mailer>,
    /// The blob store, where File Hub keeps each account's files.
    pub datasets: canvas_blocks::Datasets,
}

/// What the connectors' blocks share.
#[derive(Clone)]
pub(crate) struct BlockServices {
    tls: Arc<rustls::ClientConfig>,
    reach: reach::Reach,
    stall: Duration,
    mailer: Option<Mailer>,
    datasets: canvas_blocks::Datasets,
}

fn session_policy(app: &Application) -> http::SessionPolicy {
    http::SessionPolicy {
        minutes: u32::try_from(app.session_time_mins).unwrap_or(0),
        sliding: app.session_sliding_expiry,
    }
}

/// The registration's `port`, `default` when absent.
pub(crate) fn port(credentials: &Credentials, default: i64) -> Result<u16, ConnectorError> {
    let port = credentials.get_i64("port").unwrap_or(default);
    u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
        ConnectorError::Rejected(format!("Port must be between 1 and 65535, got {port}."))
    })
}

fn tls_config(extra_ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
