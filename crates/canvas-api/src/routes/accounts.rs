//! Authenticate, Accounts, Account, AuditLog, ActivateAccount.

use super::audit;
use crate::auth::Acting;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::spec::AddAccountApiDto;
use crate::state::AppState;
use crate::views::{AccountView, AuditView};
use axum::Json;
use axum::extract::State;
use canvas_domain::account::{AccountRole, Email};
use canvas_store::StoreError;
use canvas_store::model::NewAccount;
use uuid::Uuid;

pub async fn authenticate(_acting: Acting) -> Json<bool> {
    Json(true)
}

pub async fn list(
    State(state): State<AppState>,
    acting: Acting,
) -> ApiResult<Json<Vec<AccountView>>> {
    acting.require_manager()?;
    let accounts = state
        .store
        .active_accounts_in_tree(acting.organization_id)
        .await?;
    Ok(Json(accounts.iter().map(AccountView::from).collect()))
}

fn required_text(name: &str, value: String, max: usize) -> ApiResult<String> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(ApiError::BadRequest(format!("{name}: must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{name}: must be at most {max} characters"
        )));
    }
    Ok(value)
}

fn optional_text(name: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    let value = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(ApiError::BadRequest(format!(
            "{name}: must be at most {max} characters"
        )));
    }
    Ok(value)
}

fn parse_role(raw: &str) -> ApiResult<AccountRole> {
    match raw.parse::<AccountRole>() {
        Ok(AccountRole::Admin) => Err(ApiError::BadRequest(
            "Role Admin is not supported. Please use SuperPartner or User".into(),
        )),
        Ok(role) => Ok(role),
        Err(e) => Err(ApiError::BadRequest(format!("roleName: {e}"))),
    }
}

fn parse_country(raw: Option<String>) -> ApiResult<Option<String>> {
    let Some(code) = raw
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
    else {
        return Ok(None);
    };
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::BadRequest(format!(
            "countryKey: '{code}' is not a two-letter country code such as DE"
        )));
    }
    Ok(Some(code))
}

/// The request, checked field by field, as the account to create.
fn new_account(
    dto: AddAccountApiDto,
    organization_id: Uuid,
    state: &AppState,
) -> ApiResult<(NewAccount, Option<String>)> {
    let email =
        Email::parse(&dto.email).map_err(|e| ApiError::BadRequest(format!("email: {e}")))?;
    let notify = optional_text(
        "defaultNotificationEmail",
        dto.default_notification_email,
        254,
    )?
    .map(|e| {
        Email::parse(&e)
            .map_err(|err| ApiError::BadRequest(format!("defaultNotificationEmail: {err}")))
    })
    .transpose()?;
    let role = parse_role(&dto.role_name)?;
    let active = dto.activated.unwrap_or(true);
    let (token, token_hash) = if active {
        (None, None)
    } else {
        let (t, h) = state.secrets.new_token();
        (Some(t), Some(h))
    };
    let account = NewAccount {
        id: Uuid::new_v4(),
        organization_id,
        first_name: required_text("firstName", dto.first_name, 100)?,
        last_name: required_text("lastName", dto.last_name, 100)?,
        email: email.as_str().to_string(),
        phone: optional_text("phone", dto.phone, 40)?,
        role,
        country_key: parse_country(dto.country_key)?,
        global_notifications: dto.global_notifications.unwrap_or(false),
        default_notification_email: notify.map(|e| e.as_str().to_string()),
        active,
        activation_token_hash: token_hash,
        date_created: state.clock.now(),
    };
    Ok((account, token))
}

pub async fn create(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<AddAccountApiDto>,
) -> ApiResult<Json<Uuid>> {
    acting.require_manager()?;
    let (account, token) = new_account(dto, acting.organization_id, &state)?;
    match state.store.create_account(&account).await {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "Account has already been created".into(),
            ));
        }
        other => other?,
    }
    if let Some(token) = token {
        send_activation(&state, &account, &token).await;
    }
    audit(
        &state,
        &acting,
        "Account.Create",
        Some(account.id.to_string()),
    )
    .await;
    Ok(Json(account.id))
}

/// Emails the one-time activation link, or logs it when no SMTP server is configured.
async fn send_activation(state: &AppState, account: &NewAccount, token: &str) {
    let link = format!(
        "{}/api/ActivateAccount?token={token}",
        state.config.public_url.trim_end_matches('/')
    );
    let Some(mailer) = &state.mailer else {
        tracing::info!(account = %account.id, %link, "no SMTP server configured; activation link for the new account");
        return;
    };
    let body = format!(
        "Hello {},\n\nan account was created for you in Canvas. Open this link once to activate it:\n\n{link}\n",
        account.first_name
    );
    if let Err(e) = mailer
        .send_text(&account.email, "Activate your Canvas account", body)
        .await
    {
        tracing::error!(account = %account.id, error = %e, "activation email could not be sent");
    }
}

pub async fn activate(State(state): State<AppState>, params: Params) -> ApiResult<Json<bool>> {
    let token = params
        .text("token")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| ApiError::BadRequest("token: is required".into()))?;
    match state
        .store
        .activate_account(&state.secrets.hash_secret(token))
        .await
    {
        Ok(_) => Ok(Json(true)),
        Err(StoreError::NotFound) => Err(ApiError::NotFound(
            "Unknown or already used activation token".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn audit_log(
    State(state): State<AppState>,
    acting: Acting,
    params: Params,
) -> ApiResult<Json<serde_json::Value>> {
    acting.require_manager()?;
    let top = params.int("top", 100, 1..=1000)?;
    let skip = params.int("skip", 0, 0..=i64::MAX)?;
    let entries = state
        .store
        .audit_log(acting.organization_id, skip, top)
        .await?;
    let views: Vec<AuditView> = entries.iter().map(AuditView::from).collect();
    Ok(Json(
        serde_json::to_value(views).map_err(ApiError::internal)?,
    ))
}
