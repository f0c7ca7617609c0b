//! An HTTP API on loopback for the HTTP connector's tests: every auth style,
//! every pagination style, a 429 with Retry-After and a 503 that recovers.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Seen {
    pub tokens_issued: AtomicUsize,
    valid_token: Mutex<String>,
    calls_429: AtomicUsize,
    calls_503: AtomicUsize,
    pub received: Mutex<Vec<(String, Value)>>,
}

pub struct HttpServer {
    pub base: String,
    pub seen: Arc<Seen>,
}

type Q = Query<HashMap<String, String>>;

const ITEMS: i64 = 5;

fn items(from: i64, count: i64) -> Vec<Value> {
    (from..(from + count).min(ITEMS + 1))
        .map(|i| json!({"id": i}))
        .collect()
}

/// Records `from`… of 237, at most 100 at a time.
fn capped(from: i64, count: i64) -> Vec<Value> {
    (from..(from + count.min(100)).min(238))
        .map(|i| json!({"id": i}))
        .collect()
}

fn number(q: &Q, key: &str, default: i64) -> i64 {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "bad credentials").into_response()
}

fn guarded(ok: bool) -> Response {
    if ok {
        Json(json!({"items": items(1, ITEMS)})).into_response()
    } else {
        unauthorized()
    }
}

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

pub async fn start() -> HttpServer {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let next_base = base.clone();
    let link_base = base.clone();
    let app = Router::new()
        .route("/basic/items", get(|h: HeaderMap| async move { guarded(header(&h, "authorization") == basic("u", "p")) }))
        .route("/bearer/items", get(|h: HeaderMap| async move { guarded(header(&h, "authorization") == "Bearer tok") }))
        .route("/header/items", get(|h: HeaderMap| async move { guarded(header(&h, "x-api-key") == "k") }))
        .route("/query/items", get(|q: Q| async move { guarded(q.get("api_key").map(String::as_str) == Some("k")) }))
        .route("/oauth/token", post(token))
        .route("/oauth/items", get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
            let valid = s.valid_token.lock().unwrap().clone();
            guarded(!valid.is_empty() && header(&h, "authorization") == format!("Bearer {valid}"))
        }))
        .route("/oauth/revoke", post(|State(s): State<Arc<Seen>>| async move { s.valid_token.lock().unwrap().clear(); }))
        .route("/page", get(|q: Q| async move {
            let size = number(&q, "size", 2);
            Json(json!({"data": {"items": items((number(&q, "page", 1) - 1) * size + 1, size)}}))
        }))
        .route("/offset", get(|q: Q| async move {
            Json(json!({"results": items(number(&q, "offset", 0) + 1, number(&q, "limit", 2))}))
        }))
        // 237 records in pages the server caps at 100, whatever is asked.
        .route("/capped-offset", get(|q: Q| async move {
            Json(json!({"results": capped(number(&q, "offset", 0) + 1, number(&q, "limit", 2))}))
        }))
        .route("/capped-page", get(|q: Q| async move {
            let size = number(&q, "size", 2).min(100);
            Json(json!({"items": capped((number(&q, "page", 1) - 1) * size + 1, size)}))
        }))
        // 237 records in pages of 100; a page past the last is a 404.
        .route("/page-404", get(|q: Q| async move {
            let page = number(&q, "page", 1);
            match page {
                1..=3 => Json(json!({"items": capped((page - 1) * 100 + 1, 100)})).into_response(),
                _ => (StatusCode::NOT_FOUND, "no such page").into_response(),
            }
        }))
        // Paging parameters ignored: the same three records every time.
        .route("/unpaged", get(|| async { Json(json!([{"id": 1}, {"id": 2}, {"id": 3}])) }))
        .route("/cursor", get(|q: Q| async move {
            let from = number(&q, "cursor", 1);
            let next = (from + 2 <= ITEMS).then(|| (from + 2).to_string());
            Json(json!({"data": items(from, 2), "meta": {"next": next}}))
        }))
        .route("/next", get(move |q: Q| async move {
            let from = number(&q, "from", 1);
            let next = (from + 2 <= ITEMS).then(|| format!("{next_base}/next?from={}", from + 2));
            Json(json!({"items": items(from, 2), "links": {"next": next}}))
        }))
        .route("/linked", get(move |q: Q| async move {
            let from = number(&q, "from", 1);
            let mut headers = axum::http::HeaderMap::new();
            if from + 2 <= ITEMS {
                let link = format!("<{link_base}/linked?from={}>; rel=\"next\", <{link_base}/linked?from=5>; rel=\"last\"", from + 2);
                headers.insert("link", link.parse().unwrap());
            }
            (headers, Json(json!(items(from, 2))))
        }))
        .route("/export.csv", get(|| async { ([("content-type", "text/csv")], "id;city\n1;Oslo\n2;Troms\u{f8}\n") }))
        .route("/busy429", get(|State(s): State<Arc<Seen>>| async move {
            if s.calls_429.fetch_add(1, Ordering::SeqCst) == 0 {
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response();
            }
            Json(json!([{"ok": 1}])).into_response()
        }))
        .route("/busy503", get(|State(s): State<Arc<Seen>>| async move {
            if s.calls_503.fetch_add(1, Ordering::SeqCst) < 2 {
                return (StatusCode::SERVICE_UNAVAILABLE, "down for a moment").into_response();
            }
            Json(json!([{"ok": 2}])).into_response()
        }))
        .route("/echo/{id}", post(|State(s): State<Arc<Seen>>, Path(id): Path<String>, Json(body): Json<Value>| async move {
            s.received.lock().unwrap().push((id.clone(), body.clone()));
            Json(json!({"id": id, "received": body}))
        }))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    HttpServer { base, seen }
}

/// The client-credentials grant for client `cid` / `csecret`.
async fn token(State(s): State<Arc<Seen>>, headers: HeaderMap, body: String) -> Response {
    if header(&headers, "authorization") != basic("cid", "csecret") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    if !body.contains("grant_type=client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let n = s.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("t{n}");
    *s.valid_token.lock().unwrap() = token.clone();
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})).into_response()
}
