//! SFTP over SSH (russh): password or private-key login, the server's host
//! key pinned by its SHA256 fingerprint when the registration gives one.

use crate::ConnectorError;
use crate::reach::Reach;
use canvas_domain::credentials::Credentials;
use russh::client::{self, AuthResult, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub(crate) struct SftpSettings {
    host: String,
    port: u16,
    user: String,
    password: String,
    private_key: Option<String>,
    passphrase: Option<String>,
    /// `SHA256:...`, as `ssh-keygen -lf` prints it.
    host_key: Option<String>,
}

impl SftpSettings {
    pub fn from_credentials(c: &Credentials) -> Result<Self, ConnectorError> {
        let port = crate::port(c, 22)?;
        let text = |f: &str| {
            c.get_str(f)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let settings = Self {
            host: text("address").unwrap_or_default(),
            port,
            user: text("username").unwrap_or_default(),
            password: c.get_str("password").unwrap_or_default().to_string(),
            private_key: text("privateKey"),
            passphrase: text("passphrase"),
            host_key: text("hostKey"),
        };
        if settings.password.is_empty() && settings.private_key.is_none() {
            return Err(ConnectorError::Rejected(
                "You must enter a value for Password or Private key.".into(),
            ));
        }
        Ok(settings)
    }
}

/// Checks the server's key against the pinned fingerprint, and keeps the
/// one it saw for messages.
struct HostKeyCheck {
    pinned: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.fingerprint(HashAlg::Sha256).to_string()
            }
            PublicKeyOrCertificate::Certificate(cert) => {
                cert.public_key().fingerprint(HashAlg::Sha256).to_string()
            }
        };
        let trusted = self.pinned.as_deref().is_none_or(|pin| pin == fingerprint);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint);
        Ok(trusted)
    }
}

pub(crate) struct Sftp {
    ssh: Handle<HostKeyCheck>,
    sftp: SftpSession,
    /// The server's host key fingerprint.
    pub host_key: String,
}

impl Sftp {
    pub async fn open(settings: &SftpSettings, reach: &Reach) -> Result<Self, ConnectorError> {
        let target = format!("{}:{}", settings.host, settings.port);
        let timeout = reach.timeout;
        let address = reach.resolve(&settings.host, settings.port).await?;
        match tokio::time::timeout(timeout, Self::connect(settings, address, &target)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectorError::Unreachable(format!(
                "the SSH server at {target}: no answer within {} s",
                timeout.as_secs()
            ))),
        }
    }

    async fn connect(
        settings: &SftpSettings,
        address: std::net::SocketAddr,
        target: &str,
    ) -> Result<Self, ConnectorError> {
        let seen = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            pinned: settings.host_key.clone(),
            seen: seen.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(300)),
            ..Default::default()
        });
        let connected = client::connect(config, address, check).await;
        let host_key = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        let mut ssh = connected.map_err(|e| match (&settings.host_key, e) {
            (Some(pin), russh::Error::UnknownKey) => ConnectorError::Rejected(format!(
                "the SSH server at {target} presented the host key {host_key}, not the pinned {pin}"
            )),
            (_, e) => ConnectorError::Unreachable(format!("the SSH server at {target}: {e}")),
        })?;
        let auth = login(&mut ssh, settings).await?;
        if !auth.success() {
            return Err(ConnectorError::Rejected(format!(
                "the SSH server at {target} refused the login of '{}'",
                settings.user
            )));
        }
        let channel = ssh
            .channel_open_session()
            .await
            .map_err(|e| lost(target, &e))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| lost(target, &e))?;
        let sftp = SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| ConnectorError::Failed(format!("{target}: the SFTP subsystem: {e}")))?;
        Ok(Self {
            ssh,
            sftp,
            host_key,
        })
    }

    pub async fn upload(&mut self, path: &str) -> Result<SftpUpload, ConnectorError> {
        let file = self
            .sftp
            .create(path)
            .await
            .map_err(|e| failed("create", path, e))?;
        Ok(SftpUpload {
            file,
            path: path.to_string(),
        })
    }

    /// Copies the file at `path` into `to`; how many bytes it had.
    pub async fn download_to<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        path: &str,
        to: &mut W,
        stall: Duration,
    ) -> Result<u64, ConnectorError> {
        let mut file = self
            .sftp
            .open(path)
            .await
            .map_err(|e| failed("open", path, e))?;
        crate::files::copy_watching(&mut file, to, (path, stall)).await
    }

    pub async fn names(&mut self, dir: &str) -> Result<Vec<String>, ConnectorError> {
        let entries = self
            .sftp
            .read_dir(dir)
            .await
            .map_err(|e| failed("list", dir, e))?;
        Ok(entries
            .filter(|e| !e.file_type().is_dir())
            .map(|e| e.file_name())
            .collect())
    }

    /// SFTP (version 3) will not rename onto an existing file: it goes first.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ConnectorError> {
        if self.sftp.try_exists(to).await.unwrap_or(false) {
            let _ = self.sftp.remove_file(to).await;
        }
        self.sftp
            .rename(from, to)
            .await
            .map_err(|e| failed("rename", from, e))
    }

    pub async fn remove(&mut self, path: &str) -> Result<(), ConnectorError> {
        self.sftp
            .remove_file(path)
            .await
            .map_err(|e| failed("remove", path, e))
    }

    pub async fn ensure_dir(&mut self, dir: &str) {
        if !self.sftp.try_exists(dir).await.unwrap_or(true) {
            let _ = self.sftp.create_dir(dir).await;
        }
    }

    pub async fn quit(self) {
        let _ = self.sftp.close().await;
        let _ = self
            .ssh
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

async fn login(
    ssh: &mut Handle<HostKeyCheck>,
    s: &SftpSettings,
) -> Result<AuthResult, ConnectorError> {
    let target = format!("{}:{}", s.host, s.port);
    if let Some(pem) = &s.private_key {
        let key = russh::keys::decode_secret_key(pem, s.passphrase.as_deref()).map_err(|e| {
            ConnectorError::Rejected(format!("the private key cannot be read: {e}"))
        })?;
        let hash = ssh
            .best_supported_rsa_hash()
            .await
            .map_err(|e| lost(&target, &e))?
            .flatten();
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let auth = ssh
            .authenticate_publickey(&s.user, key)
            .await
            .map_err(|e| lost(&target, &e))?;
        if auth.success() || s.password.is_empty() {
            return Ok(auth);
        }
    }
    ssh.authenticate_password(&s.user, &s.password)
        .await
        .map_err(|e| lost(&target, &e))
}

fn lost(target: &str, e: &russh::Error) -> ConnectorError {
    ConnectorError::Transient(format!("the SSH server at {target}: {e}"))
}

/// SFTP status codes: no such file and permission denied will not change on
/// a retry; a lost connection may.
fn failed(what: &str, path: &str, e: russh_sftp::client::error::Error) -> ConnectorError {
    use russh_sftp::client::error::Error;
    match e {
        Error::Status(status) => ConnectorError::Failed(format!(
            "{what} {path}: {} ({:?})",
            status.error_message, status.status_code
        )),
        other => ConnectorError::Transient(format!("{what} {path}: {other}")),
    }
}

/// A file being written; `finish` flushes and closes it.
pub(crate) struct SftpUpload {
    file: russh_sftp::client::fs::File,
    path: String,
}

impl SftpUpload {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnectorError> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| ConnectorError::Transient(format!("writing {}: {e}", self.path)))
    }

    pub async fn finish(mut self) -> Result<(), ConnectorError> {
        self.file
            .shutdown()
            .await
            .map_err(|e| ConnectorError::Transient(format!("closing {}: {e}", self.path)))
    }
}

/// Logs in and out: the credential check at registration.
pub(crate) async fn check(credentials: &Credentials, reach: &Reach) -> Result<(), ConnectorError> {
    let settings = SftpSettings::from_credentials(credentials)?;
    Sftp::open(&settings, reach).await?.quit().await;
    Ok(())
}
