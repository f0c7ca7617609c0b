//! Connect and log in, and the transfers the blocks need.

use crate::ConnectorError;
use crate::reach::Reach;
use canvas_domain::credentials::Credentials;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use suppaftp::list::ListParser;
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::{FileType, Response};
use suppaftp::{FtpError, Status};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    /// `AUTH TLS` on the control connection after connecting.
    Explicit,
    /// TLS from the first byte (usually port 990).
    Implicit,
}

/// Where and how to log in, from a registration's credentials.
pub(crate) struct FtpSettings {
    host: String,
    port: u16,
    user: String,
    password: String,
    security: Security,
}

impl FtpSettings {
    pub fn from_credentials(credentials: &Credentials) -> Result<Self, ConnectorError> {
        let port = crate::port(credentials, 21)?;
        let security = if credentials.get_bool("implicitTls").unwrap_or(false) {
            Security::Implicit
        } else if credentials.get_bool("secure").unwrap_or(false) {
            Security::Explicit
        } else {
            Security::Plain
        };
        Ok(Self {
            host: credentials
                .get_str("address")
                .unwrap_or_default()
                .trim()
                .to_string(),
            port,
            user: credentials
                .get_str("username")
                .unwrap_or_default()
                .to_string(),
            password: credentials
                .get_str("password")
                .unwrap_or_default()
                .to_string(),
            security,
        })
    }

    fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A logged-in session in binary transfer mode.
pub(crate) struct FtpSession {
    stream: AsyncRustlsFtpStream,
}

impl FtpSession {
    pub async fn open(
        settings: &FtpSettings,
        tls: Arc<rustls::ClientConfig>,
        reach: &Reach,
    ) -> Result<Self, ConnectorError> {
        let target = settings.target();
        let timeout = reach.timeout;
        let address = reach.resolve(&settings.host, settings.port).await?;
        let connect = Self::connect(settings, address, tls);
        let mut stream = tokio::time::timeout(timeout, connect).await.map_err(|_| {
            ConnectorError::Unreachable(format!(
                "the FTP server at {target}: no answer within {} s",
                timeout.as_secs()
            ))
        })??;
        // Servers behind NAT announce their private address in PASV replies:
        // data connections go to the address the control connection reached.
        stream.set_passive_nat_workaround(true);
        stream
            .login(settings.user.as_str(), settings.password.as_str())
            .await
            .map_err(|e| login_failed(&target, e))?;
        if settings.security == Security::Implicit {
            // The client protects data connections in implicit mode; say so
            // (RFC 4217). Servers that imply it may refuse the commands.
            for command in ["PBSZ 0", "PROT P"] {
                let _ = stream.custom_command(command, &[Status::CommandOk]).await;
            }
        }
        stream
            .transfer_type(FileType::Binary)
            .await
            .map_err(|e| remote("TYPE I", &e))?;
        Ok(Self { stream })
    }

    /// Connects to `address` (resolved and allowed); TLS checks the name.
    async fn connect(
        settings: &FtpSettings,
        address: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<AsyncRustlsFtpStream, ConnectorError> {
        let target = settings.target();
        let connector = || AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(tls));
        let negotiation = |e: FtpError| {
            ConnectorError::Rejected(format!(
                "FTPS negotiation with {target} failed: {}",
                describe(&e)
            ))
        };
        match settings.security {
            Security::Implicit => {
                AsyncRustlsFtpStream::connect_secure_implicit(address, connector(), &settings.host)
                    .await
                    .map_err(|e| match e {
                        FtpError::SecureError(_) => negotiation(e),
                        other => transport(&target, &other),
                    })
            }
            security => {
                let stream = AsyncRustlsFtpStream::connect(address)
                    .await
                    .map_err(|e| transport(&target, &e))?;
                if security == Security::Explicit {
                    stream
                        .into_secure(connector(), &settings.host)
                        .await
                        .map_err(negotiation)
                } else {
                    Ok(stream)
                }
            }
        }
    }

    /// Stores `chunks` under `path`, writing each as it comes.
    pub async fn upload_stream(&mut self, path: &str) -> Result<Upload<'_>, ConnectorError> {
        let stream = self
            .stream
            .put_with_stream(path)
            .await
            .map_err(|e| remote(&format!("STOR {path}"), &e))?;
        Ok(Upload {
            stream: Some(stream),
            path: path.to_string(),
            _session: std::marker::PhantomData,
        })
    }

    /// Copies the file at `path` into `to`; how many bytes it had.
    pub async fn download_to<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        path: &str,
        to: &mut W,
        stall: Duration,
    ) -> Result<u64, ConnectorError> {
        let mut stream = self
            .stream
            .retr_as_stream(path)
            .await
            .map_err(|e| remote(&format!("RETR {path}"), &e))?;
        let bytes = crate::files::copy_watching(&mut stream, to, (path, stall)).await?;
        stream
            .finish()
            .await
            .map_err(|e| remote(&format!("RETR {path}"), &e))?;
        Ok(bytes)
    }

    /// The names (not paths) of the files of `dir` — sub-folders left out:
    /// from MLSD where the server has it, else LIST (POSIX or DOS lines),
    /// else NLST (which cannot tell folders apart).
    pub async fn names(&mut self, dir: &str) -> Result<Vec<String>, ConnectorError> {
        if let Ok(lines) = self.stream.mlsd(Some(dir)).await
            && let Some(files) = files_only(&lines, ListParser::parse_mlsd)
        {
            return Ok(files);
        }
        let posix_or_dos =
            |l: &str| ListParser::parse_posix(l).or_else(|_| ListParser::parse_dos(l));
        if let Ok(lines) = self.stream.list(Some(dir)).await
            && let Some(files) = files_only(&lines, posix_or_dos)
        {
            return Ok(files);
        }
        let entries = self
            .stream
            .nlst(Some(dir))
            .await
            .map_err(|e| remote(&format!("NLST {dir}"), &e))?;
        Ok(entries
            .iter()
            .map(|e| e.rsplit('/').next().unwrap_or(e).to_string())
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .collect())
    }

    /// Renames `from` to `to`, replacing `to` when the server will not.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ConnectorError> {
        if self.stream.rename(from, to).await.is_ok() {
            return Ok(());
        }
        let _ = self.stream.rm(to).await;
        self.stream
            .rename(from, to)
            .await
            .map_err(|e| remote(&format!("RNFR {from} / RNTO {to}"), &e))
    }

    pub async fn remove(&mut self, path: &str) -> Result<(), ConnectorError> {
        self.stream
            .rm(path)
            .await
            .map_err(|e| remote(&format!("DELE {path}"), &e))
    }

    /// Creates `dir` if it is missing.
    /// Creates `dir` and its parents where missing — with MKD alone (an
    /// existing folder's refusal is ignored): the session's working folder
    /// never moves, so relative paths stay relative to the login folder.
    pub async fn ensure_dir(&mut self, dir: &str) {
        let mut path = String::from(if dir.starts_with('/') { "/" } else { "" });
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            path.push_str(part);
            let _ = self.stream.mkdir(&path).await;
            path.push('/');
        }
    }

    pub async fn quit(mut self) {
        let _ = self.stream.quit().await;
    }
}

/// An upload in progress; `finish` completes it, dropping it abandons it.
pub(crate) struct Upload<'a> {
    stream: Option<suppaftp::tokio::TransferStream<suppaftp::tokio::AsyncRustlsStream>>,
    path: String,
    _session: std::marker::PhantomData<&'a mut FtpSession>,
}

impl Upload<'_> {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnectorError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        stream
            .write_all(bytes)
            .await
            .map_err(|e| ConnectorError::Transient(format!("writing {}: {e}", self.path)))
    }

    pub async fn finish(mut self) -> Result<(), ConnectorError> {
        let Some(stream) = self.stream.take() else {
            return Ok(());
        };
        stream
            .finish()
            .await
            .map_err(|e| remote(&format!("STOR {}", self.path), &e))
    }
}

/// Logs in and out: the credential check at registration.
pub(crate) async fn check(
    credentials: &Credentials,
    tls: Arc<rustls::ClientConfig>,
    reach: &Reach,
) -> Result<(), ConnectorError> {
    let settings = FtpSettings::from_credentials(credentials)?;
    FtpSession::open(&settings, tls, reach).await?.quit().await;
    Ok(())
}

/// Only a refusal of the credentials (530 Not logged in, 332 an account
/// needed) says they are wrong; a busy server (4xx: 421 too many users) is
/// worth a retry, and any other reply is a failure — neither marks the
/// registration faulted.
fn login_failed(target: &str, e: FtpError) -> ConnectorError {
    match &e {
        FtpError::UnexpectedResponse(r)
            if matches!(r.status, Status::NotLoggedIn | Status::LoginNeedAccount) =>
        {
            ConnectorError::Rejected(format!(
                "the FTP server refused the login: {}",
                describe(&e)
            ))
        }
        FtpError::UnexpectedResponse(_) => remote("login", &e),
        other => transport(target, other),
    }
}

/// A command failed: 4xx replies are worth a retry, 5xx are not.
fn remote(command: &str, e: &FtpError) -> ConnectorError {
    match e {
        FtpError::UnexpectedResponse(r) if r.status == Status::NotLoggedIn => {
            ConnectorError::Rejected(describe(e))
        }
        FtpError::UnexpectedResponse(r) if r.status.code() < 500 => {
            ConnectorError::Transient(format!("{command}: {}", describe(e)))
        }
        FtpError::UnexpectedResponse(_) => {
            ConnectorError::Failed(format!("{command}: {}", describe(e)))
        }
        other => ConnectorError::Transient(format!("{command}: {}", describe(other))),
    }
}

fn transport(target: &str, e: &FtpError) -> ConnectorError {
    ConnectorError::Unreachable(format!("the FTP server at {target}: {}", describe(e)))
}

/// The server's own words where it gave any; never the credentials.
fn describe(e: &FtpError) -> String {
    match e {
        FtpError::UnexpectedResponse(r) => reply_text(r),
        other => other.to_string(),
    }
}

/// A reply as one line with its code said once: suppaftp keeps the code in
/// the body (`530 Login incorrect.`), and a multi-line reply repeats it on
/// each line (`530-...`, `530 ...`).
fn reply_text(reply: &Response) -> String {
    let code = reply.status.code().to_string();
    let body = String::from_utf8_lossy(&reply.body);
    let lines: Vec<&str> = body
        .lines()
        .map(|line| without_code(line.trim(), &code))
        .filter(|line| !line.is_empty())
        .collect();
    if lines.is_empty() {
        return code;
    }
    format!("{code} {}", lines.join(" "))
}

/// `line` without a leading `530 ` or `530-`.
fn without_code<'a>(line: &'a str, code: &str) -> &'a str {
    match line.strip_prefix(code) {
        Some(rest) if rest.is_empty() => rest,
        Some(rest) if rest.starts_with([' ', '-']) => rest[1..].trim_start(),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: Status, body: &str) -> String {
        describe(&FtpError::UnexpectedResponse(Response::new(
            status,
            body.as_bytes().to_vec(),
        )))
    }

    #[test]
    fn a_reply_says_its_code_once() {
        assert_eq!(
            refused(Status::NotLoggedIn, "530 Login incorrect.\r\n"),
            "530 Login incorrect."
        );
        assert_eq!(
            refused(
                Status::FileUnavailable,
                "550-No such file\r\n550 or folder.\r\n"
            ),
            "550 No such file or folder."
        );
    }

    #[test]
    fn a_reply_without_its_code_gets_it_and_an_empty_one_is_the_code() {
        assert_eq!(
            refused(Status::NotLoggedIn, "Login incorrect."),
            "530 Login incorrect."
        );
        assert_eq!(refused(Status::NotLoggedIn, "  \r\n"), "530");
        assert_eq!(refused(Status::NotLoggedIn, "5300 odd"), "530 5300 odd");
    }
}

/// The names of the plain files in a listing, or `None` when a line is
/// not one this parser reads (the caller asks another way).
fn files_only<E>(
    lines: &[String],
    parse: impl Fn(&str) -> Result<suppaftp::list::File, E>,
) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for line in lines
        .iter()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("total "))
    {
        let entry = parse(line.as_str()).ok()?;
        let name = entry.name().rsplit('/').next().unwrap_or_default();
        // Files and links to them; folders are left out.
        if !entry.is_directory() && !name.is_empty() {
            names.push(name.to_string());
        }
    }
    Some(names)
}

#[cfg(test)]
mod listing_tests {
    use super::files_only;

    #[test]
    fn listings_keep_files_and_leave_folders_out() {
        let posix = [
            "drwxr-xr-x 1 ftp ftp 0 Dec 01 10:00 processed",
            "-rw-r--r-- 1 ftp ftp 12 Dec 01 10:00 a.csv",
        ]
        .map(String::from);
        let posix_parser = suppaftp::list::ListParser::parse_posix;
        assert_eq!(
            files_only(&posix, posix_parser),
            Some(vec!["a.csv".to_string()])
        );
        let mlsd = [
            "type=dir;modify=20241201100000; processed",
            "type=file;size=12;modify=20241201100000; b.csv",
        ]
        .map(String::from);
        let mlsd_parser = suppaftp::list::ListParser::parse_mlsd;
        assert_eq!(
            files_only(&mlsd, mlsd_parser),
            Some(vec!["b.csv".to_string()])
        );
        assert_eq!(
            files_only(&["what is this".to_string()], posix_parser),
            None
        );
    }
}
