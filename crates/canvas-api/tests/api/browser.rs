//! The console in a real browser: Debian's chromium, driven through
//! chromedriver (WebDriver) by fantoccini. One browser, one journey of a
//! support engineer, page after page; a screenshot of each page is saved
//! under `target/console-screenshots/` for review.

use crate::helpers::{Backend, TestApp};
use crate::runs::{run_to_end, script_workflow};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver and its browser, ended when dropped.
struct Browser {
    client: Client,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A browser the driver left behind (the test failed before closing it).
        let profile = self.profile.path().display().to_string();
        let _ = Command::new("pkill").args(["-f", &profile]).status();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_browser() -> Browser {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver: apt-get install chromium chromium-driver (.ci/run installs them)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        &format!("--user-data-dir={}", profile.path().display()),
    ];
    let mut caps = serde_json::Map::new();
    let options = json!({"binary": "/usr/bin/chromium", "args": args});
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session");
    Browser {
        client,
        driver,
        profile,
    }
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits (up to 15 s) until the element `css` says `wanted`.
async fn wait_for_text(c: &Client, css: &str, wanted: &str) {
    let started = Instant::now();
    loop {
        let now = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now.contains(wanted) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{css} never said {wanted:?}; it says {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The query string of the page the browser shows.
async fn query(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    url.query().unwrap_or_default().to_string()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The workflows the journey looks at: one that fails saying why, one that
/// succeeds with records, one that runs until cancelled.
struct Scene {
    failing: String,
    good_run: String,
    busy: String,
}

async fn arrange(app: &TestApp) -> Scene {
    let failing = json!([{"blockName": "Fetch shifts", "variables": {},
        "script": "log('fetching page 1'); throw new Error('Quinyx said 401: token expired');"}]);
    let (failing, _) = script_workflow(app, failing).await;
    run_to_end(app, json!({"workflowId": failing})).await;
    let good = json!([{"blockName": "Make", "variables": {},
        "script": "return Array.from({length: 150}, (_, i) => ({id: i, name: '<b>n' + i + '</b>'}));"}]);
    let (good, _) = script_workflow(app, good).await;
    let good_run = run_to_end(app, json!({"workflowId": good})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let busy = json!([{"blockName": "Busy", "variables": {}, "script": "while (true) {}"}]);
    let (busy, _) = script_workflow(app, busy).await;
    Scene {
        failing,
        good_run,
        busy,
    }
}

/// The newest run of `workflow`, once it has this status.
async fn newest_run(app: &TestApp, workflow: &str, status: &str) -> String {
    let started = Instant::now();
    loop {
        let runs = app
            .get(&format!("/api/WorkflowRuns?workflowId={workflow}&top=1"))
            .await;
        let run: &Value = &runs.body[0];
        if run["status"] == status {
            return run["id"].as_str().unwrap().to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opening the runs without a session lands on the sign-in page.
async fn is_sent_to_sign_in(c: &Client, app: &TestApp) {
    c.goto(&app.url("/console/runs")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert!(url.path().ends_with("/console/login"), "{url}");
}

async fn signs_in(c: &Client, app: &TestApp) {
    is_sent_to_sign_in(c, app).await;
    screenshot(c, "login").await;
    let form = c
        .form(Locator::Css("form[action='/console/login']"))
        .await
        .unwrap();
    form.set_by_name("consumer", &app.keys.consumer)
        .await
        .unwrap();
    form.set_by_name("secret", &app.keys.secret).await.unwrap();
    form.submit().await.unwrap();
    wait_for_text(c, "h1", "Runs").await;
    screenshot(c, "runs").await;
}

/// Filters on Failed, opens the run, reads its error and log.
async fn finds_the_failed_run(c: &Client) {
    click(c, "input[name=status][value=Failed]").await;
    click(c, "form.filters button[type=submit]").await;
    wait_for_text(c, "table.runs", "Failed").await;
    assert!(query(c).await.contains("status=Failed"));
    let rows = c
        .find_all(Locator::Css("table.runs tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the failed run is listed");
    assert!(
        text(c, "table.runs").await.contains("token expired"),
        "its error's first line"
    );
    click(c, "table.runs a.run").await;
    wait_for_text(c, "li.block", "Fetch shifts").await;
    assert!(
        text(c, "li.block .error")
            .await
            .contains("Quinyx said 401: token expired")
    );
    assert!(
        text(c, "li.block pre.log")
            .await
            .contains("fetching page 1")
    );
    screenshot(c, "run-failed").await;
}

/// Run again from the failed run's page: a second run of its workflow.
async fn runs_it_again(c: &Client, app: &TestApp, failing: &str) {
    click(c, "form.actions button").await;
    wait_for_text(c, "h1", "Runs").await;
    assert!(query(c).await.contains(failing));
    newest_run(app, failing, "Failed").await;
    let runs = app
        .get(&format!("/api/WorkflowRuns?workflowId={failing}"))
        .await;
    assert_eq!(runs.body.as_array().unwrap().len(), 2, "{}", runs.text);
}

/// A good run's records load when its block is opened, escaped and cut to 100.
async fn previews_records(c: &Client, app: &TestApp, run: &str) {
    c.goto(&app.url(&format!("/console/runs/{run}")))
        .await
        .unwrap();
    click(c, "details.records summary").await;
    wait_for_text(c, "details.records table.records", "<b>n0</b>").await;
    let rows = c
        .find_all(Locator::Css("table.records tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 100, "a preview shows the first 100 records");
    screenshot(c, "run-records").await;
}

/// A live run's page refreshes itself: it sees a cancel made elsewhere
/// (the API) without being reloaded, and asks nothing while its tab is hidden.
async fn watches_a_running_run_end(c: &Client, app: &TestApp, busy: &str) {
    let run = open_a_running_run(c, app, busy).await;
    assert!(text(c, "dl.run").await.contains("refreshes itself"));
    screenshot(c, "run-running").await;
    let hide = "window.__asked = 0; window.__loaded = 'once';
        document.addEventListener('htmx:afterRequest', () => window.__asked++);
        Object.defineProperty(document, 'hidden', {value: true, configurable: true});";
    c.execute(hide, vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let asked = c.execute("return window.__asked", vec![]).await.unwrap();
    assert_eq!(asked, json!(0), "no refresh while the tab is hidden");

    let r = app.post("/api/CancelRun", &json!({"runId": run})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    newest_run(app, busy, "Cancelled").await;
    let show = "Object.defineProperty(document, 'hidden', {value: false, configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));";
    c.execute(show, vec![]).await.unwrap();
    wait_for_text(c, "dl.run", "Cancelled").await;
    let same = c.execute("return window.__loaded", vec![]).await.unwrap();
    assert_eq!(same, json!("once"), "updated in place, not reloaded");
    assert_eq!(text(c, "form.actions button").await, "Run again");
    let ended = c.execute("return window.__asked", vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = c.execute("return window.__asked", vec![]).await.unwrap();
    assert_eq!(ended, later, "no refresh once the run ended");
}

/// Starts a run of `busy`, opens its page once it runs; its id.
async fn open_a_running_run(c: &Client, app: &TestApp, busy: &str) -> String {
    let r = app
        .post("/api/RunWorkflow", &json!({"workflowId": busy}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run = newest_run(app, busy, "Running").await;
    c.goto(&app.url(&format!("/console/runs/{run}")))
        .await
        .unwrap();
    run
}

/// The Cancel button of a running run's page.
async fn cancels_a_running_run(c: &Client, app: &TestApp, busy: &str) {
    open_a_running_run(c, app, busy).await;
    click(c, "form.actions button").await;
    wait_for_text(c, "dl.run", "Cancelled").await;
    newest_run(app, busy, "Cancelled").await;
}

/// Previews a schedule (and a wrong one), then saves it on.
async fn reschedules_a_workflow(c: &Client, app: &TestApp, workflow: &str) {
    c.goto(&app.url(&format!("/console/workflows/{workflow}")))
        .await
        .unwrap();
    let form = c.form(Locator::Css("form.schedule")).await.unwrap();
    form.set_by_name("cron", "61 * * * * ?").await.unwrap();
    click(c, "form.schedule button[value=preview]").await;
    wait_for_text(c, ".problem", "61").await;
    let form = c.form(Locator::Css("form.schedule")).await.unwrap();
    form.set_by_name("cron", "0 0 6 ? * MON-FRI").await.unwrap();
    form.set_by_name("timeZone", "Europe/Oslo").await.unwrap();
    click(c, "form.schedule button[value=preview]").await;
    wait_for_text(c, "ol.fires", "06:00:00").await;
    let fires = c.find_all(Locator::Css("ol.fires li")).await.unwrap();
    assert_eq!(fires.len(), 5);
    click(c, "form.schedule input[name=enabled]").await;
    click(c, "form.schedule button[value=save]").await;
    wait_for_text(c, ".notice", "the scheduler is on").await;
    screenshot(c, "workflow").await;
    let w = app.get(&format!("/api/Workflow?id={workflow}")).await;
    assert_eq!(w.body["isScheduled"], true, "{}", w.text);
}

/// The other pages open; the runs page fits a phone's width.
async fn visits_the_other_pages(c: &Client, app: &TestApp) {
    for (path, heading, shot) in [
        ("/console/account", "Test Admin", "account"),
        ("/console/accounts", "Accounts", "accounts"),
        ("/console/files", "File Hub", "files"),
        ("/console/audit", "Audit log", "audit"),
    ] {
        c.goto(&app.url(path)).await.unwrap();
        wait_for_text(c, "h1", heading).await;
        screenshot(c, shot).await;
    }
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&app.url("/console/runs")).await.unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await
        .unwrap();
    screenshot(c, "runs-phone").await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page scrolls sideways by {overflow} px"
    );
    c.set_window_size(1280, 900).await.unwrap();
}

async fn signs_out(c: &Client, app: &TestApp) {
    click(c, "form.signout button").await;
    wait_for_text(c, "h1", "Sign in").await;
    is_sent_to_sign_in(c, app).await;
}

#[tokio::test]
async fn a_support_engineer_finds_a_failure_acts_on_runs_and_reschedules_in_a_browser() {
    // A busy script runs until cancelled (the tests' usual CPU limit is 1.5 s).
    let mut engine = crate::helpers::engine_config();
    engine.script.cpu_time = Duration::from_secs(60);
    let options = crate::helpers::Options {
        engine,
        ..crate::helpers::Options::default()
    };
    let app = crate::helpers::spawn_app_opts(Backend::Sqlite, options).await;
    let scene = arrange(&app).await;
    let browser = start_browser().await;
    let c = &browser.client;

    signs_in(c, &app).await;
    finds_the_failed_run(c).await;
    runs_it_again(c, &app, &scene.failing).await;
    previews_records(c, &app, &scene.good_run).await;
    watches_a_running_run_end(c, &app, &scene.busy).await;
    cancels_a_running_run(c, &app, &scene.busy).await;
    reschedules_a_workflow(c, &app, &scene.failing).await;
    visits_the_other_pages(c, &app).await;
    signs_out(c, &app).await;

    browser.client.clone().close().await.unwrap();
}
