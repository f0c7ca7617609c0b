//! The route table: every API route with its spec and handler. The router,
//! `GetMetaData` and the OpenAPI document are all built from this list.

mod accounts;
mod applications;
pub(crate) mod filehub;
mod meta;
pub mod ops;
pub(crate) mod run_list;
pub(crate) mod runs;
mod templates;
pub(crate) mod workflows;

use crate::auth::Acting;
use crate::spec::{
    AddAccountApiDto, AddRegApplicationApiDto, AddWorkflowApiDto, AddWorkflowTemplateApiDto,
    CancelRunApiDto, RunMetadataApiDto, StoreFileHubFileApiDto, UpdateWorkfowSchedulerApiDto,
};
use crate::spec::{Content, Dto, DtoSpec, QuerySpec, RouteSpec, dtos_of, query};
use crate::state::AppState;
use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
use canvas_store::model::AuditEntry;

pub use meta::{metadata_json, openapi_json};

pub struct Route {
    pub spec: RouteSpec,
    pub handler: MethodRouter<AppState>,
}

const ID: &[QuerySpec] = &[query("id", "guid", true)];
const NAME: &[QuerySpec] = &[query("name", "string", true)];
const PAGE: &[QuerySpec] = &[query("top", "int", false), query("skip", "int", false)];
const RUNS: &[QuerySpec] = &[
    query("workflowId", "guid", true),
    query("top", "int", false),
    query("skip", "int", false),
];
const RUN_LIST: &[QuerySpec] = &[
    query("workflowId", "guid", false),
    query("status", "string", false),
    query("trigger", "string", false),
    query("window", "string", false),
    query("since", "string", false),
    query("until", "string", false),
    query("after", "string", false),
    query("top", "int", false),
];
const OUTPUT: &[QuerySpec] = &[
    query("id", "guid", true),
    query("block", "int", true),
    query("skip", "int", false),
    query("top", "int", false),
];
const FILES: &[QuerySpec] = &[query("id", "guid", true), query("block", "int", true)];
const FILE: &[QuerySpec] = &[
    query("id", "guid", true),
    query("block", "int", true),
    query("name", "string", true),
];
const TOKEN: &[QuerySpec] = &[query("token", "string", true)];
const FILE_NAME: &[QuerySpec] = &[query("name", "string", true)];

fn spec(
    name: &'static str,
    method: Method,
    authenticate: bool,
    description: &'static str,
    returns: &'static str,
) -> RouteSpec {
    RouteSpec {
        name,
        method,
        authenticate,
        description,
        returns,
        query: &[],
        body: None,
        content: Content::Json,
    }
}

fn with_query(mut s: RouteSpec, query: &'static [QuerySpec]) -> RouteSpec {
    s.query = query;
    s
}

fn with_body<T: Dto>(mut s: RouteSpec, param: &'static str) -> RouteSpec {
    s.body = Some((T::SPEC, param));
    s
}

/// A route that answers with a file's bytes (see [`attachment`]).
fn returning_bytes(mut s: RouteSpec) -> RouteSpec {
    s.content = Content::Bytes;
    s
}

/// Every DTO the route table names, with the DTOs they hold: what
/// `Describe` answers for and the OpenAPI document describes.
pub fn dtos(routes: &[Route]) -> Vec<&'static DtoSpec> {
    dtos_of(
        routes
            .iter()
            .filter_map(|r| r.spec.body.map(|(dto, _)| dto)),
    )
}

/// A file's bytes as a download, with the media type the route table documents.
pub(crate) fn attachment(
    name: &str,
    content: impl Into<axum::body::Body>,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let disposition = format!("attachment; filename=\"{}\"", name.replace('"', "_"));
    (
        [
            (
                header::CONTENT_TYPE,
                Content::Bytes.media_type().to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        content.into(),
    )
        .into_response()
}

/// Every API route, in the order `GetMetaData` lists them (the seed's first).
pub fn api() -> Vec<Route> {
    use Method as M;
    let r = |spec, handler| Route { spec, handler };
    vec![
        r(
            spec(
                "GetMetaData",
                M::GET,
                false,
                "Returns controllers actions",
                "JSON array",
            ),
            get(meta::get_metadata),
        ),
        r(
            with_query(
                spec("Describe", M::GET, false, "Describes object properties", ""),
                NAME,
            ),
            get(meta::describe),
        ),
        r(
            spec(
                "Authenticate",
                M::GET,
                true,
                "Checks authentification",
                "boolean",
            ),
            get(accounts::authenticate),
        ),
        r(
            spec(
                "Applications",
                M::GET,
                true,
                "Returns Canvas applications",
                "JSON Array",
            ),
            get(applications::list),
        ),
        r(
            spec(
                "WorkflowTemplates",
                M::GET,
                true,
                "Returns list of workflow templates",
                "JSON array",
            ),
            get(templates::list),
        ),
        r(
            spec(
                "Accounts",
                M::GET,
                true,
                "Returns list of accounts in the organization",
                "JSON array",
            ),
            get(accounts::list),
        ),
        r(
            spec(
                "RegApplications",
                M::GET,
                true,
                "Returns account registerred applications",
                "JSON Array",
            ),
            get(applications::registered),
        ),
        r(
            spec(
                "Workflows",
                M::GET,
                true,
                "Returns list of registered workflows",
                "JSON array",
            ),
            get(workflows::list),
        ),
        r(
            with_query(
                spec(
                    "Workflow",
                    M::GET,
                    true,
                    "Returns registered workflow by id",
                    "JSON",
                ),
                ID,
            ),
            get(workflows::get_one),
        ),
        r(
            with_body::<AddRegApplicationApiDto>(
                spec(
                    "RegApplication",
                    M::POST,
                    true,
                    "Registers a new application and returns Id",
                    "Guid",
                ),
                "regApp",
            ),
            post(applications::register),
        ),
        r(
            with_body::<AddWorkflowApiDto>(
                spec(
                    "Workflow",
                    M::POST,
                    true,
                    "Registers a new workflow based on template and returns Id",
                    "Guid",
                ),
                "workflow",
            ),
            post(workflows::create),
        ),
        r(
            with_query(
                spec(
                    "DeleteWorkflow",
                    M::GET,
                    true,
                    "Deletes workflow by Id",
                    "boolean",
                ),
                ID,
            ),
            get(workflows::delete),
        ),
        r(
            with_body::<RunMetadataApiDto>(
                spec("RunWorkflow", M::POST, true, "Runs workflow", "string"),
                "metadata",
            ),
            post(workflows::run),
        ),
        r(
            with_body::<UpdateWorkfowSchedulerApiDto>(
                spec(
                    "WorkflowScheduler",
                    M::POST,
                    true,
                    "Updates the workflow scheduler",
                    "string",
                ),
                "scheduler",
            ),
            post(workflows::schedule),
        ),
        r(
            with_body::<AddAccountApiDto>(
                spec("Account", M::POST, true, "Account registration", "Guid"),
                "data",
            ),
            post(accounts::create),
        ),
        r(
            spec(
                "Blocks",
                M::GET,
                true,
                "Returns the blocks each application offers, with their variables",
                "JSON array",
            ),
            get(applications::blocks),
        ),
        r(
            with_body::<AddWorkflowTemplateApiDto>(
                spec(
                    "WorkflowTemplate",
                    M::POST,
                    true,
                    "Creates or updates an organization workflow template and returns Id",
                    "Guid",
                ),
                "template",
            ),
            post(templates::save),
        ),
        r(
            with_query(
                spec(
                    "AuditLog",
                    M::GET,
                    true,
                    "Returns the audit log of the organization, newest first",
                    "JSON array",
                ),
                PAGE,
            ),
            get(accounts::audit_log),
        ),
        r(
            with_query(
                spec(
                    "ActivateAccount",
                    M::GET,
                    false,
                    "Activates an account with its one-time activation token",
                    "boolean",
                ),
                TOKEN,
            ),
            get(accounts::activate),
        ),
        r(
            with_query(
                spec(
                    "Runs",
                    M::GET,
                    true,
                    "Returns the account's runs across its workflows, newest first: filters status (comma-separated), trigger, workflowId, window (1h, 24h, 7d) or since/until; keyset paging with after = the previous page's next",
                    "JSON object: runs, next",
                ),
                RUN_LIST,
            ),
            get(run_list::list),
        ),
        r(
            with_query(
                spec(
                    "WorkflowRuns",
                    M::GET,
                    true,
                    "Returns the runs of a workflow, newest first",
                    "JSON array",
                ),
                RUNS,
            ),
            get(runs::list),
        ),
        r(
            with_query(
                spec(
                    "WorkflowRun",
                    M::GET,
                    true,
                    "Returns a run with its blocks",
                    "JSON",
                ),
                ID,
            ),
            get(runs::get_one),
        ),
        r(
            with_query(
                spec(
                    "WorkflowRunOutput",
                    M::GET,
                    true,
                    "Returns a page of a block's stored output records",
                    "JSON array",
                ),
                OUTPUT,
            ),
            get(runs::output),
        ),
        r(
            with_query(
                spec(
                    "WorkflowRunFiles",
                    M::GET,
                    true,
                    "Lists the files a block stored beside its output records",
                    "JSON array of {name, size}",
                ),
                FILES,
            ),
            get(runs::files),
        ),
        r(
            returning_bytes(with_query(
                spec(
                    "WorkflowRunFile",
                    M::GET,
                    true,
                    "Returns one file a block stored, as bytes",
                    "file",
                ),
                FILE,
            )),
            get(runs::file),
        ),
        r(
            with_body::<CancelRunApiDto>(
                spec(
                    "CancelRun",
                    M::POST,
                    true,
                    "Cancels a queued or running run",
                    "string",
                ),
                "cancel",
            ),
            post(runs::cancel),
        ),
        r(
            spec(
                "FileHubFiles",
                M::GET,
                true,
                "Lists the files of the account's File Hub",
                "JSON array of {name, size}",
            ),
            get(filehub::list),
        ),
        r(
            returning_bytes(with_query(
                spec(
                    "FileHubFile",
                    M::GET,
                    true,
                    "Returns one file of the account's File Hub, as bytes",
                    "file",
                ),
                FILE_NAME,
            )),
            get(filehub::fetch),
        ),
        r(
            with_body::<StoreFileHubFileApiDto>(
                spec(
                    "StoreFileHubFile",
                    M::POST,
                    true,
                    "Stores a file in the account's File Hub (replacing one of that name)",
                    "{name, size}",
                ),
                "file",
            ),
            post(filehub::store),
        ),
        r(
            with_query(
                spec(
                    "DeleteFileHubFile",
                    M::DELETE,
                    true,
                    "Deletes a file of the account's File Hub",
                    "string",
                ),
                FILE_NAME,
            ),
            axum::routing::delete(filehub::delete),
        ),
    ]
}

/// Records a mutating call. The call already happened, so a failure to
/// record it is logged rather than turned into an error for the caller.
pub(crate) async fn audit(state: &AppState, acting: &Acting, action: &str, target: Option<String>) {
    let entry = audit_entry(state, acting, action, target);
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::error!(error = %e, action, "audit entry could not be written");
    }
}

/// An audit entry for `action` by `acting`, now.
pub(crate) fn audit_entry(
    state: &AppState,
    acting: &Acting,
    action: &str,
    target: Option<String>,
) -> AuditEntry {
    AuditEntry {
        id: uuid::Uuid::new_v4(),
        at: state.clock.now(),
        organization_id: acting.organization_id,
        actor_account_id: Some(acting.key_account_id),
        acting_account_id: Some(acting.account_id),
        action: action.to_string(),
        target,
        client_ip: Some(acting.client_ip.to_string()),
    }
}
