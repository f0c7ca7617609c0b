//! The HTTP/REST connector against a real HTTP server on loopback.

use crate::connectors::{connector_workflow, run, script};
use crate::helpers::{Backend, Options, TestApp, assert_error, spawn_app_opts};
use crate::runs::output;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Instant;

const HTTP: &str = "2c8e4a6b-9d1f-4a3c-8e5b-7f0d2a4c6e98";

async fn app() -> TestApp {
    spawn_app_opts(Backend::Sqlite, Options::default()).await
}

fn creds(base: &str, auth: Value) -> Value {
    let mut c = json!({"baseUrl": base, "auth": "none", "probePath": "/page"});
    for (k, v) in auth.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn request(vars: Value) -> Value {
    json!({"blockName": "HTTP Request", "variables": vars})
}

/// Runs one `HTTP Request` block; returns the run and its output.
async fn run_request(app: &TestApp, creds: Value, vars: Value) -> (Value, Value) {
    let workflow = connector_workflow(app, &[("HTTP", HTTP, creds)], json!([request(vars)])).await;
    let run = run(app, &workflow).await;
    let out = output(app, run["id"].as_str().unwrap(), 1).await;
    (run, out)
}

fn ids(records: &Value) -> Vec<i64> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn every_auth_style_authenticates_and_wrong_credentials_are_refused_at_registration() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let styles = [
        (
            "basic",
            json!({"auth": "basic", "username": "u", "password": "p"}),
            json!({"password": "wrong-pw"}),
        ),
        (
            "bearer",
            json!({"auth": "bearer", "token": "tok"}),
            json!({"token": "wrong-pw"}),
        ),
        (
            "header",
            json!({"auth": "apikey-header", "keyName": "X-Api-Key", "token": "k"}),
            json!({"token": "wrong-pw"}),
        ),
        (
            "query",
            json!({"auth": "apikey-query", "keyName": "api_key", "token": "k"}),
            json!({"token": "wrong-pw"}),
        ),
        (
            "oauth",
            json!({"auth": "oauth2", "tokenUrl": format!("{}/oauth/token", server.base), "clientId": "cid", "clientSecret": "csecret"}),
            json!({"clientSecret": "wrong-pw"}),
        ),
    ];
    for (style, auth, wrong) in styles {
        let mut good = creds(&server.base, auth);
        good["probePath"] = json!(format!("/{style}/items"));
        let (run, out) = run_request(
            &app,
            good.clone(),
            json!({"path": format!("/{style}/items"), "recordsPath": "items"}),
        )
        .await;
        assert_eq!(run["status"], "Succeeded", "{style}: {run}");
        assert_eq!(ids(&out), vec![1, 2, 3, 4, 5], "{style}");

        let mut bad = good;
        for (k, v) in wrong.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let r = app
            .post("/api/RegApplication", &json!({"applicationId": HTTP, "tagText": style, "credentialsJson": bad.to_string()}))
            .await;
        assert_eq!(r.status, 400, "{style}: {}", r.text);
        assert!(
            r.body["Msg"]
                .as_str()
                .unwrap()
                .starts_with("Authentication Error: "),
            "{style}: {}",
            r.text
        );
        assert!(
            r.body["Msg"].as_str().unwrap().contains("401"),
            "{style}: {}",
            r.text
        );
        assert!(!r.text.contains("wrong-pw"), "{style}: {}", r.text);
    }
}

#[tokio::test]
async fn an_oauth2_token_is_kept_between_runs_and_fetched_again_after_a_401() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let auth = json!({"auth": "oauth2", "tokenUrl": format!("{}/oauth/token", server.base), "clientId": "cid", "clientSecret": "csecret", "probePath": "/oauth/items"});
    let workflow = connector_workflow(
        &app,
        &[("HTTP", HTTP, creds(&server.base, auth))],
        json!([request(
            json!({"path": "/oauth/items", "recordsPath": "items"})
        )]),
    )
    .await;
    assert_eq!(
        server.seen.tokens_issued.load(Ordering::SeqCst),
        1,
        "the registration's check"
    );

    for _ in 0..2 {
        assert_eq!(run(&app, &workflow).await["status"], "Succeeded");
    }
    assert_eq!(server.seen.tokens_issued.load(Ordering::SeqCst), 1);

    reqwest::Client::new()
        .post(format!("{}/oauth/revoke", server.base))
        .send()
        .await
        .unwrap();
    let after = run(&app, &workflow).await;
    assert_eq!(after["status"], "Succeeded", "{after}");
    assert_eq!(after["blocks"][0]["log"], json!(["1 requests, 5 records"]));
    assert_eq!(server.seen.tokens_issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn every_pagination_style_reads_every_page() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let cases = [
        json!({"path": "/page", "recordsPath": "$.data.items", "pagination": {"type": "page", "sizeParam": "size", "size": 2}}),
        json!({"path": "/offset", "recordsPath": "results", "pagination": {"type": "offset", "limit": 2}}),
        json!({"path": "/cursor", "recordsPath": "data", "pagination": {"type": "cursor", "cursorPath": "meta.next"}}),
        json!({"path": "/next", "recordsPath": "items", "pagination": {"type": "nextLink", "nextPath": "links.next"}}),
        json!({"path": "/linked", "pagination": {"type": "linkHeader"}}),
    ];
    for vars in cases {
        let (run, out) = run_request(&app, creds(&server.base, json!({})), vars.clone()).await;
        assert_eq!(run["status"], "Succeeded", "{vars}: {run}");
        assert_eq!(ids(&out), vec![1, 2, 3, 4, 5], "{vars}");
    }
}

/// A server that caps its pages at 100 when 500 are asked: every record
/// is read (a short page is not the end), and a server that ignores the
/// paging parameters gives its one page once, not the same records again and again.
#[tokio::test]
async fn pages_a_server_caps_are_read_to_the_end() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let cases = [
        json!({"path": "/capped-offset", "recordsPath": "results", "pagination": {"type": "offset", "limit": 500}}),
        json!({"path": "/capped-page", "recordsPath": "items", "pagination": {"type": "page", "sizeParam": "size", "size": 500}}),
        // A server that answers 404 for the page past its last has said it is done.
        json!({"path": "/page-404", "recordsPath": "items", "pagination": {"type": "page"}}),
    ];
    for vars in cases {
        let (run, _) = run_request(&app, creds(&server.base, json!({})), vars.clone()).await;
        assert_eq!(run["status"], "Succeeded", "{vars}: {run}");
        let path = format!(
            "/api/WorkflowRunOutput?id={}&block=1&top=1000",
            run["id"].as_str().unwrap()
        );
        let out = app.get(&path).await.body;
        assert_eq!(ids(&out), (1..=237).collect::<Vec<i64>>(), "{vars}");
    }
    let unpaged = json!({"path": "/unpaged", "pagination": {"type": "offset", "limit": 500}});
    let (run, out) = run_request(&app, creds(&server.base, json!({})), unpaged).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        ids(&out),
        vec![1, 2, 3],
        "a server ignoring the paging: its one page, once"
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_a_503_is_retried_until_it_recovers() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let started = Instant::now();
    let (run, out) = run_request(
        &app,
        creds(&server.base, json!({})),
        json!({"path": "/busy429"}),
    )
    .await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(out, json!([{"ok": 1}]));
    assert!(
        started.elapsed().as_millis() >= 1000,
        "Retry-After: 1 was not honoured"
    );

    let (run, out) = run_request(
        &app,
        creds(&server.base, json!({})),
        json!({"path": "/busy503"}),
    )
    .await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(out, json!([{"ok": 2}]));
}

#[tokio::test]
async fn input_records_are_sent_as_bodies_with_fields_in_the_path() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let chain = json!([
        script("return [{ id: 'a/1', n: 1 }, { id: 'b', n: 2 }];"),
        request(json!({"method": "POST", "path": "/echo/{{id}}"})),
    ]);
    let workflow = connector_workflow(
        &app,
        &[("HTTP", HTTP, creds(&server.base, json!({})))],
        chain,
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let received = server.seen.received.lock().unwrap().clone();
    assert_eq!(
        received,
        vec![
            ("a/1".to_string(), json!({"id": "a/1", "n": 1})),
            ("b".to_string(), json!({"id": "b", "n": 2}))
        ]
    );
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 2).await[1],
        json!({"id": "b", "received": {"id": "b", "n": 2}})
    );
}

#[tokio::test]
async fn scripts_call_the_api_through_apps_http() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let source = r#"
        const page = await apps.HTTP.get('/page', { page: 2, size: 2 });
        const echoed = await apps.HTTP.post('/echo/x', { hello: 'world' });
        let refused = null;
        try { await apps.HTTP.get('/basic/items'); } catch (e) { refused = e.message; }
        return [{ page: page.data.items, echoed, refused }];
    "#;
    let workflow = connector_workflow(
        &app,
        &[("HTTP", HTTP, creds(&server.base, json!({})))],
        json!([script(source)]),
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let out = output(&app, run["id"].as_str().unwrap(), 1).await;
    assert_eq!(out[0]["page"], json!([{"id": 3}, {"id": 4}]));
    assert_eq!(
        out[0]["echoed"],
        json!({"id": "x", "received": {"hello": "world"}})
    );
    assert_eq!(
        out[0]["refused"],
        "Authentication Error: GET /basic/items answered 401 Unauthorized: bad credentials"
    );
}

#[tokio::test]
async fn bad_http_settings_are_named() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let r = app
        .post("/api/RegApplication", &json!({"applicationId": HTTP, "tagText": "x", "credentialsJson": creds("ftp://x", json!({})).to_string()}))
        .await;
    assert_error(
        &r,
        400,
        "Authentication Error: Base URL must be an http:// or https:// URL, got 'ftp://x'.",
    );
    let (run, _) = run_request(
        &app,
        creds(&server.base, json!({})),
        json!({"path": "/page", "pagination": {"type": "pages"}}),
    )
    .await;
    assert_eq!(
        run["blocks"][0]["error"],
        "variable 'pagination': type 'pages' is not one of page, offset, cursor, nextLink, linkHeader"
    );
}

#[tokio::test]
async fn a_body_template_is_made_for_each_record_and_a_post_without_input_is_sent_once() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let chain = json!([
        script("return [{ id: 'x', name: 'Ada', tags: ['a'] }, { id: 'y', name: 'Bo' }];"),
        request(
            json!({"method": "POST", "path": "/echo/{{id}}", "body": "{\"customer\": {{name}}, \"tags\": {{tags}}, \"source\": \"canvas\"}"})
        ),
    ]);
    let workflow = connector_workflow(
        &app,
        &[("HTTP", HTTP, creds(&server.base, json!({})))],
        chain,
    )
    .await;
    let run = run(&app, &workflow).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        server.seen.received.lock().unwrap().clone(),
        vec![
            (
                "x".to_string(),
                json!({"customer": "Ada", "tags": ["a"], "source": "canvas"})
            ),
            (
                "y".to_string(),
                json!({"customer": "Bo", "tags": null, "source": "canvas"})
            ),
        ]
    );

    server.seen.received.lock().unwrap().clear();
    let (run, out) = run_request(
        &app,
        creds(&server.base, json!({})),
        json!({"method": "POST", "path": "/echo/once", "body": "{\"ping\": true}"}),
    )
    .await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(out, json!([{"id": "once", "received": {"ping": true}}]));
    assert_eq!(server.seen.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_answer_that_is_a_file_is_parsed_by_its_format() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let (run, out) = run_request(
        &app,
        creds(&server.base, json!({})),
        json!({"path": "/export.csv", "fileformat": "csv", "delimiter": ";"}),
    )
    .await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        out,
        json!([{"id": "1", "city": "Oslo"}, {"id": "2", "city": "Tromsø"}])
    );
}

#[tokio::test]
async fn without_a_probe_path_the_base_url_answering_is_enough() {
    let server = crate::http_server::start().await;
    let app = app().await;
    let register = |creds: Value| {
        let body =
            json!({"applicationId": HTTP, "tagText": "p", "credentialsJson": creds.to_string()});
        let app = &app;
        async move { app.post("/api/RegApplication", &body).await }
    };
    let mut no_probe = creds(&server.base, json!({}));
    no_probe.as_object_mut().unwrap().remove("probePath");
    let r = register(no_probe).await;
    assert_eq!(r.status, 200, "a 404 at the root is an answer: {}", r.text);
    let r = register(creds(&server.base, json!({"probePath": "/nope"}))).await;
    assert_error(
        &r,
        400,
        "Authentication Error: GET /nope answered 404 Not Found",
    );
    let r = register(creds("http://127.0.0.1:9", json!({}))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.body["Msg"]
            .as_str()
            .unwrap()
            .starts_with("Authentication Error: could not reach 127.0.0.1"),
        "{}",
        r.text
    );
}
