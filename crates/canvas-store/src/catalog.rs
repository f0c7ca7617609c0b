//! Registered applications and organization templates.

use crate::model::RegApplication;
use crate::tx::with_tx;
use crate::{Result, Store, StoreError, StoreTx, from_json, to_json, with_db};
use canvas_domain::catalog::{Template, TemplateState};
use canvas_domain::time::Timestamp;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct RegApplicationRow {
    id: Uuid,
    account_id: Uuid,
    application_id: Uuid,
    tag_text: String,
    credentials: Vec<u8>,
    is_authenticated: bool,
    faulted: bool,
    date_modified: Timestamp,
    date_authenticated: Option<Timestamp>,
    date_reauth: Option<Timestamp>,
}

impl From<RegApplicationRow> for RegApplication {
    fn from(r: RegApplicationRow) -> Self {
        RegApplication {
            id: r.id,
            account_id: r.account_id,
            application_id: r.application_id,
            tag_text: r.tag_text,
            credentials: r.credentials,
            is_authenticated: r.is_authenticated,
            faulted: r.faulted,
            date_modified: r.date_modified,
            date_authenticated: r.date_authenticated,
            date_reauth: r.date_reauth,
        }
    }
}

macro_rules! reg_app_select {
    () => {
        "SELECT id, account_id, application_id, tag_text, credentials, is_authenticated, faulted, \
         date_modified, date_authenticated, date_reauth FROM reg_applications "
    };
}

#[derive(sqlx::FromRow)]
struct TemplateRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    description: String,
    state: String,
    version: Option<String>,
    draft_is_committed: Option<bool>,
    date_created: Timestamp,
    date_modified: Timestamp,
    date_committed: Option<Timestamp>,
    applications: String,
    chain: String,
    committed: Option<String>,
}

impl TryFrom<TemplateRow> for Template {
    type Error = StoreError;
    fn try_from(r: TemplateRow) -> Result<Self> {
        let state = match r.state.as_str() {
            "Draft" => TemplateState::Draft,
            "Published" => TemplateState::Published,
            other => return Err(StoreError::Corrupt(format!("templates.state: {other}"))),
        };
        Ok(Template {
            id: r.id,
            organization_id: Some(r.organization_id),
            name: r.name,
            description: r.description,
            date_created: r.date_created,
            date_modified: r.date_modified,
            state,
            version: r.version,
            draft_is_committed: r.draft_is_committed,
            date_committed: r.date_committed,
            applications: from_json("templates.applications", &r.applications)?,
            chain: from_json("templates.chain", &r.chain)?,
            committed: r
                .committed
                .as_deref()
                .map(|c| from_json("templates.committed", c))
                .transpose()?,
        })
    }
}

macro_rules! template_select {
    () => {
        "SELECT id, organization_id, name, description, state, version, draft_is_committed, \
         date_created, date_modified, date_committed, applications, chain, committed FROM templates "
    };
}

impl Store {
    pub async fn insert_reg_application(&self, r: &RegApplication) -> Result<()> {
        let sql = "INSERT INTO reg_applications (id, account_id, application_id, tag_text, credentials, \
                   is_authenticated, faulted, date_modified, date_authenticated, date_reauth) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        with_db!(write self, p => sqlx::query(sql)
            .bind(r.id).bind(r.account_id).bind(r.application_id).bind(&r.tag_text).bind(&r.credentials)
            .bind(r.is_authenticated).bind(r.faulted).bind(r.date_modified).bind(r.date_authenticated).bind(r.date_reauth)
            .execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn reg_applications(&self, account: Uuid) -> Result<Vec<RegApplication>> {
        let sql = concat!(
            reg_app_select!(),
            "WHERE account_id = $1 ORDER BY date_modified, id"
        );
        let rows: Vec<RegApplicationRow> =
            with_db!(self, p => sqlx::query_as(sql).bind(account).fetch_all(p).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A run found the credentials refused: `faulted`, no longer authenticated.
    pub async fn mark_faulted(&self, id: Uuid) -> Result<()> {
        let sql =
            "UPDATE reg_applications SET faulted = TRUE, is_authenticated = FALSE WHERE id = $1";
        with_db!(write self, p => sqlx::query(sql).bind(id).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn reg_application(&self, id: Uuid) -> Result<RegApplication> {
        let sql = concat!(reg_app_select!(), "WHERE id = $1");
        let row: RegApplicationRow =
            with_db!(self, p => sqlx::query_as(sql).bind(id).fetch_one(p).await?);
        Ok(row.into())
    }

    /// Templates owned by `organization` or any organization above it.
    pub async fn templates_visible_to(&self, organization: Uuid) -> Result<Vec<Template>> {
        let sql = concat!(
            "WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM organizations WHERE id = $1 \
             UNION ALL SELECT o.id, o.parent_id FROM organizations o JOIN up ON o.id = up.parent_id) ",
            template_select!(),
            "WHERE organization_id IN (SELECT id FROM up) ORDER BY date_created, id"
        );
        let rows: Vec<TemplateRow> =
            with_db!(self, p => sqlx::query_as(sql).bind(organization).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn template(&self, id: Uuid) -> Result<Template> {
        let sql = concat!(template_select!(), "WHERE id = $1");
        let row: TemplateRow =
            with_db!(self, p => sqlx::query_as(sql).bind(id).fetch_one(p).await?);
        row.try_into()
    }

    /// Inserts or replaces an organization template.
    pub async fn save_template(&self, t: &Template) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.save_template(t).await?;
        tx.commit().await
    }
}

impl StoreTx {
    /// Inserts or replaces an organization template, in this transaction.
    pub async fn save_template(&mut self, t: &Template) -> Result<()> {
        let org = t.organization_id.ok_or(StoreError::Corrupt(
            "built-in templates are not stored".into(),
        ))?;
        let sql = "INSERT INTO templates (id, organization_id, name, description, state, version, draft_is_committed, \
                   date_created, date_modified, date_committed, applications, chain, committed) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                   ON CONFLICT (id) DO UPDATE SET name = $3, description = $4, state = $5, version = $6, \
                   draft_is_committed = $7, date_modified = $9, date_committed = $10, applications = $11, \
                   chain = $12, committed = $13";
        with_tx!(self, c => sqlx::query(sql)
            .bind(t.id).bind(org).bind(&t.name).bind(&t.description).bind(t.state.name()).bind(&t.version)
            .bind(t.draft_is_committed).bind(t.date_created).bind(t.date_modified).bind(t.date_committed)
            .bind(to_json(&t.applications)).bind(to_json(&t.chain)).bind(t.committed.as_ref().map(to_json))
            .execute(c).await?.rows_affected());
        Ok(())
    }
}
