//! The File Hub browser: the acting account's files — list, download,
//! upload (a multipart form), delete — through the API's own functions
//! (same name checks, quota and audit).

use super::{ConsoleUser, layout};
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::filehub::{delete_file, fetch_file, list_files, store_file};
use crate::state::AppState;
use axum::extract::{Form, Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

pub async fn page(State(state): State<AppState>, user: ConsoleUser) -> Response {
    let files = match list_files(&state, &user.acting).await {
        Ok(files) => files,
        Err(e) => return super::problem(&user, e),
    };
    let body = html! {
        h1 { "File Hub" }
        p.note { "The files of this account that workflows' Store file writes and Read file reads." }
        form.filters method="post" action="/console/files" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(user.csrf);
            label { "File " input type="file" name="file" required; }
            button type="submit" { "Upload" }
        }
        @if files.is_empty() { p.note { "No file yet." } } @else {
            table { thead { tr { th { "Name" } th { "Size" } th {} } }
                tbody { @for f in &files { tr {
                    td { a href=(download_link(&f.name)) { (f.name) } }
                    td.num { (f.size) " bytes" }
                    td { form.actions method="post" action="/console/files/delete" {
                        input type="hidden" name="csrf" value=(user.csrf);
                        input type="hidden" name="name" value=(f.name);
                        button type="submit" { "Delete" }
                    } }
                } } }
            }
        }
    };
    layout("File Hub", Some(&user), body).into_response()
}

/// A file's download link: the name as a query value, encoded (a name may
/// hold `?`, `#`, `%` or anything a File Hub name allows).
fn download_link(name: &str) -> String {
    let query = serde_urlencoded::to_string([("name", name)]).unwrap_or_default();
    format!("/console/files/download?{query}")
}

pub async fn download(
    State(state): State<AppState>,
    user: ConsoleUser,
    params: Params,
) -> Response {
    let name = params.text("name").unwrap_or_default();
    fetch_file(&state, &user.acting, name)
        .await
        .unwrap_or_else(|e| super::problem(&user, e))
}

/// The largest upload the console takes (the route's body limit).
pub const UPLOAD_BYTES: usize = 16 * 1024 * 1024;

/// `POST /console/files`: the form's `csrf` part first, then its `file`.
pub async fn upload(
    State(state): State<AppState>,
    user: ConsoleUser,
    mut form: Multipart,
) -> Response {
    let done = async {
        let mut csrf_ok = false;
        while let Some(field) = form.next_field().await.map_err(unreadable)? {
            match field.name() {
                Some("csrf") => {
                    csrf_ok = user.csrf_matches(&field.text().await.map_err(unreadable)?)
                }
                Some("file") if csrf_ok => {
                    let name = field.file_name().unwrap_or_default().to_string();
                    let bytes = field.bytes().await.map_err(unreadable)?;
                    store_file(&state, &user.acting, name.trim(), bytes.to_vec()).await?;
                    return Ok(Some(Redirect::to("/console/files")));
                }
                _ => {}
            }
        }
        match csrf_ok {
            true => Err(ApiError::BadRequest(
                "file: is required (choose a file to upload)".into(),
            )),
            false => Ok(None),
        }
    };
    match done.await {
        Ok(Some(to)) => to.into_response(),
        Ok(None) => user.expired_form(),
        Err(e) => super::problem(&user, e),
    }
}

fn unreadable(e: axum::extract::multipart::MultipartError) -> ApiError {
    match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(UPLOAD_BYTES),
        _ => ApiError::BadRequest(format!(
            "file: the upload could not be read ({})",
            e.body_text()
        )),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

pub async fn delete(
    State(state): State<AppState>,
    user: ConsoleUser,
    Form(form): Form<DeleteForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return user.expired_form();
    }
    match delete_file(&state, &user.acting, &form.name).await {
        Ok(()) => Redirect::to("/console/files").into_response(),
        Err(e) => super::problem(&user, e),
    }
}
