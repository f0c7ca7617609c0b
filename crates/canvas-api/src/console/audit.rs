//! The audit log of the key's organization tree, newest first, for Admins
//! and SuperPartners (as the API's AuditLog).

use super::parts::when;
use super::{ConsoleUser, layout};
use crate::extract::Params;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

/// Entries one page shows.
const PAGE: i64 = 100;

pub async fn page(State(state): State<AppState>, user: ConsoleUser, params: Params) -> Response {
    let shown = async {
        user.acting.require_manager()?;
        let skip = params.int("skip", 0, 0..=i64::MAX)?;
        let org = user.acting.organization_id;
        let entries = state.store.audit_log(org, skip, PAGE + 1).await?;
        Ok((skip, entries))
    };
    let (skip, mut entries) = match shown.await {
        Ok(found) => found,
        Err(e) => return super::problem(&user, e),
    };
    let more = entries.len() as i64 > PAGE;
    entries.truncate(PAGE as usize);
    let now = state.clock.now();
    let body = html! {
        h1 { "Audit log" }
        @if entries.is_empty() { p.note { "Nothing recorded yet." } } @else {
            table { thead { tr { th { "When" } th { "Action" } th { "Target" } th { "By account" } th { "For account" } th { "From" } } }
                tbody { @for e in &entries { tr {
                    td { (when(&e.at, now)) } td { (e.action) } td { (e.target.as_deref().unwrap_or("")) }
                    td { @if let Some(a) = e.actor_account_id { (a) } }
                    td { @if let Some(a) = e.acting_account_id { (a) } }
                    td { (e.client_ip.as_deref().unwrap_or("")) }
                } } }
            }
        }
        @if more { p { a href=(format!("/console/audit?skip={}", skip + PAGE)) { "Older entries →" } } }
    };
    layout("Audit log", Some(&user), body).into_response()
}
