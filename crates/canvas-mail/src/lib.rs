//! Outgoing email through the server's SMTP configuration: failure
//! notifications and File Hub's `Send email`.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on loopback or a test sink).
    #[default]
    None,
    /// `STARTTLS`, required.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The sender, e.g. `Canvas <canvas@example.com>`.
    pub from: String,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp configuration: {0}")]
    Config(String),
    #[error("address '{0}' is not a valid mailbox")]
    Address(String),
    #[error("sending failed")]
    Send(#[source] lettre::transport::smtp::Error),
    #[error("the SMTP server is not reachable: {0}")]
    Unreachable(String),
    #[error("building the message failed")]
    Build(#[source] lettre::error::Error),
}

/// A message carrying one file.
pub struct AttachmentMail<'a> {
    pub to: &'a [String],
    pub subject: &'a str,
    pub note: &'a str,
    pub file_name: &'a str,
    /// A MIME type, e.g. `text/csv`.
    pub content_type: &'a str,
    pub content: Vec<u8>,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailError::Address(config.from.clone()))?;
        let tls = |host: &str| {
            TlsParameters::new(host.into()).map_err(|e| MailError::Config(e.to_string()))
        };
        let tls = match config.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls(&config.host)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls(&config.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls);
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(SmtpCredentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Connects (TLS and login included) and says whether the server
    /// answered; the error is the server's or the network's words.
    pub async fn check_reachable(&self) -> Result<(), MailError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Config("the server did not answer NOOP".into())),
            // lettre's own words already carry their cause.
            Err(e) => Err(MailError::Unreachable(e.to_string())),
        }
    }

    /// A text message with one attachment, to every address in `to`.
    pub async fn send_attachment(&self, mail: AttachmentMail<'_>) -> Result<(), MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject);
        for to in mail.to {
            let to: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_string()))?;
            builder = builder.to(to);
        }
        let content_type = ContentType::parse(mail.content_type)
            .map_err(|_| MailError::Config(format!("content type '{}'", mail.content_type)))?;
        // Base64 keeps the file's bytes exactly, whatever they are.
        let body = Body::new_with_encoding(mail.content, ContentTransferEncoding::Base64)
            .map_err(|_| MailError::Config("the attachment cannot be base64-encoded".into()))?;
        let body = MultiPart::mixed()
            .singlepart(SinglePart::plain(mail.note.to_string()))
            .singlepart(Attachment::new(mail.file_name.to_string()).body(body, content_type));
        let message = builder.multipart(body).map_err(MailError::Build)?;
        self.transport
            .send(message)
            .await
            .map_err(MailError::Send)?;
        Ok(())
    }

    pub async fn send_text(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_string()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(MailError::Build)?;
        self.transport
            .send(message)
            .await
            .map_err(MailError::Send)?;
        Ok(())
    }
}
