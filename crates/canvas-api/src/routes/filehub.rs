//! The acting account's File Hub files — what `Store file` wrote and
//! `Read file` reads: list, fetch, store, delete.

use super::audit;
use crate::auth::Acting;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::spec::StoreFileHubFileApiDto;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use canvas_blocks::{DatasetError, FileInfo};
use serde_json::{Value, json};

fn file_error(e: DatasetError) -> ApiError {
    match e {
        e @ (DatasetError::BadFileName(_) | DatasetError::NameTooLong { .. }) => {
            ApiError::BadRequest(format!("name: {e}"))
        }
        e @ DatasetError::NoSuchFile(_) => ApiError::NotFound(e.to_string()),
        e @ DatasetError::FileHubQuota { .. } => ApiError::BadRequest(format!("content: {e}")),
        other => ApiError::internal(other),
    }
}

fn name(params: &Params) -> ApiResult<String> {
    params
        .text("name")
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::BadRequest("name: is required (a file name from FileHubFiles)".into())
        })
}

pub async fn list(State(state): State<AppState>, acting: Acting) -> ApiResult<Json<Value>> {
    let files = list_files(&state, &acting).await?;
    let list = files
        .into_iter()
        .map(|f| json!({"name": f.name, "size": f.size}))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// The acting account's File Hub files (the API's and the console's list).
pub(crate) async fn list_files(state: &AppState, acting: &Acting) -> ApiResult<Vec<FileInfo>> {
    let files = state.datasets.account_files(acting.account_id);
    files.list().await.map_err(file_error)
}

pub async fn fetch(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Response> {
    let name = name(&params)?;
    fetch_file(&state, &acting, &name).await
}

/// One File Hub file, as a download.
pub(crate) async fn fetch_file(
    state: &AppState,
    acting: &Acting,
    name: &str,
) -> ApiResult<Response> {
    let files = state.datasets.account_files(acting.account_id);
    let content = files.read(name).await.map_err(file_error)?;
    Ok(super::attachment(name, content))
}

/// `content` (text) or `contentBase64` (any bytes), exactly one of them.
fn content(dto: &StoreFileHubFileApiDto) -> ApiResult<Vec<u8>> {
    match (&dto.content, &dto.content_base64) {
        (Some(text), None) => Ok(text.clone().into_bytes()),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| ApiError::BadRequest(format!("contentBase64: is not base64 ({e})"))),
        _ => Err(ApiError::BadRequest(
            "content: give either content (text) or contentBase64 (bytes), one of them".into(),
        )),
    }
}

pub async fn store(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<StoreFileHubFileApiDto>,
) -> ApiResult<Json<Value>> {
    let name = dto.name.trim().to_string();
    let bytes = content(&dto)?;
    let size = bytes.len();
    store_file(&state, &acting, &name, bytes).await?;
    Ok(Json(json!({"name": name, "size": size})))
}

/// Stores (or replaces) a File Hub file: its name checked, the account's
/// quota kept, the write audited.
pub(crate) async fn store_file(
    state: &AppState,
    acting: &Acting,
    name: &str,
    bytes: Vec<u8>,
) -> ApiResult<()> {
    canvas_blocks::check_file_name(name).map_err(|e| ApiError::BadRequest(format!("name: {e}")))?;
    let files = state.datasets.account_files(acting.account_id);
    files.write(name, bytes.into()).await.map_err(file_error)?;
    audit(state, acting, "FileHub.Store", Some(name.to_string())).await;
    Ok(())
}

pub async fn delete(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<&'static str>> {
    let name = name(&params)?;
    delete_file(&state, &acting, &name).await?;
    Ok(Json("File deleted"))
}

/// Deletes a File Hub file, audited.
pub(crate) async fn delete_file(state: &AppState, acting: &Acting, name: &str) -> ApiResult<()> {
    let files = state.datasets.account_files(acting.account_id);
    files.delete(name).await.map_err(file_error)?;
    audit(state, acting, "FileHub.Delete", Some(name.to_string())).await;
    Ok(())
}
