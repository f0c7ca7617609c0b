//! `GET /api/Runs`: the acting account's runs across its workflows, newest
//! first, filtered and keyset-paged — the query behind the console's Runs
//! page, for API clients too. A row says how far the run got; it never
//! carries a log or records.

use super::runs::{json, summary};
use crate::auth::Acting;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, parse_guid};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canvas_domain::time::{Timestamp, format_offset};
use canvas_store::model::{RunStatus, RunTrigger};
use canvas_store::{RunFilter, RunKey, RunSummary};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

pub async fn list(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<Value>> {
    let filter = filter(&acting, &params, state.clock.now())?;
    let limit = filter.limit;
    let asked = RunFilter {
        limit: limit + 1,
        ..filter
    };
    let mut rows = state.store.list_runs(&asked).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last().map(cursor)).flatten();
    json(Page {
        runs: rows.iter().map(Row::new).collect(),
        next,
    })
}

/// The filter the query string asks for.
pub(crate) fn filter(acting: &Acting, params: &Params, now: Timestamp) -> ApiResult<RunFilter> {
    let workflow = match params.text("workflowId").filter(|s| !s.trim().is_empty()) {
        Some(raw) => Some(parse_guid("workflowId", raw)?),
        None => None,
    };
    let (since, until) = window(params, now)?;
    Ok(RunFilter {
        account: acting.account_id,
        workflow,
        statuses: statuses(params.text("status"))?,
        trigger: trigger(params.text("trigger"))?,
        since,
        until,
        after: params.text("after").map(parse_cursor).transpose()?,
        limit: params.int("top", 50, 1..=100)?,
    })
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// `status=Failed,Cancelled`: any of these (case-insensitive).
fn statuses(raw: Option<&str>) -> ApiResult<Vec<RunStatus>> {
    let names = raw.unwrap_or_default().split(',').map(str::trim);
    names
        .filter(|s| !s.is_empty())
        .map(|name| {
            RunStatus::ALL
                .into_iter()
                .find(|s| s.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    bad(format!(
                        "status: '{name}' is not one of Queued, Running, Succeeded, Failed, Cancelled"
                    ))
                })
        })
        .collect()
}

fn trigger(raw: Option<&str>) -> ApiResult<Option<RunTrigger>> {
    let Some(name) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    [RunTrigger::Manual, RunTrigger::Schedule]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(name))
        .map(Some)
        .ok_or_else(|| bad(format!("trigger: '{name}' is not one of Manual, Schedule")))
}

/// `window=1h|24h|7d` (back from now), or `since` / `until` as RFC 3339 instants.
fn window(params: &Params, now: Timestamp) -> ApiResult<(Option<Timestamp>, Option<Timestamp>)> {
    let instant = |name: &str| -> ApiResult<Option<Timestamp>> {
        let Some(raw) = params.text(name).map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        raw.parse::<Timestamp>().map(Some).map_err(|_| {
            bad(format!(
                "{name}: '{raw}' is not an instant (expected e.g. 2026-12-01T08:00:00Z)"
            ))
        })
    };
    let back = match params.text("window").map(str::trim) {
        None | Some("") => None,
        Some("1h") => Some(chrono::Duration::hours(1)),
        Some("24h") => Some(chrono::Duration::hours(24)),
        Some("7d") => Some(chrono::Duration::days(7)),
        Some(other) => return Err(bad(format!("window: '{other}' is not one of 1h, 24h, 7d"))),
    };
    let since = match back {
        Some(back) => Some(now - back),
        None => instant("since")?,
    };
    Ok((since, instant("until")?))
}

/// Where the next page starts: the last row's place, opaque to clients.
pub(crate) fn cursor(row: &RunSummary) -> String {
    let key = format!("{}|{}", row.run.date_queued.timestamp_micros(), row.run.id);
    URL_SAFE_NO_PAD.encode(key)
}

fn parse_cursor(raw: &str) -> ApiResult<RunKey> {
    let refused = || bad("after: is not a cursor this API gave (use a response's next)".into());
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| refused())?;
    let text = String::from_utf8(bytes).map_err(|_| refused())?;
    let (micros, id) = text.split_once('|').ok_or_else(refused)?;
    let micros: i64 = micros.parse().map_err(|_| refused())?;
    Ok(RunKey {
        date_queued: Timestamp::from_timestamp_micros(micros).ok_or_else(refused)?,
        id: Uuid::parse_str(id).map_err(|_| refused())?,
    })
}

#[derive(Serialize)]
struct Page<'a> {
    runs: Vec<Row<'a>>,
    /// Pass as `after` for the next page; null on the last.
    next: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    id: Uuid,
    workflow_id: Uuid,
    workflow_name: &'a str,
    status: &'static str,
    trigger: &'static str,
    attempt: i64,
    date_queued: String,
    date_started: Option<String>,
    date_finished: Option<String>,
    /// Started to finished (or to now, for a running run: null).
    duration_ms: Option<i64>,
    date_scheduled: Option<String>,
    blocks_done: i64,
    blocks_total: i64,
    failed_block: Option<&'a str>,
    /// The error's first line, cut.
    error: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> Row<'a> {
    fn new(s: &'a RunSummary) -> Self {
        let r = &s.run;
        let duration = r
            .date_started
            .zip(r.date_finished)
            .map(|(a, b)| (b - a).num_milliseconds());
        Self {
            id: r.id,
            workflow_id: r.workflow_id,
            workflow_name: &s.workflow_name,
            status: r.status.name(),
            trigger: r.trigger.name(),
            attempt: r.attempt,
            date_queued: format_offset(&r.date_queued),
            date_started: r.date_started.as_ref().map(format_offset),
            date_finished: r.date_finished.as_ref().map(format_offset),
            duration_ms: duration,
            date_scheduled: r.fire_time.as_ref().map(format_offset),
            blocks_done: s.blocks_done,
            blocks_total: r.run_till - r.run_from + 1,
            failed_block: s.failed_block.as_deref(),
            error: r
                .error
                .as_deref()
                .map(|e| summary(e.lines().next().unwrap_or_default())),
        }
    }
}
