//! The console's pages and `GET /api/Runs` with a long history behind them:
//! each page's latency (p50/p99, one request after another on loopback, so
//! nearly all of it is server time) with a short history and again with
//! `--runs` finished runs written into the store.

use crate::load::{connect, percentile_ms, sample};
use crate::median;
use crate::server::Server;
use anyhow::Context;
use bytes::Bytes;
use canvas_store::{HistorySpec, Store};
use http_body_util::Full;
use hyper::Request;
use serde_json::Value;
use std::time::Instant;
use uuid::Uuid;

pub struct Plan {
    pub runs: usize,
    pub samples: usize,
    pub repeat: usize,
}

/// Signs in to the console with the server's key; the session cookie.
async fn sign_in(server: &Server) -> anyhow::Result<String> {
    let mut sender = connect(server.addr).await?;
    let form = format!(
        "consumer={}&secret={}",
        server.keys.consumer, server.keys.secret
    );
    let request = Request::post("/console/login")
        .header("host", "127.0.0.1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))?;
    let response = sender.send_request(request).await?;
    let cookie = response
        .headers()
        .get("set-cookie")
        .context("no session cookie")?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_string())
}

/// The bench account's workflows, its account and organization.
async fn workflows(server: &Server) -> anyhow::Result<(Vec<Uuid>, Uuid, Uuid)> {
    let list = server.get("/api/Workflows").await?;
    let list = list.as_array().context("workflows")?;
    let id =
        |v: &Value, k: &str| -> anyhow::Result<Uuid> { Ok(v[k].as_str().context("id")?.parse()?) };
    let ids = list.iter().map(|w| id(w, "id")).collect::<Result<_, _>>()?;
    let first = list.first().context("no workflow")?;
    Ok((ids, id(first, "accountId")?, id(first, "organizationId")?))
}

async fn open_store(server: &Server) -> anyhow::Result<Store> {
    Ok(match &server.database_url {
        Some(url) => Store::open_postgres(url, None).await?,
        None => Store::open_sqlite(&server.dir.path().join("canvas.db")).await?,
    })
}

/// The pages measured: (label, path, signed in with the cookie or the key).
async fn pages(
    server: &Server,
    workflow: Uuid,
    middle: &str,
) -> anyhow::Result<Vec<(String, String, bool)>> {
    let old = server
        .get(&format!("/api/Runs?until={middle}&top=1"))
        .await?;
    let old_run = old["runs"][0]["id"]
        .as_str()
        .context("a run in the middle")?;
    Ok(vec![
        ("Runs page, newest 50".into(), "/console/runs".into(), true),
        (
            "Runs page, status=Failed".into(),
            "/console/runs?status=Failed".into(),
            true,
        ),
        (
            "Runs page, status=Cancelled (1 in 1,000)".into(),
            "/console/runs?status=Cancelled".into(),
            true,
        ),
        (
            "Runs page, one workflow's failures".into(),
            format!("/console/runs?workflowId={workflow}&status=Failed"),
            true,
        ),
        (
            "Runs page, window=24h".into(),
            "/console/runs?window=24h".into(),
            true,
        ),
        (
            "Runs page, half the history back (until=)".into(),
            format!("/console/runs?until={middle}"),
            true,
        ),
        (
            "Run page (a run from the middle)".into(),
            format!("/console/runs/{old_run}"),
            true,
        ),
        (
            "Workflow page (health, schedule)".into(),
            format!("/console/workflows/{workflow}"),
            true,
        ),
        (
            "Account page (20 workflows' health)".into(),
            "/console/account".into(),
            true,
        ),
        (
            "GET /api/Runs?status=Failed".into(),
            "/api/Runs?status=Failed".into(),
            false,
        ),
    ])
}

/// Median p50 and p99 (ms) of `repeat` samples of `path`.
async fn measure(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
    plan: &Plan,
) -> anyhow::Result<(f64, f64)> {
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for _ in 0..plan.repeat {
        let mut l = sample(server.addr, path, headers, (10, plan.samples)).await?;
        l.sort_unstable();
        p50.push(percentile_ms(&l, 0.5));
        p99.push(percentile_ms(&l, 0.99));
    }
    Ok((median(p50), median(p99)))
}

async fn measure_all(
    server: &Server,
    pages: &[(String, String, bool)],
    cookie: &str,
    plan: &Plan,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let keys = [
        ("consumer", server.keys.consumer.as_str()),
        ("secretkey", server.keys.secret.as_str()),
    ];
    let session = [("cookie", cookie)];
    let mut figures = Vec::new();
    for (_, path, console) in pages {
        let headers: &[(&str, &str)] = if *console { &session } else { &keys };
        figures.push(measure(server, path, headers, plan).await?);
    }
    Ok(figures)
}

/// One backend: a short history (1,000 runs) measured, then `plan.runs`.
pub async fn bench(
    binary: &str,
    postgres: Option<&str>,
    label: &str,
    plan: &Plan,
) -> anyhow::Result<()> {
    let server = Server::start(binary, postgres).await?;
    server.seed_workflows(20).await?;
    let (ids, account, organization) = workflows(&server).await?;
    let store = open_store(&server).await?;
    let now = chrono::Utc::now() - chrono::Duration::minutes(1);
    let spacing = chrono::Duration::seconds(2);
    let mut spec = HistorySpec {
        organization,
        account,
        workflows: ids.clone(),
        runs: 1000,
        newest: now,
        spacing,
    };
    store.fill_history(&spec).await?;
    let cookie = sign_in(&server).await?;
    let middle = |runs: usize| {
        (now - spacing * (runs / 2) as i32).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let short = pages(&server, ids[0], &middle(1000)).await?;
    let before = measure_all(&server, &short, &cookie, plan).await?;

    let started = Instant::now();
    spec.newest = now - spacing * 1000;
    spec.runs = plan.runs - 1000;
    store.fill_history(&spec).await?;
    let fill = started.elapsed().as_secs_f64();
    let long = pages(&server, ids[0], &middle(plan.runs)).await?;
    let after = measure_all(&server, &long, &cookie, plan).await?;
    let size = plan.runs;
    println!(
        "\n{label}: {size} finished runs written in {fill:.0} s ({:.0} runs/s)\n",
        (size - 1000) as f64 / fill
    );
    println!(
        "| page | p50 ms, 1,000 runs | p99 ms, 1,000 runs | p50 ms, {size} runs | p99 ms, {size} runs |"
    );
    println!("|---|---|---|---|---|");
    for (i, (name, _, _)) in long.iter().enumerate() {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            before[i].0, before[i].1, after[i].0, after[i].1
        );
    }
    Ok(())
}
