//! Starting the canvas binary and preparing data through its API.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Clone)]
pub struct Keys {
    pub consumer: String,
    pub secret: String,
}

pub struct Server {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
    pub keys: Keys,
    binary: String,
    /// The server's data directory (deleted with the server).
    pub dir: tempfile::TempDir,
    /// Its PostgreSQL database, when not the embedded SQLite file.
    pub database_url: Option<String>,
}

pub struct Targets {
    pub one: String,
    pub list: String,
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A fresh PostgreSQL database for one bench run.
fn fresh_database(base: &str) -> anyhow::Result<String> {
    let name = "canvas_bench";
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        let status = Command::new("psql")
            .args([&format!("{base}/postgres"), "-q", "-c", &sql])
            .status()?;
        if !status.success() {
            bail!("psql failed: {sql}");
        }
    }
    Ok(format!("{base}/{name}"))
}

/// `canvas serve` on `addr` with its data in `dir`, its standard output piped.
fn spawn(
    binary: &str,
    (addr, dir): (SocketAddr, &Path),
    database_url: Option<&str>,
    env: &[(&str, String)],
) -> anyhow::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args(["serve", "--listen", &addr.to_string()])
        .env("CANVAS_DATA_DIR", dir)
        .env("CANVAS_LOG", "warn")
        // The bench's servers (FTP, PostgreSQL, MariaDB) are on loopback.
        .env("CANVAS_EGRESS__ALLOW", "[\"127.0.0.0/8\"]")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(url) = database_url {
        cmd.env("CANVAS_DATABASE_URL", url);
    }
    cmd.spawn().with_context(|| format!("starting {binary}"))
}

impl Server {
    pub async fn start(binary: &str, postgres: Option<&str>) -> anyhow::Result<Self> {
        Self::start_with(binary, postgres, &[]).await
    }

    pub async fn start_with(
        binary: &str,
        postgres: Option<&str>,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let addr = free_addr()?;
        let database_url = postgres.map(fresh_database).transpose()?;
        let mut child = spawn(binary, (addr, dir.path()), database_url.as_deref(), env)?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let first = lines.next_line().await?.context("no keys printed")?;
        let v: Value = serde_json::from_str(&first)?;
        let keys = Keys {
            consumer: v["consumer"].as_str().context("consumer")?.into(),
            secret: v["secretKey"].as_str().context("secretKey")?.into(),
        };
        wait_healthy(addr).await?;
        Ok(Self {
            child,
            addr,
            keys,
            binary: binary.to_string(),
            dir,
            database_url,
        })
    }

    /// Stops the server (SIGTERM, as an operator would) and starts it again
    /// on the same data with `env` added.
    pub async fn restart_with(&mut self, env: &[(&str, String)]) -> anyhow::Result<()> {
        let pid = self.child.id().context("pid")?;
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        self.child.wait().await?;
        let place = (self.addr, self.dir.path());
        self.child = spawn(&self.binary, place, self.database_url.as_deref(), env)?;
        wait_healthy(self.addr).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let text = crate::load::request(self.addr, "GET", path, &self.keys, None).await?;
        serde_json::from_str(&text).with_context(|| format!("{path}: {text}"))
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let text =
            crate::load::request(self.addr, "POST", path, &self.keys, Some(body.to_string()))
                .await?;
        serde_json::from_str(&text).with_context(|| format!("{path}: {text}"))
    }

    /// A published template, a File Hub registration and `n` workflows.
    pub async fn seed_workflows(&self, n: usize) -> anyhow::Result<Targets> {
        let template = self
            .post("/api/WorkflowTemplate", json!({"name": "Bench", "state": "Published", "applications": ["CMAF"],
                "chain": [{"blockName": "Send email", "variables": {"subject": "s", "fileName": "f"}}]}))
            .await?;
        let reg = self
            .post(
                "/api/RegApplication",
                json!({"applicationId": "9b6a04b3-c91f-4255-9033-6ac7b7a6f935"}),
            )
            .await?;
        let mut last = Value::Null;
        for i in 0..n {
            last = self
                .post("/api/Workflow", json!({"workflowTemplateId": template, "name": format!("Workflow {i}"), "applications": {"CMAF": reg}}))
                .await?;
        }
        let id = last.as_str().context("workflow id")?;
        Ok(Targets {
            one: format!("/api/Workflow?id={id}"),
            list: "/api/Workflows".into(),
        })
    }

    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        rss_mib(self.child.id().context("pid")?)
    }

    /// The most memory the server has held so far (VmHWM).
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        memory_mib(self.child.id().context("pid")?, "VmHWM:")
    }
}

pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    memory_mib(pid, "VmRSS:")
}

fn memory_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| field.to_string())?;
    Ok(kb / 1024.0)
}

async fn healthy(addr: SocketAddr) -> bool {
    let keys = Keys {
        consumer: String::new(),
        secret: String::new(),
    };
    crate::load::request(addr, "GET", "/healthz", &keys, None)
        .await
        .is_ok()
}

async fn wait_healthy(addr: SocketAddr) -> anyhow::Result<()> {
    let start = Instant::now();
    while !healthy(addr).await {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("server at {addr} not healthy after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Milliseconds from spawning `canvas serve` to the first 200 on /healthz, and RSS then.
pub async fn time_to_healthy(binary: &str, data: &Path) -> anyhow::Result<(f64, f64)> {
    let addr = free_addr()?;
    let start = Instant::now();
    let mut child: Child = Command::new(binary)
        .args(["serve", "--listen", &addr.to_string()])
        .env("CANVAS_DATA_DIR", data)
        .env("CANVAS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    while !healthy(addr).await {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            bail!("not healthy after 30 s");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = rss_mib(child.id())?;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    child.wait()?;
    Ok((ms, rss))
}
