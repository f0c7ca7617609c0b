//! Signing in with an API key pair, the session cookie, CSRF, signing out.

use super::layout;
use crate::auth::{Acting, client_ip, session_acting, sign_in};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use canvas_store::ConsoleSession;
use maud::{Markup, html};
use serde::Deserialize;

const COOKIE: &str = "canvas_session";
/// How long a sign-in lasts.
const SESSION_HOURS: i64 = 12;

/// A signed-in console user: the API key's `Acting`, and the session's CSRF token.
pub struct ConsoleUser {
    pub acting: Acting,
    pub csrf: String,
    /// The key's Consumer (never its secret).
    pub(super) consumer: String,
    pub(super) token_hash: Vec<u8>,
    /// The account the session acts for, when the user chose another than the key's.
    pub(super) acting_for: Option<String>,
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        // htmx follows a redirect and would paste the sign-in page into the
        // part it refreshes: it is told to load the page instead.
        let htmx = parts.headers.contains_key("hx-request");
        let to_login = || match htmx {
            true => (
                StatusCode::UNAUTHORIZED,
                [("hx-redirect", "/console/login")],
            )
                .into_response(),
            false => Redirect::to("/console/login").into_response(),
        };
        let token = cookie(&parts.headers, COOKIE).ok_or_else(to_login)?;
        let token_hash = state.secrets.hash_secret(token);
        let session = state
            .store
            .console_session(&token_hash, state.clock.now())
            .await
            .map_err(|e| ApiError::from(e).into_response())?
            .ok_or_else(to_login)?;
        let ip = client_ip(parts, &state.config.trusted_proxies).map_err(|e| e.into_response())?;
        let managed = session.managed_account.as_deref();
        let acting = match session_acting(&session.consumer, managed, ip, state).await {
            Ok(acting) => acting,
            // The chosen account is no longer one the key may act for: back to its own.
            Err(ApiError::Forbidden(_) | ApiError::BadRequest(_)) if managed.is_some() => {
                let reset = state.store.set_console_account(&token_hash, None).await;
                reset.map_err(|e| ApiError::from(e).into_response())?;
                session_acting(&session.consumer, None, ip, state)
                    .await
                    .map_err(|e| e.into_response())?
            }
            // The key was revoked: the session ends with it.
            Err(ApiError::Unauthorized(_)) => {
                let _ = state.store.delete_console_session(&token_hash).await;
                return Err(signed_out());
            }
            Err(e) => return Err(e.into_response()),
        };
        let acting_for = match acting.account_id == acting.key_account_id {
            true => None,
            false => {
                let a = state.store.account(acting.account_id).await;
                let a = a.map_err(|e| ApiError::from(e).into_response())?;
                Some(format!(
                    "{} {} ({})",
                    a.first_name, a.last_name, a.organization_name
                ))
            }
        };
        Ok(Self {
            acting,
            csrf: session.csrf,
            consumer: session.consumer,
            token_hash,
            acting_for,
        })
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the browser says the request came from another site
/// (`Sec-Fetch-Site`), or its `Origin` is not this host.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            origin_host != host
        }
        _ => false,
    }
}

pub async fn login_form() -> Markup {
    login_page(None)
}

fn login_page(problem: Option<&str>) -> Markup {
    let body = html! {
        section.signin {
            h1 { "Sign in" }
            p { "With an API key pair of your organization: the console acts exactly as that key would." }
            @if let Some(problem) = problem { p.problem role="alert" { (problem) } }
            form method="post" action="/console/login" {
                label { "Consumer" input name="consumer" autocomplete="username" required; }
                label { "Secret key" input name="secret" type="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        }
    };
    layout("Sign in", None, body)
}

#[derive(Deserialize)]
pub struct Credentials {
    consumer: String,
    secret: String,
}

pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<Credentials>,
) -> Response {
    let ip = match client_ip(&parts, &state.config.trusted_proxies) {
        Ok(ip) => ip,
        Err(e) => return e.into_response(),
    };
    if cross_site(&parts.headers) {
        // Another site's form would sign the browser in to its own key.
        let refusal = "A sign-in must come from this page.";
        return (StatusCode::FORBIDDEN, login_page(Some(refusal))).into_response();
    }
    let consumer = form.consumer.trim();
    if let Err(e) = sign_in(consumer, form.secret.trim(), ip, &state).await {
        return refused(e);
    }
    match start_session(&state, consumer).await {
        Ok(cookie) => {
            let set = [(header::SET_COOKIE, cookie)];
            (StatusCode::SEE_OTHER, set, Redirect::to("/console/runs")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The sign-in page again, saying why (4xx), with the API's status.
fn refused(e: ApiError) -> Response {
    let (status, message) = match &e {
        ApiError::Unauthorized(m) | ApiError::Forbidden(m) => (e.status(), m.clone()),
        ApiError::TooManyRequests(_) => (
            e.status(),
            "Too many failed sign-ins; wait a minute.".into(),
        ),
        _ => return e.into_response(),
    };
    (status, login_page(Some(&message))).into_response()
}

/// A new session for `consumer`; its `Set-Cookie` value.
async fn start_session(state: &AppState, consumer: &str) -> Result<String, ApiError> {
    let (token, token_hash) = state.secrets.new_token();
    let now = state.clock.now();
    let session = ConsoleSession {
        consumer: consumer.to_string(),
        csrf: state.secrets.new_token().0,
        created_at: now,
        expires_at: now + chrono::Duration::hours(SESSION_HOURS),
        managed_account: None,
    };
    state
        .store
        .create_console_session(&token_hash, &session)
        .await?;
    let secure = match state.config.public_url.starts_with("https://") {
        true => "; Secure",
        false => "",
    };
    let max_age = SESSION_HOURS * 3600;
    Ok(format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    user: ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return user.expired_form();
    }
    if let Err(e) = state.store.delete_console_session(&user.token_hash).await {
        return ApiError::from(e).into_response();
    }
    signed_out()
}

/// The cookie cleared, and the way to sign in again.
fn signed_out() -> Response {
    let clear = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    let to_login = Redirect::to("/console/login");
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, clear)],
        to_login,
    )
        .into_response()
}

impl ConsoleUser {
    /// Whether a form's CSRF token is the session's (compared in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        given.len() == self.csrf.len()
            && given
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |d, (a, b)| d | (a ^ b))
                == 0
    }

    /// The answer to a form without the session's token (403).
    pub fn expired_form(&self) -> Response {
        let body = html! { p.problem { "This form has expired; go back, reload and try again." } };
        (StatusCode::FORBIDDEN, layout("Refused", Some(self), body)).into_response()
    }
}
