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
    pub books: Mutex<Books>,
    /// The next this many invoice creations are kept, then answered 500
    /// (a write done whose answer was lost).
    pub lose_answers: AtomicUsize,
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

/// The company's books: its contacts and invoices, as Fiken keeps them.
pub struct Books {
    pub contacts: Vec<Value>,
    pub invoices: Vec<Value>,
}

impl Default for Books {
    fn default() -> Self {
        let contacts = (1..=CONTACTS)
            .map(|n| json!({"contactId": n, "name": format!("Kunde {n}"), "email": format!("kunde{n}@example.no"),
                            "customer": true, "inactive": false}))
            .collect();
        Self {
            contacts,
            invoices: Vec::new(),
        }
    }
}

/// The contacts that pass Fiken's filters (`name`, `email`,
/// `organizationNumber`, `customerNumber`, `phoneNumber`: exact, any case;
/// `customer`, `inactive`).
fn filtered(books: &Books, q: &HashMap<String, String>) -> Vec<Value> {
    let text = |v: &Value| match v {
        Value::String(s) => s.to_lowercase(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    books
        .contacts
        .iter()
        .filter(|c| {
            q.iter().all(|(k, v)| match k.as_str() {
                "name" | "email" | "organizationNumber" | "customerNumber" | "phoneNumber" => {
                    text(&c[k]) == v.to_lowercase()
                }
                "customer" | "inactive" => {
                    c[k].as_bool().map(|b| b.to_string()).as_ref() == Some(v)
                }
                _ => true,
            })
        })
        .cloned()
        .collect()
}

/// One page of `items` as Fiken answers it: a bare array and its headers.
fn paged(items: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let size: usize = q.get("pageSize").and_then(|p| p.parse().ok()).unwrap_or(25);
    if size > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "pageSize is at most 100",
        );
    }
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip(page * size).take(size).collect();
    let mut response = Json(slice).into_response();
    let h = response.headers_mut();
    h.insert("Fiken-Api-Page", page.into());
    h.insert("Fiken-Api-Page-Size", size.into());
    h.insert("Fiken-Api-Page-Count", total.div_ceil(size).max(1).into());
    h.insert("Fiken-Api-Result-Count", total.into());
    response
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
    let answer = in_flight(&seen, &headers, async {
        let items = filtered(&seen.books.lock().unwrap(), &q);
        paged(items, &q)
    });
    answer.await.unwrap_or_else(|busy| busy)
}

/// A write's body: JSON (else 415) with only the fields Fiken knows (else 400).
fn write_body(headers: &HeaderMap, body: &str, known: &[&str]) -> Result<Value, Box<Response>> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    if content_type != Some("application/json") {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        )));
    }
    let value: Value = serde_json::from_str(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &e.to_string(),
        ))
    })?;
    let unknown: Vec<&String> = value
        .as_object()
        .map(|o| o.keys().filter(|k| !known.contains(&k.as_str())).collect())
        .unwrap_or_default();
    if !unknown.is_empty() {
        let words = format!("Unrecognized field(s): {unknown:?}");
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &words,
        )));
    }
    Ok(value)
}

fn created(slug: &str, kind: &str, id: usize) -> Response {
    let location = format!("/api/v2/companies/{slug}/{kind}/{id}");
    (StatusCode::CREATED, [("location", location)]).into_response()
}

const CONTACT_FIELDS: &[&str] = &[
    "name",
    "email",
    "organizationNumber",
    "customerNumber",
    "phoneNumber",
    "customer",
    "supplier",
    "address",
    "inactive",
    "language",
    "currency",
];

/// `POST .../contacts`: 201, an empty body and `Location` (as Fiken answers);
/// a contact needs a name. `phoneNumber` is write-only (not shown on reads).
async fn create_contact(
    State(seen): State<Arc<Seen>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refusal(&headers, &slug) {
        return r;
    }
    let mut contact = match write_body(&headers, &body, CONTACT_FIELDS) {
        Ok(c) if c["name"].as_str().is_some_and(|n| !n.is_empty()) => c,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "a contact needs a name",
            );
        }
        Err(refused) => return *refused,
    };
    let created_id = in_flight(&seen, &headers, async {
        let mut books = seen.books.lock().unwrap();
        let id = books.contacts.len() + 1;
        let fields = contact.as_object_mut().unwrap();
        fields.remove("phoneNumber");
        fields.insert("contactId".into(), id.into());
        fields.entry("inactive").or_insert(false.into());
        books.contacts.push(contact);
        id
    });
    match created_id.await {
        Ok(id) => created(&slug, "contacts", id),
        Err(busy) => busy,
    }
}

async fn invoices(
    State(seen): State<Arc<Seen>>,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refusal(&headers, &slug) {
        return r;
    }
    let answer = in_flight(&seen, &headers, async {
        let books = seen.books.lock().unwrap();
        let items = books
            .invoices
            .iter()
            .filter(|i| {
                q.get("orderReference")
                    .is_none_or(|r| i["orderReference"] == *r)
            })
            .cloned()
            .collect();
        paged(items, &q)
    });
    answer.await.unwrap_or_else(|busy| busy)
}

const INVOICE_FIELDS: &[&str] = &[
    "issueDate",
    "dueDate",
    "customerId",
    "bankAccountCode",
    "cash",
    "currency",
    "orderReference",
    "lines",
    "ourReference",
    "yourReference",
    "invoiceText",
];

/// What Fiken checks of an invoice: dates, a known customer, a bank
/// account, lines with integer øre, a VAT type and an income account.
fn invoice_problem(books: &Books, invoice: &Value) -> Option<String> {
    let date = |f: &str| chrono::NaiveDate::parse_from_str(invoice[f].as_str()?, "%Y-%m-%d").ok();
    let customer = invoice["customerId"].as_i64();
    let known = books
        .contacts
        .iter()
        .any(|c| c["contactId"].as_i64() == customer);
    let lines = invoice["lines"].as_array().filter(|l| !l.is_empty())?;
    let bad_line = lines.iter().position(|l| {
        !l["unitPrice"].is_i64()
            || l["vatType"].as_str().is_none()
            || l["incomeAccount"].as_str().is_none()
            || l["description"]
                .as_str()
                .is_none_or(|d| d.chars().count() > 200)
    });
    match () {
        _ if date("issueDate").is_none() || date("dueDate").is_none() => {
            Some("issueDate and dueDate are required".into())
        }
        _ if !known => Some(format!("customerId {customer:?} is not a contact")),
        _ if invoice["bankAccountCode"].as_str().is_none() => {
            Some("bankAccountCode is required".into())
        }
        _ => bad_line.map(|i| {
            format!("lines[{i}] needs description, integer unitPrice, vatType and incomeAccount")
        }),
    }
}

/// `POST .../invoices`: checked as Fiken would, kept, 201 with `Location`.
async fn create_invoice(
    State(seen): State<Arc<Seen>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refusal(&headers, &slug) {
        return r;
    }
    let invoice = match write_body(&headers, &body, INVOICE_FIELDS) {
        Ok(i) => i,
        Err(refused) => return *refused,
    };
    let stored = in_flight(&seen, &headers, async {
        let mut books = seen.books.lock().unwrap();
        if invoice["lines"].as_array().is_none_or(|l| l.is_empty()) {
            return Err("an invoice needs lines".to_string());
        }
        if let Some(problem) = invoice_problem(&books, &invoice) {
            return Err(problem);
        }
        let id = books.invoices.len() + 88;
        let mut invoice = invoice;
        invoice["invoiceId"] = id.into();
        books.invoices.push(invoice);
        Ok(id)
    });
    let lost = |n: usize| n.checked_sub(1);
    match stored.await {
        Ok(Ok(_))
            if seen
                .lose_answers
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, lost)
                .is_ok() =>
        {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Something went wrong",
            )
        }
        Ok(Ok(id)) => created(&slug, "invoices", id),
        Ok(Err(problem)) => error(StatusCode::BAD_REQUEST, "bad_request", &problem),
        Err(busy) => busy,
    }
}

async fn bank_accounts(
    State(seen): State<Arc<Seen>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refusal(&headers, &slug) {
        return r;
    }
    let accounts = json!([
        {"bankAccountId": 1, "name": "Skatt", "accountCode": "1950:10001", "type": "tax_deduction", "inactive": false},
        {"bankAccountId": 2, "name": "Drift", "accountCode": "1920:10001", "type": "normal", "inactive": false}]);
    let answer = in_flight(&seen, &headers, async { Json(accounts).into_response() });
    answer.await.unwrap_or_else(|busy| busy)
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
        .route(
            "/companies/{slug}/invoices",
            get(invoices).post(create_invoice),
        )
        .route("/companies/{slug}/bankAccounts", get(bank_accounts))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fiken { base, seen }
}
