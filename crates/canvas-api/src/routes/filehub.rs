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
use canvas_blocks::DatasetError;
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
    let files = state
        .datasets
        .account_files(acting.account_id)
        .list()
        .await
        .map_err(file_error)?;
    let list = files
        .into_iter()
        .map(|f| json!({"name": f.name, "size": f.size}))
        .collect();
    Ok(Json(Value::Array(list)))
}

pub async fn fetch(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Response> {
    let name = name(&params)?;
    let content = state
        .datasets
        .account_files(acting.account_id)
        .read(&name)
        .await
        .map_err(file_error)?;
    Ok(super::attachment(&name, content))
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
    canvas_blocks::check_file_name(&name)
        .map_err(|e| ApiError::BadRequest(format!("name: {e}")))?;
    let bytes = content(&dto)?;
    let size = bytes.len();
    state
        .datasets
        .account_files(acting.account_id)
        .write(&name, bytes.into())
        .await
        .map_err(file_error)?;
    audit(&state, &acting, "FileHub.Store", Some(name.clone())).await;
    Ok(Json(json!({"name": name, "size": size})))
}

pub async fn delete(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<&'static str>> {
    let name = name(&params)?;
    state
        .datasets
        .account_files(acting.account_id)
        .delete(&name)
        .await
        .map_err(file_error)?;
    audit(&state, &acting, "FileHub.Delete", Some(name)).await;
    Ok(Json("File deleted"))
}
