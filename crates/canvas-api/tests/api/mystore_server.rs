//! A MyStore stand-in (JSON:API v2), written from `vendors.md` §5: bearer
//! token, `application/vnd.api+json` on resources (406 otherwise), pages of
//! at most 100 (400 beyond), absolute `links.next`, and the settings
//! endpoint in plain JSON for the credential check. It records what it was
//! asked.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub const SHOP: &str = "demo-shop";
pub const TOKEN: &str = "mystore-token-5b1e";
pub const CUSTOMERS: usize = 250;

pub struct MyStore {
    /// What a deployment sets as `[vendors.MYST2] base_url`.
    pub base: String,
    /// Each request's path and query, in order.
    pub asked: Arc<Mutex<Vec<String>>>,
    /// Set: the shop's owner revoked the token.
    pub revoked: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Shared {
    base: String,
    asked: Arc<Mutex<Vec<String>>>,
    revoked: Arc<AtomicBool>,
}

type Q = Query<HashMap<String, String>>;

fn error(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({"errors": [{"status": status.as_u16().to_string(), "title": title, "detail": detail}]});
    (status, Json(body)).into_response()
}

/// The request's own refusal, if any: auth, shop, media type, page size.
fn refusal(headers: &HeaderMap, shop: &str, media: &str, q: Option<&Q>) -> Option<Response> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if header("authorization") != format!("Bearer {TOKEN}") {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The access token is invalid.",
        ));
    }
    if shop != SHOP {
        return Some(error(StatusCode::NOT_FOUND, "Not Found", "No such shop."));
    }
    if header("accept") != media {
        return Some(error(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            "Use the JSON:API media type.",
        ));
    }
    let size: usize = q?
        .get("page[size]")
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    (size > 100).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "page[size] is at most 100.",
        )
    })
}

/// Records the request; once the token is revoked, refuses it.
fn note(s: &Shared, uri: &Uri) -> Option<Response> {
    s.asked.lock().unwrap().push(uri.to_string());
    s.revoked.load(Ordering::SeqCst).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The access token is invalid.",
        )
    })
}

async fn settings(
    State(s): State<Shared>,
    Path(shop): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = note(&s, &uri) {
        return refused;
    }
    if let Some(r) = refusal(&headers, &shop, "application/json", None) {
        return r;
    }
    Json(json!({"name": "Demo shop", "currency": "NOK"})).into_response()
}

fn customer(n: usize) -> Value {
    json!({"type": "customers", "id": n.to_string(),
           "attributes": {"firstname": format!("Kari {n}"), "lastname": "Nordmann",
                          "email": format!("kari{n}@example.no"), "newsletter": n.is_multiple_of(2),
                          "created_at": "2023-01-17 08:00:00"}})
}

async fn customers(
    State(s): State<Shared>,
    Path(shop): Path<String>,
    q: Q,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = note(&s, &uri) {
        return refused;
    }
    if let Some(r) = refusal(&headers, &shop, "application/vnd.api+json", Some(&q)) {
        return r;
    }
    let page: usize = q
        .get("page[number]")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let size: usize = q
        .get("page[size]")
        .and_then(|p| p.parse().ok())
        .unwrap_or(25);
    let first = (page - 1) * size + 1;
    let data: Vec<Value> = (first..=(first + size - 1).min(CUSTOMERS))
        .map(customer)
        .collect();
    let next = (first + size <= CUSTOMERS).then(|| {
        format!(
            "{}/shops/{shop}/customers?page%5Bnumber%5D={}&page%5Bsize%5D={size}",
            s.base,
            page + 1
        )
    });
    Json(json!({"data": data, "links": {"next": next}, "meta": {"total": CUSTOMERS}}))
        .into_response()
}

fn order(id: &str, status: &str, created: &str) -> Value {
    json!({"type": "orders", "id": id,
           "attributes": {"customer_address_name": "Kari Nordmann", "currency": "NOK", "created_at": created},
           "relationships": {
               "customer": {"data": {"type": "customers", "id": "17"}},
               "order-status": {"data": {"type": "order-statuses", "id": status}},
               "order-products": {"data": [{"type": "order-products", "id": format!("{id}-1")}]}}})
}

async fn orders(
    State(s): State<Shared>,
    Path(shop): Path<String>,
    q: Q,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = note(&s, &uri) {
        return refused;
    }
    if let Some(r) = refusal(&headers, &shop, "application/vnd.api+json", Some(&q)) {
        return r;
    }
    if q.get("include").map(String::as_str) != Some("order-products,order-totals") {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "include what the block needs",
        );
    }
    let now = chrono::Utc::now();
    let local = |days: i64| {
        (now - chrono::Duration::days(days))
            .with_timezone(&chrono_tz::Europe::Oslo)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let data = vec![
        order("1001", "2", &local(1)),
        order("1002", "1", &local(1)),
        order("1003", "2", &local(40)),
    ];
    let included: Vec<Value> = ["1001", "1002", "1003"]
        .iter()
        .map(|id| json!({"type": "order-products", "id": format!("{id}-1"),
                          "attributes": {"products_model": "UG-1", "final_price": 399.2, "products_quantity": 2}}))
        .collect();
    Json(json!({"data": data, "included": included, "links": {"next": null}})).into_response()
}

pub async fn start() -> MyStore {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let revoked = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        base: base.clone(),
        asked: asked.clone(),
        revoked: revoked.clone(),
    };
    let app = Router::new()
        .route("/shops/{shop}/settings", get(settings))
        .route("/shops/{shop}/customers", get(customers))
        .route("/shops/{shop}/orders", get(orders))
        .with_state(shared);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    MyStore {
        base,
        asked,
        revoked,
    }
}
