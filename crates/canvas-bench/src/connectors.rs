//! Rows per second through the connectors and the server's peak memory:
//! PostgreSQL → `SQL Query` → `FTP Upload` (CSV) to an FTP server on
//! loopback (libunftp, in this process), and PostgreSQL → `SQL Query` →
//! `SQL Write` into MariaDB. The source table is made with psql, the target
//! with the mysql client; both in database `test`.

use crate::records::seconds;
use crate::server::Server;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const FTP: &str = "5f814909-01ea-4395-96ee-5ba7614128fc";
const POSTGRESQL: &str = "6d2f9a4b-3e5c-4b7d-a1f0-8c6e2b4d9f13";
const MYSQL: &str = "9f1b3d5e-7a2c-4e6f-b0d8-2c4a6e8f0b57";
const TABLE: &str = "canvas_bench_rows";

pub struct Figures {
    /// Rows per second of the `SQL Query` block.
    pub query_per_second: f64,
    /// Rows per second of the delivering block (`FTP Upload` or `SQL Write`).
    pub deliver_per_second: f64,
    /// Rows per second from the run's start to its end.
    pub run_per_second: f64,
    pub peak_rss_mib: f64,
}

fn run_tool(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program).args(args).status()?;
    if !status.success() {
        bail!("{program} {args:?} failed");
    }
    Ok(())
}

/// The source table in PostgreSQL, `rows` rows of six typed columns.
pub fn prepare_source(rows: usize) -> anyhow::Result<()> {
    let sql = format!(
        "DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} AS SELECT i AS id, 'customer ' || i AS name, \
         'c' || i || '@example.com' AS email, ((i % 100000) / 100.0)::numeric(10,2) AS amount, \
         timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS created, i % 3 <> 0 AS active \
         FROM generate_series(1, {rows}) i;"
    );
    run_tool(
        "psql",
        &["postgres://root@127.0.0.1:5432/test", "-q", "-c", &sql],
    )
}

fn prepare_target() -> anyhow::Result<()> {
    let sql = format!(
        "DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id INT PRIMARY KEY, name VARCHAR(64), \
         email VARCHAR(64), amount DECIMAL(10,2), created DATETIME, active BOOLEAN);"
    );
    run_tool(
        "mysql",
        &["-h", "127.0.0.1", "-u", "root", "test", "-e", &sql],
    )
}

/// An FTP server on loopback serving `root` to anyone; returns its port.
pub async fn start_ftp(root: &std::path::Path) -> anyhow::Result<u16> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let root = root.to_path_buf();
    let server = libunftp::ServerBuilder::new(Box::new(move || {
        unftp_sbe_fs::Filesystem::new(root.clone()).expect("ftp root")
    }))
    .passive_ports(50000..=65000)
    .build()?;
    tokio::spawn(async move {
        let _ = server.listen(format!("127.0.0.1:{port}")).await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(port)
}

pub async fn register(server: &Server, app: &str, creds: Value) -> anyhow::Result<Value> {
    server
        .post(
            "/api/RegApplication",
            json!({"applicationId": app, "tagText": "bench", "credentialsJson": creds.to_string()}),
        )
        .await
}

fn pg_credentials() -> Value {
    json!({"address": "127.0.0.1", "port": 5432, "database": "test", "username": "root", "password": ""})
}

pub async fn run_chain(
    server: &Server,
    apps: Value,
    registered: Value,
    chain: Value,
) -> anyhow::Result<Value> {
    let template = server
        .post("/api/WorkflowTemplate", json!({"name": "Bench connectors", "state": "Published", "applications": apps, "chain": chain}))
        .await?;
    let workflow = server
        .post(
            "/api/Workflow",
            json!({"workflowTemplateId": template, "applications": registered}),
        )
        .await?;
    server
        .post("/api/RunWorkflow", json!({"workflowId": workflow}))
        .await?;
    let runs = format!(
        "/api/WorkflowRuns?workflowId={}",
        workflow.as_str().unwrap_or_default()
    );
    let id = server.get(&runs).await?[0]["id"]
        .as_str()
        .context("run id")?
        .to_string();
    loop {
        let run = server.get(&format!("/api/WorkflowRun?id={id}")).await?;
        if run["status"] != "Queued" && run["status"] != "Running" {
            anyhow::ensure!(run["status"] == "Succeeded", "the run failed: {run}");
            return Ok(run);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn figures(server: &Server, run: &Value, rows: usize) -> anyhow::Result<Figures> {
    let per_second =
        |i: usize| -> anyhow::Result<f64> { Ok(rows as f64 / seconds(&run["blocks"][i])?) };
    Ok(Figures {
        query_per_second: per_second(0)?,
        deliver_per_second: per_second(1)?,
        run_per_second: rows as f64 / seconds(run)?,
        peak_rss_mib: server.peak_rss_mib()?,
    })
}

fn query_block() -> Value {
    json!({"blockName": "SQL Query", "application": "PGSQL", "variables": {"query": format!("SELECT * FROM {TABLE} ORDER BY id")}})
}

/// PostgreSQL → CSV file on the FTP server; checks the file's line count.
pub async fn to_ftp(
    server: &Server,
    rows: usize,
    ftp_port: u16,
    ftp_root: &std::path::Path,
) -> anyhow::Result<Figures> {
    let pg = register(server, POSTGRESQL, pg_credentials()).await?;
    let ftp = register(
        server,
        FTP,
        json!({"username": "bench", "password": "bench", "port": ftp_port, "address": "127.0.0.1"}),
    )
    .await?;
    let chain = json!([query_block(), {"blockName": "FTP Upload", "variables": {"filename": "rows.csv", "fileformat": "csv"}}]);
    let run = run_chain(
        server,
        json!(["PGSQL", "FTP"]),
        json!({"PGSQL": pg, "FTP": ftp}),
        chain,
    )
    .await?;
    let file = std::fs::read(ftp_root.join("rows.csv"))?;
    let lines = file.iter().filter(|&&b| b == b'\n').count();
    anyhow::ensure!(
        lines == rows + 1,
        "the CSV has {lines} lines, expected {}",
        rows + 1
    );
    figures(server, &run, rows)
}

/// PostgreSQL → MariaDB with `SQL Write` (batches of 1,000 rows); checks the row count.
pub async fn to_mariadb(server: &Server, rows: usize) -> anyhow::Result<Figures> {
    prepare_target()?;
    let pg = register(server, POSTGRESQL, pg_credentials()).await?;
    let my = register(server, MYSQL, json!({"address": "127.0.0.1", "port": 3306, "database": "test", "username": "root", "password": ""})).await?;
    let chain = json!([query_block(), {"blockName": "SQL Write", "application": "MYSQL", "variables": {"table": TABLE, "batchSize": 1000}}]);
    let run = run_chain(
        server,
        json!(["PGSQL", "MYSQL"]),
        json!({"PGSQL": pg, "MYSQL": my}),
        chain,
    )
    .await?;
    let out = Command::new("mysql")
        .args([
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "test",
            "-N",
            "-e",
            &format!("SELECT COUNT(*) FROM {TABLE}"),
        ])
        .output()?;
    let count: usize = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    anyhow::ensure!(
        count == rows,
        "MariaDB has {count} rows, expected {rows}: {run}"
    );
    figures(server, &run, rows)
}
