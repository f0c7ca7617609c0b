//! Starting the `canvas` binary for the tests of this crate.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command that inherits none of this process's `CANVAS_*` settings.
pub fn without_canvas_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CANVAS_")) {
        command.env_remove(key);
    }
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A database URL on a fresh, migrated PostgreSQL schema, for servers that share it.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("CANVAS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    canvas_store::Store::open_postgres(&base, Some(&schema))
        .await
        .expect("PostgreSQL at 127.0.0.1:5432")
        .close()
        .await;
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    url
}

/// `canvas serve` with short leases; the keys it printed when the store was fresh.
pub fn serve(data: &Path) -> (Server, Option<Value>) {
    serve_with_grace(data, 0)
}

/// `canvas serve` on the embedded store; SIGTERM lets running blocks finish for `grace` seconds.
pub fn serve_with_grace(data: &Path, grace: u64) -> (Server, Option<Value>) {
    let fresh = !data.join("canvas.db").exists();
    serve_on(data, None, fresh, grace)
}

/// `expect_keys`: the store is fresh, so the server prints its first key.
pub fn serve_on(
    data: &Path,
    database_url: Option<&str>,
    expect_keys: bool,
    grace: u64,
) -> (Server, Option<Value>) {
    launch(&Launch {
        data,
        database_url,
        expect_keys,
        grace,
        env: &[],
    })
}

/// `canvas serve` on a fresh embedded store with extra `CANVAS_*` settings.
pub fn serve_env(data: &Path, env: &[(&str, String)]) -> (Server, Option<Value>) {
    launch(&Launch {
        data,
        database_url: None,
        expect_keys: true,
        grace: 0,
        env,
    })
}

pub struct Launch<'a> {
    pub data: &'a Path,
    pub database_url: Option<&'a str>,
    /// The store is fresh, so the server prints its first key.
    pub expect_keys: bool,
    pub grace: u64,
    pub env: &'a [(&'a str, String)],
}

pub fn launch(l: &Launch<'_>) -> (Server, Option<Value>) {
    let (data, database_url, expect_keys, grace) = (l.data, l.database_url, l.expect_keys, l.grace);
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canvas"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CANVAS_DATA_DIR", data)
        .env("CANVAS_LEASE_SECS", "1")
        .env("CANVAS_HEARTBEAT_MS", "200")
        .env("CANVAS_SHUTDOWN_GRACE_SECS", grace.to_string())
        .env_remove("CANVAS_DATABASE_URL")
        .envs(l.env.iter().map(|(k, v)| (k, v)));
    if let Some(url) = database_url {
        // Nodes sharing a store must share the master key that hashes API secrets and seals credentials.
        cmd.env("CANVAS_DATABASE_URL", url)
            .env("CANVAS_MASTER_KEY", "ab".repeat(32));
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let keys = std::thread::spawn(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).ok()?;
        serde_json::from_str::<Value>(&line).ok()
    });
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // A server on an initialized store prints nothing until it exits: don't wait for it.
    let keys = if expect_keys {
        keys.join().unwrap()
    } else {
        None
    };
    (
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        },
        keys,
    )
}

/// A client of a running server, signed with one API key.
pub struct Api {
    pub base: String,
    pub consumer: String,
    pub secret: String,
    pub client: reqwest::Client,
}

impl Api {
    /// A client signed with the key a fresh server printed.
    pub fn new(base: &str, keys: &Value) -> Self {
        Self {
            base: base.to_string(),
            consumer: keys["consumer"].as_str().unwrap().into(),
            secret: keys["secretKey"].as_str().unwrap().into(),
            client: reqwest::Client::new(),
        }
    }

    /// A published template of `chain` (no applications); returns its id.
    pub async fn template(&self, chain: Value) -> Value {
        self.post(
            "/api/WorkflowTemplate",
            serde_json::json!({"name": "Chain", "state": "Published", "applications": [], "chain": chain}),
        )
        .await
    }

    /// A workflow made from `template`; returns its id.
    pub async fn workflow(&self, template: &Value) -> String {
        let w = self
            .post(
                "/api/Workflow",
                serde_json::json!({"workflowTemplateId": template, "applications": {}}),
            )
            .await;
        w.as_str().unwrap().to_string()
    }

    /// Creates a template and a workflow with `chain`, runs it; returns the run id.
    pub async fn run_new_workflow(&self, chain: Value) -> String {
        let template = self.template(chain).await;
        let workflow = self.workflow(&template).await;
        let ran = self
            .post(
                "/api/RunWorkflow",
                serde_json::json!({"workflowId": workflow}),
            )
            .await;
        assert_eq!(ran, "Workflow will now run");
        let runs = self
            .get(&format!("/api/WorkflowRuns?workflowId={workflow}"))
            .await;
        runs[0]["id"].as_str().unwrap().to_string()
    }

    /// Turns a workflow's schedule on (with `cron`) or off.
    pub async fn schedule(&self, workflow: &str, on: bool, cron: &str) {
        let frequency = serde_json::json!({ "cronSchedule": cron }).to_string();
        let r = self
            .post(
                "/api/WorkflowScheduler",
                serde_json::json!({"workflowId": workflow, "isScheduled": on, "scheduleFrequency": frequency}),
            )
            .await;
        assert!(
            r.as_str()
                .is_some_and(|m| m.starts_with("Workflow Scheduler")),
            "{r}"
        );
    }

    /// The fire times of a workflow's runs (all scheduled), oldest first, with their runs.
    pub async fn fires(&self, workflow: &str) -> Vec<(chrono::DateTime<chrono::Utc>, Value)> {
        let runs = self
            .get(&format!("/api/WorkflowRuns?workflowId={workflow}&top=1000"))
            .await;
        let mut fires: Vec<_> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["dateScheduled"].as_str().unwrap().parse().unwrap(),
                    r.clone(),
                )
            })
            .collect();
        fires.sort_by_key(|(f, _)| *f);
        fires
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Consumer", &self.consumer)
            .header("SecretKey", &self.secret);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let text = req.send().await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: {text}"))
    }
    pub async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// Polls a run until `done` says so; fails after `limit`.
pub async fn wait_until(
    api: &Api,
    run: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let r = api.get(&format!("/api/WorkflowRun?id={run}")).await;
        if done(&r) {
            return r;
        }
        assert!(started.elapsed() < limit, "waited too long: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
