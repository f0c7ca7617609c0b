//! A file server session, FTP or SFTP: what the transfer blocks need of either.

use crate::ftp::{FtpSession, FtpSettings, FtpUpload};
use crate::sftp::{Sftp, SftpSettings, SftpUpload};
use crate::{BlockServices, ConnectorError};
use canvas_domain::credentials::Credentials;
use std::time::Duration;

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

/// A logged-in session; transfers that stop moving for `stall` fail.
pub(crate) struct Remote {
    session: Session,
    stall: Duration,
}

enum Session {
    Ftp(FtpSession),
    Sftp(Sftp),
}

/// A file being written, FTP or SFTP.
pub(crate) struct RemoteUpload<'a> {
    upload: UploadTo<'a>,
    stall: Duration,
    path: String,
}

enum UploadTo<'a> {
    Ftp(FtpUpload<'a>),
    Sftp(Box<SftpUpload>),
}

impl Remote {
    pub async fn open(
        protocol: Protocol,
        credentials: &Credentials,
        services: &BlockServices,
    ) -> Result<Self, ConnectorError> {
        let session = match protocol {
            Protocol::Ftp => {
                let settings = FtpSettings::from_credentials(credentials)?;
                Session::Ftp(
                    FtpSession::open(&settings, services.tls.clone(), &services.reach).await?,
                )
            }
            Protocol::Sftp => {
                let settings = SftpSettings::from_credentials(credentials)?;
                Session::Sftp(Sftp::open(&settings, &services.reach).await?)
            }
        };
        Ok(Self {
            session,
            stall: services.stall,
        })
    }

    /// The SSH server's host key fingerprint (to pin it); `None` for FTP.
    pub fn host_key(&self) -> Option<&str> {
        match &self.session {
            Session::Ftp(_) => None,
            Session::Sftp(s) => Some(&s.host_key),
        }
    }

    pub async fn upload(&mut self, path: &str) -> Result<RemoteUpload<'_>, ConnectorError> {
        let upload = match &mut self.session {
            Session::Ftp(s) => UploadTo::Ftp(s.upload_stream(path).await?),
            Session::Sftp(s) => UploadTo::Sftp(Box::new(s.upload(path).await?)),
        };
        Ok(RemoteUpload {
            upload,
            stall: self.stall,
            path: path.to_string(),
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
        match &mut self.session {
            Session::Ftp(s) => s.download_to(path, to, self.stall).await,
            Session::Sftp(s) => s.download_to(path, to, self.stall).await,
        }
    }

    pub async fn names(&mut self, dir: &str) -> Result<Vec<String>, ConnectorError> {
        match &mut self.session {
            Session::Ftp(s) => s.names(dir).await,
            Session::Sftp(s) => s.names(dir).await,
        }
    }

    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ConnectorError> {
        match &mut self.session {
            Session::Ftp(s) => s.rename(from, to).await,
            Session::Sftp(s) => s.rename(from, to).await,
        }
    }

    pub async fn remove(&mut self, path: &str) -> Result<(), ConnectorError> {
        match &mut self.session {
            Session::Ftp(s) => s.remove(path).await,
            Session::Sftp(s) => s.remove(path).await,
        }
    }

    pub async fn ensure_dir(&mut self, dir: &str) {
        match &mut self.session {
            Session::Ftp(s) => s.ensure_dir(dir).await,
            Session::Sftp(s) => s.ensure_dir(dir).await,
        }
    }

    pub async fn quit(self) {
        match self.session {
            Session::Ftp(s) => s.quit().await,
            Session::Sftp(s) => s.quit().await,
        }
    }
}

impl RemoteUpload<'_> {
    /// Writes `bytes`; a server that takes none of them for the stall time
    /// fails the upload as transient.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnectorError> {
        let writing = async {
            match &mut self.upload {
                UploadTo::Ftp(u) => u.write(bytes).await,
                UploadTo::Sftp(u) => u.write(bytes).await,
            }
        };
        tokio::time::timeout(self.stall, writing)
            .await
            .unwrap_or_else(|_| {
                Err(ConnectorError::Transient(format!(
                    "writing {}: the server took nothing for {} s",
                    self.path,
                    self.stall.as_secs()
                )))
            })
    }

    pub async fn finish(self) -> Result<(), ConnectorError> {
        match self.upload {
            UploadTo::Ftp(u) => u.finish().await,
            UploadTo::Sftp(u) => u.finish().await,
        }
    }
}
