//! The console's pages over plain HTTP: the workflow page's schedule form,
//! the account switcher, File Hub, escaping, CSRF, budgets and tenancy.

use crate::console::{browser, csrf, page, sign_in};
use crate::helpers::{Backend, Options, TestApp, both_backends, create_organization, spawn_app};
use crate::runs::{run_to_end, script_workflow};
use canvas_domain::account::AccountRole;
use serde_json::json;

/// Posts a console form as the session `cookie`.
async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = browser()
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn the_schedule_form_previews_refuses_and_saves_as_the_api_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([{"blockName": "Noop", "script": "return [];", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let (cookie, _) = sign_in(&app, &app.keys).await;
    let path = format!("/console/workflows/{workflow}");
    let (status, html) = page(&app, &cookie, &path).await;
    assert_eq!(status, 200, "{html}");
    let token = csrf(&html);
    let to = format!("{path}/schedule");
    let form = |cron: &'static str, zone: &'static str, intent: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("cron", cron.into()),
            ("timeZone", zone.into()),
            ("enabled", "on".into()),
            ("intent", intent.into()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let refs: Vec<(&str, String)> = f;
        browser()
            .post(app.url(&to))
            .header("cookie", cookie.clone())
            .form(&refs)
            .send()
    };

    let preview = send(form("0 30 6 ? * MON-FRI", "Europe/Oslo", "preview"))
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap();
    assert_eq!(
        html.matches("06:30:00 CE").count(),
        5,
        "five fires at 06:30 Oslo time: {html}"
    );
    let wrong = send(form("0 61 * * * ?", "", "save")).await.unwrap();
    assert_eq!(wrong.status(), 400);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains("role=\"alert\"") && html.contains("0 61 * * * ?"),
        "the reason and the input kept: {html}"
    );
    let zone = send(form("0 0 * * * ?", "Mars/Olympus", "save"))
        .await
        .unwrap();
    assert_eq!(zone.status(), 400, "an unknown time zone is refused");
    let w = app.get(&format!("/api/Workflow?id={workflow}")).await;
    assert_eq!(
        w.body["isScheduled"], false,
        "nothing refused was saved: {}",
        w.text
    );
    let forged = vec![
        ("csrf", "forged".to_string()),
        ("cron", "0 0 * * * ?".into()),
        ("enabled", "on".into()),
        ("intent", "save".into()),
    ];
    assert_eq!(send(forged).await.unwrap().status(), 403);

    let saved = send(form("0 0/15 * * * ?", "UTC", "save")).await.unwrap();
    assert_eq!(saved.status(), 303);
    let w = app.get(&format!("/api/Workflow?id={workflow}")).await;
    assert_eq!(w.body["isScheduled"], true, "{}", w.text);
    let (_, html) = page(&app, &cookie, &format!("{path}?saved=on")).await;
    assert!(
        html.contains("the scheduler is on") && html.contains("0 0/15 * * * ?"),
        "{html}"
    );
}

/// A name a tenant chose is text on every page, never markup.
async fn a_workflow_named_like_a_script_renders_as_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = json!({"name": "<script>alert(1)</script>", "state": "Published", "applications": [],
        "chain": [{"blockName": "Noop", "script": "return [];", "variables": {"note": "<img src=x onerror=alert(2)>"}}]});
    let t = app.post("/api/WorkflowTemplate", &template).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let w = app
        .post(
            "/api/Workflow",
            &json!({"workflowTemplateId": t.body, "applications": {}}),
        )
        .await;
    let workflow = w.body.as_str().unwrap().to_string();
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    let (cookie, _) = sign_in(&app, &app.keys).await;

    for path in [
        "/console/runs".to_string(),
        format!("/console/workflows/{workflow}"),
        "/console/account".into(),
        format!("/console/runs/{}", run["id"].as_str().unwrap()),
    ] {
        let (status, html) = page(&app, &cookie, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            !html.contains("<script>alert") && !html.contains("<img src=x"),
            "{path}: {html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {html}"
        );
    }
}

/// A User account of the app's organization, its key, and its workflow "Customer sync".
async fn user_with_workflow(app: &TestApp) -> (uuid::Uuid, crate::helpers::Keys, String) {
    let (user, keys) = app
        .account_with_key(app.organization, AccountRole::User)
        .await;
    let template = json!({"name": "Customer sync", "state": "Published", "applications": [],
        "chain": [{"blockName": "Noop", "script": "return [];", "variables": {}}]});
    let t = app.post("/api/WorkflowTemplate", &template).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let body = json!({"workflowTemplateId": t.body, "applications": {}}).to_string();
    let w = app.post_as("/api/Workflow", &keys, &[], body).await;
    assert_eq!(w.status, 200, "{}", w.text);
    (user, keys, w.body.as_str().unwrap().to_string())
}

/// An Admin acts for an account of its tree, sees its workflows and runs,
/// and comes back; an account outside the tree is refused, nothing changed.
async fn the_account_switcher_acts_for_an_account_of_the_tree_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _, _) = user_with_workflow(&app).await;
    let (_, stranger, _) = create_organization(&app.store, &app.secrets, "Other", None).await;
    let (cookie, _) = sign_in(&app, &app.keys).await;
    let (_, accounts) = page(&app, &cookie, "/console/accounts?q=user").await;
    assert!(accounts.contains(&user.to_string()), "{accounts}");
    let token = csrf(&accounts);

    let (status, _) = post_form(
        &app,
        &cookie,
        "/console/accounts/switch",
        &[("csrf", &token), ("account", &stranger.to_string())],
    )
    .await;
    assert_eq!(status, 403, "an account outside the tree");
    let (_, own) = page(&app, &cookie, "/console/account").await;
    assert!(
        !own.contains("Customer sync") && !own.contains("Acting for"),
        "{own}"
    );
    let (status, _) = post_form(
        &app,
        &cookie,
        "/console/accounts/switch",
        &[("csrf", "forged"), ("account", &user.to_string())],
    )
    .await;
    assert_eq!(status, 403);

    let (status, _) = post_form(
        &app,
        &cookie,
        "/console/accounts/switch",
        &[("csrf", &token), ("account", &user.to_string())],
    )
    .await;
    assert_eq!(status, 303);
    let (_, theirs) = page(&app, &cookie, "/console/account").await;
    assert!(
        theirs.contains("Customer sync") && theirs.contains("Acting for"),
        "{theirs}"
    );
    let key_account = app.admin.to_string();
    let (status, _) = post_form(
        &app,
        &cookie,
        "/console/accounts/switch",
        &[("csrf", &token), ("account", &key_account)],
    )
    .await;
    assert_eq!(status, 303);
    let (_, back) = page(&app, &cookie, "/console/account").await;
    assert!(!back.contains("Customer sync"), "{back}");
}

async fn file_hub_files_are_uploaded_listed_downloaded_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cookie, _) = sign_in(&app, &app.keys).await;
    let (_, html) = page(&app, &cookie, "/console/files").await;
    let token = csrf(&html);
    let upload = |csrf: String, name: &'static str| {
        let file = reqwest::multipart::Part::bytes(b"id;name\n1;Ada\n".to_vec()).file_name(name);
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf)
            .part("file", file);
        browser()
            .post(app.url("/console/files"))
            .header("cookie", cookie.clone())
            .multipart(form)
            .send()
    };

    assert_eq!(
        upload("forged".into(), "people.csv")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        upload(token.clone(), "../escape.csv")
            .await
            .unwrap()
            .status(),
        400,
        "a path is not a name"
    );
    assert_eq!(
        upload(token.clone(), "people.csv").await.unwrap().status(),
        303
    );
    let (_, list) = page(&app, &cookie, "/console/files").await;
    assert!(
        list.contains("people.csv") && list.contains("14 bytes"),
        "{list}"
    );
    let (status, body) = page(&app, &cookie, "/console/files/download?name=people.csv").await;
    assert_eq!((status, body.as_str()), (200, "id;name\n1;Ada\n"));
    // A name with what a URL means otherwise: its link still finds it.
    assert_eq!(
        upload(token.clone(), "odd ?#%2e.csv")
            .await
            .unwrap()
            .status(),
        303
    );
    let (_, list) = page(&app, &cookie, "/console/files").await;
    let link = list
        .split("href=\"")
        .find(|h| h.starts_with("/console/files/download?name=odd"))
        .and_then(|h| h.split('"').next())
        .expect("a link to the odd file")
        .replace("&amp;", "&");
    assert_eq!(
        page(&app, &cookie, &link).await,
        (200, "id;name\n1;Ada\n".to_string())
    );
    let api = app.get("/api/FileHubFiles").await;
    let names: Vec<&str> = api
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        names.contains(&"people.csv"),
        "the API sees the same files: {names:?}"
    );

    let (status, _) = post_form(
        &app,
        &cookie,
        "/console/files/delete",
        &[("csrf", &token), ("name", "people.csv")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        page(&app, &cookie, "/console/files/download?name=people.csv")
            .await
            .0,
        404
    );
}

/// A run page carries at most 64 KB of log, however much its blocks logged;
/// the rest is a page away. A preview shows 100 records, cells cut.
async fn a_run_page_keeps_its_budgets(backend: Backend) {
    let app = spawn_app(backend).await;
    let chatty = r#"for (let i = 0; i < 4000; i++) log('line ' + i + ' ' + JSON.stringify({html: '<b>"&"</b>'.repeat(6)}));
        return Array.from({length: 300}, (_, i) => ({i, long: 'y'.repeat(5000)}));"#;
    let chain = json!([{"blockName": "Chatty", "script": chatty, "variables": {}},
                       {"blockName": "Echo", "script": "log('echo'); return input;", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let (cookie, _) = sign_in(&app, &app.keys).await;

    let (_, html) = page(&app, &cookie, &format!("/console/runs/{id}")).await;
    let log_bytes: usize = html
        .split("<pre class=\"log\">")
        .skip(1)
        .map(|p| p.split("</pre>").next().unwrap().len())
        .sum();
    assert!(
        log_bytes <= 64 * 1024,
        "{log_bytes} bytes of log on one page"
    );
    assert!(
        html.contains("line 3999") && html.contains("echo"),
        "the newest lines of each block"
    );
    let (_, first) = page(&app, &cookie, &format!("/console/runs/{id}/blocks/1/log")).await;
    assert!(
        first.contains("line 0 ") && first.contains("Next lines"),
        "the log from its start"
    );

    let (status, preview) = page(
        &app,
        &cookie,
        &format!("/console/runs/{id}/blocks/1/records"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        preview.matches("<td class=\"num\">").count(),
        100,
        "100 records shown"
    );
    assert!(!preview.contains(&"y".repeat(301)), "cells are cut");
    let all = browser()
        .get(app.url(&format!("/console/runs/{id}/blocks/1/output")))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        all.text().await.unwrap().lines().count(),
        300,
        "the download has every record"
    );
}

/// Another organization's session: every page of this one's is unknown.
async fn another_organizations_session_opens_none_of_this_ones_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([{"blockName": "Make", "script": "return [{a: 1}];", "variables": {}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    let id = run["id"].as_str().unwrap();
    let (_, _, stranger) = create_organization(&app.store, &app.secrets, "Other", None).await;
    let (cookie, _) = sign_in(&app, &stranger).await;

    for path in [
        format!("/console/workflows/{workflow}"),
        format!("/console/runs/{id}"),
        format!("/console/runs/{id}/blocks/1/records"),
        format!("/console/runs/{id}/blocks/1/log"),
        format!("/console/runs/{id}/blocks/1/output"),
        format!("/console/runs/{id}/blocks/1/files?name=x"),
        "/console/files/download?name=people.csv".to_string(),
    ] {
        let (status, html) = page(&app, &cookie, &path).await;
        assert_eq!(status, 404, "{path}: {html}");
    }
    let (status, account) = page(&app, &cookie, "/console/account").await;
    assert_eq!(status, 200, "{account}");
    assert!(
        !account.contains("Scripts") && account.contains("Test Admin"),
        "{account}"
    );

    // Its buttons and forms, with its own valid CSRF token: unknown too, nothing done.
    let token = csrf(&account);
    let stored = app
        .post(
            "/api/StoreFileHubFile",
            &json!({"name": "people.csv", "content": "a"}),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    for path in [
        format!("/console/runs/{id}/cancel"),
        format!("/console/runs/{id}/again"),
        format!("/console/runs/{id}/from/1"),
        format!("/console/workflows/{workflow}/schedule"),
    ] {
        let form = [
            ("csrf", token.as_str()),
            ("cron", "0 0 * * * ?"),
            ("enabled", "on"),
            ("intent", "save"),
        ];
        let (status, html) = post_form(&app, &cookie, &path, &form).await;
        assert_eq!(status, 404, "{path}: {html}");
    }
    let form = [("csrf", token.as_str()), ("name", "people.csv")];
    let (status, _) = post_form(&app, &cookie, "/console/files/delete", &form).await;
    assert_eq!(status, 404, "not its file");
    let runs = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}"))
        .await;
    assert_eq!(
        runs.body.as_array().unwrap().len(),
        1,
        "no run queued: {}",
        runs.text
    );
    let w = app.get(&format!("/api/Workflow?id={workflow}")).await;
    assert_eq!(w.body["isScheduled"], false, "{}", w.text);
    assert_eq!(
        app.get("/api/FileHubFile?name=people.csv").await.status,
        200,
        "the file is still there"
    );
}

/// A session ends 12 hours after sign-in.
async fn a_session_expires_after_twelve_hours(backend: Backend) {
    let clock = canvas_domain::time::ManualClock::at(canvas_domain::time::now());
    let app = crate::helpers::spawn_app_opts(
        backend,
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await;
    let (cookie, _) = sign_in(&app, &app.keys).await;
    clock.advance(chrono::Duration::hours(11));
    assert_eq!(page(&app, &cookie, "/console/runs").await.0, 200);
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(
        page(&app, &cookie, "/console/runs").await.0,
        303,
        "back to the sign-in"
    );
}

both_backends!(
    the_schedule_form_previews_refuses_and_saves_as_the_api_does,
    a_workflow_named_like_a_script_renders_as_text,
    the_account_switcher_acts_for_an_account_of_the_tree_only,
    file_hub_files_are_uploaded_listed_downloaded_and_deleted,
    a_run_page_keeps_its_budgets,
    another_organizations_session_opens_none_of_this_ones_pages,
    a_session_expires_after_twelve_hours,
    a_partners_key_lists_the_runs_of_every_account_it_acts_for,
);

/// A partner's key lists the runs of every account it acts for, each with
/// its account, and opens them read-only; a User's key and other trees see
/// none of it.
async fn a_partners_key_lists_the_runs_of_every_account_it_acts_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, user_keys, workflow) = user_with_workflow(&app).await;
    let run_body = json!({"workflowId": workflow}).to_string();
    assert_eq!(
        app.post_as("/api/RunWorkflow", &user_keys, &[], run_body)
            .await
            .status,
        200
    );
    let runs = app
        .get_as(
            &format!("/api/WorkflowRuns?workflowId={workflow}"),
            &user_keys,
            &[],
        )
        .await;
    let run = runs.body[0]["id"].as_str().unwrap().to_string();
    let (_, _, stranger) = create_organization(&app.store, &app.secrets, "Other", None).await;
    let chain = json!([{"blockName": "Theirs", "script": "return [];", "variables": {}}]);
    let (admins, _) = script_workflow(&app, chain).await;
    run_to_end(&app, json!({"workflowId": admins})).await;
    let (admin, _) = sign_in(&app, &app.keys).await;

    let (_, own) = page(&app, &admin, "/console/runs").await;
    assert!(
        own.contains("Scripts") && !own.contains("Customer sync"),
        "this account's runs only: {own}"
    );
    let (status, all) = page(&app, &admin, "/console/runs?accounts=all").await;
    assert_eq!(status, 200, "{all}");
    assert!(
        all.contains("Customer sync") && all.contains("Test User") && all.contains("Scripts"),
        "{all}"
    );
    let (_, one) = page(&app, &admin, &format!("/console/runs?accounts={user}")).await;
    assert!(
        one.contains("<td>Test User</td>") && !one.contains("<td>Test Admin</td>"),
        "one account: {one}"
    );
    let (_, outside) = page(
        &app,
        &admin,
        &format!("/console/runs?accounts={}", uuid::Uuid::new_v4()),
    )
    .await;
    assert!(outside.contains("No run matches."), "{outside}");
    let (status, theirs) = page(&app, &admin, &format!("/console/runs/{run}")).await;
    assert_eq!(status, 200, "{theirs}");
    assert!(
        theirs.contains("Act for this account") && !theirs.contains(">Run again<"),
        "{theirs}"
    );
    let token = csrf(&theirs);
    let (status, _) = post_form(
        &app,
        &admin,
        &format!("/console/runs/{run}/again"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, 404, "acting needs the switch first");
    let switch = [("csrf", token.as_str()), ("account", &user.to_string())];
    assert_eq!(
        post_form(&app, &admin, "/console/accounts/switch", &switch)
            .await
            .0,
        303
    );
    let (_, acting) = page(&app, &admin, &format!("/console/runs/{run}")).await;
    assert!(!acting.contains("Act for this account"), "{acting}");

    let (user_session, _) = sign_in(&app, &user_keys).await;
    let (_, mine) = page(&app, &user_session, "/console/runs?accounts=all").await;
    assert!(
        !mine.contains("Scripts"),
        "a User's key sees only its own: {mine}"
    );
    let (outsider, _) = sign_in(&app, &stranger).await;
    assert_eq!(
        page(&app, &outsider, &format!("/console/runs/{run}"))
            .await
            .0,
        404
    );
    let (_, none) = page(&app, &outsider, "/console/runs?accounts=all").await;
    assert!(!none.contains("Customer sync"), "{none}");
}
