//! The engine's and the API's hot paths with a long history behind them,
//! and retention deleting that history while the API serves: each figure
//! on a short history (one page of runs per workflow), then with `--runs`
//! finished runs in the store,
//! then `GET /api/Workflow` while the node deletes them.

use crate::load::{p50_p99, percentile_ms, sample};
use crate::runs::{millis, wait_all, workflows};
use crate::server::Server;
use anyhow::Context;
use canvas_store::{HistorySpec, Store};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub struct Plan {
    pub runs: usize,
    /// Requests (and runs) per figure.
    pub samples: usize,
    /// The longest the retention phase is watched.
    pub retention_limit: Duration,
}

/// Workflows the history is spread over (so 50,000 runs each at a million).
const WORKFLOWS: usize = 20;
/// Runs per page of `WorkflowRuns`; the deep page is the 1,000th.
const PAGE: usize = 50;
/// The short history: one full page for each workflow.
const SHORT: usize = WORKFLOWS * PAGE;
const SPACING: chrono::Duration = chrono::Duration::seconds(2);

/// (p50, p99) in ms of each measured path, in `LABELS`' order.
type Figures = Vec<(f64, f64)>;

const LABELS: [&str; 6] = [
    "POST /api/RunWorkflow (idle queue)",
    "queued → started (claim, idle queue)",
    "GET /api/WorkflowRuns, first page (top=50)",
    "GET /api/WorkflowRuns, 1,000th page (skip=49,950)",
    "GET /api/Runs?workflowId=, 1,000th page (after=)",
    "GET /api/Workflow?id=",
];

/// The path of a workflow's 1,000th page of `GET /api/Runs` (keyset paged),
/// found by following `next` — or its last page, when it has fewer.
async fn keyset_page(server: &Server, workflow: &str) -> anyhow::Result<String> {
    let first = format!("/api/Runs?workflowId={workflow}&top={PAGE}");
    let mut path = first.clone();
    for _ in 1..1000 {
        let page = server.get(&path).await?;
        match page["next"].as_str() {
            Some(next) => path = format!("{first}&after={next}"),
            None => break,
        }
    }
    Ok(path)
}

/// RunWorkflow's answer time and the run's queued → started, one run at a
/// time, each waited for before the next.
async fn one_at_a_time(server: &Server, flows: &[Value], n: usize) -> anyhow::Result<Figures> {
    let (mut posted, mut claimed) = (Vec::new(), Vec::new());
    for i in 0..n {
        let w = &flows[i % flows.len()];
        let start = Instant::now();
        server
            .post("/api/RunWorkflow", json!({"workflowId": w}))
            .await?;
        posted.push(start.elapsed().as_secs_f64() * 1000.0);
        wait_all(server, std::slice::from_ref(w), 1).await?;
        let id = w.as_str().unwrap_or_default();
        let newest = server
            .get(&format!("/api/WorkflowRuns?workflowId={id}&top=1"))
            .await?;
        claimed.extend(millis(&newest[0]["dateQueued"], &newest[0]["dateStarted"]));
    }
    Ok(vec![p50_p99(posted), p50_p99(claimed)])
}

async fn get_quantiles(server: &Server, path: &str, n: usize) -> anyhow::Result<(f64, f64)> {
    let keys = [
        ("consumer", server.keys.consumer.as_str()),
        ("secretkey", server.keys.secret.as_str()),
    ];
    let mut l = sample(server.addr, path, &keys, (10, n)).await?;
    l.sort_unstable();
    Ok((percentile_ms(&l, 0.5), percentile_ms(&l, 0.99)))
}

async fn measure(server: &Server, flows: &[Value], n: usize) -> anyhow::Result<Figures> {
    let mut figures = one_at_a_time(server, flows, n).await?;
    let id = flows[0].as_str().unwrap_or_default();
    let deep = PAGE * 999;
    for path in [
        format!("/api/WorkflowRuns?workflowId={id}&top={PAGE}"),
        format!("/api/WorkflowRuns?workflowId={id}&top={PAGE}&skip={deep}"),
        keyset_page(server, id).await?,
        format!("/api/Workflow?id={id}"),
    ] {
        figures.push(get_quantiles(server, &path, n).await?);
    }
    Ok(figures)
}

/// The bench account's account and organization ids.
async fn owner(server: &Server, workflow: &Value) -> anyhow::Result<(Uuid, Uuid)> {
    let id = workflow.as_str().context("workflow id")?;
    let w = server.get(&format!("/api/Workflow?id={id}")).await?;
    let uuid = |k: &str| -> anyhow::Result<Uuid> { Ok(w[k].as_str().context("id")?.parse()?) };
    Ok((uuid("accountId")?, uuid("organizationId")?))
}

/// Writes history runs `from..to` (run 0 the newest, queued two days ago,
/// each next one 2 s before), all finished.
async fn fill(server: &Server, flows: &[Value], (from, to): (usize, usize)) -> anyhow::Result<f64> {
    let (account, organization) = owner(server, &flows[0]).await?;
    let store = match &server.database_url {
        Some(url) => Store::open_postgres(url, None).await?,
        None => Store::open_sqlite(&server.dir.path().join("canvas.db")).await?,
    };
    let ids = flows
        .iter()
        .map(|w| Ok(w.as_str().context("id")?.parse()?))
        .collect::<anyhow::Result<_>>()?;
    let spec = HistorySpec {
        organization,
        account,
        workflows: ids,
        runs: to - from,
        newest: chrono::Utc::now() - chrono::Duration::days(2) - SPACING * from as i32,
        spacing: SPACING,
    };
    let started = Instant::now();
    store.fill_history(&spec).await?;
    Ok(started.elapsed().as_secs_f64())
}

/// The runs in the store now, through the database's own shell.
fn count_runs(server: &Server) -> anyhow::Result<u64> {
    let sql = "SELECT COUNT(*) FROM runs";
    let out = match server.database_url.as_deref() {
        Some(url) => std::process::Command::new("psql")
            .args([url, "-At", "-c", sql])
            .output()?,
        None => std::process::Command::new("sqlite3")
            .arg("-readonly")
            .arg(server.dir.path().join("canvas.db"))
            .arg(sql)
            .output()?,
    };
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// What retention did, watched from outside.
struct Sweep {
    deleted: u64,
    seconds: f64,
    /// `GET /api/Workflow` meanwhile: p50, p99, max in ms, and how many.
    get: (f64, f64, f64, usize),
}

/// Restarts the node with a retention of one day, so the whole history is
/// expired, and asks `GET /api/Workflow` one request after another until
/// only `keep` runs are left (or `limit` passes).
async fn sweep(
    server: &mut Server,
    flows: &[Value],
    keep: u64,
    limit: Duration,
) -> anyhow::Result<Sweep> {
    let before = count_runs(server)?;
    server
        .restart_with(&[("CANVAS_RETENTION_DAYS", "1".to_string())])
        .await?;
    let started = Instant::now();
    let path = format!("/api/Workflow?id={}", flows[0].as_str().unwrap_or_default());
    let keys = [
        ("consumer", server.keys.consumer.as_str()),
        ("secretkey", server.keys.secret.as_str()),
    ];
    let mut latencies = Vec::new();
    let mut left = before;
    while left > keep && started.elapsed() < limit {
        latencies.extend(sample(server.addr, &path, &keys, (0, 500)).await?);
        left = count_runs(server)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let max = latencies.last().copied().unwrap_or(0) as f64 / 1000.0;
    Ok(Sweep {
        deleted: before - left,
        seconds,
        get: (
            percentile_ms(&latencies, 0.5),
            percentile_ms(&latencies, 0.99),
            max,
            latencies.len(),
        ),
    })
}

/// One backend: the figures on a short history and with `plan.runs`
/// behind them, then retention deleting the history.
pub async fn bench(
    binary: &str,
    postgres: Option<&str>,
    label: &str,
    plan: &Plan,
) -> anyhow::Result<()> {
    let env = [("CANVAS_LOG", "warn".to_string())];
    let mut server = Server::start_with(binary, postgres, &env).await?;
    let flows = workflows(&server, WORKFLOWS).await?;
    fill(&server, &flows, (0, SHORT)).await?;
    let short = measure(&server, &flows, plan.samples).await?;
    let filled = fill(&server, &flows, (SHORT, plan.runs.max(SHORT))).await?;
    let full = measure(&server, &flows, plan.samples).await?;
    let size = plan.runs;
    println!(
        "\n{label}: {size} finished runs ({} a workflow) written in {filled:.0} s; {} samples a figure\n",
        size / WORKFLOWS,
        plan.samples
    );
    println!(
        "| measure | p50 ms, {SHORT} runs | p99 ms, {SHORT} runs | p50 ms, {size} runs | p99 ms, {size} runs |"
    );
    println!("|---|---|---|---|---|");
    for (i, name) in LABELS.iter().enumerate() {
        let (a, b) = (short[i], full[i]);
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            a.0, a.1, b.0, b.1
        );
    }
    let keep = (2 * plan.samples) as u64;
    let s = sweep(&mut server, &flows, keep, plan.retention_limit).await?;
    let (p50, p99, max, n) = s.get;
    println!(
        "\n{label} retention: {} runs deleted in {:.0} s ({:.0} runs/s){}; GET /api/Workflow meanwhile: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.1} ms ({n} requests)",
        s.deleted,
        s.seconds,
        s.deleted as f64 / s.seconds,
        if s.deleted < size as u64 {
            " — stopped at the limit"
        } else {
            ""
        },
    );
    Ok(())
}
