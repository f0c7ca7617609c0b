//! Connectors: the code that talks to an application itself. Today each
//! connector checks credentials at registration (`RegApplication`); the
//! engine will run the connectors' native blocks through the same types.
//! Heavy client libraries stay in this crate.

mod ftp;
mod mail;

pub use mail::{MailError, Mailer, SmtpConfig, SmtpSecurity};

use canvas_domain::catalog::{Application, ConnectorKind};
use canvas_domain::credentials::Credentials;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings shared by every connector.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// How long a credential check may take before it counts as unreachable.
    pub timeout: Duration,
    /// Extra PEM certificates trusted for TLS (e.g. a company CA for FTPS).
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            extra_ca_file: None,
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
    /// No connector has been built for this application yet.
    #[error(
        "{0} cannot be registered yet: its connector is not implemented in this version of Canvas"
    )]
    NoConnector(String),
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
}

impl Connectors {
    pub fn new(config: ConnectorConfig) -> Result<Self, ConfigError> {
        let tls = Arc::new(tls_config(config.extra_ca_file.as_deref())?);
        Ok(Self { config, tls })
    }

    /// Checks `credentials` against the application itself.
    pub async fn check(
        &self,
        app: &Application,
        credentials: &Credentials,
    ) -> Result<CheckOutcome, CheckError> {
        match app.connector {
            Some(ConnectorKind::FileHub) => Ok(CheckOutcome {
                verified_remotely: false,
            }),
            Some(ConnectorKind::Ftp) => {
                let check = ftp::check(credentials, self.tls.clone());
                match tokio::time::timeout(self.config.timeout, check).await {
                    Ok(result) => result.map(|()| CheckOutcome {
                        verified_remotely: true,
                    }),
                    Err(_) => Err(CheckError::Unreachable(format!(
                        "the FTP server: no answer within {} s",
                        self.config.timeout.as_secs()
                    ))),
                }
            }
            None => Err(CheckError::NoConnector(app.name.clone())),
        }
    }
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
