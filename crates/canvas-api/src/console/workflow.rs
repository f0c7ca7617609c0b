//! A workflow's page: its template, blocks and their variables, its
//! applications, its health, and its schedule — the Quartz expression and
//! time zone checked on the server, the next fire times shown before saving.

use super::parts::{cut, health, when};
use super::{ConsoleUser, layout};
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::workflows::{change_schedule, owned_workflow};
use crate::state::AppState;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use canvas_domain::schedule::Schedule;
use canvas_domain::time::{Timestamp, format_rfc3339};
use canvas_store::model::Workflow;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

/// Fire times a schedule's preview shows.
const NEXT_FIRES: usize = 5;
/// Runs the health strip shows.
const RECENT_RUNS: i64 = 10;

pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    params: Params,
) -> Response {
    let saved = match params.text("saved") {
        Some("on") => Notice::Saved("Schedule saved: the scheduler is on."),
        Some("off") => Notice::Saved("Schedule saved: the scheduler is off."),
        _ => Notice::None,
    };
    let shown = async {
        let w = owned_workflow(&state, &user.acting, parse_id(&id)?).await?;
        render(&state, &user, &w, &ScheduleForm::stored(&w), saved).await
    };
    match shown.await {
        Ok(page) => page.into_response(),
        Err(e) => super::problem(&user, e),
    }
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("Unknown workflow {raw}")))
}

/// The schedule form as posted (or as stored, for the first view).
#[derive(Deserialize, Default)]
pub struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cron: String,
    #[serde(default, rename = "timeZone")]
    time_zone: String,
    /// A checkbox: present when ticked.
    enabled: Option<String>,
    /// `preview` or `save`.
    #[serde(default)]
    intent: String,
}

impl ScheduleForm {
    fn stored(w: &Workflow) -> Self {
        let stored: serde_json::Value = w
            .schedule_frequency
            .as_deref()
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or_default();
        let text = |name: &str| stored[name].as_str().unwrap_or_default().to_string();
        Self {
            cron: text("cronSchedule"),
            time_zone: text("timeZone"),
            enabled: w.is_scheduled.then(|| "on".into()),
            ..Self::default()
        }
    }

    /// The API's `scheduleFrequency` of this form.
    fn frequency(&self) -> String {
        let zone = Some(self.time_zone.trim()).filter(|z| !z.is_empty());
        serde_json::json!({"cronSchedule": self.cron.trim(), "timeZone": zone.unwrap_or("UTC")})
            .to_string()
    }

    /// The next fire times after `now` in the form's zone, or why there are none.
    fn preview(&self, now: Timestamp) -> Result<Vec<String>, String> {
        if self.cron.trim().is_empty() {
            return Ok(Vec::new());
        }
        let schedule =
            Schedule::parse_frequency(&self.frequency(), now).map_err(|e| e.to_string())?;
        let mut at = now;
        let mut fires = Vec::new();
        while fires.len() < NEXT_FIRES {
            let Some(next) = schedule.next_after(at) else {
                break;
            };
            let local = next.with_timezone(&schedule.tz);
            fires.push(format!(
                "{} ({})",
                local.format("%a %Y-%m-%d %H:%M:%S %Z"),
                format_rfc3339(&next)
            ));
            at = next;
        }
        match fires.is_empty() {
            true => Err(format!("'{}' never fires after now", self.cron.trim())),
            false => Ok(fires),
        }
    }
}

/// What the page says above the schedule form.
enum Notice<'a> {
    None,
    Saved(&'a str),
    Refused(&'a str),
}

/// `POST /console/workflows/{id}/schedule`: preview the form's next fire
/// times, or save it (the API's WorkflowScheduler, same checks and audit);
/// a schedule refused comes back in the form, as typed, with the reason.
pub async fn schedule(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return user.expired_form();
    }
    let done = async {
        let w = owned_workflow(&state, &user.acting, parse_id(&id)?).await?;
        if form.intent != "save" {
            let status = match form.preview(state.clock.now()) {
                Ok(_) => StatusCode::OK,
                Err(_) => StatusCode::BAD_REQUEST,
            };
            let page = render(&state, &user, &w, &form, Notice::None).await?;
            return Ok((status, page).into_response());
        }
        let frequency = (!form.cron.trim().is_empty()).then(|| form.frequency());
        let enable = form.enabled.is_some();
        match change_schedule(&state, &user.acting, &w, enable, frequency.as_deref()).await {
            Ok(_) => {
                let state = if enable { "on" } else { "off" };
                let to = format!("/console/workflows/{}?saved={state}", w.id);
                Ok(Redirect::to(&to).into_response())
            }
            Err(ApiError::BadRequest(why)) => {
                let page = render(&state, &user, &w, &form, Notice::Refused(&why)).await?;
                Ok((StatusCode::BAD_REQUEST, page).into_response())
            }
            Err(e) => Err(e),
        }
    };
    match done.await {
        Ok(r) => r,
        Err(e) => super::problem(&user, e),
    }
}

/// The page: header, health, applications, blocks, schedule.
async fn render(
    state: &AppState,
    user: &ConsoleUser,
    w: &Workflow,
    form: &ScheduleForm,
    notice: Notice<'_>,
) -> Result<Markup, ApiError> {
    let now = state.clock.now();
    let template = match w.template_id {
        Some(t) => state.store.template(t).await.ok().map(|t| t.name),
        None => None,
    };
    let day_ago = now - chrono::Duration::hours(24);
    let health_now = state
        .store
        .workflow_health(w.id, RECENT_RUNS, day_ago)
        .await?;
    let apps = applications(state, w).await?;
    let body = html! {
        h1 { (w.name) }
        dl.run {
            dt { "Template" } dd { (template.as_deref().unwrap_or("(none)")) }
            dt { "Status" } dd { (w.status.name()) }
            dt { "Last run" } dd { @match &w.date_last_run { Some(t) => (when(t, now)), None => "never" } }
            dt { "Health" } dd { (health(&health_now)) " · " a href=(format!("/console/runs?workflowId={}", w.id)) { "its runs" } }
        }
        (apps)
        (blocks(w))
        (schedule_section(user, w, form, &notice, now))
    };
    Ok(layout(&w.name, Some(user), body))
}

/// The workflow's applications: which registered application each uses, and its state.
async fn applications(state: &AppState, w: &Workflow) -> Result<Markup, ApiError> {
    let registered = state.store.reg_applications(w.account_id).await?;
    let rows: Vec<(String, String, &'static str)> = w
        .applications
        .iter()
        .map(|(short, id)| {
            let reg = registered
                .iter()
                .find(|r| Some(r.id.to_string().as_str()) == id.as_str());
            let name = reg
                .and_then(|r| state.catalog.application(r.application_id))
                .map(|a| a.name.clone())
                .unwrap_or_else(|| "(not registered)".into());
            let health = match reg {
                Some(r) if r.faulted => "✗ faulted",
                Some(r) if r.is_authenticated => "✓ authenticated",
                Some(_) => "◌ not checked",
                None => "✗ missing",
            };
            (short.clone(), name, health)
        })
        .collect();
    Ok(html! {
        h2 { "Applications" }
        @if rows.is_empty() { p.note { "This workflow uses no application." } } @else {
            table { thead { tr { th { "Short name" } th { "Application" } th { "State" } } }
                tbody { @for (short, name, state) in &rows { tr { td { (short) } td { (name) } td { (state) } } } } }
        }
    })
}

/// Each block with its variables (as the API shows them) and its script.
fn blocks(w: &Workflow) -> Markup {
    html! {
        h2 { "Blocks" }
        ol.blocks {
            @for b in &w.chain {
                li {
                    strong { (b.block_name) }
                    @if let Some(app) = &b.application { " · " (app) }
                    @if !b.variables.is_empty() {
                        pre.vars { (cut(&serde_json::to_string_pretty(&b.variables).unwrap_or_default(), 4000)) }
                    }
                    @if let Some(script) = &b.script { pre.script { (cut(script, 4000)) } }
                }
            }
        }
    }
}

fn schedule_section(
    user: &ConsoleUser,
    w: &Workflow,
    form: &ScheduleForm,
    notice: &Notice,
    now: Timestamp,
) -> Markup {
    let preview = form.preview(now);
    html! {
        h2 id="schedule" { "Schedule" }
        @match notice {
            Notice::Saved(text) => p.notice role="status" { (text) },
            Notice::Refused(why) => p.problem role="alert" { (why) },
            Notice::None => {},
        }
        p { @match (&w.date_next_schedule, w.is_scheduled) {
            (Some(t), true) => { "On; next fire " (when(t, now)) "." },
            _ => "Off.",
        } }
        form.schedule method="post" action=(format!("/console/workflows/{}/schedule", w.id)) {
            input type="hidden" name="csrf" value=(user.csrf);
            label { "Quartz expression " input name="cron" value=(form.cron) placeholder="0 0/15 * * * ?" size="28"; }
            label { "Time zone " input name="timeZone" value=(form.time_zone) placeholder="Europe/Oslo" size="20"; }
            label { input type="checkbox" name="enabled" checked[form.enabled.is_some()]; " Scheduler on" }
            button type="submit" name="intent" value="preview" { "Preview" }
            button type="submit" name="intent" value="save" { "Save" }
        }
        @match preview {
            Ok(fires) if !fires.is_empty() => {
                p { "The next " (fires.len()) " fire times:" }
                ol.fires { @for f in &fires { li { (f) } } }
            },
            Ok(_) => {},
            Err(why) => p.problem role="alert" { (why) },
        }
    }
}
