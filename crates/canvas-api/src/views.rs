//! Response bodies, field for field and in the order of the seed's examples.

use canvas_domain::catalog::{Application, ChainBlock, CredentialField, Template};
use canvas_domain::time::{Timestamp, format_offset, format_plain};
use canvas_store::model::{Account, AuditEntry, RegApplication, WorkflowSummary};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

fn plain(t: &Timestamp) -> String {
    format_plain(t)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    id: Uuid,
    first_name: String,
    last_name: String,
    email: String,
    organization_id: Uuid,
    organization_name: String,
    role_id: Uuid,
    role: &'static str,
    date_created: String,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            email: a.email.clone(),
            organization_id: a.organization_id,
            organization_name: a.organization_name.clone(),
            role_id: a.role.id(),
            role: a.role.name(),
            date_created: plain(&a.date_created),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationView<'a> {
    id: Uuid,
    name: &'a str,
    short_name: &'a str,
    description: &'a str,
    vendor_url: &'a str,
    credential_fields: &'a [CredentialField],
    credentials_json: Map<String, Value>,
    tag: &'a str,
    session_time_mins: i64,
    session_sliding_expiry: bool,
}

impl<'a> From<&'a Application> for ApplicationView<'a> {
    fn from(a: &'a Application) -> Self {
        Self {
            id: a.id,
            name: &a.name,
            short_name: &a.short_name,
            description: &a.description,
            vendor_url: &a.vendor_url,
            credential_fields: &a.credential_fields,
            credentials_json: a
                .credential_fields
                .iter()
                .map(|f| (f.short_name.clone(), Value::Null))
                .collect(),
            tag: &a.tag,
            session_time_mins: a.session_time_mins,
            session_sliding_expiry: a.session_sliding_expiry,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegApplicationView<'a> {
    id: Uuid,
    short_name: &'a str,
    account_id: Uuid,
    application_id: Uuid,
    name: &'a str,
    tag_text: &'a str,
    description: &'a str,
    is_authenticated: bool,
    is_o_auth_app: bool,
    date_modified: String,
    date_time_utc_authenticated: Option<String>,
    date_time_for_re_auth: Option<String>,
    session_time_mins: i64,
    session_sliding_expiry: bool,
    faulted: bool,
}

impl<'a> RegApplicationView<'a> {
    pub fn new(r: &'a RegApplication, app: &'a Application) -> Self {
        Self {
            id: r.id,
            short_name: &app.short_name,
            account_id: r.account_id,
            application_id: r.application_id,
            name: &app.name,
            tag_text: &r.tag_text,
            description: &app.description,
            is_authenticated: r.is_authenticated,
            is_o_auth_app: app.is_o_auth_app,
            date_modified: plain(&r.date_modified),
            date_time_utc_authenticated: r.date_authenticated.as_ref().map(plain),
            date_time_for_re_auth: r.date_reauth.as_ref().map(plain),
            session_time_mins: app.session_time_mins,
            session_sliding_expiry: app.session_sliding_expiry,
            faulted: r.faulted,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView<'a> {
    id: Uuid,
    name: &'a str,
    description: &'a str,
    date_created: String,
    date_modified: String,
    state: &'static str,
    version: Option<&'a str>,
    draft_is_committed: Option<bool>,
    date_committed: Option<String>,
    organization_id: Option<Uuid>,
    applications: &'a [String],
    chain: &'a [ChainBlock],
}

impl<'a> From<&'a Template> for TemplateView<'a> {
    fn from(t: &'a Template) -> Self {
        Self {
            id: t.id,
            name: &t.name,
            description: &t.description,
            date_created: plain(&t.date_created),
            date_modified: plain(&t.date_modified),
            state: t.state.name(),
            version: t.version.as_deref(),
            draft_is_committed: t.draft_is_committed,
            date_committed: t.date_committed.as_ref().map(plain),
            organization_id: t.organization_id,
            applications: &t.applications,
            chain: &t.chain,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowView<'a> {
    id: Uuid,
    name: &'a str,
    description: &'a str,
    status: &'static str,
    is_scheduled: bool,
    scheduler_frequency: Option<&'a str>,
    workflow_template_id: Option<Uuid>,
    is_customized_structure: bool,
    account_id: Uuid,
    organization_id: Uuid,
    date_created: String,
    date_modified: String,
    date_last_run: Option<String>,
    date_next_schedule: Option<String>,
    reg_application_ids: Vec<Uuid>,
    current_block: i64,
}

impl<'a> From<&'a WorkflowSummary> for WorkflowView<'a> {
    fn from(w: &'a WorkflowSummary) -> Self {
        Self {
            id: w.id,
            name: &w.name,
            description: &w.description,
            status: w.status.name(),
            is_scheduled: w.is_scheduled,
            scheduler_frequency: w.schedule_frequency.as_deref(),
            workflow_template_id: w.template_id,
            is_customized_structure: w.is_customized_structure,
            account_id: w.account_id,
            organization_id: w.organization_id,
            date_created: plain(&w.date_created),
            date_modified: plain(&w.date_modified),
            date_last_run: w.date_last_run.as_ref().map(format_offset),
            date_next_schedule: w.date_next_schedule.as_ref().map(format_offset),
            reg_application_ids: w.reg_application_ids(),
            current_block: w.current_block,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditView<'a> {
    id: Uuid,
    at: String,
    organization_id: Uuid,
    actor_account_id: Option<Uuid>,
    acting_account_id: Option<Uuid>,
    action: &'a str,
    target: Option<&'a str>,
    client_ip: Option<&'a str>,
}

impl<'a> From<&'a AuditEntry> for AuditView<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        Self {
            id: e.id,
            at: plain(&e.at),
            organization_id: e.organization_id,
            actor_account_id: e.actor_account_id,
            acting_account_id: e.acting_account_id,
            action: &e.action,
            target: e.target.as_deref(),
            client_ip: e.client_ip.as_deref(),
        }
    }
}
