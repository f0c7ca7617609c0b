//! FTP and explicit FTPS (`AUTH TLS`): connect and log in.

use crate::CheckError;
use canvas_domain::credentials::Credentials;
use std::sync::Arc;
use suppaftp::FtpError;
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};

pub(crate) async fn check(
    credentials: &Credentials,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(), CheckError> {
    let host = credentials
        .get_str("address")
        .unwrap_or_default()
        .trim()
        .to_string();
    let port = credentials.get_i64("port").unwrap_or(21);
    let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
        CheckError::Rejected(format!("Port must be between 1 and 65535, got {port}."))
    })?;
    let user = credentials.get_str("username").unwrap_or_default();
    let password = credentials.get_str("password").unwrap_or_default();
    let target = format!("{host}:{port}");
    let mut stream = AsyncRustlsFtpStream::connect(target.as_str())
        .await
        .map_err(|e| {
            CheckError::Unreachable(format!("the FTP server at {target}: {}", describe(&e)))
        })?;
    if credentials.get_bool("secure").unwrap_or(false) {
        let connector = AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(tls));
        stream = stream.into_secure(connector, &host).await.map_err(|e| {
            CheckError::Rejected(format!(
                "FTPS negotiation with {target} failed: {}",
                describe(&e)
            ))
        })?;
    }
    stream.login(user, password).await.map_err(|e| {
        CheckError::Rejected(format!(
            "the FTP server refused the login: {}",
            describe(&e)
        ))
    })?;
    let _ = stream.quit().await;
    Ok(())
}

/// The server's own words where it gave any; never the credentials.
fn describe(e: &FtpError) -> String {
    match e {
        FtpError::UnexpectedResponse(r) => {
            let body = String::from_utf8_lossy(&r.body);
            format!("{} {}", r.status.code(), body.trim())
        }
        other => other.to_string(),
    }
}
