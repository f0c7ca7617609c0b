//! Vendor applications, declared in the catalog and run by the HTTP
//! connector, against stand-ins written from `vendors.md`.

use crate::connectors::{connector_workflow, run};
use crate::fiken_server;
use crate::helpers::{Keys, Options, TestApp, assert_error, create_organization, spawn_app_opts};
use crate::hrtm_server;
use crate::mystore_server::{self, CUSTOMERS, MyStore, SHOP, TOKEN};
use crate::runs::output;
use crate::taso_server;
use serde_json::{Value, json};

const MYSTORE: &str = "c1d54a1e-8a0f-4e0e-9d5a-3f2b6c9e7a10";

/// An app whose vendor `short` is reached at `base` (its stand-in).
async fn app_reaching(short: &str, base: &str) -> TestApp {
    let mut options = Options::default();
    options.vendor_bases.insert(short.into(), base.to_string());
    spawn_app_opts(crate::helpers::Backend::Sqlite, options).await
}

async fn app_with_mystore() -> (TestApp, MyStore) {
    let stand_in = mystore_server::start().await;
    (app_reaching("MYST2", &stand_in.base).await, stand_in)
}

fn credentials(token: &str) -> Value {
    json!({"shopUrl": format!("https://{SHOP}.mystore.no/"), "apikey": token})
}

async fn register(app: &TestApp, creds: &Value) -> crate::helpers::Resp {
    let body =
        json!({"applicationId": MYSTORE, "tagText": "Shop", "credentialsJson": creds.to_string()});
    app.post("/api/RegApplication", &body).await
}

#[tokio::test]
async fn mystore_registration_checks_the_token_against_the_shop() {
    let (app, stand_in) = app_with_mystore().await;

    let refused = register(&app, &credentials("wrong")).await;
    let custom_domain = register(
        &app,
        &json!({"shopUrl": "https://shop.example.com", "apikey": TOKEN}),
    )
    .await;
    let accepted = register(&app, &credentials(TOKEN)).await;

    assert_error(
        &refused,
        400,
        "Authentication Error: The access token is invalid.",
    );
    assert_error(&custom_domain, 400, "shopUrl");
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let asked = stand_in.asked.lock().unwrap().clone();
    assert_eq!(asked.last().unwrap(), &format!("/shops/{SHOP}/settings"));
    assert!(!refused.text.contains("wrong") && !accepted.text.contains(TOKEN));
}

#[tokio::test]
async fn mystore_customers_are_read_page_by_page_and_flattened() {
    let (app, stand_in) = app_with_mystore().await;
    let chain = json!([{"blockName": "MyStore Get Customers", "variables": {}}]);
    let workflow = connector_workflow(&app, &[("MYST2", MYSTORE, credentials(TOKEN))], chain).await;

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Succeeded", "{ran}");
    assert_eq!(ran["blocks"][0]["recordsOut"], CUSTOMERS as i64);
    let records = output(&app, ran["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        records[0],
        json!({"id": "1", "firstname": "Kari 1", "lastname": "Nordmann", "email": "kari1@example.no",
               "newsletter": false, "created_at": "2023-01-17T07:00:00Z"})
    );
    let pages: Vec<String> = stand_in
        .asked
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.contains("/customers"))
        .cloned()
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages[0].contains("page%5Bsize%5D=100") || pages[0].contains("page[size]=100"),
        "{pages:?}"
    );
}

#[tokio::test]
async fn mystore_orders_keep_the_status_and_age_asked_for() {
    let (app, _stand_in) = app_with_mystore().await;
    let chain =
        json!([{"blockName": "MyStore Get orders", "variables": {"status": "2", "age": 7}}]);
    let workflow = connector_workflow(&app, &[("MYST2", MYSTORE, credentials(TOKEN))], chain).await;

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Succeeded", "{ran}");
    let records = output(&app, ran["id"].as_str().unwrap(), 1).await;
    let ids: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1001"], "status 2, younger than 7 days");
    assert_eq!(records[0]["order_status_id"], "2");
    assert_eq!(records[0]["customer_id"], "17");
    assert_eq!(records[0]["order_products"][0]["products_model"], "UG-1");
    assert!(records[0]["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn scripts_read_mystore_through_their_handle_page_by_page() {
    let (app, _stand_in) = app_with_mystore().await;
    let source = "const all = await apps.MYST2.get('/shops/{shop}/customers', {'page[size]': 100}, {paged: true}); \
                  const settings = await apps.MYST2.get('/shops/{shop}/customers', {'page[size]': 2}); \
                  return [{ n: all.length, last: all[all.length - 1].id, raw: settings.data.length }];";
    let chain = json!([{"blockName": "Count", "script": source, "variables": {}}]);
    let workflow = connector_workflow(&app, &[("MYST2", MYSTORE, credentials(TOKEN))], chain).await;

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Succeeded", "{ran}");
    let records = output(&app, ran["id"].as_str().unwrap(), 1).await;
    assert_eq!(records, json!([{"n": CUSTOMERS, "last": "250", "raw": 2}]));
}

const FIKEN: &str = "3e0f8b2c-5d71-4c1a-b8e4-7a9d2f6c1b35";

fn fiken_credentials(token: &str) -> Value {
    json!({"token": token, "companySlug": fiken_server::SLUG})
}

/// A workflow of `Get all contacts` made through `keys`, and its registration.
async fn fiken_workflow(app: &TestApp, keys: &Keys) -> String {
    let post = |path: &'static str, body: Value| async move {
        let r = app.post_as(path, keys, &[], body.to_string()).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.body
    };
    let creds = fiken_credentials(fiken_server::TOKEN).to_string();
    let reg = post(
        "/api/RegApplication",
        json!({"applicationId": FIKEN, "tagText": "Fiken", "credentialsJson": creds}),
    )
    .await;
    let chain = json!([{"blockName": "Get all contacts", "variables": {}}]);
    let template =
        json!({"name": "Contacts", "state": "Published", "applications": ["FIKE"], "chain": chain});
    let template = post("/api/WorkflowTemplate", template).await;
    let workflow = post(
        "/api/Workflow",
        json!({"workflowTemplateId": template, "applications": {"FIKE": reg}}),
    )
    .await;
    workflow.as_str().unwrap().to_string()
}

async fn app_with_fiken() -> (TestApp, fiken_server::Fiken) {
    let stand_in = fiken_server::start().await;
    (app_reaching("FIKE", &stand_in.base).await, stand_in)
}

#[tokio::test]
async fn fiken_refusals_are_said_in_fikens_words() {
    let (app, _stand_in) = app_with_fiken().await;
    let body = json!({"applicationId": FIKEN, "tagText": "Fiken", "credentialsJson": fiken_credentials("wrong").to_string()});

    let refused = app.post("/api/RegApplication", &body).await;

    assert_error(&refused, 400, "Authentication Error: Invalid token");
}

/// Two organizations with the same Fiken company read its contacts at the
/// same time: Canvas sends one request at a time, at most four a second,
/// each with its own `X-Request-ID`, and reads every page.
#[tokio::test]
async fn fiken_is_asked_one_request_at_a_time_across_runs() {
    let (app, stand_in) = app_with_fiken().await;
    let (_, _, other) = create_organization(&app.store, &app.secrets, "Other", None).await;
    let mine = fiken_workflow(&app, &app.keys).await;
    let theirs = fiken_workflow(&app, &other).await;

    for (workflow, keys) in [(&mine, &app.keys), (&theirs, &other)] {
        let body = json!({"workflowId": workflow}).to_string();
        assert_eq!(
            app.post_as("/api/RunWorkflow", keys, &[], body)
                .await
                .status,
            200
        );
    }
    let mut ends = Vec::new();
    for (workflow, keys) in [(&mine, &app.keys), (&theirs, &other)] {
        ends.push(wait_for_run(&app, keys, workflow).await);
    }

    for run in &ends {
        assert_eq!(run["status"], "Succeeded", "{run}");
        assert_eq!(
            run["blocks"][0]["recordsOut"],
            fiken_server::CONTACTS as i64,
            "{run}"
        );
    }
    assert_eq!(
        stand_in
            .seen
            .most_at_once
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let requests = stand_in.seen.requests.lock().unwrap().clone();
    // Two registrations' checks, then three pages for each run.
    assert_eq!(requests.len(), 2 + 2 * 3, "{requests:?}");
    for pair in requests.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= std::time::Duration::from_millis(240),
            "{gap:?} between requests"
        );
    }
    let mut ids: Vec<&String> = requests.iter().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), requests.len(), "a fresh X-Request-ID each");
}

async fn wait_for_run(app: &TestApp, keys: &Keys, workflow: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let path = format!("/api/WorkflowRuns?workflowId={workflow}");
        let run = app.get_as(&path, keys, &[]).await.body[0].clone();
        if !matches!(run["status"].as_str(), Some("Queued" | "Running")) {
            let id = run["id"].as_str().unwrap();
            return app
                .get_as(&format!("/api/WorkflowRun?id={id}"), keys, &[])
                .await
                .body;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "still {run}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

const TALENT_MANAGER: &str = "b5a4a9ed-a686-4b1e-af30-ffd84b7fb2e0";

async fn app_with_talent_manager() -> (TestApp, hrtm_server::TalentManager) {
    let stand_in = hrtm_server::start().await;
    (app_reaching("HRTM", &stand_in.base).await, stand_in)
}

fn hrtm_credentials(alias: &str, key: &str) -> Value {
    json!({"customeralias": alias, "apikey": key})
}

#[tokio::test]
async fn talent_manager_employees_are_read_in_pages_with_utc_dates() {
    let (app, stand_in) = app_with_talent_manager().await;
    let refused = app
        .post(
            "/api/RegApplication",
            &json!({"applicationId": TALENT_MANAGER, "tagText": "HR",
            "credentialsJson": hrtm_credentials(hrtm_server::ALIAS, "wrong-key-5150").to_string()}),
        )
        .await;
    let creds = hrtm_credentials(hrtm_server::ALIAS, hrtm_server::KEY);
    let chain = json!([{"blockName": "Talent Manager Get Employees", "variables": {}}]);
    let workflow = connector_workflow(&app, &[("HRTM", TALENT_MANAGER, creds)], chain).await;

    let ran = run(&app, &workflow).await;

    assert_error(
        &refused,
        400,
        "Authentication Error: Invalid API key or customer alias.",
    );
    assert!(!refused.text.contains("wrong-key-5150"));
    assert_eq!(ran["status"], "Succeeded", "{ran}");
    assert_eq!(
        ran["blocks"][0]["recordsOut"],
        hrtm_server::EMPLOYEES as i64
    );
    let records = output(&app, ran["id"].as_str().unwrap(), 1).await;
    assert_eq!(records[0]["Birthdate"], "2018-04-27T08:00:00Z");
    assert_eq!(records[0]["EmploymentDatetime"], "2018-04-27T08:00:00Z");
    assert_eq!(records[0]["ResignationDatetime"], Value::Null);
    let pages = stand_in.pages.lock().unwrap().clone();
    assert_eq!(
        pages,
        [(0, 1), (0, 100), (100, 100)],
        "the check, then two pages"
    );
}

/// A server that quotes the path in its error quotes the key: Canvas shows `***`.
#[tokio::test]
async fn a_talent_manager_key_in_the_path_never_reaches_an_error_or_log() {
    let (app, _stand_in) = app_with_talent_manager().await;
    let creds = hrtm_credentials("echo", hrtm_server::KEY).to_string();

    let refused = app
        .post(
            "/api/RegApplication",
            &json!({"applicationId": TALENT_MANAGER, "tagText": "HR", "credentialsJson": creds}),
        )
        .await;

    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("/echo/***/Employees/"),
        "{}",
        refused.text
    );
    assert!(!refused.text.contains(hrtm_server::KEY));
    assert!(!crate::helpers::captured_logs().contains(hrtm_server::KEY));
}

const TALENTSOFT: &str = "07ffd13d-ba57-4d1b-9c46-03c5c919eed0";

fn taso_credentials(base: &str, secret: &str) -> Value {
    json!({"baseUrl": base, "client_id": taso_server::CLIENT_ID, "client_secret": secret})
}

#[tokio::test]
async fn talentsoft_tokens_are_fetched_with_a_form_cached_and_renewed_on_a_401() {
    let stand_in = taso_server::start().await;
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let register = |creds: Value| {
        let body = json!({"applicationId": TALENTSOFT, "tagText": "HR", "credentialsJson": creds.to_string()});
        let app = &app;
        async move { app.post("/api/RegApplication", &body).await }
    };
    let wrong = register(taso_credentials(&stand_in.base, "nope")).await;
    let not_http = register(taso_credentials(
        "ftp://talentsoft.example",
        taso_server::CLIENT_SECRET,
    ))
    .await;
    let creds = taso_credentials(&stand_in.base, taso_server::CLIENT_SECRET);
    let chain = json!([{"blockName": "Talentsoft Get Employees", "variables": {}}]);
    let workflow = connector_workflow(&app, &[("TASO", TALENTSOFT, creds)], chain).await;

    let first = run(&app, &workflow).await;
    stand_in.seen.revoke();
    let second = run(&app, &workflow).await;

    assert_error(&wrong, 400, "invalid_client");
    assert_error(&not_http, 400, "baseUrl");
    for ran in [&first, &second] {
        assert_eq!(ran["status"], "Succeeded", "{ran}");
        assert_eq!(
            ran["blocks"][0]["recordsOut"],
            taso_server::EMPLOYEES as i64
        );
    }
    let records = output(&app, first["id"].as_str().unwrap(), 1).await;
    assert_eq!(records[0]["individual"]["user"]["username"], "user1");
    // One token for the check and the first run; a second after the 401.
    assert_eq!(
        stand_in
            .seen
            .tokens_issued
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

/// `post` answers `{status, location, id, body}`: Fiken's created id comes
/// from the `Location` of its empty `201`.
#[tokio::test]
async fn a_script_creates_a_fiken_contact_and_reads_its_id_from_location() {
    let (app, _stand_in) = app_with_fiken().await;
    let source = "const c = await apps.FIKE.post('/companies/{companySlug}/contacts', {name: 'Ada AS', customer: true}); \
                  return [{ status: c.status, id: c.id, body: c.body, location: c.location }];";
    let chain = json!([{"blockName": "Create", "script": source, "variables": {}}]);
    let creds = fiken_credentials(fiken_server::TOKEN);
    let workflow = connector_workflow(&app, &[("FIKE", FIKEN, creds)], chain).await;

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Succeeded", "{ran}");
    let records = output(&app, ran["id"].as_str().unwrap(), 1).await;
    let id = fiken_server::CONTACTS + 1;
    assert_eq!(
        records,
        json!([{"status": 201, "id": id, "body": null,
                "location": format!("/api/v2/companies/{}/contacts/{id}", fiken_server::SLUG)}])
    );
}

/// A token revoked after registration: the run fails in MyStore's words and
/// the registration is marked faulted.
#[tokio::test]
async fn a_revoked_mystore_token_fails_the_run_and_faults_the_registration() {
    let (app, stand_in) = app_with_mystore().await;
    let chain = json!([{"blockName": "MyStore Get Customers", "variables": {}}]);
    let workflow = connector_workflow(&app, &[("MYST2", MYSTORE, credentials(TOKEN))], chain).await;
    stand_in
        .revoked
        .store(true, std::sync::atomic::Ordering::SeqCst);

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Failed", "{ran}");
    assert_eq!(
        ran["blocks"][0]["error"],
        "Authentication Error: The access token is invalid."
    );
    let reg = &app.get("/api/RegApplications").await.body[0];
    assert_eq!(
        (reg["faulted"].clone(), reg["isAuthenticated"].clone()),
        (json!(true), json!(false))
    );
}
