//! A real FTP server on loopback (libunftp over a temporary folder) with one user.

use async_trait::async_trait;
use std::sync::Arc;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};

struct OneUser {
    user: String,
    password: String,
}

/// libunftp logs its authenticator; the test server must not leak the password either.
impl std::fmt::Debug for OneUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OneUser({})", self.user)
    }
}

#[async_trait]
impl Authenticator for OneUser {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        if username != self.user {
            return Err(AuthenticationError::BadUser);
        }
        if creds.password.as_deref() != Some(self.password.as_str()) {
            return Err(AuthenticationError::BadPassword);
        }
        Ok(Principal {
            username: username.to_string(),
        })
    }
}

pub struct FtpServer {
    pub port: u16,
    /// With FTPS: the server's self-signed certificate, to be trusted as a CA.
    pub certificate: Option<std::path::PathBuf>,
    root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl FtpServer {
    /// The folder the server serves.
    pub fn files(&self) -> std::path::PathBuf {
        self.root.path().join("files")
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(user: &str, password: &str) -> FtpServer {
    start_with(user, password, false).await
}

/// An FTP server that also offers explicit FTPS (`AUTH TLS`) with a
/// certificate for 127.0.0.1.
pub async fn start_secure(user: &str, password: &str) -> FtpServer {
    start_with(user, password, true).await
}

/// A server on `port` (one that an earlier server left).
pub async fn start_on(port: u16, user: &str, password: &str) -> FtpServer {
    start_at(port, user, password, false).await
}

async fn start_with(user: &str, password: &str, tls: bool) -> FtpServer {
    start_at(free_port(), user, password, tls).await
}

async fn start_at(port: u16, user: &str, password: &str, tls: bool) -> FtpServer {
    let root = tempfile::tempdir().unwrap();
    let files = root.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let auth = Arc::new(OneUser {
        user: user.into(),
        password: password.into(),
    });
    let mut builder = libunftp::ServerBuilder::with_authenticator(
        Box::new(move || unftp_sbe_fs::Filesystem::new(files.clone()).unwrap()),
        auth,
    )
    .passive_ports(50000..=65000);
    let mut certificate = None;
    if tls {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let cert = rcgen::generate_simple_self_signed(names).unwrap();
        let cert_file = root.path().join("cert.pem");
        let key_file = root.path().join("key.pem");
        std::fs::write(&cert_file, cert.cert.pem()).unwrap();
        std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
        builder = builder.ftps(cert_file.clone(), key_file);
        certificate = Some(cert_file);
    }
    let server = builder.build().unwrap();
    let task = tokio::spawn(async move {
        let _ = server.listen(format!("127.0.0.1:{port}")).await;
    });
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    FtpServer {
        port,
        certificate,
        root,
        task,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP proxy to the control port of the server on `port` that cuts the
/// first connection storing a file just after the transfer starts (the
/// server gone mid-transfer, as the client sees it); the rest pass.
/// Returns the proxy's port.
pub async fn cutting_proxy(port: u16) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let cut_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let cut_done = cut_done.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = client_read.read(&mut buf).await {
                    if n == 0 || server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    if String::from_utf8_lossy(&buf[..n]).contains("STOR")
                        && !cut_done.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        // Let the transfer start, then the server is gone.
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        break;
                    }
                }
                down.abort();
            });
        }
    });
    proxy_port
}

/// Implicit FTPS in front of the plain server on `port`: a TLS listener
/// (certificate for 127.0.0.1) whose connections are forwarded decrypted.
/// Returns its port and the certificate to trust. Data connections go to
/// the server itself: TLS when it was started with `start_secure` (PROT P).
pub async fn implicit_tls_front(port: u16, dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_file = dir.join("implicit.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let mut server = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    (front, cert_file)
}
