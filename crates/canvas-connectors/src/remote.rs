//! A file server session, FTP or SFTP: what the transfer blocks need of either.

use crate::ftp::{FtpSession, FtpSettings, FtpUpload};
use crate::sftp::{Sftp, SftpSettings, SftpUpload};
use crate::{BlockServices, ConnectorError};
use canvas_domain::credentials::Credentials;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Ftp,
    Sftp,
}

impl Protocol {
    /// The blocks' name prefix: `FTP Upload`, `SFTP Download`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ftp => "FTP",
            Self::Sftp => "SFTP",
        }
    }
}

pub(crate) enum Remote {
    Ftp(FtpSession),
    Sftp(Sftp),
}

pub(crate) enum RemoteUpload<'a> {
    Ftp(FtpUpload<'a>),
    Sftp(Box<SftpUpload>),
}

impl Remote {
    pub async fn open(
        protocol: Protocol,
        credentials: &Credentials,
        services: &BlockServices,
    ) -> Result<Self, ConnectorError> {
        Ok(match protocol {
            Protocol::Ftp => {
                let settings = FtpSettings::from_credentials(credentials)?;
                Self::Ftp(
                    FtpSession::open(&settings, services.tls.clone(), services.timeout).await?,
                )
            }
            Protocol::Sftp => {
                let settings = SftpSettings::from_credentials(credentials)?;
                Self::Sftp(Sftp::open(&settings, services.timeout).await?)
            }
        })
    }

    /// The SSH server's host key fingerprint (to pin it); `None` for FTP.
    pub fn host_key(&self) -> Option<&str> {
        match self {
            Self::Ftp(_) => None,
            Self::Sftp(s) => Some(&s.host_key),
        }
    }

    pub async fn upload(&mut self, path: &str) -> Result<RemoteUpload<'_>, ConnectorError> {
        Ok(match self {
            Self::Ftp(s) => RemoteUpload::Ftp(s.upload_stream(path).await?),
            Self::Sftp(s) => RemoteUpload::Sftp(Box::new(s.upload(path).await?)),
        })
    }

    /// The whole file at `path` (scripts' `download`).
    pub async fn download(&mut self, path: &str) -> Result<Vec<u8>, ConnectorError> {
        let mut bytes = Vec::new();
        self.download_to(path, &mut bytes).await?;
        Ok(bytes)
    }

    /// Copies the file at `path` into `to` as it arrives; how many bytes it had.
    pub async fn download_to<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        path: &str,
        to: &mut W,
    ) -> Result<u64, ConnectorError> {
        match self {
            Self::Ftp(s) => s.download_to(path, to).await,
            Self::Sftp(s) => s.download_to(path, to).await,
        }
    }

    pub async fn names(&mut self, dir: &str) -> Result<Vec<String>, ConnectorError> {
        match self {
            Self::Ftp(s) => s.names(dir).await,
            Self::Sftp(s) => s.names(dir).await,
        }
    }

    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ConnectorError> {
        match self {
            Self::Ftp(s) => s.rename(from, to).await,
            Self::Sftp(s) => s.rename(from, to).await,
        }
    }

    pub async fn remove(&mut self, path: &str) -> Result<(), ConnectorError> {
        match self {
            Self::Ftp(s) => s.remove(path).await,
            Self::Sftp(s) => s.remove(path).await,
        }
    }

    pub async fn ensure_dir(&mut self, dir: &str) {
        match self {
            Self::Ftp(s) => s.ensure_dir(dir).await,
            Self::Sftp(s) => s.ensure_dir(dir).await,
        }
    }

    pub async fn quit(self) {
        match self {
            Self::Ftp(s) => s.quit().await,
            Self::Sftp(s) => s.quit().await,
        }
    }
}

impl RemoteUpload<'_> {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnectorError> {
        match self {
            Self::Ftp(u) => u.write(bytes).await,
            Self::Sftp(u) => u.write(bytes).await,
        }
    }

    pub async fn finish(self) -> Result<(), ConnectorError> {
        match self {
            Self::Ftp(u) => u.finish().await,
            Self::Sftp(u) => u.finish().await,
        }
    }
}
