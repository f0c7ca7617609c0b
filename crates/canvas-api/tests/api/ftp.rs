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
    _root: tempfile::TempDir,
}

pub async fn start(user: &str, password: &str) -> FtpServer {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    let port = free_port();
    let auth = Arc::new(OneUser {
        user: user.into(),
        password: password.into(),
    });
    let server = libunftp::ServerBuilder::with_authenticator(
        Box::new(move || unftp_sbe_fs::Filesystem::new(path.clone()).unwrap()),
        auth,
    )
    .passive_ports(50000..=65000)
    .build()
    .unwrap();
    tokio::spawn(server.listen(format!("127.0.0.1:{port}")));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    FtpServer { port, _root: root }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
