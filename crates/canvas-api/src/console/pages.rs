//! The Runs page (the account's runs, filtered, keyset-paged) and a run's
//! buttons (cancel, run again, run from a block).

use super::account::full_name;
use super::parts::{cut, display_name, status, when};
use super::run::parse_run_id;
use super::{ConsoleUser, layout};
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::run_list::{cursor, filter};
use crate::routes::runs::{cancel_run, owned_run};
use crate::routes::workflows::queue_run;
use crate::state::AppState;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use canvas_domain::time::Timestamp;
use canvas_store::model::{Account, RunStatus};
use canvas_store::{RunFilter, RunSummary};
use maud::{Markup, html};

const PAGE: i64 = 50;

pub async fn runs(State(state): State<AppState>, user: ConsoleUser, params: Params) -> Response {
    match runs_page(&state, &user, &params).await {
        Ok(page) => page.into_response(),
        Err(e) => super::problem(&user, e),
    }
}

async fn runs_page(
    state: &AppState,
    user: &ConsoleUser,
    params: &Params,
) -> Result<Markup, ApiError> {
    let now = state.clock.now();
    let asked = filter(&user.acting, params, now)?;
    let workflows: Vec<(String, String)> = state
        .store
        .workflows(user.acting.account_id)
        .await?
        .into_iter()
        .take(500)
        .map(|w| (w.id.to_string(), w.name))
        .collect();
    let limit = asked.limit.min(PAGE);
    let asked = RunFilter {
        limit: limit + 1,
        ..asked
    };
    // A partner's key: the accounts it acts for, to list their runs too.
    let actable = match user.acting.role.manages_organization_tree() {
        true => super::account::actable(state, user).await?.0,
        false => Vec::new(),
    };
    let across = chosen_accounts(params.text("accounts").unwrap_or_default(), &actable);
    let mut rows = match &across {
        None => state
            .store
            .list_runs(&asked)
            .await?
            .into_iter()
            .map(|r| (None, r))
            .collect(),
        Some(accounts) => runs_across(state, accounts, &asked).await?,
    };
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let older = more
        .then(|| rows.last().map(|(_, r)| cursor(r)))
        .flatten()
        .map(|c| older_link(params, &c));
    let body = html! {
        h1 { "Runs" }
        (filters(params, &workflows, &actable))
        @if rows.is_empty() { p.empty { "No run matches." } } @else {
            div.scroll { table.runs {
                thead { tr { th { "Status" } th { "Workflow" } @if across.is_some() { th { "Account" } } th { "Trigger" } th { "Queued" } th { "Started" } th { "Attempt" } th { "Blocks" } th { "Error" } } }
                tbody { @for (account, row) in &rows { (run_row(row, account.as_deref(), now)) } }
            } }
        }
        @if let Some(href) = older { p { a.older href=(href) { "Older runs →" } } }
    };
    Ok(layout("Runs", Some(user), body))
}

/// Accounts one page of "all accounts" reads (one index range each).
const ACROSS_ACCOUNTS: usize = 100;

/// Which accounts' runs `accounts=` asks for: none (the acting account's
/// own list), `all` (the first 100 the key acts for) or one of them.
fn chosen_accounts<'a>(asked: &str, actable: &'a [Account]) -> Option<Vec<&'a Account>> {
    match asked {
        "" => None,
        _ if actable.is_empty() => None,
        "all" => Some(actable.iter().take(ACROSS_ACCOUNTS).collect()),
        id => Some(actable.iter().filter(|a| a.id.to_string() == id).collect()),
    }
}

/// A page of the runs of `accounts`, each with its account's name.
async fn runs_across(
    state: &AppState,
    accounts: &[&Account],
    asked: &RunFilter,
) -> Result<Vec<(Option<String>, RunSummary)>, ApiError> {
    let ids: Vec<uuid::Uuid> = accounts.iter().map(|a| a.id).collect();
    let name = |id| accounts.iter().find(|a| a.id == id).map(|a| full_name(a));
    let rows = state.store.list_runs_across(&ids, asked).await?;
    let named = rows
        .into_iter()
        .map(|(a, r)| (Some(name(a).unwrap_or_default()), r));
    Ok(named.collect())
}

/// The filter form, filled in from the URL (so a link reproduces the view).
fn filters(params: &Params, workflows: &[(String, String)], actable: &[Account]) -> Markup {
    let accounts = params.text("accounts").unwrap_or_default();
    let workflow = params.text("workflowId").unwrap_or_default();
    let (since, until) = (
        params.text("since").unwrap_or_default(),
        params.text("until").unwrap_or_default(),
    );
    let chosen = params
        .text("status")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let window = params.text("window").unwrap_or_default();
    let trigger = params.text("trigger").unwrap_or_default();
    html! {
        form.filters method="get" action="/console/runs" {
            fieldset { legend { "Status" }
                @for s in RunStatus::ALL {
                    label { input type="checkbox" name="status" value=(s.name())
                        checked[chosen.split(',').any(|c| c.trim() == s.name().to_ascii_lowercase())]; (s.name()) }
                }
            }
            label { "Trigger " select name="trigger" {
                option value="" selected[trigger.is_empty()] { "Any" }
                option value="Manual" selected[trigger == "Manual"] { "Manual" }
                option value="Schedule" selected[trigger == "Schedule"] { "Schedule" }
            } }
            label { "Window " select name="window" {
                option value="" selected[window.is_empty()] { "All time" }
                @for w in ["1h", "24h", "7d"] { option value=(w) selected[window == w] { (w) } }
            } }
            @if !actable.is_empty() { label { "Account " select name="accounts" {
                option value="" selected[accounts.is_empty()] { "This account" }
                option value="all" selected[accounts == "all"] { "All I act for" }
                @for a in actable.iter().take(ACROSS_ACCOUNTS) {
                    option value=(a.id) selected[accounts == a.id.to_string()] { (full_name(a)) }
                }
            } } }
            label { "Workflow " select name="workflowId" {
                option value="" selected[workflow.is_empty()] { "Any" }
                @for (id, name) in workflows { option value=(id) selected[workflow == id] { (name) } }
            } }
            label { "Since " input name="since" value=(since) placeholder="2026-12-01T08:00:00Z" size="20"; }
            label { "Until " input name="until" value=(until) placeholder="2026-12-02T08:00:00Z" size="20"; }
            button type="submit" { "Filter" }
        }
    }
}

/// The same filters, from the last row on.
fn older_link(params: &Params, cursor: &str) -> String {
    let mut query: Vec<(String, String)> = [
        "status",
        "trigger",
        "window",
        "workflowId",
        "accounts",
        "since",
        "until",
    ]
    .iter()
    .filter_map(|k| params.text(k).map(|v| (k.to_string(), v.to_string())))
    .collect();
    query.push(("after".into(), cursor.to_string()));
    let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
    format!("/console/runs?{encoded}")
}

/// A run's row; with `account`, the account's name in a column of its own.
fn run_row(row: &RunSummary, account: Option<&str>, now: Timestamp) -> Markup {
    let r = &row.run;
    let total = r.run_till - r.run_from + 1;
    let error = r
        .error
        .as_deref()
        .and_then(|e| e.lines().next())
        .map(|l| cut(l, 160));
    html! {
        tr {
            td { a.run href=(format!("/console/runs/{}", r.id)) { (status(r)) } }
            // Another account's workflow opens once the console acts for it.
            td { @if account.is_none() { a href=(format!("/console/workflows/{}", r.workflow_id)) { (display_name(&row.workflow_name)) } }
                @else { (display_name(&row.workflow_name)) } }
            @if let Some(name) = account { td { (name) } }
            td { (r.trigger.name()) }
            td { (when(&r.date_queued, now)) }
            td { @if let Some(t) = &r.date_started { (when(t, now)) } }
            td.num { (r.attempt) }
            td.num { (row.blocks_done) "/" (total)
                @if let Some(block) = &row.failed_block { " · " span.failed-block { (block) } } }
            td.error { @if let Some(e) = error { (e) } }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// What a run's button asks: cancel it, or run its blocks again.
enum Action {
    Cancel,
    Again,
    /// Run the run's blocks again from this one (its input is the stored
    /// output of the block before).
    From(i64),
}

pub async fn cancel(
    state: State<AppState>,
    user: ConsoleUser,
    id: Path<String>,
    form: Form<ActionForm>,
) -> Response {
    act(state, user, id, form, Action::Cancel).await
}

pub async fn again(
    state: State<AppState>,
    user: ConsoleUser,
    id: Path<String>,
    form: Form<ActionForm>,
) -> Response {
    act(state, user, id, form, Action::Again).await
}

pub async fn from_block(
    state: State<AppState>,
    user: ConsoleUser,
    Path((id, block)): Path<(String, i64)>,
    form: Form<ActionForm>,
) -> Response {
    act(state, user, Path(id), form, Action::From(block)).await
}

/// A button's form, checked (CSRF, the run is the account's), then done;
/// the answer is a redirect to where the outcome shows.
async fn act(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
    action: Action,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return user.expired_form();
    }
    let done = async {
        let run = owned_run(&state, &user.acting, parse_run_id(&id)?).await?;
        Ok::<_, ApiError>(match action {
            Action::Cancel => {
                cancel_run(&state, &user.acting, run.id).await?;
                format!("/console/runs/{}", run.id)
            }
            Action::Again | Action::From(_) => {
                let from = match action {
                    Action::From(block) => block,
                    _ => run.run_from,
                };
                let blocks = (Some(from), Some(run.run_till));
                queue_run(&state, &user.acting, run.workflow_id, blocks).await?;
                format!("/console/runs?workflowId={}", run.workflow_id)
            }
        })
    };
    match done.await {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => super::problem(&user, e),
    }
}
