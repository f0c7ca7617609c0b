//! The console: server-rendered pages under `/console/` where partners see
//! their runs and act on them. A client of the same domain and store code
//! as the API — a session acts exactly as its API key would — rendered with
//! maud (escaped by default), with htmx embedded for what only scripts do.

mod account;
mod audit;
mod block;
mod files;
mod pages;
mod parts;
mod run;
mod session;
mod workflow;

pub use session::ConsoleUser;

use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/runs") }))
        .route(
            "/console/login",
            get(session::login_form).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/runs", get(pages::runs))
        .route("/console/runs/{id}", get(run::page))
        .route("/console/runs/{id}/blocks/{n}/records", get(block::records))
        .route("/console/runs/{id}/blocks/{n}/log", get(block::log))
        .route("/console/runs/{id}/blocks/{n}/output", get(block::output))
        .route(
            "/console/runs/{id}/blocks/{n}/files/{name}",
            get(block::file),
        )
        .route("/console/runs/{id}/cancel", post(pages::cancel))
        .route("/console/runs/{id}/again", post(pages::again))
        .route("/console/runs/{id}/from/{block}", post(pages::from_block))
        .route("/console/account", get(account::page))
        .route("/console/audit", get(audit::page))
        .route("/console/files", get(files::page).post(files::upload))
        .route("/console/files/delete", post(files::delete))
        .route("/console/files/{name}", get(files::download))
        .route("/console/accounts", get(account::accounts))
        .route("/console/accounts/switch", post(account::switch))
        .route("/console/workflows/{id}", get(workflow::page))
        .route("/console/workflows/{id}/schedule", post(workflow::schedule))
        .route(
            "/console/assets/htmx.min.js",
            get(|| asset(HTMX, "text/javascript")),
        )
        .route(
            "/console/assets/console.js",
            get(|| asset(JS.as_bytes(), "text/javascript")),
        )
        .route(
            "/console/assets/console.css",
            get(|| asset(CSS.as_bytes(), "text/css")),
        )
        .layer(axum::middleware::map_response(guarded))
}

/// Pages are never cached, framed or referred to elsewhere; assets keep
/// their own caching.
async fn guarded(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn asset(bytes: &'static [u8], content_type: &'static str) -> Response {
    let cache = "public, max-age=86400";
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response()
}

/// Every page: the head, the bar (with sign-out when signed in), the body.
fn layout(title: &str, user: Option<&ConsoleUser>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Canvas" }
                link rel="stylesheet" href="/console/assets/console.css";
                // htmx's own indicator styles are inline, which the CSP refuses.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
                script src="/console/assets/htmx.min.js" defer {}
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.bar {
                    a.brand href="/console/runs" { "Canvas" }
                    @if let Some(user) = user {
                        nav {
                            a href="/console/runs" { "Runs" }
                            a href="/console/account" { "Account" }
                            a href="/console/files" { "File Hub" }
                            a href="/console/audit" { "Audit log" }
                            a href="/console/accounts" { "Switch account" }
                        }
                        @if let Some(name) = &user.acting_for { span.acting-for { "Acting for " strong { (name) } } }
                        form.signout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An error as a console page: a 4xx says what was wrong, in the API's
/// words; a 5xx stays opaque (its cause is logged once, by `ApiError`).
fn problem(user: &ConsoleUser, e: crate::error::ApiError) -> Response {
    let status = e.status();
    let said = match status.is_server_error() {
        true => {
            let _logged = e.into_response();
            "The server could not answer; try again in a moment.".to_string()
        }
        false => e.to_string(),
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! { h1 { (title) } p.problem role="alert" { (said) } p { a href="/console/runs" { "Back to the runs" } } };
    (status, layout(title, Some(user), body)).into_response()
}
