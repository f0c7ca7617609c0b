//! SQL databases: PostgreSQL and MySQL/MariaDB through sqlx. One
//! connection per block; `SQL Query` streams rows out as records
//! (`query.rs`), `SQL Write` inserts or upserts records in batches, one
//! transaction per batch (`write.rs`). Values are always bound; identifiers
//! are checked against the table's own columns, then quoted.

mod blocks;
mod mssql;
mod query;
mod statement;
mod write;

pub(crate) use blocks::register;

use crate::ConnectorError;
use crate::reach::Reach;
use canvas_domain::credentials::Credentials;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    MySql,
    MsSql,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::MySql => "MySQL",
            Self::MsSql => "SQL Server",
        }
    }

    /// `name` quoted as an identifier (a quote inside is doubled).
    pub fn quote(self, name: &str) -> String {
        match self {
            Self::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Self::MySql => format!("`{}`", name.replace('`', "``")),
            Self::MsSql => format!("[{}]", name.replace(']', "]]")),
        }
    }
}

/// An open connection to one of the dialects.
pub(crate) enum Db {
    Pg(PgConnection),
    My(MySqlConnection),
    Ms(Box<mssql::MsClient>),
}

/// Connects with the registration's credentials.
pub(crate) async fn connect(
    dialect: Dialect,
    credentials: &Credentials,
    reach: &Reach,
) -> Result<Db, ConnectorError> {
    if dialect == Dialect::MsSql {
        return Ok(Db::Ms(Box::new(mssql::connect(credentials, reach).await?)));
    }
    let timeout = reach.timeout;
    let host = credentials
        .get_str("address")
        .unwrap_or_default()
        .trim()
        .to_string();
    let default_port = if dialect == Dialect::Postgres {
        5432
    } else {
        3306
    };
    let port = crate::port(credentials, default_port)?;
    let database = credentials.get_str("database").unwrap_or_default();
    let user = credentials.get_str("username").unwrap_or_default();
    let password = credentials.get_str("password").unwrap_or_default();
    let target = format!("the {} server at {host}:{port}", dialect.name());
    let address = reach.resolve(&host, port).await?;
    // Without TLS, the checked address itself is connected to. With TLS the
    // name is kept, as the certificate is checked against it (sqlx resolves
    // it again: the policy was applied moments before).
    let tls = credentials.get_bool("tls").unwrap_or(false);
    let host = match tls {
        true => host,
        false => address.ip().to_string(),
    };
    let connecting = async {
        match dialect {
            Dialect::Postgres => {
                // Never the server's own `.pgpass` or `PGPASSWORD`: the
                // registration's password (maybe empty) is the only one sent.
                PgConnectOptions::new_without_pgpass()
                    .host(&host)
                    .port(port)
                    .database(database)
                    .username(user)
                    .password(password)
                    .ssl_mode(if tls {
                        PgSslMode::VerifyFull
                    } else {
                        PgSslMode::Disable
                    })
                    .disable_statement_logging()
                    .connect()
                    .await
                    .map(Db::Pg)
            }
            // Returned above: SQL Server connects through tiberius.
            Dialect::MsSql => Err(sqlx::Error::Configuration(
                "SQL Server is not a sqlx database".into(),
            )),
            Dialect::MySql => {
                let mut options = MySqlConnectOptions::new()
                    .host(&host)
                    .port(port)
                    .database(database)
                    .username(user)
                    .ssl_mode(if tls {
                        MySqlSslMode::VerifyIdentity
                    } else {
                        MySqlSslMode::Disabled
                    })
                    .disable_statement_logging();
                // An empty password is no password (a login without one).
                if !password.is_empty() {
                    options = options.password(password);
                }
                options.connect().await.map(Db::My)
            }
        }
    };
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(classify(&target, e)),
        Err(_) => Err(ConnectorError::Unreachable(format!(
            "{target}: no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

/// A connection and `SELECT 1`: the credential check at registration.
pub(crate) async fn check(
    dialect: Dialect,
    credentials: &Credentials,
    reach: &Reach,
) -> Result<(), ConnectorError> {
    if dialect == Dialect::MsSql {
        return mssql::check(credentials, reach).await;
    }
    let db = connect(dialect, credentials, reach).await?;
    let target = format!("the {} server", dialect.name());
    match db {
        Db::Pg(mut c) => {
            sqlx::query("SELECT 1")
                .execute(&mut c)
                .await
                .map_err(|e| classify(&target, e))?;
            let _ = c.close().await;
        }
        Db::My(mut c) => {
            sqlx::query("SELECT 1")
                .execute(&mut c)
                .await
                .map_err(|e| classify(&target, e))?;
            let _ = c.close().await;
        }
        Db::Ms(c) => {
            let _ = c.close().await;
        }
    }
    Ok(())
}

/// Refused logins and unknown databases are the credentials' fault; lost
/// connections are worth a retry; what the server refuses otherwise is not.
pub(crate) fn classify(target: &str, e: sqlx::Error) -> ConnectorError {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = format!("{} ({code})", db.message());
            match code.as_str() {
                // PostgreSQL: invalid password / authorization / unknown database;
                // MySQL: access denied (user, database), unknown database.
                "28P01" | "28000" | "3D000" | "1045" | "1044" | "1049" => {
                    ConnectorError::Rejected(format!("{target} refused: {message}"))
                }
                // Serialization failure, deadlock, too many connections, lock wait timeout.
                "40001" | "40P01" | "53300" | "1040" | "1205" | "1213" => {
                    ConnectorError::Transient(message)
                }
                _ => ConnectorError::Failed(message),
            }
        }
        sqlx::Error::Io(io) => ConnectorError::Unreachable(format!("{target}: {io}")),
        sqlx::Error::Tls(tls) => ConnectorError::Rejected(format!("{target}: TLS: {tls}")),
        sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => {
            ConnectorError::Transient(format!("{target}: {e}"))
        }
        sqlx::Error::Protocol(p) => ConnectorError::Transient(format!("{target}: {p}")),
        other => ConnectorError::Failed(format!("{target}: {other}")),
    }
}
