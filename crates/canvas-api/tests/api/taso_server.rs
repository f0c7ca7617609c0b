//! A Talentsoft stand-in, written from `vendors.md` §3: a form-encoded
//! client-credentials token at `/api/token` (client in the body; `+` in a
//! secret must arrive encoded), bearer tokens it can revoke, and employees
//! paged by `offset`/`count` (≤ 100) as `{totalCount, results}`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "canvas-client";
/// With a `+` and a `/`: they must arrive form-encoded.
pub const CLIENT_SECRET: &str = "s3cr+t/Zz";
pub const EMPLOYEES: usize = 150;

#[derive(Default)]
pub struct Seen {
    pub tokens_issued: AtomicUsize,
    valid: Mutex<Option<String>>,
}

impl Seen {
    /// The current token stops working (as at its expiry).
    pub fn revoke(&self) {
        *self.valid.lock().unwrap() = None;
    }
}

pub struct Talentsoft {
    /// The registration's `baseUrl`.
    pub base: String,
    pub seen: Arc<Seen>,
}

/// A form body's fields, decoded (`+` is a space, `%2B` a plus).
fn form_fields(body: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(&format!("http://form.invalid/?{body}")).unwrap();
    url.query_pairs().into_owned().collect()
}

async fn token(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: String) -> Response {
    let form = form_fields(&body);
    let form_encoded = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if !form_encoded || field("grant_type") != "client_credentials" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let n = seen.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let value = format!("taso-token-{n}");
    *seen.valid.lock().unwrap() = Some(value.clone());
    Json(json!({"access_token": value, "token_type": "bearer", "expires_in": 1199})).into_response()
}

async fn employees(
    State(seen): State<Arc<Seen>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let valid = seen.valid.lock().unwrap().clone();
    if valid.is_none_or(|t| given != format!("Bearer {t}")) {
        let denied = json!({"Message": "Authorization has been denied for this request."});
        return (StatusCode::UNAUTHORIZED, Json(denied)).into_response();
    }
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let count: usize = q.get("count").and_then(|v| v.parse().ok()).unwrap_or(20);
    if count > 100 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"Message": "count is at most 100"})),
        )
            .into_response();
    }
    let results: Vec<Value> = (offset + 1..=(offset + count).min(EMPLOYEES))
        .map(|n| json!({"employeeNumber": format!("E{n:04}"), "referenceAdmissionDate": "2020-01-06",
                        "individual": {"user": {"username": format!("user{n}")}, "firstName": "Kari"}}))
        .collect();
    Json(json!({"totalCount": EMPLOYEES, "results": results})).into_response()
}

pub async fn start() -> Talentsoft {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/api/token", post(token))
        .route("/api/v1/directory/employees", get(employees))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Talentsoft { base, seen }
}
