//! The acting account's page (its applications and its workflows' health)
//! and the account switcher: the accounts an Admin's or SuperPartner's key
//! may act for (the API's `ManagedAccountId`), searchable.

use super::parts::{health, when};
use super::{ConsoleUser, layout};
use crate::auth::{client_ip, session_acting};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use canvas_store::model::Account;
use maud::{Markup, html};
use serde::Deserialize;

/// Workflows the account page shows health for.
const WORKFLOWS: usize = 200;
/// Accounts one search shows.
const ACCOUNTS: usize = 100;

pub async fn page(State(state): State<AppState>, user: ConsoleUser) -> Response {
    match account_page(&state, &user).await {
        Ok(page) => page.into_response(),
        Err(e) => super::problem(&user, e),
    }
}

async fn account_page(state: &AppState, user: &ConsoleUser) -> Result<Markup, ApiError> {
    let account = state.store.account(user.acting.account_id).await?;
    let now = state.clock.now();
    let day_ago = now - chrono::Duration::hours(24);
    let workflows = state.store.workflows(account.id).await?;
    let mut rows = Vec::new();
    for w in workflows.iter().take(WORKFLOWS) {
        rows.push((w, state.store.workflow_health(w.id, 10, day_ago).await?));
    }
    let registered = state.store.reg_applications(account.id).await?;
    let body = html! {
        h1 { (full_name(&account)) }
        p.note { (account.email) " · " (account.role) " · " (account.organization_name) }
        h2 { "Applications" }
        @if registered.is_empty() { p.note { "No application is registered." } } @else {
            table { thead { tr { th { "Application" } th { "Tag" } th { "State" } th { "Checked" } } }
                tbody { @for r in &registered { tr {
                    td { (state.catalog.application(r.application_id).map(|a| a.name.as_str()).unwrap_or("(unknown application)")) }
                    td { (r.tag_text) }
                    td { @if r.faulted { span.status.failed { "✗ faulted" } } @else if r.is_authenticated { span.status.succeeded { "✓ authenticated" } } @else { "◌ not checked" } }
                    td { @if let Some(t) = &r.date_authenticated { (when(t, now)) } }
                } } }
            }
        }
        h2 { "Workflows" }
        @if rows.is_empty() { p.note { "No workflow yet." } } @else {
            table.workflows { thead { tr { th { "Workflow" } th { "Status" } th { "Schedule" } th { "Last 10 runs" } } }
                tbody { @for (w, h) in &rows { tr {
                    td { a href=(format!("/console/workflows/{}", w.id)) { (w.name) } }
                    td { (w.status.name()) }
                    td { @match (&w.date_next_schedule, w.is_scheduled) { (Some(t), true) => { "next " (when(t, now)) }, _ => "off" } }
                    td { (health(h)) }
                } } }
            }
            @if workflows.len() > WORKFLOWS { p.note { "The first " (WORKFLOWS) " of " (workflows.len()) " workflows." } }
        }
    };
    Ok(layout("Account", Some(user), body))
}

pub(super) fn full_name(a: &Account) -> String {
    format!("{} {}", a.first_name, a.last_name)
}

/// `GET /console/accounts?q=`: the accounts the key may act for.
pub async fn accounts(
    State(state): State<AppState>,
    user: ConsoleUser,
    params: Params,
) -> Response {
    match accounts_page(&state, &user, params.text("q").unwrap_or_default()).await {
        Ok(page) => page.into_response(),
        Err(e) => super::problem(&user, e),
    }
}

/// The accounts the session's key may act for: its own, and for an Admin's
/// or SuperPartner's key the active accounts of its tree it may act as
/// (the API's `ManagedAccountId` rules); whether it manages a tree.
pub(super) async fn actable(
    state: &AppState,
    user: &ConsoleUser,
) -> Result<(Vec<Account>, bool), ApiError> {
    let key_account = state.store.account(user.acting.key_account_id).await?;
    let may = key_account.role.manages_organization_tree();
    if !may {
        return Ok((vec![key_account], false));
    }
    let tree = state
        .store
        .active_accounts_in_tree(key_account.organization_id)
        .await?;
    let actable = tree
        .into_iter()
        .filter(|a| a.id == key_account.id || key_account.role.may_act_as(a.role))
        .collect();
    Ok((actable, true))
}

async fn accounts_page(state: &AppState, user: &ConsoleUser, q: &str) -> Result<Markup, ApiError> {
    let (found, may) = actable(state, user).await?;
    let needle = q.trim().to_lowercase();
    let found: Vec<&Account> = found
        .iter()
        .filter(|a| needle.is_empty() || matches(a, &needle))
        .take(ACCOUNTS)
        .collect();
    let body = html! {
        h1 { "Accounts" }
        @if !may { p.note { "Only an Admin's or SuperPartner's key acts for other accounts." } }
        form.filters method="get" action="/console/accounts" {
            label { "Search " input name="q" value=(q) type="search" placeholder="name, e-mail or organization"; }
            button type="submit" { "Search" }
        }
        table { thead { tr { th { "Account" } th { "E-mail" } th { "Role" } th { "Organization" } th {} } }
            tbody { @for a in &found { tr {
                td { (full_name(a)) } td { (a.email) } td { (a.role) } td { (a.organization_name) }
                td { @if a.id == user.acting.account_id { "acting for it" } @else {
                    form method="post" action="/console/accounts/switch" {
                        input type="hidden" name="csrf" value=(user.csrf);
                        input type="hidden" name="account" value=(a.id);
                        button type="submit" { "Act for it" }
                    }
                } }
            } } }
        }
        @if found.len() == ACCOUNTS { p.note { "The first " (ACCOUNTS) " matches; search to narrow." } }
    };
    Ok(layout("Accounts", Some(user), body))
}

fn matches(a: &Account, needle: &str) -> bool {
    [full_name(a), a.email.clone(), a.organization_name.clone()]
        .iter()
        .any(|field| field.to_lowercase().contains(needle))
}

#[derive(Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: String,
}

/// Act for another account from now on: checked as the API checks a
/// `ManagedAccountId`, then kept in the session.
pub async fn switch(
    State(state): State<AppState>,
    user: ConsoleUser,
    parts: Parts,
    Form(form): Form<SwitchForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return user.expired_form();
    }
    let done = async {
        let ip = client_ip(&parts, &state.config.trusted_proxies)?;
        let account = uuid::Uuid::parse_str(form.account.trim()).map_err(|_| {
            ApiError::BadRequest(format!(
                "account: '{}' is not an account id",
                form.account.trim()
            ))
        })?;
        let own = account == user.acting.key_account_id;
        let chosen = (!own).then(|| account.to_string());
        session_acting(&user.consumer, chosen.as_deref(), ip, &state).await?;
        let store = &state.store;
        store
            .set_console_account(&user.token_hash, chosen.as_deref())
            .await?;
        Ok::<_, ApiError>(Redirect::to("/console/account"))
    };
    match done.await {
        Ok(to) => to.into_response(),
        Err(e) => super::problem(&user, e),
    }
}
