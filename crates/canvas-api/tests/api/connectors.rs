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

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn names_in(dir: &Path) -> Vec<String> {
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

async fn plain_app() -> TestApp {
    spawn_app_opts(Backend::Sqlite, Options::default()).await
}

#[tokio::test]
async fn ftp_upload_writes_the_dataset_as_csv_under_its_final_name_only() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let chain = json!([
        script("return [{ id: 1, name: 'Ådne, \"A\"' }, { id: 2, name: 'Bo' }];"),
        {"blockName": "FTP Upload", "variables": {"filename": "people_{runId}", "fileformat": "csv", "filepath": "/out"}},
    ]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let name = format!("people_{id}.csv");
    assert_eq!(names_in(&server.files().join("out")), vec![name.clone()]);
    assert_eq!(
        read(&server.files().join("out").join(&name)),
        "id,name\n1,\"Ådne, \"\"A\"\"\"\n2,Bo\n"
    );
    let out = output(&app, id, 2).await;
    assert_eq!(out[0]["path"], format!("/out/{name}"));
    assert_eq!(out[0]["records"], 2);
}

#[tokio::test]
async fn ftp_upload_writes_json_xml_and_ndjson_over_explicit_ftps() {
    let server = crate::ftp::start_secure("partner", "pw").await;
    let app = spawn_app_opts(
        Backend::Sqlite,
        Options {
            extra_ca_file: server.certificate.clone(),
            ..Options::default()
        },
    )
    .await;
    let upload = |format: &str| json!({"blockName": "FTP Upload", "variables": {"filename": format!("data.{format}"), "fileformat": format}});
    let chain = json!([
        script("return [{ id: 1, tags: ['a', 'b'] }];"),
        upload("json"),
    ]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;
    assert_eq!(run(&app, &workflow).await["status"], "Succeeded");
    assert_eq!(
        read(&server.files().join("data.json")),
        r#"[{"id":1,"tags":["a","b"]}]"#
    );

    for (format, expected) in [
        ("ndjson", "{\"id\":1,\"tags\":[\"a\",\"b\"]}\n"),
        (
            "xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<records>\n  <record><id>1</id><tags>a</tags><tags>b</tags></record>\n</records>\n",
        ),
    ] {
        let chain = json!([
            script("return [{ id: 1, tags: ['a', 'b'] }];"),
            upload(format)
        ]);
        let t = app
            .post("/api/WorkflowTemplate", &json!({"name": format, "state": "Published", "applications": ["FTP"], "chain": chain}))
            .await;
        let reg = app.get("/api/RegApplications").await.body[0]["id"].clone();
        let w = app
            .post(
                "/api/Workflow",
                &json!({"workflowTemplateId": t.body, "applications": {"FTP": reg}}),
            )
            .await;
        let run = run(&app, w.body.as_str().unwrap()).await;
        assert_eq!(run["status"], "Succeeded", "{run}");
        assert_eq!(
            read(&server.files().join(format!("data.{format}"))),
            expected
        );
    }
}

#[tokio::test]
async fn ftp_download_reads_matching_files_as_records_and_moves_them() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let inbox = server.files().join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), "id;city\n1;Oslo\n2;Bergen\n").unwrap();
    std::fs::write(inbox.join("b.CSV"), b"id;city\n3;Troms\xF8\n").unwrap();
    std::fs::write(inbox.join("notes.txt"), "not data").unwrap();
    let chain = json!([{"blockName": "FTP Download", "variables": {
        "pattern": "*.csv", "filepath": "/in", "fileformat": "csv", "delimiter": ";",
        "encoding": "ISO-8859-1", "moveTo": "/done"}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let out = output(&app, run["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        out,
        json!([{"id": "1", "city": "Oslo"}, {"id": "2", "city": "Bergen"}, {"id": "3", "city": "Tromsø"}])
    );
    assert_eq!(names_in(&inbox), vec!["notes.txt"]);
    assert_eq!(
        names_in(&server.files().join("done")),
        vec!["a.csv", "b.CSV"]
    );
}

#[tokio::test]
async fn a_file_that_does_not_parse_fails_the_block_naming_file_and_line() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    std::fs::write(server.files().join("bad.csv"), "a,b\n1,2\n3\n").unwrap();
    let chain = json!([{"blockName": "FTP Download", "variables": {"pattern": "bad.csv"}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Failed", "{run}");
    assert_eq!(
        run["blocks"][0]["error"],
        "bad.csv: line 3: 1 columns where the header has 2"
    );
}

/// Credentials that stop working make the run fail and mark the registration faulted.
#[tokio::test]
async fn a_refused_login_fails_the_run_and_marks_the_application_faulted() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let chain = json!([{"blockName": "FTP Download", "variables": {}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;
    let port = server.port;
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _changed = crate::ftp::start_on(port, "partner", "new-password").await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["blocks"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("Authentication Error: the FTP server refused the login: 530"),
        "{error}"
    );
    assert!(!error.contains("pw"), "{error}");
    let reg = &app.get("/api/RegApplications").await.body[0];
    assert_eq!(
        (reg["faulted"].clone(), reg["isAuthenticated"].clone()),
        (json!(true), json!(false))
    );
}

#[tokio::test]
async fn an_ftp_connection_lost_mid_upload_is_retried_and_the_retry_succeeds() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let proxy = crate::ftp::cutting_proxy(server.port).await;
    let mut creds = ftp_credentials(&server, "pw");
    creds["port"] = json!(proxy);
    let chain = json!([
        script("const out = []; for (let i = 0; i < 50000; i++) out.push({ i, text: 'some text to make the file longer' }); return out;"),
        {"blockName": "FTP Upload", "variables": {"filename": "big.csv"}},
    ]);
    let workflow = connector_workflow(&app, &[("FTP", FTP, creds)], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let log = run["blocks"][1]["log"].to_string();
    assert!(log.contains("attempt 1 failed: "), "{log}");
    let content = read(&server.files().join("big.csv"));
    assert_eq!(content.lines().count(), 50_001);
    assert_eq!(names_in(&server.files()), vec!["big.csv"]);
}

#[tokio::test]
async fn sql_query_streams_postgresql_rows_as_typed_records() {
    let app = plain_app().await;
    let table = table_name("people");
    pg_exec(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, name text, score numeric(6,2), active bool, born date, seen timestamptz, data jsonb);
         INSERT INTO {table} VALUES (1, 'Ada', 12.50, true, '1815-12-10', '2024-01-02T03:04:05Z', '{{\"k\": [1]}}'),
                                    (2, 'Bo', NULL, false, NULL, NULL, NULL), (3, 'Cy', 1, true, NULL, NULL, NULL);"
    ))
    .await;
    let chain = json!([{"blockName": "SQL Query", "variables": {
        "query": format!("SELECT * FROM {table} WHERE id < $1 ORDER BY id"), "parameters": [3]}}]);
    let workflow =
        connector_workflow(&app, &[("PGSQL", POSTGRESQL, pg_credentials())], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 1).await,
        json!([
            {"id": 1, "name": "Ada", "score": "12.50", "active": true, "born": "1815-12-10", "seen": "2024-01-02T03:04:05Z", "data": {"k": [1]}},
            {"id": 2, "name": "Bo", "score": null, "active": false, "born": null, "seen": null, "data": null},
        ])
    );
    pg_exec(&format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn sql_write_upserts_records_into_mariadb_in_batches() {
    let app = plain_app().await;
    let table = table_name("orders");
    mysql_exec(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, customer VARCHAR(50), total DECIMAL(8,2), paid BOOLEAN, at DATETIME(3))"
    ))
    .await;
    mysql_exec(&format!(
        "INSERT INTO {table} VALUES (2, 'old', 0, 0, NULL)"
    ))
    .await;
    let chain = json!([
        script("return [1,2,3,4,5].map(i => ({ id: i, customer: 'c' + i, total: i * 1.5, paid: i % 2 == 0, at: '2024-01-02T04:04:05.250+01:00' }));"),
        {"blockName": "SQL Write", "variables": {"table": table, "keyColumns": ["id"], "batchSize": 2}},
    ]);
    let workflow = connector_workflow(&app, &[("MYSQL", MYSQL, mysql_credentials())], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 2).await,
        json!([{"table": table, "records": 5, "batches": 3}])
    );
    let rows: Vec<(i32, String, String, bool, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, customer, CAST(total AS CHAR), paid, CAST(at AS CHAR) FROM {table} ORDER BY id"
    )))
    .fetch_all(&mut mysql().await)
    .await
    .unwrap();
    assert_eq!(rows.len(), 5);
    let at = "2024-01-02 03:04:05.250".to_string();
    assert_eq!(rows[1], (2, "c2".into(), "3.00".into(), true, at.clone()));
    assert_eq!(rows[4], (5, "c5".into(), "7.50".into(), false, at));
    mysql_exec(&format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn sql_write_refuses_a_field_the_table_does_not_have_and_writes_nothing() {
    let app = plain_app().await;
    let table = table_name("t");
    pg_exec(&format!("CREATE TABLE {table} (id int)")).await;
    let chain = json!([
        script("return [{ id: 1 }, { id: 2, 'x\"; DROP TABLE t; --': 1 }];"),
        {"blockName": "SQL Write", "variables": {"table": table}},
    ]);
    let workflow =
        connector_workflow(&app, &[("PGSQL", POSTGRESQL, pg_credentials())], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["blocks"][1]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "the table '{table}' has no column 'x\"; DROP TABLE t; --'"
        )),
        "{error}"
    );
    let count: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut pg().await)
            .await
            .unwrap();
    assert_eq!(count, 0);
    pg_exec(&format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn registering_a_database_checks_the_login() {
    let app = plain_app().await;
    let mut wrong = mysql_credentials();
    wrong["username"] = json!("nobody");
    wrong["password"] = json!("secret-pw");
    let r = app
        .post(
            "/api/RegApplication",
            &json!({"applicationId": MYSQL, "tagText": "db", "credentialsJson": wrong.to_string()}),
        )
        .await;
    assert_error(
        &r,
        400,
        "Authentication Error: the MySQL server at 127.0.0.1:3306 refused: Access denied",
    );
    assert!(!r.text.contains("secret-pw"));
    let mut wrong_db = pg_credentials();
    wrong_db["database"] = json!("no_such_db");
    let r = app
        .post("/api/RegApplication", &json!({"applicationId": POSTGRESQL, "tagText": "db", "credentialsJson": wrong_db.to_string()}))
        .await;
    assert_error(
        &r,
        400,
        "Authentication Error: the PostgreSQL server at 127.0.0.1:5432 refused",
    );
    assert_eq!(app.get("/api/RegApplications").await.body, json!([]));
    let ok = app
        .post("/api/RegApplication", &json!({"applicationId": POSTGRESQL, "tagText": "db", "credentialsJson": pg_credentials().to_string()}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
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

/// `SQL Write` is offered by both databases: the chain names which one.
#[tokio::test]
async fn a_block_two_applications_offer_names_its_application() {
    let app = plain_app().await;
    let table = table_name("copy");
    pg_exec(&format!(
        "CREATE TABLE {table} (id int, at timestamptz); INSERT INTO {table} VALUES (1, '2024-05-06T07:08:09Z'), (2, NULL);"
    ))
    .await;
    mysql_exec(&format!("CREATE TABLE {table} (id INT, at DATETIME)")).await;
    let write = json!({"blockName": "SQL Write", "variables": {"table": table}});
    let ambiguous = app
        .post(
            "/api/WorkflowTemplate",
            &json!({"name": "Copy", "state": "Published", "applications": ["PGSQL", "MYSQL"], "chain": [write]}),
        )
        .await;
    assert_error(
        &ambiguous,
        400,
        "chain[0].application: the block 'SQL Write' is offered by PGSQL and MYSQL; name the application it belongs to",
    );
    let mut write = write;
    write["application"] = json!("MYSQL");
    let chain = json!([
        {"blockName": "SQL Query", "application": "PGSQL", "variables": {"query": format!("SELECT * FROM {table} ORDER BY id")}},
        write,
    ]);
    let workflow = connector_workflow(
        &app,
        &[
            ("PGSQL", POSTGRESQL, pg_credentials()),
            ("MYSQL", MYSQL, mysql_credentials()),
        ],
        chain,
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let rows: Vec<(i32, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, CAST(at AS CHAR) FROM {table} ORDER BY id"
    )))
    .fetch_all(&mut mysql().await)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![(1, Some("2024-05-06 07:08:09".into())), (2, None)]
    );
    mysql_exec(&format!("DROP TABLE {table}")).await;
    pg_exec(&format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn an_xlsx_file_uploaded_to_ftp_reads_back_as_the_same_records() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let chain = json!([
        script("return [{ id: 1, name: 'Ada', paid: true }, { id: 2, name: 'Bo', paid: false }];"),
        {"blockName": "FTP Upload", "variables": {"filename": "people", "fileformat": "xlsx", "sheet": "People"}},
        {"blockName": "FTP Download", "datasource": null, "variables": {"pattern": "*.xlsx", "fileformat": "xlsx"}},
    ]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        &std::fs::read(server.files().join("people.xlsx")).unwrap()[..2],
        b"PK"
    );
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 3).await,
        json!([{"id": 1, "name": "Ada", "paid": true}, {"id": 2, "name": "Bo", "paid": false}])
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

/// Implicit FTPS: TLS from the first byte, the server's certificate checked.
#[tokio::test]
async fn implicit_ftps_logs_in_over_tls_from_the_first_byte() {
    let server = crate::ftp::start("partner", "pw").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, certificate) = crate::ftp::implicit_tls_front(server.port, dir.path()).await;
    let creds = |password: &str| json!({"username": "partner", "password": password, "port": port, "address": "127.0.0.1", "implicitTls": true});
    let untrusting = plain_app().await;
    let r = untrusting
        .post("/api/RegApplication", &json!({"applicationId": FTP, "tagText": "i", "credentialsJson": creds("pw").to_string()}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("FTPS negotiation with 127.0.0.1:"),
        "an unknown certificate is refused: {}",
        r.text
    );

    let app = spawn_app_opts(
        Backend::Sqlite,
        Options {
            extra_ca_file: Some(certificate),
            ..Options::default()
        },
    )
    .await;
    let wrong = app
        .post("/api/RegApplication", &json!({"applicationId": FTP, "tagText": "i", "credentialsJson": creds("nope").to_string()}))
        .await;
    assert_error(
        &wrong,
        400,
        "Authentication Error: the FTP server refused the login: 530",
    );
    let ok = app
        .post("/api/RegApplication", &json!({"applicationId": FTP, "tagText": "i", "credentialsJson": creds("pw").to_string()}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}
