//! Organizations, accounts, API keys and the audit log.

use crate::model::{Account, AuditEntry, NewAccount, Organization, Principal};
use crate::tx::with_tx;
use crate::{Result, Store, StoreError, StoreTx, from_json, to_json, with_db};
use canvas_domain::account::AccountRole;
use canvas_domain::time::Timestamp;
use uuid::Uuid;

const AUDIT_INSERT_SQL: &str = "INSERT INTO audit_log (id, at, organization_id, actor_account_id, acting_account_id, action, target, client_ip) \
                                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The audit entry's insert, compiled for either backend's pool or transaction.
macro_rules! audit_insert {
    ($e:expr) => {
        sqlx::query(AUDIT_INSERT_SQL)
            .bind($e.id)
            .bind($e.at)
            .bind($e.organization_id)
            .bind($e.actor_account_id)
            .bind($e.acting_account_id)
            .bind(&$e.action)
            .bind(&$e.target)
            .bind(&$e.client_ip)
    };
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    organization_id: Uuid,
    organization_name: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: Option<String>,
    role: String,
    country_key: Option<String>,
    global_notifications: bool,
    default_notification_email: Option<String>,
    active: bool,
    date_created: Timestamp,
}

fn role(text: &str) -> Result<AccountRole> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("accounts.role: {text}")))
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self> {
        Ok(Account {
            role: role(&r.role)?,
            id: r.id,
            organization_id: r.organization_id,
            organization_name: r.organization_name,
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            phone: r.phone,
            country_key: r.country_key,
            global_notifications: r.global_notifications,
            default_notification_email: r.default_notification_email,
            active: r.active,
            date_created: r.date_created,
        })
    }
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    consumer: String,
    secret_hash: Vec<u8>,
    account_id: Uuid,
    role: String,
    active: bool,
    organization_id: Uuid,
    allowed_cidrs: String,
}

macro_rules! account_select {
    () => {
        "SELECT a.id, a.organization_id, o.name AS organization_name, a.first_name, a.last_name, \
         a.email, a.phone, a.role, a.country_key, a.global_notifications, \
         a.default_notification_email, a.active, a.date_created \
         FROM accounts a JOIN organizations o ON o.id = a.organization_id "
    };
}

/// The organizations at or below `$1`, as the CTE `tree(id)`.
macro_rules! subtree {
    () => {
        "WITH RECURSIVE tree(id) AS (SELECT id FROM organizations WHERE id = $1 \
         UNION ALL SELECT o.id FROM organizations o JOIN tree ON o.parent_id = tree.id) "
    };
}

/// A new organization with its first account and that account's API key.
pub struct NewOrganization {
    pub organization: Organization,
    pub admin: NewAccount,
    pub consumer: String,
    pub secret_hash: Vec<u8>,
}

/// `email_key`: an address is unique within its organization tree.
fn email_key(tree_root: Uuid, email: &str) -> String {
    format!("{}:{}", tree_root.simple(), email.to_lowercase())
}

/// Inserts account `$a` of the tree whose root is `$root`.
macro_rules! insert_account {
    ($a:expr, $root:expr, $conn:expr) => {
        sqlx::query(
            "INSERT INTO accounts (id, organization_id, first_name, last_name, email, email_key, phone, \
             role, country_key, global_notifications, default_notification_email, active, \
             activation_token_hash, date_created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind($a.id)
        .bind($a.organization_id)
        .bind(&$a.first_name)
        .bind(&$a.last_name)
        .bind(&$a.email)
        .bind(email_key($root, &$a.email))
        .bind(&$a.phone)
        .bind($a.role.name())
        .bind(&$a.country_key)
        .bind($a.global_notifications)
        .bind(&$a.default_notification_email)
        .bind($a.active)
        .bind(&$a.activation_token_hash)
        .bind($a.date_created)
        .execute($conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(email_conflict)
    };
}

fn email_conflict(e: sqlx::Error) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict("email"),
        other => other,
    }
}

impl Store {
    pub async fn has_organization(&self) -> Result<bool> {
        let sql = "SELECT COUNT(*) FROM organizations";
        let n: i64 = with_db!(self, p => sqlx::query_scalar(sql).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// Creates an organization, its admin account and the admin's key at once.
    pub async fn create_organization(&self, new: &NewOrganization) -> Result<()> {
        let o = &new.organization;
        let root = match o.parent_id {
            Some(parent) => self.tree_root(parent).await?,
            None => o.id,
        };
        with_db!(write self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO organizations (id, name, parent_id, allowed_cidrs, date_created) VALUES ($1, $2, $3, $4, $5)")
                .bind(o.id).bind(&o.name).bind(o.parent_id).bind(to_json(&o.allowed_cidrs)).bind(o.date_created)
                .execute(&mut *tx).await?;
            insert_account!(new.admin, root, &mut *tx)?;
            sqlx::query("INSERT INTO api_keys (consumer, account_id, secret_hash, date_created) VALUES ($1, $2, $3, $4)")
                .bind(&new.consumer).bind(new.admin.id).bind(&new.secret_hash).bind(o.date_created)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn set_allowed_cidrs(&self, organization: Uuid, cidrs: &[String]) -> Result<()> {
        let sql = "UPDATE organizations SET allowed_cidrs = $2 WHERE id = $1";
        let done = with_db!(write self, p => sqlx::query(sql).bind(organization).bind(to_json(&cidrs)).execute(p).await?.rows_affected());
        if done == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Whether `organization` is `ancestor` or lies below it.
    pub async fn organization_within(&self, organization: Uuid, ancestor: Uuid) -> Result<bool> {
        let sql = concat!(subtree!(), "SELECT COUNT(*) FROM tree WHERE id = $2");
        let n: i64 = with_db!(self, p => sqlx::query_scalar(sql).bind(ancestor).bind(organization).fetch_one(p).await?);
        Ok(n > 0)
    }

    pub async fn create_account(&self, account: &NewAccount) -> Result<()> {
        let root = self.tree_root(account.organization_id).await?;
        with_db!(write self, p => insert_account!(account, root, p))?;
        Ok(())
    }

    /// The root of the organization tree `organization` belongs to.
    pub async fn tree_root(&self, organization: Uuid) -> Result<Uuid> {
        let sql = "WITH RECURSIVE up(id, parent_id) AS ( \
                     SELECT id, parent_id FROM organizations WHERE id = $1 \
                     UNION ALL \
                     SELECT o.id, o.parent_id FROM organizations o JOIN up ON o.id = up.parent_id) \
                   SELECT id FROM up WHERE parent_id IS NULL";
        Ok(with_db!(self, p => sqlx::query_scalar(sql).bind(organization).fetch_one(p).await?))
    }

    pub async fn account(&self, id: Uuid) -> Result<Account> {
        let sql = concat!(account_select!(), "WHERE a.id = $1");
        let row: AccountRow = with_db!(self, p => sqlx::query_as(sql).bind(id).fetch_one(p).await?);
        row.try_into()
    }

    /// Active accounts of `organization` and every organization below it.
    pub async fn active_accounts_in_tree(&self, organization: Uuid) -> Result<Vec<Account>> {
        let sql = concat!(
            subtree!(),
            account_select!(),
            "WHERE a.organization_id IN (SELECT id FROM tree) AND a.active ORDER BY a.date_created, a.id"
        );
        let rows: Vec<AccountRow> =
            with_db!(self, p => sqlx::query_as(sql).bind(organization).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Uses a one-time activation token: the account becomes active and the
    /// token is gone. `NotFound` when no inactive account holds it.
    pub async fn activate_account(&self, token_hash: &[u8]) -> Result<Uuid> {
        let sql = "UPDATE accounts SET active = TRUE, activation_token_hash = NULL \
                   WHERE activation_token_hash = $1 AND NOT active RETURNING id";
        with_db!(write self, p => Ok(sqlx::query_scalar(sql).bind(token_hash).fetch_one(p).await?))
    }

    pub async fn create_key(
        &self,
        account: Uuid,
        consumer: &str,
        secret_hash: &[u8],
        at: Timestamp,
    ) -> Result<()> {
        let sql = "INSERT INTO api_keys (consumer, account_id, secret_hash, date_created) VALUES ($1, $2, $3, $4)";
        with_db!(write self, p => sqlx::query(sql).bind(consumer).bind(account).bind(secret_hash).bind(at).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Revokes a key; `NotFound` when no live key has that consumer.
    pub async fn revoke_key(&self, consumer: &str, at: Timestamp) -> Result<()> {
        let sql =
            "UPDATE api_keys SET date_revoked = $2 WHERE consumer = $1 AND date_revoked IS NULL";
        let n = with_db!(write self, p => sqlx::query(sql).bind(consumer).bind(at).execute(p).await?.rows_affected());
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// The live key `consumer` and its account, in one read.
    pub async fn principal(&self, consumer: &str) -> Result<Option<Principal>> {
        let sql = "SELECT k.consumer, k.secret_hash, a.id AS account_id, a.role, a.active, \
                   a.organization_id, o.allowed_cidrs \
                   FROM api_keys k JOIN accounts a ON a.id = k.account_id \
                   JOIN organizations o ON o.id = a.organization_id \
                   WHERE k.consumer = $1 AND k.date_revoked IS NULL";
        let row: Option<PrincipalRow> =
            with_db!(self, p => sqlx::query_as(sql).bind(consumer).fetch_optional(p).await?);
        row.map(|r| {
            Ok(Principal {
                role: role(&r.role)?,
                allowed_cidrs: from_json("organizations.allowed_cidrs", &r.allowed_cidrs)?,
                consumer: r.consumer,
                secret_hash: r.secret_hash,
                account_id: r.account_id,
                active: r.active,
                organization_id: r.organization_id,
            })
        })
        .transpose()
    }

    pub async fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        with_db!(write self, p => audit_insert!(e).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Audit entries of `organization` and below, newest first.
    pub async fn audit_log(
        &self,
        organization: Uuid,
        skip: i64,
        top: i64,
    ) -> Result<Vec<AuditEntry>> {
        let sql = concat!(
            subtree!(),
            "SELECT id, at, organization_id, actor_account_id, acting_account_id, action, target, client_ip \
             FROM audit_log WHERE organization_id IN (SELECT id FROM tree) ORDER BY at DESC, id LIMIT $2 OFFSET $3"
        );
        let rows: Vec<AuditRow> = with_db!(self, p => sqlx::query_as(sql).bind(organization).bind(top).bind(skip).fetch_all(p).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: Uuid,
    at: Timestamp,
    organization_id: Uuid,
    actor_account_id: Option<Uuid>,
    acting_account_id: Option<Uuid>,
    action: String,
    target: Option<String>,
    client_ip: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            organization_id: r.organization_id,
            actor_account_id: r.actor_account_id,
            acting_account_id: r.acting_account_id,
            action: r.action,
            target: r.target,
            client_ip: r.client_ip,
        }
    }
}

impl Store {
    /// Records `value` under `key` unless one is there; returns the stored value.
    /// A setting's value; `None` when it was never set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let select = "SELECT value FROM settings WHERE key = $1";
        with_db!(self, p => Ok(sqlx::query_scalar(select).bind(key).fetch_optional(p).await?))
    }

    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let insert =
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
        let select = "SELECT value FROM settings WHERE key = $1";
        with_db!(write self, p => {
            sqlx::query(insert).bind(key).bind(value).execute(&mut *p).await?;
            Ok(sqlx::query_scalar(select).bind(key).fetch_one(p).await?)
        })
    }
}

impl StoreTx {
    /// Records an audit entry with the change it describes: both land, or neither.
    pub async fn record_audit(&mut self, e: &AuditEntry) -> Result<()> {
        with_tx!(self, c => audit_insert!(e).execute(c).await?.rows_affected());
        Ok(())
    }
}
