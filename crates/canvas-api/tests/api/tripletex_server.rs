//! A Tripletex stand-in (REST v2), written from `vendors.md` §7: sessions
//! made with `PUT /token/session/:create` from the consumer and employee
//! tokens (a bad token is a 422 with code 18000), every other request with
//! HTTP Basic `0:<session token>` (else 401); list envelopes; `/order` and
//! `/invoice` refuse to list without their date ranges (422); actions as
//! `:name` segments. It keeps customers, orders, invoices and payments.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CONSUMER: &str = "trip-consumer-7a2f";
pub const EMPLOYEE: &str = "trip-employee-3c9d";
/// The customer already in Tripletex: Kunde 7, id 11.
pub const KNOWN_CUSTOMER: i64 = 11;

#[derive(Default)]
pub struct Books {
    /// Every session token made, in order; `valid` those still accepted.
    pub sessions: Vec<String>,
    pub valid: Vec<String>,
    pub customers: Vec<Value>,
    pub orders: Vec<Value>,
    pub invoices: Vec<Value>,
    pub payments: Vec<Value>,
    /// Each request's method and path, in order.
    pub asked: Vec<String>,
    /// Statuses the next authorized requests get instead of an answer:
    /// 429 (with `X-Rate-Limit-Reset: 3`, no `Retry-After`) or 500.
    pub hiccups: Vec<u16>,
}

pub struct Tripletex {
    /// The base, path prefix included (`http://127.0.0.1:<port>/v2`).
    pub base: String,
    pub books: Arc<Mutex<Books>>,
}

impl Tripletex {
    /// Every session expires (the next request with one is a 401).
    pub fn expire_sessions(&self) {
        self.books.lock().unwrap().valid.clear();
    }
}

type Shared = State<Arc<Mutex<Books>>>;
type Q = Query<HashMap<String, String>>;

fn error(status: StatusCode, code: u32, message: &str, validation: &[(&str, &str)]) -> Response {
    let messages: Vec<Value> = validation
        .iter()
        .map(|(f, m)| json!({"field": f, "message": m}))
        .collect();
    let body = json!({"status": status.as_u16(), "code": code, "message": message, "link": null,
                      "developerMessage": null, "validationMessages": messages, "requestId": "r-1"});
    (status, Json(body)).into_response()
}

fn unprocessable(field: &str, message: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        15000,
        "Validering feilet.",
        &[(field, message)],
    )
}

fn list(values: Vec<Value>) -> Response {
    let n = values.len();
    Json(json!({"fullResultSize": n, "from": 0, "count": n, "versionDigest": null, "values": values}))
        .into_response()
}

fn one(status: StatusCode, value: &Value) -> Response {
    (status, Json(json!({ "value": value }))).into_response()
}

/// `PUT /token/session/:create`, and `GET /token/session/>whoAmI`.
async fn session(
    State(books): Shared,
    Path(action): Path<String>,
    q: Q,
    headers: HeaderMap,
) -> Response {
    let mut b = books.lock().unwrap();
    b.asked.push(format!("session {action}"));
    if action == ">whoAmI" {
        drop(b);
        return match authorized(&books, &headers) {
            Some(refused) => refused,
            None => one(StatusCode::OK, &json!({"employeeId": 7, "companyId": 1})),
        };
    }
    let bad = [
        ("consumerToken", CONSUMER, "consumer"),
        ("employeeToken", EMPLOYEE, "employee"),
    ]
    .into_iter()
    .find(|(param, want, _)| q.get(*param).map(String::as_str) != Some(*want));
    if let Some((param, _, who)) = bad {
        let message = format!("The {who} token is invalid or does not exist.");
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            18000,
            "Validering feilet.",
            &[(&format!("arg:{param}"), &message)],
        );
    }
    if q.get("expirationDate")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_none()
    {
        return unprocessable("arg:expirationDate", "Kan ikke være null.");
    }
    let token = format!("eyJ0b2tlbklkIjo{}", b.sessions.len() + 1);
    b.sessions.push(token.clone());
    b.valid.push(token.clone());
    one(
        StatusCode::OK,
        &json!({"id": b.sessions.len(), "version": 1, "token": token}),
    )
}

/// A refusal unless the request carries Basic `0:<a valid session token>`.
fn authorized(books: &Arc<Mutex<Books>>, headers: &HeaderMap) -> Option<Response> {
    use base64::Engine;
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let decoded = given
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let mut b = books.lock().unwrap();
    let valid = decoded
        .strip_prefix("0:")
        .is_some_and(|t| b.valid.iter().any(|v| v == t));
    if !valid {
        return Some(error(StatusCode::UNAUTHORIZED, 3000, "Unauthorized", &[]));
    }
    match (!b.hiccups.is_empty()).then(|| b.hiccups.remove(0)) {
        Some(429) => {
            let mut limited = error(StatusCode::TOO_MANY_REQUESTS, 429, "Too many requests", &[]);
            limited.headers_mut().insert("x-rate-limit-reset", 3.into());
            Some(limited)
        }
        Some(_) => Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            1000,
            "Internal error",
            &[],
        )),
        None => None,
    }
}

fn matches(value: &Value, q: &HashMap<String, String>, fields: &[&str]) -> bool {
    fields.iter().all(|f| match q.get(*f) {
        None => true,
        Some(want) => match &value[*f] {
            Value::String(s) => s.eq_ignore_ascii_case(want),
            other => other.as_i64().map(|n| n.to_string()).as_ref() == Some(want),
        },
    })
}

/// `from` ≤ the value's `field` < `to`, both required (else a 422).
fn in_window(
    q: &HashMap<String, String>,
    from: &str,
    to: &str,
) -> Result<impl Fn(&Value, &str) -> bool, Box<Response>> {
    let date = |k: &str| {
        q.get(k)
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let (Some(start), Some(end)) = (date(from), date(to)) else {
        let missing = if date(from).is_none() { from } else { to };
        return Err(Box::new(unprocessable(missing, "Kan ikke være null.")));
    };
    Ok(move |v: &Value, field: &str| {
        v[field]
            .as_str()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .is_some_and(|d| start <= d && d < end)
    })
}

async fn customers(State(books): Shared, q: Q, headers: HeaderMap) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let b = books.lock().unwrap();
    list(
        b.customers
            .iter()
            .filter(|c| matches(c, &q, &["email", "organizationNumber"]))
            .cloned()
            .collect(),
    )
}

async fn create_customer(
    State(books): Shared,
    headers: HeaderMap,
    Json(mut customer): Json<Value>,
) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    if customer["name"].as_str().is_none_or(str::is_empty) {
        return unprocessable("name", "Kan ikke være null.");
    }
    let mut b = books.lock().unwrap();
    customer["id"] = json!(KNOWN_CUSTOMER + b.customers.len() as i64);
    b.customers.push(customer.clone());
    one(StatusCode::CREATED, &customer)
}

async fn orders(State(books): Shared, q: Q, headers: HeaderMap) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let window = match in_window(&q, "orderDateFrom", "orderDateTo") {
        Ok(w) => w,
        Err(refused) => return *refused,
    };
    let b = books.lock().unwrap();
    let found = b.orders.iter().filter(|o| {
        window(o, "orderDate") && matches(&o["customer"], &rename(&q, "customerId", "id"), &["id"])
    });
    list(
        found
            .map(|o| json!({"id": o["id"], "reference": o["reference"]}))
            .collect(),
    )
}

fn rename(q: &HashMap<String, String>, from: &str, to: &str) -> HashMap<String, String> {
    q.get(from)
        .map(|v| HashMap::from([(to.to_string(), v.clone())]))
        .unwrap_or_default()
}

async fn create_order(
    State(books): Shared,
    headers: HeaderMap,
    Json(mut order): Json<Value>,
) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let mut b = books.lock().unwrap();
    let customer = order["customer"]["id"].as_i64();
    if !b.customers.iter().any(|c| c["id"].as_i64() == customer) {
        return unprocessable("customer", "Kunden finnes ikke.");
    }
    for field in ["orderDate", "deliveryDate"] {
        if order[field].as_str().is_none() {
            return unprocessable(field, "Kan ikke være null.");
        }
    }
    let lines_ok = order["orderLines"].as_array().is_some_and(|l| {
        !l.is_empty()
            && l.iter().all(|l| {
                l["vatType"]["id"].is_i64() && l["unitPriceExcludingVatCurrency"].is_number()
            })
    });
    if !lines_ok {
        return unprocessable("orderLines", "Ordrelinjer må ha pris og mva-type.");
    }
    order["id"] = json!(21 + b.orders.len());
    b.orders.push(order.clone());
    one(StatusCode::CREATED, &order)
}

/// VAT rate of a VAT type id of [`vat_types`].
fn rate(id: i64) -> f64 {
    match id {
        103 => 0.25,
        131 => 0.15,
        133 => 0.12,
        _ => 0.0,
    }
}

/// `PUT /order/{id}/:invoice`: an invoice of the order's lines with VAT.
async fn order_action(
    State(books): Shared,
    Path((id, action)): Path<(i64, String)>,
    q: Q,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let mut b = books.lock().unwrap();
    let Some(order) = b.orders.iter().find(|o| o["id"] == id).cloned() else {
        return error(StatusCode::NOT_FOUND, 6000, "Object not found", &[]);
    };
    if action != ":invoice" || q.get("invoiceDate").is_none() {
        return unprocessable("invoiceDate", "Kan ikke være null.");
    }
    let cents: f64 = order["orderLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let net = l["count"].as_f64().unwrap_or(0.0)
                * l["unitPriceExcludingVatCurrency"].as_f64().unwrap_or(0.0);
            (net * (1.0 + rate(l["vatType"]["id"].as_i64().unwrap_or(0))) * 100.0).round()
        })
        .sum();
    let amount = cents / 100.0;
    let invoice = json!({"id": 31 + b.invoices.len(), "invoiceNumber": 10001 + b.invoices.len(),
        "invoiceDate": q["invoiceDate"], "customerId": order["customer"]["id"], "amount": amount,
        "amountOutstanding": amount, "orders": [{"id": id}]});
    b.invoices.push(invoice.clone());
    one(StatusCode::OK, &invoice)
}

async fn invoices(State(books): Shared, q: Q, headers: HeaderMap) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let window = match in_window(&q, "invoiceDateFrom", "invoiceDateTo") {
        Ok(w) => w,
        Err(refused) => return *refused,
    };
    let b = books.lock().unwrap();
    list(
        b.invoices
            .iter()
            .filter(|i| window(i, "invoiceDate") && matches(i, &q, &["customerId"]))
            .cloned()
            .collect(),
    )
}

/// `PUT /invoice/{id}/:payment`: what was paid comes off what is outstanding.
async fn invoice_action(
    State(books): Shared,
    Path((id, action)): Path<(i64, String)>,
    q: Q,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let mut b = books.lock().unwrap();
    let paid: Option<f64> = q.get("paidAmount").and_then(|p| p.parse().ok());
    let (Some(paid), true, true) = (paid, q.contains_key("paymentDate"), action == ":payment")
    else {
        return unprocessable("paidAmount", "Kan ikke være null.");
    };
    if q.get("paymentTypeId").map(String::as_str) != Some("5") {
        return unprocessable("paymentTypeId", "Betalingstypen finnes ikke.");
    }
    let Some(invoice) = b.invoices.iter_mut().find(|i| i["id"] == id) else {
        return error(StatusCode::NOT_FOUND, 6000, "Object not found", &[]);
    };
    let left = ((invoice["amountOutstanding"].as_f64().unwrap() - paid) * 100.0).round() / 100.0;
    invoice["amountOutstanding"] = json!(left);
    let invoice = invoice.clone();
    b.payments
        .push(json!({"invoiceId": id, "paidAmount": paid, "paymentDate": q["paymentDate"]}));
    one(StatusCode::OK, &invoice)
}

async fn payment_types(State(books): Shared, q: Q, headers: HeaderMap) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let all = [
        json!({"id": 5, "description": "Betalt til bank"}),
        json!({"id": 6, "description": "Kontant"}),
    ];
    list(
        all.into_iter()
            .filter(|t| matches(t, &q, &["description"]))
            .collect(),
    )
}

async fn vat_types(State(books): Shared, q: Q, headers: HeaderMap) -> Response {
    if let Some(refused) = authorized(&books, &headers) {
        return refused;
    }
    let all = [
        ("3", 103, 25),
        ("31", 131, 15),
        ("33", 133, 12),
        ("5", 105, 0),
    ]
    .map(|(number, id, percentage)| json!({"id": id, "number": number, "percentage": percentage}));
    list(
        all.into_iter()
            .filter(|t| matches(t, &q, &["number"]))
            .collect(),
    )
}

pub async fn start() -> Tripletex {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v2", listener.local_addr().unwrap());
    let books = Arc::new(Mutex::new(Books::default()));
    books.lock().unwrap().customers.push(
        json!({"id": KNOWN_CUSTOMER, "name": "Kunde 7", "email": "kunde7@example.no", "isPrivateIndividual": true}),
    );
    let api = Router::new()
        .route("/token/session/{action}", put(session).get(session))
        .route("/customer", get(customers).post(create_customer))
        .route("/order", get(orders).post(create_order))
        .route("/order/{id}/{action}", put(order_action))
        .route("/invoice", get(invoices))
        .route("/invoice/{id}/{action}", put(invoice_action))
        .route("/invoice/paymentType", get(payment_types))
        .route("/ledger/vatType", get(vat_types))
        .with_state(books.clone());
    let app = Router::new().nest("/v2", api);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Tripletex { base, books }
}
