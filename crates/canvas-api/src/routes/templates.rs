//! WorkflowTemplates and WorkflowTemplate (organization templates).

use crate::auth::Acting;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::spec::{AddWorkflowTemplateApiDto, ChainApiDto};
use crate::state::AppState;
use crate::views::TemplateView;
use axum::Json;
use axum::extract::State;
use canvas_catalog::Catalog;
use canvas_domain::catalog::{ChainBlock, CommittedTemplate, Template, TemplateState};
use canvas_store::StoreError;
use serde_json::Value;
use uuid::Uuid;

pub async fn list(State(state): State<AppState>, acting: Acting) -> ApiResult<Json<Value>> {
    let own = state
        .store
        .templates_visible_to(acting.organization_id)
        .await?;
    let views: Vec<TemplateView> = state
        .catalog
        .templates()
        .iter()
        .chain(own.iter())
        .map(TemplateView::from)
        .collect();
    Ok(Json(
        serde_json::to_value(views).map_err(ApiError::internal)?,
    ))
}

/// A template visible to `organization`: built in, or its own or an ancestor's.
pub(crate) async fn visible_template(
    state: &AppState,
    organization: Uuid,
    id: Uuid,
) -> ApiResult<Template> {
    if let Some(t) = state.catalog.template(id) {
        return Ok(t.clone());
    }
    let unknown = || ApiError::NotFound(format!("Unknown workflow template {id}"));
    let t = match state.store.template(id).await {
        Err(StoreError::NotFound) => return Err(unknown()),
        other => other?,
    };
    let owner = t.organization_id.ok_or_else(unknown)?;
    if state.store.organization_within(organization, owner).await? {
        Ok(t)
    } else {
        Err(unknown())
    }
}

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

fn parse_state(raw: Option<&str>) -> ApiResult<TemplateState> {
    match raw.map(str::trim) {
        None | Some("") => Ok(TemplateState::Draft),
        Some(s) if s.eq_ignore_ascii_case("draft") => Ok(TemplateState::Draft),
        Some(s) if s.eq_ignore_ascii_case("published") => Ok(TemplateState::Published),
        Some(s) => Err(bad(format!("state: '{s}' is not Draft or Published"))),
    }
}

fn parse_applications(catalog: &Catalog, given: &[String]) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for (i, short) in given.iter().enumerate() {
        let app = catalog
            .application_by_short_name(short.trim())
            .ok_or_else(|| bad(format!("applications[{i}]: unknown application '{short}'")))?;
        if out.contains(&app.short_name) {
            return Err(bad(format!("applications[{i}]: '{short}' is listed twice")));
        }
        out.push(app.short_name.clone());
    }
    Ok(out)
}

fn parse_block(
    catalog: &Catalog,
    apps: &[String],
    i: usize,
    b: &ChainApiDto,
    earlier: &[ChainBlock],
) -> ApiResult<ChainBlock> {
    let name = b
        .block_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| bad(format!("chain[{i}].blockName: is required")))?;
    let variables = b.variables.clone().unwrap_or_default();
    let script = b.script.clone().filter(|s| !s.trim().is_empty());
    let application = parse_block_application(catalog, apps, i, b, name)?;
    if script.is_none() {
        let def = catalog.chain_block(apps, application.as_deref(), name).ok_or_else(|| {
            bad(format!("chain[{i}].blockName: no application of this template offers a block '{name}' (give a script to make a script block)"))
        })?;
        for (key, value) in &variables {
            let var = def
                .variables
                .iter()
                .find(|v| &v.name == key)
                .ok_or_else(|| {
                    bad(format!(
                        "chain[{i}].variables.{key}: block '{name}' has no variable '{key}'"
                    ))
                })?;
            if !var.kind.accepts(value) {
                return Err(bad(format!(
                    "chain[{i}].variables.{key}: must be {}",
                    var.kind.name()
                )));
            }
        }
    }
    let id = b.unique_block_id.unwrap_or_else(Uuid::new_v4);
    if earlier.iter().any(|e| e.unique_block_id == id) {
        return Err(bad(format!(
            "chain[{i}].uniqueBlockId: {id} is used by an earlier block"
        )));
    }
    if let Some(ds) = b
        .datasource
        .filter(|ds| !earlier.iter().any(|e| e.unique_block_id == *ds))
    {
        return Err(bad(format!(
            "chain[{i}].datasource: {ds} is not an earlier block of this chain"
        )));
    }
    Ok(ChainBlock {
        unique_block_id: id,
        block_name: name.to_string(),
        variables,
        datasource: b.datasource,
        script,
        application,
    })
}

/// A block offered by two of the template's applications (`SQL Write` of
/// PostgreSQL and of MySQL) must name the one it belongs to.
fn parse_block_application(
    catalog: &Catalog,
    apps: &[String],
    i: usize,
    b: &ChainApiDto,
    name: &str,
) -> ApiResult<Option<String>> {
    let given = b
        .application
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if let Some(short) = given {
        return match apps.iter().find(|a| a.eq_ignore_ascii_case(short)) {
            Some(app) => Ok(Some(app.clone())),
            None => Err(bad(format!(
                "chain[{i}].application: '{short}' is not one of this template's applications ({})",
                apps.join(", ")
            ))),
        };
    }
    let offering = catalog.offering(apps, name);
    if b.script.is_none() && offering.len() > 1 && catalog.utility_block(name).is_none() {
        return Err(bad(format!(
            "chain[{i}].application: the block '{name}' is offered by {}; name the application it belongs to",
            offering.join(" and ")
        )));
    }
    Ok(None)
}

fn parse_chain(
    catalog: &Catalog,
    apps: &[String],
    given: &[ChainApiDto],
) -> ApiResult<Vec<ChainBlock>> {
    if given.is_empty() {
        return Err(bad("chain: must have at least one block".into()));
    }
    let mut chain: Vec<ChainBlock> = Vec::with_capacity(given.len());
    for (i, b) in given.iter().enumerate() {
        let block = parse_block(catalog, apps, i, b, &chain)?;
        chain.push(block);
    }
    Ok(chain)
}

/// The organization's own template `id`, for replacing its draft.
async fn own_template(state: &AppState, acting: &Acting, id: Uuid) -> ApiResult<Template> {
    if state.catalog.template(id).is_some() {
        return Err(ApiError::Forbidden(format!(
            "built-in template {id} cannot be changed"
        )));
    }
    match state.store.template(id).await {
        Ok(t) if t.organization_id == Some(acting.organization_id) => Ok(t),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::NotFound(format!(
            "Unknown workflow template {id}"
        ))),
        Err(e) => Err(e.into()),
    }
}

fn next_version(current: Option<&str>) -> String {
    let n = current
        .and_then(|v| v.rsplit('.').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    (n + 1).to_string()
}

pub async fn save(
    State(state): State<AppState>,
    acting: Acting,
    JsonBody(dto): JsonBody<AddWorkflowTemplateApiDto>,
) -> ApiResult<Json<Uuid>> {
    acting.require_manager()?;
    let name = Some(dto.name.trim()).filter(|n| !n.is_empty());
    let name = name
        .ok_or_else(|| bad("name: must not be empty".into()))?
        .to_string();
    let target_state = parse_state(dto.state.as_deref())?;
    let applications = parse_applications(state.catalog, &dto.applications)?;
    let chain = parse_chain(state.catalog, &applications, &dto.chain)?;
    let now = state.clock.now();
    let existing = match dto.id {
        Some(id) => Some(own_template(&state, &acting, id).await?),
        None => None,
    };
    let mut t = existing.clone().unwrap_or(Template {
        id: dto.id.unwrap_or_else(Uuid::new_v4),
        organization_id: Some(acting.organization_id),
        name: String::new(),
        description: String::new(),
        date_created: now,
        date_modified: now,
        state: TemplateState::Draft,
        version: None,
        draft_is_committed: None,
        date_committed: None,
        applications: Vec::new(),
        chain: Vec::new(),
        committed: None,
    });
    t.name = name;
    t.description = dto.description.unwrap_or_default().trim().to_string();
    t.applications = applications;
    t.chain = chain;
    t.date_modified = now;
    if target_state == TemplateState::Published {
        t.state = TemplateState::Published;
        t.version = Some(next_version(t.version.as_deref()));
        t.draft_is_committed = Some(true);
        t.date_committed = Some(now);
        t.committed = Some(CommittedTemplate {
            applications: t.applications.clone(),
            chain: t.chain.clone(),
        });
    } else if t.committed.is_some() {
        t.draft_is_committed = Some(false);
    }
    // Saving, rebasing the template's workflows and the audit entry land
    // together or not at all.
    let mut tx = state.store.begin().await?;
    tx.save_template(&t).await?;
    if target_state == TemplateState::Published {
        let rebased = tx.rebase_workflows(t.id, &t.chain, now).await?;
        tracing::info!(template = %t.id, version = ?t.version, workflows = rebased, "template published");
    }
    let action = if existing.is_some() {
        "WorkflowTemplate.Update"
    } else {
        "WorkflowTemplate.Create"
    };
    // The audit entry lands with the change it records.
    let entry = crate::routes::audit_entry(&state, &acting, action, Some(t.id.to_string()));
    tx.record_audit(&entry).await?;
    tx.commit().await?;
    Ok(Json(t.id))
}
