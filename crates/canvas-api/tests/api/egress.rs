//! Connectors reach only what the egress policy allows: by default none of
//! the server's own network, in any spelling, and a refused address is never
//! connected to (the answer is the same whether its port is open or not).

use crate::helpers::{Backend, Options, TestApp, spawn_app_opts};
use canvas_connectors::EgressPolicy;
use serde_json::{Value, json};

const FTP: &str = "5f814909-01ea-4395-96ee-5ba7614128fc";
const SFTP: &str = "4a6c2e8f-0b1d-4f3a-8c5e-7d9b1f3a5c70";
const PGSQL: &str = "6d2f9a4b-3e5c-4b7d-a1f0-8c6e2b4d9f13";
const MYSQL: &str = "9f1b3d5e-7a2c-4e6f-b0d8-2c4a6e8f0b57";
const MSQL: &str = "276511d9-f07f-4fa6-b109-fdb4d62b2429";
const HTTP: &str = "2c8e4a6b-9d1f-4a3c-8e5b-7f0d2a4c6e98";

/// Internal addresses as a tenant might spell them.
const SPELLINGS: [&str; 8] = [
    "127.0.0.1",
    "localhost",
    "::1",
    "::ffff:127.0.0.1",
    "2130706433",
    "0177.0.0.1",
    "169.254.169.254",
    "10.0.0.1",
];

async fn default_policy_app() -> TestApp {
    let options = Options {
        egress: EgressPolicy::default(),
        ..Options::default()
    };
    spawn_app_opts(Backend::Sqlite, options).await
}

fn credentials(application: &str, host: &str, port: u16) -> Value {
    match application {
        HTTP => {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            };
            json!({"baseUrl": format!("http://{host}:{port}/"), "auth": "none"})
        }
        FTP | SFTP => json!({"address": host, "port": port, "username": "u", "password": "pw"}),
        _ => {
            json!({"address": host, "port": port, "database": "d", "username": "u", "password": "pw"})
        }
    }
}

async fn register(app: &TestApp, application: &str, host: &str, port: u16) -> (u16, String) {
    let credentials = credentials(application, host, port).to_string();
    let body =
        json!({"applicationId": application, "tagText": "t", "credentialsJson": credentials});
    let r = app.post("/api/RegApplication", &body).await;
    (
        r.status,
        r.body["Msg"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn every_connector_refuses_every_spelling_of_an_internal_address() {
    let app = default_policy_app().await;
    for application in [FTP, SFTP, PGSQL, MYSQL, MSQL, HTTP] {
        for host in SPELLINGS {
            let (status, msg) = register(&app, application, host, 5432).await;
            assert_eq!(status, 400, "{application} {host}: {msg}");
            assert!(
                msg.contains("is not allowed for connectors")
                    && msg.ends_with("an operator can allow it with [egress] allow"),
                "{application} {host}: {msg}"
            );
        }
    }
    assert!(
        app.get("/api/RegApplications")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The check is no port scanner: an open port and a closed one get the
/// same answer, and the open one is never connected to.
#[tokio::test]
async fn a_refused_address_says_nothing_of_its_ports() {
    let app = default_policy_app().await;
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    open.set_nonblocking(true).unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed = free_port();
    for application in [FTP, SFTP, PGSQL, MYSQL, MSQL, HTTP] {
        let answered = register(&app, application, "127.0.0.1", open_port).await;
        let shut = register(&app, application, "127.0.0.1", closed).await;
        assert_eq!(answered, shut, "{application}");
    }
    assert!(open.accept().is_err(), "a refused address was connected to");
}

/// An operator's `[egress] allow` opens exactly its ranges.
#[tokio::test]
async fn an_allowed_range_is_reached_and_its_neighbours_are_not() {
    let options = Options {
        egress: EgressPolicy::allowing(&["127.0.0.1/32"]).unwrap(),
        ..Options::default()
    };
    let app = spawn_app_opts(Backend::Sqlite, options).await;
    let closed = free_port();
    let (status, reached) = register(&app, PGSQL, "127.0.0.1", closed).await;
    assert_eq!(status, 400);
    assert!(
        reached.contains("could not reach") || reached.contains("refused"),
        "{reached}"
    );
    let (_, neighbour) = register(&app, PGSQL, "127.0.0.2", 5432).await;
    assert!(
        neighbour.starts_with("address 127.0.0.2 is not allowed"),
        "{neighbour}"
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Requests the catcher received (method, path and query, credentials seen).
type Caught = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A server that records every request, and an application on another
/// origin whose `/away` redirects to it and `/inside` to its own `/ok`.
async fn redirecting_application() -> (String, Caught) {
    use axum::routing::get;
    let caught = Caught::default();
    let log = caught.clone();
    let catcher = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let log = log.clone();
        async move {
            let headers = format!("{:?}", request.headers());
            log.lock()
                .unwrap()
                .push(format!("{} {headers}", request.uri()));
            "caught"
        }
    });
    let catcher_port = serve(catcher).await;
    let away = format!("http://localhost:{catcher_port}/stolen");
    let application = axum::Router::new()
        .route("/ok", get(|| async { axum::Json(json!({"items": []})) }))
        .route(
            "/inside",
            get(|| async { axum::response::Redirect::to("/ok") }),
        )
        .route(
            "/away",
            get(move || async move { axum::response::Redirect::to(&away) }),
        );
    let port = serve(application).await;
    (format!("http://127.0.0.1:{port}"), caught)
}

async fn serve(router: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

/// Every way of authenticating keeps its credentials on the application's
/// own origin: a redirect elsewhere fails the block, and the other server
/// never hears from Canvas.
#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let app = crate::connectors::plain_app().await;
    let (base, caught) = redirecting_application().await;
    for auth in [
        json!({"auth": "basic", "username": "u", "password": "s3cret"}),
        json!({"auth": "bearer", "token": "s3cret"}),
        json!({"auth": "apikey-header", "keyName": "X-Api-Key", "token": "s3cret"}),
        json!({"auth": "apikey-query", "keyName": "api_key", "token": "s3cret"}),
    ] {
        let mut credentials = json!({"baseUrl": base, "probePath": "/ok"});
        credentials
            .as_object_mut()
            .unwrap()
            .extend(auth.as_object().unwrap().clone());
        let chain = json!([
            {"blockName": "HTTP Request", "variables": {"method": "GET", "path": "/inside"}},
            {"blockName": "HTTP Request", "variables": {"method": "GET", "path": "/away"}},
        ]);
        let apps = [("HTTP", HTTP, credentials)];
        let workflow = crate::connectors::connector_workflow(&app, &apps, chain).await;

        let run = crate::connectors::run(&app, &workflow).await;

        assert_eq!(run["status"], "Failed", "{auth}: {run}");
        assert_eq!(
            run["blocks"][0]["status"], "Succeeded",
            "same-origin redirects are followed: {run}"
        );
        let error = run["blocks"][1]["error"].to_string();
        assert!(
            error.contains("redirected to another server"),
            "{auth}: {error}"
        );
        assert!(
            caught.lock().unwrap().is_empty(),
            "{auth}: {:?}",
            caught.lock().unwrap()
        );
    }
}
