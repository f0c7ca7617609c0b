//! The configuration's own value types: each is valid by construction, and
//! its parse error names what was expected.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The API, the workers and the scheduler.
    All,
    /// Only the API.
    Api,
    /// Only the workers and the scheduler.
    Worker,
}

impl Role {
    pub fn runs_api(self) -> bool {
        matches!(self, Role::All | Role::Api)
    }

    pub fn runs_engine(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `HOST:PORT` to listen on; the host is an IP address (IPv6 in brackets)
/// or a name resolved when the server binds (`localhost:8080`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ListenAddr {
    host: String,
    port: u16,
}

const LISTEN_FORM: &str =
    "expected HOST:PORT such as 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080 or localhost:8080";

impl ListenAddr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("'{text}' is not an address to listen on; {LISTEN_FORM}");
        let (host, port) = text.trim().rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad())?
                .to_string(),
            None if is_host_name(host) => host.to_string(),
            None => return Err(bad()),
        };
        Ok(Self { host, port })
    }

    /// What `TcpListener::bind` takes: the host (a name is resolved there) and the port.
    pub fn host_port(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

/// An IPv4 address or a DNS name: letters, digits, `-` and `.`, no empty label.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl TryFrom<String> for ListenAddr {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<ListenAddr> for String {
    fn from(addr: ListenAddr) -> String {
        addr.to_string()
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A PostgreSQL connection URL (the only external store Canvas runs on).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self(text.to_string()));
        }
        // Only a scheme is echoed: the rest may hold a password.
        let said = match text.split_once("://") {
            Some((scheme, _)) if is_scheme(scheme) => {
                format!("'{scheme}' is not a store Canvas runs on")
            }
            _ => "the URL does not start with postgres://".to_string(),
        };
        Err(format!(
            "{said}; expected postgres://USER@HOST:PORT/DATABASE, \
             or no database_url for the embedded SQLite store in data_dir"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `CANVAS_DATABASE_URL=` (set but empty) means the embedded store, as absent does.
pub fn empty_is_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DatabaseUrl>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(url) => DatabaseUrl::parse(url)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// RFC 3986's scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<DatabaseUrl> for String {
    fn from(url: DatabaseUrl) -> String {
        url.0
    }
}

/// Never prints the password a URL may carry.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_take_ips_bracketed_ipv6_and_host_names() {
        for ok in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "[::1]:8080",
            "localhost:8080",
            "canvas.internal:80",
        ] {
            assert_eq!(ListenAddr::parse(ok).unwrap().to_string(), ok);
        }
    }

    #[test]
    fn a_bad_listen_address_names_the_value_and_the_expected_form() {
        for bad in [
            "nonsense",
            "8080",
            "localhost:",
            ":8080",
            "::1:8080",
            "a b:80",
            "host:99999",
        ] {
            let e = ListenAddr::parse(bad).unwrap_err();
            assert!(
                e.contains(&format!("'{bad}'")) && e.contains("HOST:PORT"),
                "{e}"
            );
        }
    }

    #[test]
    fn only_postgres_urls_are_database_urls() {
        assert!(DatabaseUrl::parse("postgres://root@127.0.0.1/test").is_ok());
        assert!(DatabaseUrl::parse("postgresql://db/canvas").is_ok());
        let e = DatabaseUrl::parse("mysql://x").unwrap_err();
        assert!(e.starts_with("'mysql' is not a store"), "{e}");
        for with_password in [
            "root:s3cret@db/canvas",
            "postgres:/u:s3cret@h",
            "x:s3cret@y://z",
        ] {
            let e = DatabaseUrl::parse(with_password).unwrap_err();
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
