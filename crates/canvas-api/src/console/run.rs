//! A run's page: header, buttons, a timeline of its blocks with each
//! block's error and the tail of its log. While the run may still change
//! the page refreshes itself (htmx, from 2 s backing off, never while the
//! tab is hidden, stopping when the run ended). A block's records, log
//! pages and downloads load only when asked: a run with a 100 MB output
//! opens as fast as any other.

use super::account::full_name;
use super::parts::{cut, display_name, seconds, status, when};
use super::{ConsoleUser, layout};
use crate::auth::session_acting;
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::runs::owned_run;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use canvas_store::StoreError;
use canvas_store::model::{Account, Run, RunBlock, RunStatus};
use maud::{Markup, html};
use uuid::Uuid;

/// Bytes of log one page carries, over all its blocks.
pub const PAGE_LOG_BYTES: usize = 64 * 1024;
/// Characters of one shown log line or error.
const LINE_CHARS: usize = 400;
/// Refresh delays of a live run's page, in seconds: never faster than 2 s.
const REFRESH: [u64; 6] = [2, 2, 3, 5, 8, 13];

pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Response {
    let step = params.int("refresh", 0, 0..=100).unwrap_or(0) as usize;
    let shown = async {
        let shown = visible_run(&state, &user, parse_run_id(&id)?).await?;
        let live = view(&state, &user, &shown, step).await?;
        // htmx asks for the live part only.
        if headers.contains_key("hx-request") {
            return Ok::<_, ApiError>(live);
        }
        Ok(layout("Run", Some(&user), live))
    };
    match shown.await {
        Ok(page) => page.into_response(),
        Err(e) => super::problem(&user, e),
    }
}

/// A run the page may show, and the account it is of when that is not the
/// acting one (a partner's key reading a run of an account it may act for:
/// read-only until it acts for that account).
pub(super) struct Shown {
    pub run: Run,
    pub of_account: Option<Account>,
}

/// The acting account's run, or — for an Admin's or SuperPartner's key — a
/// run of an account the key may act for (the API's `ManagedAccountId`
/// check); anything else is unknown.
pub(super) async fn visible_run(
    state: &AppState,
    user: &ConsoleUser,
    id: Uuid,
) -> Result<Shown, ApiError> {
    let unknown = || ApiError::NotFound(format!("Unknown run {id}"));
    match owned_run(state, &user.acting, id).await {
        Ok(run) => {
            return Ok(Shown {
                run,
                of_account: None,
            });
        }
        Err(ApiError::NotFound(_)) if user.acting.role.manages_organization_tree() => {}
        Err(e) => return Err(e),
    }
    let found = |e: StoreError| match e {
        StoreError::NotFound => unknown(),
        other => ApiError::from(other),
    };
    let run = state.store.run(id).await.map_err(found)?;
    let workflow = state.store.workflow(run.workflow_id).await.map_err(found)?;
    let account = workflow.account_id.to_string();
    let ip = user.acting.client_ip;
    if session_acting(&user.consumer, Some(&account), ip, state)
        .await
        .is_err()
    {
        return Err(unknown());
    }
    let of_account = Some(state.store.account(workflow.account_id).await?);
    Ok(Shown { run, of_account })
}

pub(super) fn parse_run_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("Unknown run {raw}")))
}

fn live(run: &Run) -> bool {
    matches!(run.status, RunStatus::Queued | RunStatus::Running)
}

/// The part of the page that refreshes: everything about the run. While
/// the run is live it asks for itself again after the next delay.
async fn view(
    state: &AppState,
    user: &ConsoleUser,
    shown: &Shown,
    step: usize,
) -> Result<Markup, ApiError> {
    let run = &shown.run;
    // Buttons act as the acting account: none on another account's run.
    let act = shown.of_account.is_none().then_some(user);
    let blocks = state.store.run_blocks(run.id).await?;
    let workflow = state
        .store
        .workflow(run.workflow_id)
        .await
        .map(|w| w.name)
        .unwrap_or_default();
    let now = state.clock.now();
    let delay = REFRESH[step.min(REFRESH.len() - 1)];
    let again = format!("/console/runs/{}?refresh={}", run.id, step + 1);
    let log_share = PAGE_LOG_BYTES / blocks.len().max(1);
    Ok(html! {
        div #run hx-get=[live(run).then_some(again)] hx-trigger=[live(run).then(|| format!("load delay:{delay}s, visible-again"))]
            hx-swap="outerHTML" data-refresh[live(run)] {
            h1 { a href=(format!("/console/workflows/{}", run.workflow_id)) { (display_name(&workflow)) } }
            dl.run {
                dt { "Status" } dd { (status(run)) @if live(run) { " " span.note { "(this page refreshes itself)" } } }
                dt { "Trigger" } dd { (run.trigger.name()) @if let Some(t) = &run.fire_time { " · fire time " (when(t, now)) } }
                dt { "Queued" } dd { (when(&run.date_queued, now)) }
                @if let Some(t) = &run.date_started { dt { "Started" } dd { (when(t, now)) } }
                @if let Some(t) = &run.date_finished { dt { "Ended" } dd { (when(t, now)) } }
                dt { "Attempt" } dd { (run.attempt) }
                dt { "Blocks" } dd { (run.run_from) "–" (run.run_till) }
                @if let Some(e) = &run.error { dt { "Error" } dd.error { (cut(e, 2000)) } }
            }
            @match &shown.of_account {
                None => (actions(user, run)),
                Some(account) => (act_for(user, account)),
            }
            ol.timeline { @for b in &blocks { (block(b, act, run, log_share)) } }
        }
    })
}

/// Cancel while the run may still stop; run the same blocks again once it ended.
fn actions(user: &ConsoleUser, run: &Run) -> Markup {
    let (action, label) = match live(run) {
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

/// Another account's run: which account, and the switch to act for it.
fn act_for(user: &ConsoleUser, account: &Account) -> Markup {
    html! {
        form.actions method="post" action="/console/accounts/switch" {
            "A run of " strong { (full_name(account)) } " (" (account.organization_name) "). "
            input type="hidden" name="csrf" value=(user.csrf);
            input type="hidden" name="account" value=(account.id);
            button type="submit" { "Act for this account" }
        }
    }
}

/// One block of the timeline: status, duration, records in and out, its
/// error, the tail of its log within `log_bytes`, and what loads on demand;
/// with `act`, the button to run again from it.
fn block(b: &RunBlock, act: Option<&ConsoleUser>, run: &Run, log_bytes: usize) -> Markup {
    let base = format!("/console/runs/{}/blocks/{}", run.id, b.number);
    let took = b
        .date_started
        .zip(b.date_finished)
        .map(|(a, z)| seconds(z - a));
    let (mark, class) = super::parts::mark(b.status);
    let tail = log_tail(&b.log, log_bytes);
    html! {
        li.block id=(format!("block-{}", b.number)) {
            h2 { (b.number) ". " (b.block_name) " " span class=(format!("status {class}")) { (mark) " " (b.status.name()) } }
            p { "Records in " (b.records_in) ", out " (b.records_out) @if let Some(t) = took { " · " (t) } }
            @if let Some(e) = &b.error { p.error { (cut(e, 2000)) } }
            @if !b.log.is_empty() {
                @if tail.len() < b.log.len() {
                    p.note { "The last " (tail.len()) " of " (b.log.len()) " log lines · "
                        a href=(format!("{base}/log")) { "all, page by page" } " · " a href=(format!("{base}/log?download=1")) { "download" } }
                }
                pre.log { @for line in tail { (cut(line, LINE_CHARS)) "\n" } }
            }
            @if b.output_key.is_some() {
                // Kept as opened across the page's refreshes (hx-preserve, by its id).
                details.records id=(format!("records-{}", b.number)) hx-preserve hx-get=(format!("{base}/records"))
                    hx-trigger="toggle once" hx-target="find .preview" hx-swap="innerHTML" {
                    summary { "Records (the first 100) · " a href=(format!("{base}/output")) { "download all" } }
                    div.preview { a href=(format!("{base}/records")) { "Open the first 100 records" } }
                }
            }
            @if let (false, Some(user)) = (live(run), act) {
                form.actions method="post" action=(format!("/console/runs/{}/from/{}", run.id, b.number)) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    button type="submit" { "Run from this block" }
                }
            }
        }
    }
}

/// The last lines of `log` that fit in `bytes` of the page (each line as
/// shown: cut, then HTML-escaped).
fn log_tail(log: &[String], bytes: usize) -> &[String] {
    let mut used = 0;
    let mut from = log.len();
    while from > 0 {
        let line = escaped_len(&cut(&log[from - 1], LINE_CHARS)) + 1;
        if used + line > bytes {
            break;
        }
        used += line;
        from -= 1;
    }
    &log[from..]
}

/// The length of `text` once HTML-escaped as maud escapes it.
pub(super) fn escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'&' => 5,
            b'<' | b'>' => 4,
            b'"' => 6,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_tail_keeps_the_newest_lines_within_its_bytes() {
        let log: Vec<String> = (0..1000).map(|i| format!("line {i:04}")).collect();
        let tail = log_tail(&log, 100);
        assert_eq!(tail.len(), 10, "10 bytes a line");
        assert_eq!(tail.last().unwrap(), "line 0999");
        assert!(log_tail(&log, 5).is_empty());
        let long = vec!["x".repeat(1_000_000)];
        assert_eq!(
            log_tail(&long, PAGE_LOG_BYTES).len(),
            1,
            "a long line counts as shown, cut"
        );
    }
}
