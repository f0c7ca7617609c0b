//! Console sessions: a sign-in with an API key makes a session whose token
//! the browser keeps in a cookie; the store keeps only the token's keyed
//! hash, the key's Consumer, the session's CSRF token and its expiry.

use crate::{Result, Store, with_db};
use canvas_domain::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The API key the session acts as.
    pub consumer: String,
    /// What every form of the session carries back.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The account the session acts for (the API's `ManagedAccountId`),
    /// as the user chose it; checked on every page like the header is.
    pub managed_account: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    consumer: String,
    csrf: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    managed_account: Option<String>,
}

impl Store {
    /// Records a new session under its token's hash; expired ones are swept.
    pub async fn create_console_session(
        &self,
        token_hash: &[u8],
        s: &ConsoleSession,
    ) -> Result<()> {
        let sweep = "DELETE FROM console_sessions WHERE expires_at < $1";
        with_db!(write self, p => sqlx::query(sweep).bind(s.created_at).execute(p).await?.rows_affected());
        let sql = "INSERT INTO console_sessions (token_hash, consumer, csrf, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        with_db!(write self, p => sqlx::query(sql).bind(token_hash).bind(&s.consumer).bind(&s.csrf)
            .bind(s.created_at).bind(s.expires_at).execute(p).await?.rows_affected());
        Ok(())
    }

    /// The session of a token's hash, unless it expired by `now`.
    pub async fn console_session(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>> {
        let sql = "SELECT consumer, csrf, created_at, expires_at, managed_account FROM console_sessions \
                   WHERE token_hash = $1 AND expires_at > $2";
        let row: Option<SessionRow> = with_db!(self, p => sqlx::query_as(sql)
            .bind(token_hash).bind(now).fetch_optional(p).await?);
        Ok(row.map(|r| ConsoleSession {
            consumer: r.consumer,
            csrf: r.csrf,
            created_at: r.created_at,
            expires_at: r.expires_at,
            managed_account: r.managed_account,
        }))
    }

    /// The account a session acts for from now on; `None` for its key's own.
    pub async fn set_console_account(
        &self,
        token_hash: &[u8],
        account: Option<&str>,
    ) -> Result<()> {
        let sql = "UPDATE console_sessions SET managed_account = $2 WHERE token_hash = $1";
        with_db!(write self, p => sqlx::query(sql).bind(token_hash).bind(account).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Signs a session out; a token already gone changes nothing.
    pub async fn delete_console_session(&self, token_hash: &[u8]) -> Result<()> {
        let sql = "DELETE FROM console_sessions WHERE token_hash = $1";
        with_db!(write self, p => sqlx::query(sql).bind(token_hash).execute(p).await?.rows_affected());
        Ok(())
    }
}
