//! Workflows, Workflow (GET and POST), DeleteWorkflow, RunWorkflow, WorkflowScheduler.

use super::templates::visible_template;
use super::{audit, audit_entry};
use crate::auth::Acting;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::spec::{
    AddWorkflowApiDto, ChainApiDto, RunMetadataApiDto, UpdateWorkfowSchedulerApiDto,
};
use crate::state::AppState;
use crate::views::WorkflowView;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use canvas_domain::schedule::Schedule;
use canvas_domain::workflow::{ChainOverride, RunRange, WorkflowStatus, apply_overrides};
use canvas_store::model::{NewRun, RunTrigger, Workflow};
use canvas_store::{Enqueued, ScheduleUpdate, StoreError};
use serde_json::{Map, Value};
use uuid::Uuid;

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

/// The acting account's workflow `id`; anyone else's is unknown.
pub(crate) async fn owned_workflow(
    state: &AppState,
    acting: &Acting,
    id: Uuid,
) -> ApiResult<Workflow> {
    match state.store.workflow(id).await {
        Ok(w) if w.account_id == acting.account_id => Ok(w),
        Ok(_) | Err(StoreError::NotFound) => {
            Err(ApiError::NotFound(format!("Unknown workflow {id}")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(State(state): State<AppState>, acting: Acting) -> ApiResult<Response> {
    let workflows = state.store.workflows(acting.account_id).await?;
    let views: Vec<WorkflowView> = workflows.iter().map(WorkflowView::from).collect();
    Ok(Json(views).into_response())
}

pub async fn get_one(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Response> {
    let w = owned_workflow(&state, &acting, params.guid("id")?).await?;
    Ok(Json(WorkflowView::from(&w.summary())).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<bool>> {
    let w = owned_workflow(&state, &acting, params.guid("id")?).await?;
    state.store.delete_workflow(w.id).await?;
    audit(&state, &acting, "Workflow.Delete", Some(w.id.to_string())).await;
    Ok(Json(true))
}

/// `applications`: every short name the template uses → a registered
/// application of the acting account for that very application.
async fn map_applications(
    state: &AppState,
    acting: &Acting,
    uses: &[String],
    given: &Map<String, Value>,
) -> ApiResult<Map<String, Value>> {
    for key in given.keys() {
        if !uses.iter().any(|u| u.eq_ignore_ascii_case(key)) {
            return Err(bad(format!(
                "applications.{key}: the template does not use {key} (it uses: {})",
                uses.join(", ")
            )));
        }
    }
    let mut mapped = Map::new();
    for short in uses {
        let value = given
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(short))
            .map(|(_, v)| v);
        let raw = value.and_then(Value::as_str).ok_or_else(|| match value {
            None | Some(Value::Null) => bad(format!(
                "applications.{short}: is required: the template uses {short}"
            )),
            Some(_) => bad(format!(
                "applications.{short}: must be the GUID of a registered application"
            )),
        })?;
        let id = crate::extract::parse_guid(&format!("applications.{short}"), raw)?;
        let missing = || {
            bad(format!(
                "applications.{short}: no registered application {id} for this account"
            ))
        };
        let reg = match state.store.reg_application(id).await {
            Ok(r) if r.account_id == acting.account_id => r,
            Ok(_) | Err(StoreError::NotFound) => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        let expected = state
            .catalog
            .application_by_short_name(short)
            .ok_or_else(missing)?;
        if reg.application_id != expected.id {
            let actual = state
                .catalog
                .application(reg.application_id)
                .map_or("another application", |a| a.name.as_str());
            return Err(bad(format!(
                "applications.{short}: registered application {id} is {actual}, not {}",
                expected.name
            )));
        }
        mapped.insert(short.clone(), Value::String(id.to_string()));
    }
    Ok(mapped)
}

fn parse_overrides(chain: Option<Vec<ChainApiDto>>) -> ApiResult<Vec<ChainOverride>> {
    chain
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let id = b
                .unique_block_id
                .ok_or_else(|| bad(format!("chain[{i}].uniqueBlockId: is required")))?;
            Ok(ChainOverride {
                unique_block_id: id,
                variables: b.variables.unwrap_or_default(),
            })
        })
        .collect()
}

fn text_or(value: Option<String>, default: &str, field: &str) -> ApiResult<String> {
    let v = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string());
    if v.chars().count() > 200 {
        return Err(bad(format!("{field}: must be at most 200 characters")));
    }
    Ok(v)
}

pub async fn create(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<AddWorkflowApiDto>,
) -> ApiResult<Json<Uuid>> {
    let template_id = dto.workflow_template_id;
    let template = visible_template(&state, acting.organization_id, template_id).await?;
    let committed = template.committed().ok_or_else(|| {
        bad(format!("workflowTemplateId: template {template_id} has no published version yet; publish it first"))
    })?;
    let given = dto.applications.clone();
    let applications = map_applications(&state, &acting, &committed.applications, &given).await?;
    let overrides = parse_overrides(dto.chain)?;
    let chain = apply_overrides(&committed.chain, &overrides, |block| {
        state.catalog.chain_block(
            &committed.applications,
            block.application.as_deref(),
            &block.block_name,
        )
    })
    .map_err(bad)?;
    let now = state.clock.now();
    let workflow = Workflow {
        id: Uuid::new_v4(),
        account_id: acting.account_id,
        organization_id: acting.organization_id,
        template_id: Some(template.id),
        name: text_or(dto.name, &template.name, "name")?,
        description: text_or(dto.description, &template.description, "description")?,
        status: WorkflowStatus::Ready,
        is_scheduled: false,
        schedule_frequency: None,
        is_customized_structure: false,
        applications,
        chain,
        date_created: now,
        date_modified: now,
        date_last_run: None,
        date_next_schedule: None,
        current_block: 0,
    };
    state.store.insert_workflow(&workflow).await?;
    audit(
        &state,
        &acting,
        "Workflow.Create",
        Some(workflow.id.to_string()),
    )
    .await;
    Ok(Json(workflow.id))
}

/// A run from block k > 1 starts from the stored output of block k's data
/// source; refuse it while there is none.
async fn check_stored_input(state: &AppState, w: &Workflow, from: i64) -> ApiResult<()> {
    let Some(source) = canvas_domain::workflow::data_source(&w.chain, from).filter(|_| from > 1)
    else {
        return Ok(());
    };
    if state
        .store
        .latest_block_output(w.id, source)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let number = w
        .chain
        .iter()
        .position(|b| b.unique_block_id == source)
        .map_or(0, |i| i + 1);
    Err(bad(format!(
        "runFromBlock: block {from} takes its input from block {number}, which has no stored output yet; run it first"
    )))
}

pub async fn run(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<RunMetadataApiDto>,
) -> ApiResult<Json<&'static str>> {
    let blocks = (dto.run_from_block, dto.run_till_block);
    queue_run(&state, &acting, dto.workflow_id, blocks).await?;
    Ok(Json("Workflow will now run"))
}

/// Queues a manual run of blocks `from..=till` (the API's `RunWorkflow`,
/// the console's "Run again").
pub(crate) async fn queue_run(
    state: &AppState,
    acting: &Acting,
    workflow: Uuid,
    (from, till): (Option<i64>, Option<i64>),
) -> ApiResult<()> {
    let w = owned_workflow(state, acting, workflow).await?;
    let range = RunRange::new(from, till, w.chain.len()).map_err(bad)?;
    check_stored_input(state, &w, range.from).await?;
    let run = NewRun {
        id: Uuid::new_v4(),
        workflow_id: w.id,
        trigger: RunTrigger::Manual,
        run_from: range.from,
        run_till: range.till,
        date_queued: state.clock.now(),
    };
    let limit = state.config.max_queued_runs_per_workflow;
    let entry = audit_entry(state, acting, "Workflow.Run", Some(w.id.to_string()));
    match state
        .store
        .enqueue_run(&run, limit.into(), Some(&entry))
        .await
    {
        Err(StoreError::NotFound) => {
            return Err(ApiError::NotFound(format!("Unknown workflow {}", w.id)));
        }
        Ok(Enqueued::QueueFull) => {
            return Err(ApiError::Limit(format!(
                "workflow {} already has {limit} runs waiting (max_queued_runs_per_workflow); \
                 try again when some have run",
                w.id
            )));
        }
        other => other?,
    };
    // One permit: an idle worker wakes (or the next to idle claims at once).
    state.queue_signal.notify_one();
    Ok(())
}

pub async fn schedule(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<UpdateWorkfowSchedulerApiDto>,
) -> ApiResult<Json<&'static str>> {
    let w = owned_workflow(&state, &acting, dto.workflow_id).await?;
    let given = dto.schedule_frequency.as_deref();
    let said = change_schedule(&state, &acting, &w, dto.is_scheduled, given).await?;
    Ok(Json(said))
}

/// Turns `w`'s scheduler on or off, with a new frequency when one is given
/// (the stored one otherwise); what the API answers. The console's schedule
/// form goes through here too.
pub(crate) async fn change_schedule(
    state: &AppState,
    acting: &Acting,
    w: &Workflow,
    enable: bool,
    frequency: Option<&str>,
) -> ApiResult<&'static str> {
    let given = frequency.map(str::trim).filter(|f| !f.is_empty());
    let now = state.clock.now();
    let schedule = match given.or(w.schedule_frequency.as_deref()) {
        Some(raw) => Some(Schedule::parse_frequency(raw, now).map_err(|e| bad(e.to_string()))?),
        None if enable => {
            return Err(bad(
                "scheduleFrequency: is required to turn the scheduler on".into(),
            ));
        }
        None => None,
    };
    let next = match (&schedule, enable) {
        (Some(s), true) => Some(s.next_after(now).ok_or_else(|| {
            bad(format!(
                "scheduleFrequency.cronSchedule: '{}' never fires after now",
                s.cron
            ))
        })?),
        _ => None,
    };
    let update = ScheduleUpdate {
        is_scheduled: enable,
        frequency: given,
        next,
        at: now,
    };
    state.store.update_schedule(w.id, &update).await?;
    state.schedule_signal.notify_one();
    let id = Some(w.id.to_string());
    audit(state, acting, "WorkflowScheduler.Update", id).await;
    Ok(if enable {
        "Workflow Scheduler enabled"
    } else {
        "Workflow Scheduler disabled"
    })
}
