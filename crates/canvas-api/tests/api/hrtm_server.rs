//! A Talent Manager stand-in (read-only WCF REST), written from `vendors.md`
//! §4: the customer alias and API key in the path, `skip`/`take` paging
//! (take ≤ 100), `Items` with WCF `/Date(ms)/` dates, `ErrorMessage` refusals.
//! The alias `echo` answers an error that quotes the request's path (key
//! included), as a careless server might.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const ALIAS: &str = "acme";
pub const KEY: &str = "hrtm-key-77c2e9";
pub const EMPLOYEES: usize = 120;

/// Each request's `skip` and `take`.
type Pages = Arc<Mutex<Vec<(usize, usize)>>>;

pub struct TalentManager {
    pub base: String,
    pub pages: Pages,
}

async fn employees(
    State(pages): State<Pages>,
    Path((alias, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if alias == "echo" {
        let words = format!("No route for /{alias}/{key}/Employees/");
        return (StatusCode::IM_A_TEAPOT, Json(json!({"Message": words}))).into_response();
    }
    if alias != ALIAS || key != KEY {
        let refusal = json!({"ErrorMessage": "Invalid API key or customer alias."});
        return (StatusCode::UNAUTHORIZED, Json(refusal)).into_response();
    }
    let skip: usize = q.get("skip").and_then(|v| v.parse().ok()).unwrap_or(0);
    let take: usize = q.get("take").and_then(|v| v.parse().ok()).unwrap_or(25);
    if take > 100 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ErrorMessage": "take is at most 100"})),
        )
            .into_response();
    }
    pages.lock().unwrap().push((skip, take));
    let items: Vec<Value> = (skip + 1..=(skip + take).min(EMPLOYEES))
        .map(|n| json!({"Id": n, "FirstName": "Kari", "LastName": format!("Nordmann {n}"),
                        "Birthdate": "/Date(1524816000000)/", "EmploymentDatetime": "/Date(1524816000000+0200)/",
                        "ResignationDatetime": null, "Details": null}))
        .collect();
    let counts = json!({"SearchCount": EMPLOYEES, "SkipCount": skip, "TakeCount": items.len(), "TotalCount": EMPLOYEES});
    Json(
        json!({"ExecutionTime": "00:00:00.0156", "Customer": {"Alias": ALIAS, "Name": "Acme AS"},
                "Counts": counts, "Items": items}),
    )
    .into_response()
}

pub async fn start() -> TalentManager {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/restful.svc", listener.local_addr().unwrap());
    let pages = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/restful.svc/{alias}/{key}/Employees/", get(employees))
        .with_state(pages.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TalentManager { base, pages }
}
