//! The engine end to end: RunWorkflow → workers → run history.

use crate::helpers::{
    Backend, Options, TestApp, assert_error, both_backends, captured_logs, spawn_app,
    spawn_app_opts,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A published template of script blocks (no applications) and a workflow made from it.
pub async fn script_workflow(app: &TestApp, chain: Value) -> (String, Vec<String>) {
    let template =
        json!({"name": "Scripts", "state": "Published", "applications": [], "chain": chain});
    let t = app.post("/api/WorkflowTemplate", &template).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let templates = app.get("/api/WorkflowTemplates").await;
    let stored = templates
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == t.body)
        .unwrap()
        .clone();
    let ids = stored["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["uniqueBlockId"].as_str().unwrap().to_string())
        .collect();
    let w = app
        .post(
            "/api/Workflow",
            &json!({"workflowTemplateId": t.body, "applications": {}}),
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.text);
    (w.body.as_str().unwrap().to_string(), ids)
}

/// The stored output records of block `block` of run `run` (first page).
pub async fn output(app: &TestApp, run: &str, block: i64) -> Value {
    app.get(&format!("/api/WorkflowRunOutput?id={run}&block={block}"))
        .await
        .body
}

fn script(name: &str, source: &str) -> Value {
    json!({"blockName": name, "script": source, "variables": {}})
}

/// Queues a run and waits until it ended; returns the run with its blocks.
pub async fn run_to_end(app: &TestApp, body: Value) -> Value {
    let workflow = body["workflowId"].as_str().unwrap().to_string();
    let r = app.post("/api/RunWorkflow", &body).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, Some("Workflow will now run")),
        "{}",
        r.text
    );
    let newest = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}&top=1"))
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_end(app, &newest).await
}

pub async fn wait_for_end(app: &TestApp, run: &str) -> Value {
    let started = Instant::now();
    loop {
        let r = app.get(&format!("/api/WorkflowRun?id={run}")).await;
        let status = r.body["status"].as_str().unwrap_or_default().to_string();
        if !matches!(status.as_str(), "Queued" | "Running") {
            return r.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "run {run} still {status}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

const PEOPLE: &str = "return [{id: 1, name: 'ada', active: true}, {id: 2, name: 'bob', active: false}, {id: 3, name: 'cy', active: true}];";

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// A small output is kept with its block's record — no file is made for
/// it — and read back from the store (not from a cache of this process);
/// an output over 64 KiB goes to the blob store. The next block reads
/// either as its input.
async fn small_outputs_are_kept_with_their_record_and_large_ones_in_the_blob_store(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let big = "return Array.from({ length: 2000 }, (_, i) => ({ i, pad: 'x'.repeat(40) }));";
    let (workflow, _) = script_workflow(
        &app,
        json!([
            script("Small", "return [{ n: 1 }, { n: 2 }];"),
            script("Big", big),
            script("Count", "return [{ seen: input.length }];"),
        ]),
    )
    .await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let runs_dir = app.blobs_dir().join("runs").join(id);
    let files = files_under(&runs_dir);
    assert_eq!(
        files,
        vec!["attempt-1/block-2.ndjson"],
        "only the large output is a file"
    );
    let fresh = canvas_blocks::Datasets::local(&app.blobs_dir())
        .unwrap()
        .with_inline(canvas_node::inline_outputs(app.store.clone()));
    let small = format!("runs/{id}/attempt-1/block-1.ndjson");
    let records = fresh.page(&small, 0, 10).await.unwrap();
    assert_eq!(records, vec![json!({"n": 1}), json!({"n": 2})]);
    let last = format!("runs/{id}/attempt-1/block-3.ndjson");
    assert_eq!(
        fresh.page(&last, 0, 10).await.unwrap(),
        vec![json!({"seen": 2000})]
    );
    let tail = app
        .get(&format!(
            "/api/WorkflowRunOutput?id={id}&block=2&skip=1999&top=5"
        ))
        .await;
    assert_eq!(tail.body[0]["i"], 1999, "{}", tail.text);
    assert_eq!(output(&app, id, 1).await, json!([{"n": 1}, {"n": 2}]));
}

async fn a_three_block_script_chain_runs_end_to_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([
        script("People", PEOPLE),
        script(
            "Active",
            "log('got', input.length); return input.filter(r => r.active).map(r => ({ id: r.id, name: r.name.toUpperCase() }));"
        ),
        script("Count", "return [{ count: input.length }];"),
    ]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        (run["trigger"].as_str(), run["attempt"].as_i64()),
        (Some("Manual"), Some(1))
    );
    let blocks = run["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(
        (
            blocks[1]["recordsIn"].as_i64(),
            blocks[1]["recordsOut"].as_i64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(blocks[1]["log"], json!(["got 3"]));
    let keys: Vec<&String> = blocks[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "number",
            "uniqueBlockId",
            "blockName",
            "status",
            "dateStarted",
            "dateFinished",
            "recordsIn",
            "recordsOut",
            "log",
            "error"
        ]
    );
    let id = run["id"].as_str().unwrap();
    let out = app
        .get(&format!("/api/WorkflowRunOutput?id={id}&block=2"))
        .await;
    assert_eq!(
        out.body,
        json!([{"id": 1, "name": "ADA"}, {"id": 3, "name": "CY"}])
    );
    assert_eq!(
        app.get(&format!(
            "/api/WorkflowRunOutput?id={id}&block=2&skip=1&top=1"
        ))
        .await
        .body,
        json!([{"id": 3, "name": "CY"}])
    );
    assert_eq!(output(&app, id, 3).await, json!([{"count": 2}]));
    let w = app.get(&format!("/api/Workflow?id={workflow}")).await.body;
    assert_eq!(
        (w["status"].as_str(), w["currentBlock"].as_i64()),
        (Some("Ready"), Some(3))
    );
    assert!(w["dateLastRun"].as_str().unwrap().ends_with("+00:00"));
}

/// A small input travels with the block's start; `recordsIn` still counts
/// only what the script took.
async fn records_in_counts_what_a_script_read_of_an_input_sent_ahead(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([
        script("People", PEOPLE),
        script("Ignores", "return [{ seen: 'nothing' }];"),
        script(
            "Streams",
            "const out = []; for await (const r of inputStream) out.push(r); return out;"
        ),
        script(
            "Throws",
            "if (input.length === 1) throw new Error('one record'); return [];"
        ),
    ]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Failed", "{run}");
    let counts: Vec<(i64, i64)> = run["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["recordsIn"].as_i64().unwrap(),
                b["recordsOut"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [(0, 3), (0, 1), (1, 1), (1, 0)], "{run}");
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 3).await,
        json!([{"seen": "nothing"}])
    );
}

async fn blocks_read_their_data_source_not_the_block_before(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = uuid::Uuid::new_v4();
    let chain = json!([
        {"uniqueBlockId": first, "blockName": "People", "script": PEOPLE},
        script("Names", "return input.map(r => ({ name: r.name }));"),
        {"blockName": "Ids", "script": "return input.map(r => ({ id: r.id }));", "datasource": first},
    ]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(
        output(&app, id, 3).await,
        json!([{"id": 1}, {"id": 2}, {"id": 3}])
    );
}

async fn partial_runs_start_from_stored_outputs(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([
        script("People", PEOPLE),
        script("Names", "return input.map(r => ({ name: r.name }));"),
        script("Count", "return [{ n: input.length }];")
    ]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let refused = app
        .post(
            "/api/RunWorkflow",
            &json!({"workflowId": workflow, "runFromBlock": 2}),
        )
        .await;
    assert_error(&refused, 400, "block 1, which has no stored output yet");
    let first = run_to_end(&app, json!({"workflowId": workflow, "runTillBlock": 1})).await;
    assert_eq!(
        (
            first["status"].as_str(),
            first["blocks"].as_array().unwrap().len()
        ),
        (Some("Succeeded"), 1)
    );
    assert_eq!(
        app.get(&format!("/api/Workflow?id={workflow}")).await.body["currentBlock"],
        1
    );
    let rest = run_to_end(
        &app,
        json!({"workflowId": workflow, "runFromBlock": 2, "runTillBlock": 3}),
    )
    .await;
    assert_eq!(rest["status"], "Succeeded", "{rest}");
    let numbers: Vec<i64> = rest["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 3]);
    let id = rest["id"].as_str().unwrap();
    assert_eq!(output(&app, id, 3).await, json!([{"n": 3}]));
}

async fn sandbox_limits_fail_the_block_and_the_server_stays_healthy(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("while (true) {}", "CPU-time limit"),
        (
            "const a = []; while (true) a.push('x'.repeat(1e6));",
            "memory limit",
        ),
        (
            "return require('fs').readFileSync('/etc/passwd');",
            "require is not defined",
        ),
        ("throw new Error('no such customer');", "no such customer"),
        ("return 42;", "must return an array of records"),
    ];
    for (source, expected) in cases {
        let (workflow, _) = script_workflow(&app, json!([script("Bad", source)])).await;
        let run = run_to_end(&app, json!({"workflowId": workflow})).await;
        assert_eq!(run["status"], "Failed", "{source}: {run}");
        let error = run["error"].as_str().unwrap();
        assert!(
            error.starts_with("block 1 (Bad): ") && error.contains(expected),
            "{source}: {error}"
        );
        assert_eq!(run["blocks"][0]["status"], "Failed");
        assert_eq!(
            app.get(&format!("/api/Workflow?id={workflow}")).await.body["status"],
            "Failed"
        );
    }
    assert_eq!(app.get_raw("/healthz", &[]).await.status, 200);
    let (ok, _) = script_workflow(&app, json!([script("Fine", PEOPLE)])).await;
    assert_eq!(
        run_to_end(&app, json!({"workflowId": ok})).await["status"],
        "Succeeded"
    );
}

async fn connector_blocks_fail_with_a_clear_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let workflow = app.file_hub_workflow().await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Failed");
    assert_eq!(
        run["blocks"][0]["error"],
        "no SMTP server is configured for this Canvas server ([smtp] in canvas.toml)"
    );
}

/// What a script logged before it threw is kept with its error: the log
/// says how far it got.
async fn a_failing_scripts_log_is_kept_beside_its_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let (workflow, _) = script_workflow(
        &app,
        json!([script(
            "Fetch",
            "log('page 1 of 3'); throw new Error('page 2 answered 401');"
        )]),
    )
    .await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Failed", "{run}");
    let block = &run["blocks"][0];
    assert_eq!(block["log"], json!(["page 1 of 3"]), "{run}");
    assert!(
        block["error"]
            .as_str()
            .unwrap()
            .contains("page 2 answered 401"),
        "{run}"
    );
}

async fn a_running_run_can_be_cancelled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (workflow, _) = script_workflow(
        &app,
        json!([script("Busy", "let i = 0; while (true) { i++; }")]),
    )
    .await;
    app.post("/api/RunWorkflow", &json!({"workflowId": workflow}))
        .await;
    let runs = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}"))
        .await;
    let id = runs.body[0]["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    // Cancelled once its block runs (a run cancelled between its claim and
    // its first block ends Cancelled with no block, which is not this test).
    while app.get(&format!("/api/WorkflowRun?id={id}")).await.body["blocks"][0]["status"]
        != "Running"
    {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = app.post("/api/CancelRun", &json!({"runId": id})).await;
    assert_eq!(r.body.as_str(), Some("Run will be cancelled"), "{}", r.text);
    let run = wait_for_end(&app, &id).await;
    assert_eq!(run["status"], "Cancelled", "{run}");
    // `Cancelled`, not `Failed`: the cancel request stopped the busy block, not its CPU limit.
    assert_eq!(run["blocks"][0]["error"], "interrupted", "{run}");
    assert_error(
        &app.post("/api/CancelRun", &json!({"runId": id})).await,
        409,
        "already ended",
    );
}

async fn runs_of_one_workflow_never_overlap(backend: Backend) {
    let app = spawn_app(backend).await;
    let (workflow, _) = script_workflow(
        &app,
        json!([script(
            "Slow",
            "const end = Date.now() + 150; while (Date.now() < end) {} return [{}];"
        )]),
    )
    .await;
    for _ in 0..3 {
        app.post("/api/RunWorkflow", &json!({"workflowId": workflow}))
            .await;
    }
    let list = app
        .get(&format!("/api/WorkflowRuns?workflowId={workflow}"))
        .await
        .body;
    let mut ended = Vec::new();
    for r in list.as_array().unwrap().iter().rev() {
        ended.push(wait_for_end(&app, r["id"].as_str().unwrap()).await);
    }
    for pair in ended.windows(2) {
        assert_eq!(pair[0]["status"], "Succeeded");
        assert!(
            pair[0]["dateFinished"].as_str().unwrap() <= pair[1]["dateStarted"].as_str().unwrap(),
            "{} overlaps {}",
            pair[0],
            pair[1]
        );
    }
}

/// A worker that died holding a run: once its lease expired another worker
/// takes the run over, and says so in one line.
async fn a_run_on_an_expired_lease_is_taken_over_and_the_takeover_logged(backend: Backend) {
    let options = Options {
        hold_engine: true,
        ..Options::default()
    };
    let app = spawn_app_opts(backend, options).await;
    let (workflow, _) = script_workflow(&app, json!([script("One", "return [{ n: 1 }];")])).await;
    let r = app
        .post("/api/RunWorkflow", &json!({"workflowId": workflow}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dead = format!("dead-worker-{}", uuid::Uuid::new_v4().simple());
    let now = canvas_domain::time::now();
    let expired = now - chrono::Duration::seconds(1);
    let claim = canvas_store::Claim {
        owner: &dead,
        expires: expired,
        now,
        max_running_per_organization: 1,
    };
    let claimed = app.store.claim_run(&claim).await.unwrap();
    let claimed = claimed.expect("the queued run, claimed by the worker that dies");
    assert_eq!((claimed.attempt, claimed.previous_owner), (1, None));

    app.start_engine();
    let run = wait_for_end(&app, &claimed.id.to_string()).await;

    assert_eq!(
        (run["status"].as_str(), run["attempt"].as_i64()),
        (Some("Succeeded"), Some(2)),
        "{run}"
    );
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| {
            l.contains("run taken over after its lease expired")
                && l.contains(&claimed.id.to_string())
        })
        .unwrap_or_else(|| panic!("no takeover line for run {}", claimed.id));
    assert!(line.contains(&format!("previous_owner={dead}")), "{line}");
    assert!(line.contains("attempt=2"), "{line}");
    let normal = run_to_end(&app, json!({"workflowId": workflow})).await;
    let normal = normal["id"].as_str().unwrap();
    assert!(
        !captured_logs()
            .lines()
            .any(|l| l.contains("taken over") && l.contains(normal)),
        "a queued run's claim is no takeover"
    );
}

async fn run_history_of_other_accounts_is_unknown(backend: Backend) {
    let app = spawn_app(backend).await;
    let (workflow, _) = script_workflow(&app, json!([script("People", PEOPLE)])).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    let id = run["id"].as_str().unwrap();
    let (_, _, stranger) =
        crate::helpers::create_organization(&app.store, &app.secrets, "Other", None).await;
    assert_error(
        &app.get_as(&format!("/api/WorkflowRun?id={id}"), &stranger, &[])
            .await,
        404,
        "Unknown run",
    );
    assert_error(
        &app.get_as(
            &format!("/api/WorkflowRunOutput?id={id}&block=1"),
            &stranger,
            &[],
        )
        .await,
        404,
        "Unknown run",
    );
    assert_error(
        &app.get_as(
            &format!("/api/WorkflowRuns?workflowId={workflow}"),
            &stranger,
            &[],
        )
        .await,
        404,
        "Unknown workflow",
    );
    assert_error(
        &app.get(&format!("/api/WorkflowRunOutput?id={id}&block=7"))
            .await,
        404,
        "no stored output for block 7",
    );
}

both_backends!(
    small_outputs_are_kept_with_their_record_and_large_ones_in_the_blob_store,
    a_failing_scripts_log_is_kept_beside_its_error,
    a_run_on_an_expired_lease_is_taken_over_and_the_takeover_logged,
    a_three_block_script_chain_runs_end_to_end,
    records_in_counts_what_a_script_read_of_an_input_sent_ahead,
    blocks_read_their_data_source_not_the_block_before,
    partial_runs_start_from_stored_outputs,
    sandbox_limits_fail_the_block_and_the_server_stays_healthy,
    connector_blocks_fail_with_a_clear_message,
    a_running_run_can_be_cancelled,
    runs_of_one_workflow_never_overlap,
    run_history_of_other_accounts_is_unknown,
);

async fn variables_render_their_templates_once_per_run(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([{"blockName": "Echo", "script": "return [variables];",
        "variables": {"file": "out_{date:yyyy}_{workflowName}", "tags": ["{runId}"], "n": 5}}]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    let id = run["id"].as_str().unwrap();
    let out = app
        .get(&format!("/api/WorkflowRunOutput?id={id}&block=1"))
        .await
        .body;
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(
        out,
        json!([{"file": format!("out_{year}_Scripts"), "tags": [id], "n": 5}])
    );
}

mod templates_tests {
    use super::*;
    both_backends!(variables_render_their_templates_once_per_run);
}

async fn utility_blocks_filter_map_and_format_records(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = json!([
        script("People", PEOPLE),
        {"blockName": "Filter records", "variables": {"field": "active", "operator": "equals", "value": "true"}},
        {"blockName": "Map fields", "variables": {"fields": {"key": "id", "who": "name"}}},
        {"blockName": "Format CSV", "variables": {}},
    ]);
    let (workflow, _) = script_workflow(&app, chain).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(
        output(&app, id, 3).await,
        json!([{"key": 1, "who": "ada"}, {"key": 3, "who": "cy"}])
    );
    assert_eq!(
        output(&app, id, 4).await,
        json!([{"content": "key,who\n1,ada\n3,cy\n"}])
    );
    let blocks = app.get("/api/Blocks").await;
    assert!(
        blocks
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "Parse CSV" && b["shortName"].is_null())
    );
}

mod utility_tests {
    use super::*;
    both_backends!(utility_blocks_filter_map_and_format_records);
}

async fn a_failed_run_emails_the_accounts_notification_address(backend: Backend) {
    let sink = crate::smtp::start().await;
    let mailer = crate::smtp::mailer(&sink);
    let app = crate::helpers::spawn_app_opts(
        backend,
        crate::helpers::Options {
            mailer: Some(mailer),
            ..Default::default()
        },
    )
    .await;
    let body = json!({"firstName": "Ops", "lastName": "Team", "email": "ops@example.com", "roleName": "User",
        "globalNotifications": true, "defaultNotificationEmail": "alerts@example.com"});
    let account = app.post_id("/api/Account", &body).await;
    let keys = app.key_for(account.parse().unwrap()).await;
    let template = app
        .post(
            "/api/WorkflowTemplate",
            &json!({"name": "Breaks", "state": "Published", "applications": [],
        "chain": [script("Boom", "throw new Error('upstream said no');")]}),
        )
        .await;
    let made = app.post_as("/api/Workflow", &keys, &[], json!({"workflowTemplateId": template.body, "name": "Nightly export", "applications": {}}).to_string()).await;
    let workflow = made.body.as_str().unwrap().to_string();
    app.post_as(
        "/api/RunWorkflow",
        &keys,
        &[],
        json!({"workflowId": workflow}).to_string(),
    )
    .await;
    let started = Instant::now();
    while sink.messages.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no notification arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mail = sink.messages.lock().unwrap()[0].clone();
    assert_eq!(mail.to, ["alerts@example.com"]);
    let text = mail.data.replace("=\n", "");
    assert!(
        text.contains("Nightly export") && text.contains("upstream said no"),
        "{text}"
    );
}

mod notification_tests {
    use super::*;
    both_backends!(a_failed_run_emails_the_accounts_notification_address);
}

async fn retention_deletes_old_runs_but_not_what_an_active_run_needs(backend: Backend) {
    let app = spawn_app(backend).await;
    let (done, _) = script_workflow(&app, json!([script("Quick", PEOPLE)])).await;
    let old = run_to_end(&app, json!({"workflowId": done})).await;
    let slow_chain = json!([script(
        "Slow",
        "const end = Date.now() + 700; while (Date.now() < end) {} return [{ ok: true }];"
    )]);
    let (busy, _) = script_workflow(&app, slow_chain).await;
    let kept = run_to_end(&app, json!({"workflowId": busy})).await;
    app.post("/api/RunWorkflow", &json!({"workflowId": busy}))
        .await;
    let runs = app
        .get(&format!("/api/WorkflowRuns?workflowId={busy}"))
        .await
        .body;
    assert_eq!(runs.as_array().unwrap().len(), 2);

    let parts = canvas_engine::EngineParts {
        store: app.store.clone(),
        datasets: app.datasets.clone(),
        secrets: app.secrets.clone(),
        blocks: canvas_engine::builtin_blocks(),
        mailer: None,
        wake: std::sync::Arc::new(tokio::sync::Notify::new()),
    };
    let sweeper = canvas_engine::Engine::new(parts, crate::helpers::engine_config());
    // An attempt that lost its lease left an output it never recorded.
    let old_id: uuid::Uuid = old["id"].as_str().unwrap().parse().unwrap();
    let orphan = canvas_blocks::Datasets::key(old_id, 7, 1);
    app.datasets
        .write_values(&orphan, &[json!({"orphan": true})])
        .await
        .unwrap();
    // A longer history than one batch of the sweep.
    let w = app.store.workflow(done.parse().unwrap()).await.unwrap();
    let history = canvas_store::HistorySpec {
        organization: w.organization_id,
        account: w.account_id,
        workflows: vec![w.id],
        runs: 450,
        newest: chrono::Utc::now() - chrono::Duration::days(1),
        spacing: chrono::Duration::seconds(2),
    };
    app.store.fill_history(&history).await.unwrap();
    let in_31_days = chrono::Utc::now() + chrono::Duration::days(31);
    assert_eq!(
        sweeper.sweep(in_31_days).await.unwrap(),
        451,
        "only the idle workflow's runs, in batches"
    );
    assert!(
        app.get(&format!("/api/WorkflowRuns?workflowId={done}"))
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_error(
        &app.get(&format!(
            "/api/WorkflowRun?id={}",
            old["id"].as_str().unwrap()
        ))
        .await,
        404,
        "Unknown run",
    );
    let key = canvas_blocks::Datasets::key(old["id"].as_str().unwrap().parse().unwrap(), 1, 1);
    assert!(
        app.datasets.page(&key, 0, 1).await.is_err(),
        "the output is gone from the blob store"
    );
    assert!(
        app.datasets.page(&orphan, 0, 1).await.is_err(),
        "an unrecorded attempt's output is gone too"
    );
    let kept_id = kept["id"].as_str().unwrap();
    assert_eq!(output(&app, kept_id, 1).await, json!([{"ok": true}]));
    assert_eq!(
        sweeper.sweep(chrono::Utc::now()).await.unwrap(),
        0,
        "nothing younger than 30 days"
    );
}

mod retention_tests {
    use super::*;
    both_backends!(retention_deletes_old_runs_but_not_what_an_active_run_needs);
}

async fn transient_failures_are_retried_and_permanent_ones_fail_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let flaky = "if (attempt < 3) { const e = new Error('service busy'); e.transient = true; throw e; } return [{ attempt }];";
    let (workflow, _) = script_workflow(&app, json!([script("Flaky", flaky)])).await;
    let run = run_to_end(&app, json!({"workflowId": workflow})).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let log = run["blocks"][0]["log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "two retries: {log:?}");
    assert!(
        log[0]
            .as_str()
            .unwrap()
            .starts_with("attempt 1 failed: service busy; retrying in ")
    );
    let id = run["id"].as_str().unwrap();
    assert_eq!(output(&app, id, 1).await, json!([{"attempt": 3}]));

    let (broken, _) = script_workflow(
        &app,
        json!([script(
            "Broken",
            "return [{ attempt }].map(r => r.missing.field);"
        )]),
    )
    .await;
    let run = run_to_end(&app, json!({"workflowId": broken})).await;
    assert_eq!(run["status"], "Failed");
    assert!(
        run["blocks"][0]["log"].as_array().unwrap().is_empty(),
        "no retry of a permanent error"
    );
    let always = "const e = new Error('still down'); e.transient = true; throw e;";
    let (down, _) = script_workflow(&app, json!([script("Down", always)])).await;
    let run = run_to_end(&app, json!({"workflowId": down})).await;
    assert_eq!(run["status"], "Failed");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("transient error: still down"),
        "{run}"
    );
    assert_eq!(
        run["blocks"][0]["log"].as_array().unwrap().len(),
        2,
        "gives up after the last attempt"
    );
}

mod retry_tests {
    use super::*;
    both_backends!(transient_failures_are_retried_and_permanent_ones_fail_at_once);
}

/// A store that refuses to record a run's end (here a trigger; in life a
/// full disk, a constraint, an outage) does not leave the run Running, to
/// be executed again after its lease: the end is retried, then the run is
/// recorded as Failed, saying why.
#[tokio::test]
async fn a_run_whose_end_cannot_be_recorded_ends_as_failed_saying_why() {
    let app = spawn_app(Backend::Sqlite).await;
    let (workflow, _) = script_workflow(&app, json!([script("One", "return [{ n: 1 }];")])).await;
    let mut db = app.sqlite_behind_canvas().await;
    let refuse = "CREATE TRIGGER refuse_success BEFORE UPDATE OF status ON runs \
                  WHEN NEW.status = 'Succeeded' BEGIN SELECT RAISE(ABORT, 'no room left'); END";
    sqlx::query(refuse).execute(&mut db).await.unwrap();

    let run = run_to_end(&app, json!({"workflowId": workflow})).await;

    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.starts_with("the run's end (Succeeded) could not be recorded"),
        "{error}"
    );
    assert_eq!(run["attempt"], 1, "not run again: {run}");
}

/// A store that cannot say which blocks a run completed ends the attempt
/// and hands the run back — it never runs blocks again on a guess — and
/// after five such attempts the run fails, saying why.
#[tokio::test]
async fn a_run_whose_blocks_cannot_be_read_is_handed_back_then_fails_saying_why() {
    let app = spawn_app(Backend::Sqlite).await;
    // Long enough for its start to be recorded alone (a short first
    // block's start is written with its end): that write fails, the block
    // is stopped, and every later attempt fails reading the blocks back.
    let busy = "const t = Date.now(); while (Date.now() - t < 400) {} return [{ n: 1 }];";
    let (workflow, _) = script_workflow(&app, json!([script("One", busy)])).await;
    let mut db = app.sqlite_behind_canvas().await;
    sqlx::query("ALTER TABLE run_blocks RENAME TO run_blocks_away")
        .execute(&mut db)
        .await
        .unwrap();

    let r = app
        .post("/api/RunWorkflow", &json!({"workflowId": workflow}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let workflow_id: uuid::Uuid = workflow.parse().unwrap();
    let id = app.store.runs(workflow_id, 0, 1).await.unwrap()[0].id;
    let run = loop {
        let run = app.store.run(id).await.unwrap();
        if run.status.name() == "Failed" {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    sqlx::query("ALTER TABLE run_blocks_away RENAME TO run_blocks")
        .execute(&mut db)
        .await
        .unwrap();

    let error = run.error.unwrap();
    assert!(error.starts_with("reading its blocks: "), "{error}");
    assert!(error.ends_with("(attempt 5)"), "{error}");
    assert_eq!(run.attempt, 5);
    let history = app.get(&format!("/api/WorkflowRun?id={id}")).await.body;
    assert_eq!(history["blocks"], json!([]), "no block ran: {history}");
}
