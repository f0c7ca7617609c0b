//! The first connection to PostgreSQL, made alone and bounded in time, so
//! that an operator hears within seconds — in one plain sentence — whether
//! the server is down, refuses the user, or lacks the database.

use crate::StoreError;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::time::Duration;

/// How long the first connection may take before the server is said to be unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects once and closes; the error names the server, the user or the database.
pub async fn probe_postgres(options: &PgConnectOptions) -> Result<(), StoreError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Err(_) => Err(StoreError::Connect(format!(
            "PostgreSQL at {} did not answer within {} s",
            address(options),
            CONNECT_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) => Err(StoreError::Connect(explain(&e, options))),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
    }
}

fn address(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

fn explain(error: &sqlx::Error, options: &PgConnectOptions) -> String {
    let at = address(options);
    match error {
        sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("PostgreSQL at {at} refused the connection; is the server running?")
        }
        sqlx::Error::Io(e) => format!("PostgreSQL at {at} could not be reached: {e}"),
        sqlx::Error::Tls(e) => format!("PostgreSQL at {at}: TLS failed: {e}"),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01" | "28000") => format!(
                "PostgreSQL at {at} refused user '{}': {}",
                options.get_username(),
                db.message()
            ),
            Some("3D000") => format!(
                "PostgreSQL at {at} has no database '{}'; create it (createdb) or name another in the URL",
                options.get_database().unwrap_or(options.get_username())
            ),
            _ => format!("PostgreSQL at {at}: {}", db.message()),
        },
        other => format!("PostgreSQL at {at}: {other}"),
    }
}
