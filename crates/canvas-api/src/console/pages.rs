//! The Runs page (the account's runs, filtered, keyset-paged) and a run's page.

use super::{ConsoleUser, layout};
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::run_list::{cursor, filter};
use crate::routes::runs::{cancel_run, owned_run};
use crate::routes::workflows::queue_run;
use crate::state::AppState;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use canvas_domain::time::{Timestamp, format_rfc3339};
use canvas_store::model::{Run, RunBlock, RunStatus};
use canvas_store::{RunFilter, RunSummary};
use maud::{Markup, html};
use uuid::Uuid;

const PAGE: i64 = 50;
/// Lines of a block's log a run page shows (the tail).
const LOG_LINES: usize = 50;
/// Characters of one shown log line or error.
const LINE_CHARS: usize = 400;

pub async fn runs(State(state): State<AppState>, user: ConsoleUser, params: Params) -> Response {
    match runs_page(&state, &user, &params).await {
        Ok(page) => page.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn runs_page(
    state: &AppState,
    user: &ConsoleUser,
    params: &Params,
) -> Result<Markup, ApiError> {
    let now = state.clock.now();
    let asked = filter(&user.acting, params, now)?;
    let limit = asked.limit.min(PAGE);
    let mut rows = state
        .store
        .list_runs(&RunFilter {
            limit: limit + 1,
            ..asked
        })
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let older = more
        .then(|| rows.last().map(cursor))
        .flatten()
        .map(|c| older_link(params, &c));
    let body = html! {
        h1 { "Runs" }
        (filters(params))
        @if rows.is_empty() { p.empty { "No run matches." } } @else {
            table.runs {
                thead { tr { th { "Status" } th { "Workflow" } th { "Trigger" } th { "Queued" } th { "Attempt" } th { "Blocks" } th { "Error" } } }
                tbody { @for row in &rows { (run_row(row, now)) } }
            }
        }
        @if let Some(href) = older { p { a.older href=(href) { "Older runs →" } } }
    };
    Ok(layout("Runs", Some(user), body))
}

fn filters(params: &Params) -> Markup {
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

fn run_row(row: &RunSummary, now: Timestamp) -> Markup {
    let r = &row.run;
    let total = r.run_till - r.run_from + 1;
    let error = r
        .error
        .as_deref()
        .and_then(|e| e.lines().next())
        .map(|l| cut(l, 160));
    html! {
        tr {
            td { (status(r)) }
            td { a href=(format!("/console/runs/{}", r.id)) { (display_name(&row.workflow_name)) } }
            td { (r.trigger.name()) }
            td { (when(&r.date_queued, now)) }
            td.num { (r.attempt) }
            td.num { (row.blocks_done) "/" (total)
                @if let Some(block) = &row.failed_block { " · " span.failed-block { (block) } } }
            td.error { @if let Some(e) = error { (e) } }
        }
    }
}

fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "(deleted workflow)"
    } else {
        name
    }
}

/// Status as a word and a mark, never colour alone; with how long it took.
fn status(r: &Run) -> Markup {
    let (mark, class) = match r.status {
        RunStatus::Queued => ("◌", "queued"),
        RunStatus::Running => ("▶", "running"),
        RunStatus::Succeeded => ("✓", "succeeded"),
        RunStatus::Failed => ("✗", "failed"),
        RunStatus::Cancelled => ("■", "cancelled"),
    };
    let took = r
        .date_started
        .zip(r.date_finished)
        .map(|(a, b)| seconds(b - a));
    html! {
        span class=(format!("status {class}")) { (mark) " " (r.status.name())
            @if let Some(took) = took { " after " (took) } }
    }
}

fn seconds(d: chrono::Duration) -> String {
    format!("{:.1} s", d.num_milliseconds() as f64 / 1000.0)
}

/// "3 min ago", the exact instant in the tooltip.
fn when(t: &Timestamp, now: Timestamp) -> Markup {
    let ago = (now - *t).num_seconds().max(0);
    let text = match ago {
        0..60 => format!("{ago} s ago"),
        60..3600 => format!("{} min ago", ago / 60),
        3600..86400 => format!("{} h ago", ago / 3600),
        _ => format!("{} d ago", ago / 86400),
    };
    html! { time datetime=(format_rfc3339(t)) title=(format_rfc3339(t)) { (text) } }
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

pub async fn run(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Response {
    match run_page(&state, &user, &id).await {
        Ok(page) => page.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn run_page(state: &AppState, user: &ConsoleUser, id: &str) -> Result<Markup, ApiError> {
    let run = owned_run(state, &user.acting, parse_run_id(id)?).await?;
    let blocks = state.store.run_blocks(run.id).await?;
    let workflow = state
        .store
        .workflow(run.workflow_id)
        .await
        .map(|w| w.name)
        .unwrap_or_default();
    let now = state.clock.now();
    let body = html! {
        h1 { (display_name(&workflow)) }
        dl.run {
            dt { "Status" } dd { (status(&run)) }
            dt { "Trigger" } dd { (run.trigger.name()) }
            dt { "Queued" } dd { (when(&run.date_queued, now)) }
            dt { "Attempt" } dd { (run.attempt) }
            dt { "Blocks" } dd { (run.run_from) "–" (run.run_till) }
            @if let Some(e) = &run.error { dt { "Error" } dd.error { (cut(e, 2000)) } }
        }
        (actions(user, &run))
        @for b in &blocks { (block(b, user, &run)) }
    };
    Ok(layout("Run", Some(user), body))
}

/// Cancel while the run may still stop; run the same blocks again once it ended.
fn actions(user: &ConsoleUser, run: &Run) -> Markup {
    let live = matches!(run.status, RunStatus::Queued | RunStatus::Running);
    let (action, label) = match live {
        true => ("cancel", "Cancel"),
        false => ("again", "Run again"),
    };
    html! {
        form.actions method="post" action=(format!("/console/runs/{}/{action}", run.id)) {
            input type="hidden" name="csrf" value=(user.csrf);
            button type="submit" { (label) }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ActionForm {
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
        Err(e) => e.into_response(),
    }
}

fn parse_run_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("Unknown run {raw}")))
}

fn block(b: &RunBlock, user: &ConsoleUser, run: &Run) -> Markup {
    let ended = !matches!(run.status, RunStatus::Queued | RunStatus::Running);
    let from = format!("/console/runs/{}/from/{}", run.id, b.number);
    let tail = b.log.len().saturating_sub(LOG_LINES);
    let took = b
        .date_started
        .zip(b.date_finished)
        .map(|(a, z)| seconds(z - a));
    html! {
        section.block {
            h2 { (b.number) ". " (b.block_name) " " span class=(format!("status {}", b.status.name().to_ascii_lowercase())) { (b.status.name()) } }
            p { "Records in " (b.records_in) ", out " (b.records_out) @if let Some(t) = took { " · " (t) } }
            @if let Some(e) = &b.error { p.error { (cut(e, 2000)) } }
            @if !b.log.is_empty() {
                @if tail > 0 { p.note { "The last " (LOG_LINES) " of " (b.log.len()) " log lines:" } }
                pre.log { @for line in &b.log[tail..] { (cut(line, LINE_CHARS)) "\n" } }
            }
            @if ended {
                form.actions method="post" action=(from) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    button type="submit" { "Run from this block" }
                }
            }
        }
    }
}
