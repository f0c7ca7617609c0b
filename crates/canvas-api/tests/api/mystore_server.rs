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

/// An order of the stand-in: id, status, age in days, customer name and
/// email, its products `(name, unit price excl. VAT, VAT %, quantity)` and
/// shipping including VAT.
struct Order {
    id: &'static str,
    status: &'static str,
    days: i64,
    name: &'static str,
    email: &'static str,
    products: &'static [(&'static str, f64, i64, i64)],
    shipping: f64,
}

const ORDERS: &[Order] = &[
    Order {
        id: "1001",
        status: "2",
        days: 1,
        name: "Kari Nordmann",
        email: "kari@example.no",
        products: &[("Ullgenser", 399.2, 25, 2)],
        shipping: 99.0,
    },
    Order {
        id: "1002",
        status: "1",
        days: 1,
        name: "Ola Nordmann",
        email: "ola@example.no",
        products: &[("Lue", 100.0, 25, 1)],
        shipping: 0.0,
    },
    Order {
        id: "1003",
        status: "2",
        days: 40,
        name: "Kunde 7",
        email: "kunde7@example.no",
        products: &[("Fiskebok", 200.0, 15, 1), ("Sluk", 49.5, 25, 3)],
        shipping: 0.0,
    },
    Order {
        id: "1004",
        status: "2",
        days: 10,
        name: "kari nordmann ",
        email: "kari@example.no",
        products: &[("Votter", 150.0, 25, 1)],
        shipping: 49.0,
    },
];

fn order(o: &Order, created: &str) -> (Value, Vec<Value>) {
    let products: Vec<Value> = o.products.iter().enumerate().map(|(i, (name, price, tax, qty))| {
        json!({"type": "order-products", "id": format!("{}-{}", o.id, i + 1),
               "attributes": {"products_id": 40 + i, "products_model": "UG-1", "products_name": name,
                              "products_price": price, "final_price": price, "products_tax": tax,
                              "products_quantity": qty}})
    }).collect();
    let mut totals = vec![json!({"type": "order-totals", "id": format!("{}-t", o.id),
        "attributes": {"title": "Sum:", "class": "ot_total", "value": 0.0, "sort_order": 9}})];
    if o.shipping > 0.0 {
        totals.push(json!({"type": "order-totals", "id": format!("{}-s", o.id),
            "attributes": {"title": "Frakt:", "class": "ot_shipping", "value": o.shipping, "sort_order": 2}}));
    }
    let refs = |items: &[Value]| -> Vec<Value> {
        items
            .iter()
            .map(|i| json!({"type": i["type"], "id": i["id"]}))
            .collect()
    };
    let resource = json!({"type": "orders", "id": o.id,
           "attributes": {"customer_address_name": o.name, "customer_address_address": "Storgata 1",
                          "customer_address_postcode": "0155", "customer_address_city": "Oslo",
                          "customer_address_country": "Norway", "customer_address_phone": "+4791234567",
                          "customer_address_email": o.email, "currency": "NOK", "created_at": created},
           "relationships": {
               "customer": {"data": {"type": "customers", "id": "17"}},
               "order-status": {"data": {"type": "order-statuses", "id": o.status}},
               "order-products": {"data": refs(&products)},
               "order-totals": {"data": refs(&totals)}}});
    let mut included = products;
    included.extend(totals);
    (resource, included)
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
    let (mut data, mut included) = (Vec::new(), Vec::new());
    for o in ORDERS {
        let (resource, related) = order(o, &local(o.days));
        data.push(resource);
        included.extend(related);
    }
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
