//! Run history: WorkflowRuns, WorkflowRun, WorkflowRunOutput, CancelRun.

use super::audit;
use super::workflows::owned_workflow;
use crate::auth::Acting;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::spec::CancelRunApiDto;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use canvas_blocks::DatasetError;
use canvas_domain::time::format_offset;
use canvas_store::StoreError;
use canvas_store::model::{Run, RunBlock, RunStatus};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunView<'a> {
    id: Uuid,
    workflow_id: Uuid,
    status: &'static str,
    trigger: &'static str,
    run_from_block: i64,
    run_till_block: i64,
    attempt: i64,
    date_queued: String,
    date_started: Option<String>,
    date_finished: Option<String>,
    error: Option<std::borrow::Cow<'a, str>>,
    /// The schedule fire a scheduled run belongs to; null for manual runs.
    date_scheduled: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<Vec<BlockView<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockView<'a> {
    number: i64,
    unique_block_id: Uuid,
    block_name: &'a str,
    status: &'static str,
    date_started: Option<String>,
    date_finished: Option<String>,
    records_in: i64,
    records_out: i64,
    log: &'a [String],
    error: Option<&'a str>,
}

impl<'a> RunView<'a> {
    fn new(r: &'a Run, blocks: Option<&'a [RunBlock]>) -> Self {
        Self {
            id: r.id,
            workflow_id: r.workflow_id,
            status: r.status.name(),
            trigger: r.trigger.name(),
            run_from_block: r.run_from,
            run_till_block: r.run_till,
            attempt: r.attempt,
            date_queued: format_offset(&r.date_queued),
            date_started: r.date_started.as_ref().map(format_offset),
            date_finished: r.date_finished.as_ref().map(format_offset),
            // A list carries a summary; the whole error is the run's own.
            error: r.error.as_deref().map(|e| match blocks {
                Some(_) => std::borrow::Cow::Borrowed(e),
                None => summary(e),
            }),
            date_scheduled: r.fire_time.as_ref().map(format_offset),
            blocks: blocks.map(|b| b.iter().map(BlockView::from).collect()),
        }
    }
}

/// The longest error a run list carries.
const SUMMARY_BYTES: usize = 500;

/// The start of an error, cut on a character boundary, saying where the rest is.
pub(super) fn summary(error: &str) -> std::borrow::Cow<'_, str> {
    if error.len() <= SUMMARY_BYTES {
        return std::borrow::Cow::Borrowed(error);
    }
    let mut end = SUMMARY_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{} … (the whole error: WorkflowRun?id=)",
        &error[..end]
    ))
}

impl<'a> From<&'a RunBlock> for BlockView<'a> {
    fn from(b: &'a RunBlock) -> Self {
        Self {
            number: b.number,
            unique_block_id: b.unique_block_id,
            block_name: &b.block_name,
            status: b.status.name(),
            date_started: b.date_started.as_ref().map(format_offset),
            date_finished: b.date_finished.as_ref().map(format_offset),
            records_in: b.records_in,
            records_out: b.records_out,
            log: &b.log,
            error: b.error.as_deref(),
        }
    }
}

/// A run of one of the acting account's workflows.
pub(crate) async fn owned_run(state: &AppState, acting: &Acting, id: Uuid) -> ApiResult<Run> {
    let unknown = || ApiError::NotFound(format!("Unknown run {id}"));
    let run = match state.store.run(id).await {
        Err(StoreError::NotFound) => return Err(unknown()),
        other => other?,
    };
    owned_workflow(state, acting, run.workflow_id)
        .await
        .map_err(|_| unknown())?;
    Ok(run)
}

pub(super) fn json<T: Serialize>(value: T) -> ApiResult<Json<Value>> {
    Ok(Json(
        serde_json::to_value(value).map_err(ApiError::internal)?,
    ))
}

pub async fn list(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<Value>> {
    let workflow = owned_workflow(&state, &acting, params.guid("workflowId")?).await?;
    let top = params.int("top", 50, 1..=1000)?;
    let skip = params.int("skip", 0, 0..=i64::MAX)?;
    let runs = state.store.runs(workflow.id, skip, top).await?;
    json(
        runs.iter()
            .map(|r| RunView::new(r, None))
            .collect::<Vec<_>>(),
    )
}

pub async fn get_one(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<Value>> {
    let run = owned_run(&state, &acting, params.guid("id")?).await?;
    let blocks = state.store.run_blocks(run.id).await?;
    json(RunView::new(&run, Some(&blocks)))
}

/// The stored output key of block `block` (a required query parameter) of a run the caller owns.
async fn block_output(state: &AppState, acting: &Acting, params: &Params) -> ApiResult<String> {
    let run = owned_run(state, acting, params.guid("id")?).await?;
    let number = params.int("block", 0, 1..=i64::MAX)?;
    if number == 0 {
        return Err(ApiError::BadRequest(
            "block: is required (a block number, from 1)".into(),
        ));
    }
    let blocks = state.store.run_blocks(run.id).await?;
    blocks
        .iter()
        .find(|b| b.number == number)
        .and_then(|b| b.output_key.clone())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "run {} has no stored output for block {number}",
                run.id
            ))
        })
}

pub async fn output(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<Value>> {
    let key = block_output(&state, &acting, &params).await?;
    let top = params.int("top", 100, 1..=10_000)?;
    let skip = params.int("skip", 0, 0..=i64::MAX)?;
    let page = state
        .datasets
        .page(&key, skip as usize, top as usize)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Value::Array(page)))
}

pub async fn files(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<Value>> {
    let key = block_output(&state, &acting, &params).await?;
    let files = state
        .datasets
        .files(&key)
        .await
        .map_err(ApiError::internal)?;
    let list = files
        .into_iter()
        .map(|f| serde_json::json!({"name": f.name, "size": f.size}))
        .collect();
    Ok(Json(Value::Array(list)))
}

pub async fn file(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Response> {
    let key = block_output(&state, &acting, &params).await?;
    let name = params
        .text("name")
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::BadRequest("name: is required (a file name from WorkflowRunFiles)".into())
        })?;
    let content = match state.datasets.read_file(&key, &name).await {
        Ok(bytes) => bytes,
        Err(e @ (DatasetError::BadFileName(_) | DatasetError::NameTooLong { .. })) => {
            return Err(ApiError::BadRequest(format!("name: {e}")));
        }
        Err(e @ DatasetError::NoSuchFile(_)) => return Err(ApiError::NotFound(e.to_string())),
        Err(e) => return Err(ApiError::internal(e)),
    };
    Ok(super::attachment(&name, content))
}

pub async fn cancel(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<CancelRunApiDto>,
) -> ApiResult<Json<&'static str>> {
    cancel_run(&state, &acting, dto.run_id).await.map(Json)
}

/// Cancels a run of the acting account (the API's `CancelRun`, the console's button).
pub(crate) async fn cancel_run(
    state: &AppState,
    acting: &Acting,
    id: Uuid,
) -> ApiResult<&'static str> {
    let run = owned_run(state, acting, id).await?;
    if matches!(
        run.status,
        RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
    ) {
        return Err(ApiError::Conflict(format!(
            "run {} already ended ({})",
            run.id,
            run.status.name()
        )));
    }
    let status = state
        .store
        .request_cancel(run.id, state.clock.now())
        .await?;
    audit(state, acting, "Run.Cancel", Some(run.id.to_string())).await;
    Ok(if status == RunStatus::Cancelled {
        "Run cancelled"
    } else {
        "Run will be cancelled"
    })
}
