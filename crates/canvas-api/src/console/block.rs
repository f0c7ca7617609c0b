//! What a run's block page loads on demand: a preview of its first records
//! (cells cut), its log page by page, and downloads of its whole log, its
//! whole output (streamed, batch by batch) and its files.

use super::run::{PAGE_LOG_BYTES, escaped_len, parse_run_id, visible_run};
use super::{ConsoleUser, layout, parts::cut};
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::attachment;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use canvas_blocks::DatasetError;
use canvas_store::model::{Run, RunBlock};
use maud::{Markup, html};
use serde_json::Value;

/// Records a preview shows.
const PREVIEW_RECORDS: usize = 100;
/// Columns a preview shows.
const PREVIEW_COLUMNS: usize = 30;
/// Characters of one shown cell.
const CELL_CHARS: usize = 300;

/// The run (the session's account's) and its block `number`.
async fn owned_block(
    state: &AppState,
    user: &ConsoleUser,
    id: &str,
    number: i64,
) -> Result<(Run, RunBlock), ApiError> {
    let run = visible_run(state, user, parse_run_id(id)?).await?.run;
    let blocks = state.store.run_blocks(run.id).await?;
    let block = blocks.into_iter().find(|b| b.number == number);
    let block =
        block.ok_or_else(|| ApiError::NotFound(format!("run {} has no block {number}", run.id)))?;
    Ok((run, block))
}

fn output_key(run: &Run, b: &RunBlock) -> Result<String, ApiError> {
    b.output_key.clone().ok_or_else(|| {
        ApiError::NotFound(format!(
            "run {} has no stored output for block {}",
            run.id, b.number
        ))
    })
}

/// A fragment for htmx, the same inside the layout for a plain link.
fn answer(headers: &HeaderMap, user: &ConsoleUser, title: &str, body: Markup) -> Response {
    match headers.contains_key("hx-request") {
        true => body.into_response(),
        false => layout(title, Some(user), body).into_response(),
    }
}

fn done(user: &ConsoleUser, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|e| super::problem(user, e))
}

/// `GET …/blocks/{n}/records`: the first records as a table, and the block's files.
pub async fn records(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((id, number)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Response {
    let user = &user;
    done(user, async {
        let (run, b) = owned_block(&state, user, &id, number).await?;
        let key = output_key(&run, &b)?;
        let rows = state.datasets.page(&key, 0, PREVIEW_RECORDS).await.map_err(ApiError::internal)?;
        let files = state.datasets.files(&key).await.map_err(ApiError::internal)?;
        let base = format!("/console/runs/{}/blocks/{}", run.id, b.number);
        let body = html! {
            (preview(&rows))
            @if !files.is_empty() {
                p { "Files: " @for f in &files { a href=(file_link(&base, &f.name)) { (f.name) } " (" (f.size) " bytes) " } }
            }
        };
        Ok(answer(&headers, user, "Records", body))
    }
    .await)
}

/// Records as a table: the keys of the shown records as columns, every cell cut.
fn preview(rows: &[Value]) -> Markup {
    let mut columns: Vec<&str> = Vec::new();
    for row in rows.iter().filter_map(Value::as_object) {
        for key in row.keys() {
            if columns.len() < PREVIEW_COLUMNS && !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let cell = |row: &Value, column: &str| match &row[column] {
        Value::Null => String::new(),
        Value::String(s) => cut(s, CELL_CHARS),
        other => cut(&other.to_string(), CELL_CHARS),
    };
    html! {
        @if rows.is_empty() { p.note { "No record." } } @else {
            div.scroll { table.records {
                thead { tr { th { "#" } @for c in &columns { th { (c) } } } }
                tbody { @for (i, row) in rows.iter().enumerate() { tr {
                    td.num { (i + 1) }
                    @if row.is_object() { @for c in &columns { td { (cell(row, c)) } } }
                    @else { td colspan=(columns.len().max(1)) { (cut(&row.to_string(), CELL_CHARS)) } }
                } } }
            } }
        }
    }
}

/// `GET …/blocks/{n}/log?from=K`: the log from line K, a page of at most
/// 64 KB; `?download=1` is the whole log as a text file.
pub async fn log(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((id, number)): Path<(String, i64)>,
    params: Params,
) -> Response {
    let user = &user;
    done(user, async {
        let (run, b) = owned_block(&state, user, &id, number).await?;
        if params.text("download").is_some() {
            let text = b.log.join("\n") + "\n";
            return Ok(attachment(&format!("run-{}-block-{}.log", run.id, b.number), text));
        }
        let from = params.int("from", 0, 0..=i64::MAX)? as usize;
        let lines = log_page(&b.log, from);
        let next = from + lines.len();
        let base = format!("/console/runs/{}/blocks/{}/log", run.id, b.number);
        let body = html! {
            h1 { "Log of block " (b.number) ", " (b.block_name) }
            p.note { "Lines " (from + 1) "–" (next) " of " (b.log.len()) " · "
                a href=(format!("/console/runs/{}#block-{}", run.id, b.number)) { "back to the run" } " · "
                a href=(format!("{base}?download=1")) { "download" } }
            pre.log { @for line in lines { (line) "\n" } }
            @if next < b.log.len() { p { a href=(format!("{base}?from={next}")) { "Next lines →" } } }
        };
        Ok(layout("Log", Some(user), body).into_response())
    }
    .await)
}

/// The lines from `from` on that fit in a page's log budget (at least one, cut).
fn log_page(log: &[String], from: usize) -> Vec<String> {
    let mut used = 0;
    let mut page = Vec::new();
    for line in log.iter().skip(from) {
        let shown = cut(line, 4000);
        let size = escaped_len(&shown) + 1;
        if !page.is_empty() && used + size > PAGE_LOG_BYTES {
            break;
        }
        used += size;
        page.push(shown);
    }
    page
}

/// `GET …/blocks/{n}/output`: every record, as NDJSON, streamed.
pub async fn output(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((id, number)): Path<(String, i64)>,
) -> Response {
    let user = &user;
    done(
        user,
        async {
            let (run, b) = owned_block(&state, user, &id, number).await?;
            let key = output_key(&run, &b)?;
            let reader = state
                .datasets
                .reader(&key)
                .await
                .map_err(ApiError::internal)?;
            let batches = futures::stream::unfold(Some(reader), |reader| async move {
                let mut reader = reader?;
                match reader.next_batch().await {
                    Ok(Some(batch)) => Some((Ok(batch.ndjson), Some(reader))),
                    Ok(None) => None,
                    // The download ends short; the cause is logged, never sent.
                    Err(e) => {
                        tracing::error!(error = %e, "reading a run's output for download");
                        Some((Err(std::io::Error::other("output unreadable")), None))
                    }
                }
            });
            let name = format!("run-{}-block-{}.ndjson", run.id, b.number);
            Ok(attachment(&name, Body::from_stream(batches)))
        }
        .await,
    )
}

/// A stored file's link: its name as an encoded query value.
fn file_link(base: &str, name: &str) -> String {
    let query = serde_urlencoded::to_string([("name", name)]).unwrap_or_default();
    format!("{base}/files?{query}")
}

/// `GET …/blocks/{n}/files?name=`: one of the files the block stored.
pub async fn file(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((id, number)): Path<(String, i64)>,
    params: Params,
) -> Response {
    let name = params.text("name").unwrap_or_default().to_string();
    let user = &user;
    done(
        user,
        async {
            let (run, b) = owned_block(&state, user, &id, number).await?;
            let key = output_key(&run, &b)?;
            match state.datasets.read_file(&key, &name).await {
                Ok(bytes) => Ok(attachment(&name, bytes)),
                Err(
                    e @ (DatasetError::BadFileName(_)
                    | DatasetError::NameTooLong { .. }
                    | DatasetError::NoSuchFile(_)),
                ) => Err(ApiError::NotFound(e.to_string())),
                Err(e) => Err(ApiError::internal(e)),
            }
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_page_holds_at_most_its_budget_and_at_least_one_line() {
        let log: Vec<String> = (0..100_000).map(|i| format!("{i:09}")).collect();
        let page = log_page(&log, 10);
        assert_eq!(page[0], "000000010");
        assert_eq!(page.len(), PAGE_LOG_BYTES / 10);
        let huge = vec!["y".repeat(1 << 20)];
        assert_eq!(log_page(&huge, 0).len(), 1);
        assert!(log_page(&huge, 0)[0].chars().count() <= 4001);
    }
}
