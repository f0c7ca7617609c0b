//! A Fiken stand-in (REST v2), written from `vendors.md` §6: bearer token,
//! `X-Request-ID` on every request, one request at a time per company (a
//! second one in flight gets 429, as Fiken's does), bare JSON arrays paged
//! by `page` (0-based) and `pageSize` (≤ 100) with `Fiken-Api-*` headers. It
//! records when each request came and how many were in flight.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SLUG: &str = "fiskeutstyr-as";
pub const TOKEN: &str = "fiken-token-93c1";
pub const CONTACTS: usize = 230;

#[derive(Default)]
pub struct Seen {
    in_flight: AtomicUsize,
    /// The most requests ever in flight at once.
    pub most_at_once: AtomicUsize,
    /// When each request arrived, and its `X-Request-ID`.
    pub requests: Mutex<Vec<(Instant, String)>>,
}

pub struct Fiken {
    pub base: String,
    pub seen: Arc<Seen>,
}

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn refusal(headers: &HeaderMap, slug: &str) -> Option<Response> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if header("authorization") != format!("Bearer {TOKEN}") {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid token",
        ));
    }
    if slug != SLUG {
        return Some(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "No access to this company",
        ));
    }
    if header("x-request-id").is_empty() {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "X-Request-ID is missing",
        ));
    }
    None
}

/// Counts the request in flight while it is served (slowly, so overlaps show).
async fn in_flight<T>(
    seen: &Seen,
    headers: &HeaderMap,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Response> {
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    seen.requests
        .lock()
        .unwrap()
        .push((Instant::now(), id.to_string()));
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.most_at_once.fetch_max(now, Ordering::SeqCst);
    if now > 1 {
        seen.in_flight.fetch_sub(1, Ordering::SeqCst);
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "One request at a time",
        ));
    }
    tokio::time::sleep(Duration::from_millis(40)).await;
    let out = work.await;
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(out)
}

async fn company(
    State(seen): State<Arc<Seen>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refusal(&headers, &slug) {
        return r;
    }
    match in_flight(&seen, &headers, async {
        Json(json!({"name": "Fiskeutstyr AS", "slug": SLUG}))
    })
    .await
    {
        Ok(found) => found.into_response(),
        Err(busy) => busy,
    }
}

async fn contacts(
    State(seen): State<Arc<Seen>>,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refusal(&headers, &slug) {
        return r;
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let size: usize = q.get("pageSize").and_then(|p| p.parse().ok()).unwrap_or(25);
    if size > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "pageSize is at most 100",
        );
    }
    let answer = in_flight(&seen, &headers, async {
        let items: Vec<Value> = (page * size + 1..=((page + 1) * size).min(CONTACTS))
            .map(|n| json!({"contactId": n, "name": format!("Kunde {n}"), "customer": true, "inactive": false}))
            .collect();
        let pages = CONTACTS.div_ceil(size);
        let mut response = Json(items).into_response();
        let h = response.headers_mut();
        h.insert("Fiken-Api-Page", page.into());
        h.insert("Fiken-Api-Page-Size", size.into());
        h.insert("Fiken-Api-Page-Count", pages.into());
        h.insert("Fiken-Api-Result-Count", CONTACTS.into());
        response
    });
    answer.await.unwrap_or_else(|busy| busy)
}

/// `POST .../contacts`: 201, an empty body and `Location` (as Fiken answers);
/// a body that is not JSON, or without `name`, is a 400.
async fn create_contact(
    State(seen): State<Arc<Seen>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refusal(&headers, &slug) {
        return r;
    }
    let json_body =
        headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/json");
    let contact: Value = serde_json::from_str(&body).unwrap_or_default();
    if !json_body || contact["name"].as_str().is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a contact needs a name",
        );
    }
    let created = in_flight(&seen, &headers, async { CONTACTS + 1 }).await;
    match created {
        Ok(id) => {
            let location = format!("/companies/{slug}/contacts/{id}");
            (StatusCode::CREATED, [("location", location)]).into_response()
        }
        Err(busy) => busy,
    }
}

pub async fn start() -> Fiken {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/companies/{slug}", get(company))
        .route(
            "/companies/{slug}/contacts",
            get(contacts).post(create_contact),
        )
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fiken { base, seen }
}
