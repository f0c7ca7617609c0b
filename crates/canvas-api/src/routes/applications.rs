//! Applications, Blocks, RegApplications, RegApplication.

use super::audit;
use crate::auth::Acting;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::spec::AddRegApplicationApiDto;
use crate::state::AppState;
use crate::views::{ApplicationView, RegApplicationView};
use axum::Json;
use axum::extract::State;
use canvas_connectors::CheckError;
use canvas_domain::credentials::Credentials;
use canvas_store::model::RegApplication;
use chrono::Duration;
use serde_json::{Value, json};
use uuid::Uuid;

pub async fn list(
    State(state): State<AppState>,
    _acting: Acting,
) -> Json<Vec<ApplicationView<'static>>> {
    Json(
        state
            .catalog
            .applications()
            .iter()
            .map(ApplicationView::from)
            .collect(),
    )
}

pub async fn blocks(State(state): State<AppState>, _acting: Acting) -> Json<Value> {
    let utility = state.catalog.utility_blocks().iter().map(|b| {
        json!({
            "applicationId": null,
            "shortName": null,
            "name": b.name,
            "description": b.description,
            "variables": b.variables,
        })
    });
    let items: Vec<Value> = state
        .catalog
        .applications()
        .iter()
        .flat_map(|app| {
            app.blocks.iter().map(move |b| {
                json!({
                    "applicationId": app.id,
                    "shortName": app.short_name,
                    "name": b.name,
                    "description": b.description,
                    "variables": b.variables,
                })
            })
        })
        .chain(utility)
        .collect();
    Json(Value::Array(items))
}

pub async fn registered(State(state): State<AppState>, acting: Acting) -> ApiResult<Json<Value>> {
    let regs = state.store.reg_applications(acting.account_id).await?;
    let views: Vec<RegApplicationView> = regs
        .iter()
        .filter_map(|r| {
            Some(RegApplicationView::new(
                r,
                state.catalog.application(r.application_id)?,
            ))
        })
        .collect();
    Ok(Json(
        serde_json::to_value(views).map_err(ApiError::internal)?,
    ))
}

pub async fn register(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<AddRegApplicationApiDto>,
) -> ApiResult<Json<Uuid>> {
    let app_id = dto.application_id;
    let app = state
        .catalog
        .application(app_id)
        .ok_or_else(|| ApiError::NotFound(format!("Unknown application {app_id}")))?;
    let raw = dto
        .credentials_json
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("{}");
    let credentials = Credentials::validate(&app.credential_fields, raw)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let outcome = state
        .connectors
        .check(app, &credentials)
        .await
        .map_err(|e| match e {
            CheckError::Rejected(_)
            | CheckError::Unreachable(_)
            | CheckError::NotAllowed(_)
            | CheckError::NoConnector(_) => ApiError::BadRequest(e.to_string()),
        })?;
    let id = Uuid::new_v4();
    let now = state.clock.now();
    let authenticated = outcome.verified_remotely.then_some(now);
    let tag_text = dto
        .tag_text
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let reg = RegApplication {
        id,
        account_id: acting.account_id,
        application_id: app.id,
        tag_text: tag_text.unwrap_or_else(|| app.name.clone()),
        credentials: state
            .secrets
            .seal(credentials.to_secret_json().as_bytes(), id.as_bytes()),
        is_authenticated: true,
        faulted: false,
        date_modified: now,
        date_authenticated: authenticated,
        date_reauth: authenticated.map(|t| t + Duration::minutes(app.session_time_mins)),
    };
    state.store.insert_reg_application(&reg).await?;
    audit(
        &state,
        &acting,
        "RegApplication.Create",
        Some(id.to_string()),
    )
    .await;
    Ok(Json(id))
}
