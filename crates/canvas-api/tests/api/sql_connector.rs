//! SQL blocks against the machine's PostgreSQL and MariaDB.

use crate::connectors::*;
use crate::helpers::assert_error;
use crate::runs::output;
use serde_json::json;

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

/// CSV has no null: an empty cell goes to a number, date or boolean column
/// as NULL, and stays an empty string in a text column.
#[tokio::test]
async fn sql_write_sends_an_empty_cell_to_a_non_text_column_as_null() {
    let app = plain_app().await;
    let table = table_name("t");
    pg_exec(&format!(
        "CREATE TABLE {table} (id int, total numeric(8,2), at date, note text)"
    ))
    .await;
    let chain = json!([
        script("return [{ id: '1', total: '', at: '', note: '' }, { id: '2', total: '9.50', at: '2024-01-02', note: 'x' }];"),
        {"blockName": "SQL Write", "variables": {"table": table}},
    ]);
    let workflow =
        connector_workflow(&app, &[("PGSQL", POSTGRESQL, pg_credentials())], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    type Row = (i32, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, total::text, at::text, note FROM {table} ORDER BY id"
    )))
    .fetch_all(&mut pg().await)
    .await
    .unwrap();
    assert_eq!(rows[0], (1, None, None, Some(String::new())));
    assert_eq!(
        rows[1],
        (
            2,
            Some("9.50".into()),
            Some("2024-01-02".into()),
            Some("x".into())
        )
    );
    pg_exec(&format!("DROP TABLE {table}")).await;
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
async fn scripts_query_and_change_a_database_through_apps() {
    let app = plain_app().await;
    let table = table_name("script");
    pg_exec(&format!(
        "CREATE TABLE {table} (id int, name text); INSERT INTO {table} VALUES (1, 'a'), (2, 'b');"
    ))
    .await;
    let source = format!(
        r#"
        const changed = await apps.PGSQL.execute("UPDATE {table} SET name = upper(name) WHERE id >= $1", [2]);
        const rows = await apps.PGSQL.query("SELECT id, name FROM {table} ORDER BY id");
        let bad = null;
        try {{ await apps.PGSQL.query("SELECT nope FROM {table}"); }} catch (e) {{ bad = e.message; }}
        return [{{ changed, rows, bad }}];
    "#
    );
    let workflow = connector_workflow(
        &app,
        &[("PGSQL", POSTGRESQL, pg_credentials())],
        json!([script(&source)]),
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let out = output(&app, run["id"].as_str().unwrap(), 1).await;
    assert_eq!(out[0]["changed"], json!({"rowsAffected": 1}));
    assert_eq!(
        out[0]["rows"],
        json!([{"id": 1, "name": "a"}, {"id": 2, "name": "B"}])
    );
    assert!(
        out[0]["bad"]
            .as_str()
            .unwrap()
            .contains("column \"nope\" does not exist"),
        "{out}"
    );
    pg_exec(&format!("DROP TABLE {table}")).await;
}

/// TLS asked for is TLS checked: a server without a certificate this
/// machine trusts is refused, and nothing is stored.
#[tokio::test]
async fn a_database_registered_with_tls_must_present_a_trusted_certificate() {
    let app = plain_app().await;
    for (id, mut creds) in [(POSTGRESQL, pg_credentials()), (MYSQL, mysql_credentials())] {
        creds["tls"] = json!(true);
        let r = app
            .post("/api/RegApplication", &json!({"applicationId": id, "tagText": "tls", "credentialsJson": creds.to_string()}))
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        let msg = r.body["Msg"].as_str().unwrap().to_string();
        assert!(msg.starts_with("Authentication Error: "), "{msg}");
        assert!(
            msg.to_lowercase().contains("tls")
                || msg.to_lowercase().contains("certificate")
                || msg.to_lowercase().contains("ssl"),
            "{msg}"
        );
    }
    assert_eq!(app.get("/api/RegApplications").await.body, json!([]));
}
