//! The console over plain HTTP: signing in and out, the session cookie,
//! CSRF, escaping, and tenancy. (Browser tests: not built yet.)

use crate::helpers::{Backend, Keys, TestApp, both_backends, create_organization, spawn_app};
use crate::runs::{run_to_end, script_workflow};
use serde_json::json;

/// A client that follows no redirect, so tests see each answer.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The sign-in form sent with `keys`.
async fn post_login(app: &TestApp, keys: &Keys) -> reqwest::Response {
    let form = [
        ("consumer", keys.consumer.as_str()),
        ("secret", keys.secret.as_str()),
    ];
    let request = browser().post(app.url("/console/login")).form(&form);
    request.send().await.unwrap()
}

/// Signs in with `keys`; the session cookie (`name=value`) and the Set-Cookie line.
pub async fn sign_in(app: &TestApp, keys: &Keys) -> (String, String) {
    let r = post_login(app, keys).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(r.headers()["location"], "/console/runs");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    (cookie, set)
}

pub async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = browser()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The CSRF token the page's sign-out form carries.
pub fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..].split('"').next().unwrap().to_string()
}

async fn a_key_pair_signs_in_to_a_session_that_lists_the_accounts_runs(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([{"blockName": "Boom", "script": "throw new Error('<b>bad</b> input');", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let ended = run_to_end(&app, json!({"workflowId": workflow})).await;
    let run = ended["id"].as_str().unwrap().to_string();

    let anonymous = browser()
        .get(app.url("/console/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            anonymous.status().as_u16(),
            anonymous.headers()["location"].to_str().unwrap()
        ),
        (303, "/console/login")
    );
    let (cookie, set) = sign_in(&app, &app.keys).await;
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(set.contains(attribute), "{set}");
    }
    let (status, html) = page(&app, &cookie, "/console/runs?status=Failed").await;
    let headers = browser()
        .get(app.url("/console/runs"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(headers.headers()["x-frame-options"], "DENY");
    assert_eq!(headers.headers()["cache-control"], "no-store");

    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("✗ Failed"),
        "status told by mark and word: {html}"
    );
    assert!(
        html.contains("&lt;b&gt;bad&lt;/b&gt; input") && !html.contains("<b>bad</b>"),
        "escaped: {html}"
    );
    assert!(!html.contains(&app.keys.secret), "the secret never shows");
    let (_, none) = page(&app, &cookie, "/console/runs?status=Succeeded").await;
    assert!(none.contains("No run matches."), "{none}");
    let (status, html) = page(&app, &cookie, &format!("/console/runs/{run}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Boom") && html.contains("&lt;b&gt;bad"),
        "{html}"
    );
}

async fn signing_out_needs_the_sessions_csrf_token_and_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cookie, _) = sign_in(&app, &app.keys).await;
    let (_, html) = page(&app, &cookie, "/console/runs").await;
    let token = csrf(&html);
    let out = |csrf: String| {
        browser()
            .post(app.url("/console/logout"))
            .header("cookie", cookie.clone())
            .form(&[("csrf", csrf)])
            .send()
    };

    assert_eq!(out("forged".into()).await.unwrap().status(), 403);
    assert_eq!(
        page(&app, &cookie, "/console/runs").await.0,
        200,
        "still signed in"
    );
    let done = out(token).await.unwrap();
    assert_eq!(done.status(), 303);
    assert!(
        done.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        page(&app, &cookie, "/console/runs").await.0,
        303,
        "the session is gone"
    );
    let (again, _) = sign_in(&app, &app.keys).await;
    let revoked = app
        .store
        .revoke_key(&app.keys.consumer, canvas_domain::time::now())
        .await;
    assert!(revoked.is_ok(), "{revoked:?}");
    assert_eq!(
        page(&app, &again, "/console/runs").await.0,
        303,
        "a revoked key's session ends"
    );
}

async fn a_wrong_key_is_refused_and_counts_toward_the_failed_sign_in_limit(backend: Backend) {
    let config = canvas_api::ApiConfig {
        auth_failures_per_minute: 2,
        ..crate::helpers::test_config()
    };
    let app = crate::helpers::spawn_app_with(backend, config).await;
    let wrong = Keys {
        consumer: app.keys.consumer.clone(),
        secret: "nope".into(),
    };
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = post_login(&app, &wrong).await;
        statuses.push(r.status().as_u16());
        let html = r.text().await.unwrap();
        assert!(html.contains("role=\"alert\""), "{html}");
    }
    assert_eq!(statuses, [401, 401, 429]);

    let elsewhere = browser()
        .post(app.url("/console/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("consumer", "x"), ("secret", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        403,
        "another site's form signs no one in"
    );
}

/// Another organization's session sees none of this one's runs, and none by id.
async fn another_organizations_session_sees_nothing_of_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([{"blockName": "Mine", "script": "return [];", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let ended = run_to_end(&app, json!({"workflowId": workflow})).await;
    let run = ended["id"].as_str().unwrap().to_string();
    let (_, _, stranger) = create_organization(&app.store, &app.secrets, "Other", None).await;

    let (cookie, _) = sign_in(&app, &stranger).await;

    let (_, list) = page(&app, &cookie, "/console/runs").await;
    assert!(list.contains("No run matches."), "{list}");
    assert_eq!(
        page(&app, &cookie, &format!("/console/runs/{run}")).await.0,
        404
    );
}

/// The run page's buttons: Cancel while the run may still stop, then Run
/// again; each needs the session's CSRF token.
async fn a_queued_run_is_cancelled_and_run_again_from_its_page(backend: Backend) {
    let options = crate::helpers::Options {
        hold_engine: true,
        ..crate::helpers::Options::default()
    };
    let app = crate::helpers::spawn_app_opts(backend, options).await;
    let chain = json!([{"blockName": "Wait", "script": "return [];", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let r = app
        .post("/api/RunWorkflow", &json!({"workflowId": workflow}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let workflow_id: uuid::Uuid = workflow.parse().unwrap();
    let run = app.store.runs(workflow_id, 0, 1).await.unwrap()[0].id;
    let (cookie, _) = sign_in(&app, &app.keys).await;
    let (_, html) = page(&app, &cookie, &format!("/console/runs/{run}")).await;
    let token = csrf(&html);
    let press = |action: &str, csrf: &str| {
        browser()
            .post(app.url(&format!("/console/runs/{run}/{action}")))
            .header("cookie", cookie.clone())
            .form(&[("csrf", csrf.to_string())])
            .send()
    };

    assert!(html.contains(">Cancel<"), "{html}");
    assert_eq!(press("cancel", "forged").await.unwrap().status(), 403);
    assert_eq!(app.store.run(run).await.unwrap().status.name(), "Queued");
    assert_eq!(press("cancel", &token).await.unwrap().status(), 303);
    assert_eq!(app.store.run(run).await.unwrap().status.name(), "Cancelled");
    let (_, html) = page(&app, &cookie, &format!("/console/runs/{run}")).await;
    assert!(html.contains(">Run again<"), "{html}");
    assert_eq!(press("again", &token).await.unwrap().status(), 303);
    let runs = app.store.runs(workflow_id, 0, 10).await.unwrap();
    assert_eq!(runs.len(), 2, "one more run");
    assert_eq!(runs[0].status.name(), "Queued");
}

/// "Run from this block": the run's blocks again from the chosen one, fed
/// by the stored output of the block before; a block the workflow does not
/// have is refused in the API's words.
async fn a_run_is_run_again_from_a_chosen_block(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([
        {"blockName": "Make", "script": "return [{n: 1}];", "variables": {}},
        {"blockName": "Double", "script": "return input.map(r => ({n: r.n * 2}));", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let ended = run_to_end(&app, json!({"workflowId": workflow})).await;
    let run = ended["id"].as_str().unwrap().to_string();
    let (cookie, _) = sign_in(&app, &app.keys).await;
    let (_, html) = page(&app, &cookie, &format!("/console/runs/{run}")).await;
    assert_eq!(html.matches(">Run from this block<").count(), 2, "{html}");
    let press = |block: i64| {
        browser()
            .post(app.url(&format!("/console/runs/{run}/from/{block}")))
            .header("cookie", cookie.clone())
            .form(&[("csrf", csrf(&html))])
            .send()
    };

    assert_eq!(press(9).await.unwrap().status(), 400);
    assert_eq!(press(2).await.unwrap().status(), 303);

    let workflow_id: uuid::Uuid = workflow.parse().unwrap();
    let newest = app.store.runs(workflow_id, 0, 1).await.unwrap()[0].clone();
    assert_eq!((newest.run_from, newest.run_till), (2, 2));
    let second = crate::runs::wait_for_end(&app, &newest.id.to_string()).await;
    assert_eq!(second["status"], "Succeeded", "{second}");
}

both_backends!(
    a_run_is_run_again_from_a_chosen_block,
    a_queued_run_is_cancelled_and_run_again_from_its_page,
    a_key_pair_signs_in_to_a_session_that_lists_the_accounts_runs,
    signing_out_needs_the_sessions_csrf_token_and_ends_the_session,
    a_wrong_key_is_refused_and_counts_toward_the_failed_sign_in_limit,
    another_organizations_session_sees_nothing_of_this_one,
);
