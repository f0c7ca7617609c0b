//! The connectors' blocks against real servers on loopback: libunftp (FTP,
//! FTPS), the machine's PostgreSQL and MariaDB, an SMTP sink.

use crate::helpers::{Backend, Options, TestApp, assert_error, spawn_app_opts};
use crate::runs::{output, run_to_end};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::Path;

pub const FTP: &str = "5f814909-01ea-4395-96ee-5ba7614128fc";
pub const FILE_HUB: &str = "9b6a04b3-c91f-4255-9033-6ac7b7a6f935";
pub const POSTGRESQL: &str = "6d2f9a4b-3e5c-4b7d-a1f0-8c6e2b4d9f13";
pub const MYSQL: &str = "9f1b3d5e-7a2c-4e6f-b0d8-2c4a6e8f0b57";

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

pub fn ftp_credentials(server: &crate::ftp::FtpServer, password: &str) -> Value {
    json!({"username": "partner", "password": password, "port": server.port,
        "address": "127.0.0.1", "secure": server.certificate.is_some()})
}

pub fn pg_credentials() -> Value {
    json!({"address": "127.0.0.1", "port": 5432, "database": "test", "username": "postgres", "password": ""})
}

pub fn mysql_credentials() -> Value {
    json!({"address": "127.0.0.1", "port": 3306, "database": "test", "username": "root", "password": ""})
}

/// Registers each (short name, application id, credentials), publishes a
/// template with `chain` over them, and makes a workflow of it.
pub async fn connector_workflow(
    app: &TestApp,
    apps: &[(&str, &str, Value)],
    chain: Value,
) -> String {
    let mut registered = serde_json::Map::new();
    for (short, id, creds) in apps {
        let reg = app
            .post(
                "/api/RegApplication",
                &json!({"applicationId": id, "tagText": short, "credentialsJson": creds.to_string()}),
            )
            .await;
        assert_eq!(reg.status, 200, "registering {short}: {}", reg.text);
        registered.insert(short.to_string(), reg.body.clone());
    }
    let shorts: Vec<&str> = apps.iter().map(|(s, _, _)| *s).collect();
    let t = app
        .post(
            "/api/WorkflowTemplate",
            &json!({"name": "Connectors", "state": "Published", "applications": shorts, "chain": chain}),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let w = app
        .post(
            "/api/Workflow",
            &json!({"workflowTemplateId": t.body, "applications": registered}),
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.text);
    w.body.as_str().unwrap().to_string()
}

pub async fn run(app: &TestApp, workflow: &str) -> Value {
    run_to_end(app, json!({ "workflowId": workflow })).await
}

pub fn script(source: &str) -> Value {
    json!({"blockName": "Make", "script": source, "variables": {}})
}

/// A unique table name, so tests can run side by side in one database.
pub fn table_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

pub async fn pg() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(PG_URL).await.unwrap()
}

pub async fn mysql() -> sqlx::MySqlConnection {
    use sqlx::Connection;
    sqlx::MySqlConnection::connect(MYSQL_URL).await.unwrap()
}

pub async fn pg_exec(sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut pg().await)
        .await
        .unwrap();
}

pub async fn mysql_exec(sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut mysql().await)
        .await
        .unwrap();
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The bytes of the first attachment of a message the SMTP sink received.
pub fn attachment(message: &str) -> (String, Vec<u8>) {
    let part = message
        .split("Content-Disposition: attachment")
        .nth(1)
        .expect("an attachment");
    let name = part
        .split("filename=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    let body = part.split("\n\n").nth(1).unwrap_or_default();
    let base64: String = body
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .concat();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64.trim())
        .unwrap();
    (name, bytes)
}

pub async fn app_with_mailer(sink: &crate::smtp::SmtpSink) -> TestApp {
    spawn_app_opts(
        Backend::Sqlite,
        Options {
            mailer: Some(crate::smtp::mailer(sink)),
            ..Options::default()
        },
    )
    .await
}

pub async fn plain_app() -> TestApp {
    spawn_app_opts(Backend::Sqlite, Options::default()).await
}

/// The issue's first end-to-end template: PostgreSQL rows as a CSV file on FTP.
#[tokio::test]
async fn sql_to_ftp_as_csv() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let table = table_name("employees");
    pg_exec(&format!(
        "CREATE TABLE {table} (id int, name text, hired date);
         INSERT INTO {table} VALUES (1, 'Ada', '2020-01-02'), (2, 'Grace, H.', '2021-03-04');"
    ))
    .await;
    let chain = json!([
        {"blockName": "SQL Query", "variables": {"query": format!("SELECT id, name, hired FROM {table} ORDER BY id")}},
        {"blockName": "FTP Upload", "variables": {"filename": "employees", "fileformat": "csv", "filepath": "/"}},
    ]);
    let workflow = connector_workflow(
        &app,
        &[
            ("PGSQL", POSTGRESQL, pg_credentials()),
            ("FTP", FTP, ftp_credentials(&server, "pw")),
        ],
        chain,
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        read(&server.files().join("employees.csv")),
        "id,name,hired\n1,Ada,2020-01-02\n2,\"Grace, H.\",2021-03-04\n"
    );
    let metrics = app.get_raw("/metrics", &[]).await.text;
    for line in [
        r#"canvas_block_tries_total{kind="SQL Query",outcome="succeeded"}"#,
        r#"canvas_block_tries_total{kind="FTP Upload",outcome="succeeded"}"#,
        r#"canvas_block_records_out_total{kind="SQL Query"}"#,
    ] {
        assert!(metrics.contains(line), "{line} in /metrics");
    }
    pg_exec(&format!("DROP TABLE {table}")).await;
}

/// The second: files from FTP sent on by email, the attachment byte for byte.
#[tokio::test]
async fn ftp_to_email() {
    let sink = crate::smtp::start().await;
    let app = app_with_mailer(&sink).await;
    let server = crate::ftp::start("partner", "pw").await;
    std::fs::write(
        server.files().join("orders.csv"),
        "id,total\n1,9.50\n2,Øre\n",
    )
    .unwrap();
    let chain = json!([
        {"blockName": "FTP Download", "variables": {"pattern": "orders*.csv"}},
        {"blockName": "Send email", "variables": {"subject": "Orders {runId}", "fileName": "orders", "note": "Today's orders.", "to": "ops@example.com, boss@example.com"}},
    ]);
    let workflow = connector_workflow(
        &app,
        &[
            ("FTP", FTP, ftp_credentials(&server, "pw")),
            ("CMAF", FILE_HUB, json!({})),
        ],
        chain,
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let messages = sink.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, vec!["ops@example.com", "boss@example.com"]);
    assert!(
        messages[0]
            .data
            .contains(&format!("Subject: Orders {}", run["id"].as_str().unwrap()))
    );
    let (name, bytes) = attachment(&messages[0].data);
    assert_eq!(name, "orders.csv");
    assert_eq!(bytes, "id,total\n1,9.50\n2,Øre\n".as_bytes());
}

#[tokio::test]
async fn send_email_without_a_recipient_goes_to_the_accounts_email() {
    let sink = crate::smtp::start().await;
    let app = app_with_mailer(&sink).await;
    let chain = json!([
        script("return [{ a: 1 }];"),
        {"blockName": "Send email", "variables": {"subject": "Data", "fileformat": "json"}},
    ]);
    let workflow = connector_workflow(&app, &[("CMAF", FILE_HUB, json!({}))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let account = app.store.account(app.admin).await.unwrap();
    let messages = sink.messages.lock().unwrap().clone();
    assert_eq!(messages[0].to, vec![account.email]);
    assert_eq!(
        attachment(&messages[0].data),
        ("Data.json".to_string(), b"[{\"a\":1}]".to_vec())
    );
}

/// File Hub keeps files per account: stored by one workflow, read by another.
#[tokio::test]
async fn file_hub_stores_and_reads_files_in_the_accounts_own_space() {
    let app = plain_app().await;
    let store = json!([
        script("return [{ sku: 'A-1', qty: 3 }, { sku: 'B;2', qty: 0 }];"),
        {"blockName": "Store file", "variables": {"fileName": "stock_{runId}", "fileformat": "csv", "delimiter": ";"}},
    ]);
    let workflow = connector_workflow(&app, &[("CMAF", FILE_HUB, json!({}))], store).await;
    let stored = run(&app, &workflow).await;
    assert_eq!(stored["status"], "Succeeded", "{stored}");
    let name = format!("stock_{}.csv", stored["id"].as_str().unwrap());
    assert_eq!(
        output(&app, stored["id"].as_str().unwrap(), 2).await[0]["fileName"],
        name
    );

    let read = json!([{"blockName": "Read file", "variables": {"fileName": "stock_*.csv", "delimiter": ";"}}]);
    let workflow = connector_workflow(&app, &[("CMAF", FILE_HUB, json!({}))], read).await;
    let run_read = run(&app, &workflow).await;

    assert_eq!(run_read["status"], "Succeeded", "{run_read}");
    let id = run_read["id"].as_str().unwrap();
    assert_eq!(
        output(&app, id, 1).await,
        json!([{"sku": "A-1", "qty": "3"}, {"sku": "B;2", "qty": "0"}])
    );
    let files = app
        .get(&format!("/api/WorkflowRunFiles?id={id}&block=1"))
        .await
        .body;
    assert_eq!(files[0]["name"], name);
    let raw = app
        .get(&format!("/api/WorkflowRunFile?id={id}&block=1&name={name}"))
        .await
        .text;
    assert_eq!(raw, "sku;qty\nA-1;3\n\"B;2\";0\n");

    let other = app
        .account_with_key(app.organization, canvas_domain::account::AccountRole::Admin)
        .await;
    let missing = json!([{"blockName": "Read file", "variables": {"fileName": "stock_*.csv"}}]);
    let reg = app
        .post_as(
            "/api/RegApplication",
            &other.1,
            &[],
            json!({"applicationId": FILE_HUB, "tagText": "f"}).to_string(),
        )
        .await;
    let t = app
        .post_as(
            "/api/WorkflowTemplate",
            &other.1,
            &[],
            json!({"name": "r", "state": "Published", "applications": ["CMAF"], "chain": missing})
                .to_string(),
        )
        .await;
    let w = app
        .post_as(
            "/api/Workflow",
            &other.1,
            &[],
            json!({"workflowTemplateId": t.body, "applications": {"CMAF": reg.body}}).to_string(),
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.text);
    let keys = &other.1;
    let queued = app
        .post_as(
            "/api/RunWorkflow",
            keys,
            &[],
            json!({"workflowId": w.body}).to_string(),
        )
        .await;
    assert_eq!(queued.status, 200, "{}", queued.text);
    let runs = format!("/api/WorkflowRuns?workflowId={}", w.body.as_str().unwrap());
    let theirs = loop {
        let r = app.get_as(&runs, keys, &[]).await.body[0].clone();
        if r["status"] != "Queued" && r["status"] != "Running" {
            let path = format!("/api/WorkflowRun?id={}", r["id"].as_str().unwrap());
            break app.get_as(&path, keys, &[]).await.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        theirs["blocks"][0]["error"],
        "no file of this account's File Hub matches 'stock_*.csv'"
    );
}

/// The account's File Hub over the API: what Store file wrote can be
/// fetched, and files put there are what Read file reads.
#[tokio::test]
async fn file_hub_files_are_listed_fetched_stored_and_deleted_through_the_api() {
    let app = plain_app().await;
    let stored = app
        .post(
            "/api/StoreFileHubFile",
            &json!({"name": "in.csv", "content": "id;name\n1;Ada\n"}),
        )
        .await;
    assert_eq!(
        stored.body,
        json!({"name": "in.csv", "size": 14}),
        "{}",
        stored.text
    );
    let binary = app
        .post(
            "/api/StoreFileHubFile",
            &json!({"name": "raw.bin", "contentBase64": "AAEC/w=="}),
        )
        .await;
    assert_eq!(binary.status, 200, "{}", binary.text);
    let read =
        json!([{"blockName": "Read file", "variables": {"fileName": "in.csv", "delimiter": ";"}}]);
    let workflow = connector_workflow(&app, &[("CMAF", FILE_HUB, json!({}))], read).await;
    let ran = run(&app, &workflow).await;
    assert_eq!(
        output(&app, ran["id"].as_str().unwrap(), 1).await,
        json!([{"id": "1", "name": "Ada"}])
    );

    assert_eq!(
        app.get("/api/FileHubFiles").await.body,
        json!([{"name": "in.csv", "size": 14}, {"name": "raw.bin", "size": 4}])
    );
    let raw = reqwest::Client::new()
        .get(app.url("/api/FileHubFile?name=raw.bin"))
        .header("Consumer", &app.keys.consumer)
        .header("SecretKey", &app.keys.secret)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&raw[..], &[0u8, 1, 2, 255]);
    assert_error(
        &app.post(
            "/api/StoreFileHubFile",
            &json!({"name": "../x", "content": "x"}),
        )
        .await,
        400,
        "name: file name '../x'",
    );
    assert_error(
        &app.post(
            "/api/StoreFileHubFile",
            &json!({"name": "x", "content": "x", "contentBase64": "eA=="}),
        )
        .await,
        400,
        "content: give either content (text) or contentBase64 (bytes), one of them",
    );
    assert_eq!(
        app.delete("/api/DeleteFileHubFile?name=raw.bin").await.body,
        "File deleted"
    );
    assert_error(
        &app.get("/api/FileHubFile?name=raw.bin").await,
        404,
        "no file named 'raw.bin'",
    );
    let (_, other) = app
        .account_with_key(app.organization, canvas_domain::account::AccountRole::Admin)
        .await;
    assert_eq!(
        app.get_as("/api/FileHubFiles", &other, &[]).await.body,
        json!([]),
        "each account has its own"
    );
}
