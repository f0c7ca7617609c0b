//! End-to-end run throughput and claim latency of the engine.

use crate::server::Server;
use serde_json::{Value, json};
use std::time::Duration;

pub struct RunFigures {
    pub runs_per_second: f64,
    /// Median of dateStarted − dateQueued on an idle queue, in ms.
    pub queued_to_started_ms: f64,
    /// Median of the first block's dateStarted − the run's dateStarted, in ms.
    pub claim_to_first_block_ms: f64,
    /// PostgreSQL only: what the throughput phase cost the WAL, per run.
    pub wal: Option<WalPerRun>,
    /// The store's write statements and transactions per completed run
    /// (`canvas_store_writes_total`), either backend.
    pub writes_per_run: f64,
    /// The commits those writes took (`canvas_store_commits_total`): fewer
    /// than the writes where several share one (SQLite's group commit).
    pub commits_per_run: f64,
    /// What the store grew by per run over the throughput phase — rows and
    /// indexes (PostgreSQL: tables with their indexes and dead versions),
    /// outputs kept with their records excluded — in bytes.
    pub store_bytes_per_run: f64,
    /// Queued → finished (p50, p99) in ms with runs queued at an even pace
    /// of half the throughput measured.
    pub finished_at_half_load_ms: (f64, f64),
    /// The server's resident memory right after the throughput phase.
    pub rss_mib: f64,
    /// A script block's own time on an idle queue (10 records), in ms:
    /// the engine's measure, the run's bookkeeping excluded.
    pub script_block_ms: f64,
}

/// The server's Prometheus sample `name` (with its labels) now; 0 when absent.
async fn metric(server: &Server, name: &str) -> anyhow::Result<f64> {
    let keys = &server.keys;
    let text = crate::load::request(server.addr, "GET", "/metrics", keys, None).await?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or("0");
    Ok(value.parse()?)
}

/// The server's `canvas_store_writes_total` now.
async fn store_writes(server: &Server) -> anyhow::Result<f64> {
    metric(server, "canvas_store_writes_total").await
}

/// The server's `canvas_store_commits_total` now.
async fn store_commits(server: &Server) -> anyhow::Result<f64> {
    metric(server, "canvas_store_commits_total").await
}

/// (seconds, tries) script blocks have spent so far, by the engine's own
/// timing of each try (input opened → output finished, sandbox included).
async fn script_block_time(server: &Server) -> anyhow::Result<(f64, f64)> {
    let sum = metric(
        server,
        r#"canvas_block_duration_seconds_sum{kind="script"}"#,
    )
    .await?;
    let count = metric(
        server,
        r#"canvas_block_duration_seconds_count{kind="script"}"#,
    )
    .await?;
    Ok((sum, count))
}

/// The WAL PostgreSQL wrote during the throughput phase, per completed run
/// (`pg_stat_wal`, cluster-wide: the bench's database is the only one busy).
/// `syncs` counts WAL flushes to disk — each durable commit not grouped
/// with another is one; `records` and `bytes` what the writes cost.
pub struct WalPerRun {
    pub syncs: f64,
    pub records: f64,
    pub bytes: f64,
}

/// `pg_stat_wal`'s (wal_sync, wal_records, wal_bytes) now.
fn wal_counters(database_url: &str) -> anyhow::Result<[f64; 3]> {
    let sql = "SELECT wal_sync, wal_records, wal_bytes FROM pg_stat_wal";
    let out = std::process::Command::new("psql")
        .args([database_url, "-At", "-F", " ", "-c", sql])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let v: Vec<f64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(v.len() == 3, "pg_stat_wal: {text}");
    Ok([v[0], v[1], v[2]])
}

/// The store's size now, outputs kept in it excluded: SQLite's b-tree pages
/// (`dbstat`, through the `sqlite3` shell), PostgreSQL's tables with their
/// indexes (`psql`).
fn store_bytes(server: &Server) -> anyhow::Result<f64> {
    let outputs = "(SELECT COALESCE(SUM(LENGTH(output)), 0) FROM run_blocks)";
    let (program, args) = match server.database_url.as_deref() {
        Some(url) => (
            "psql",
            vec![
                url.to_string(),
                "-At".into(),
                "-c".into(),
                format!(
                    "SELECT SUM(pg_total_relation_size(oid)) - {outputs} FROM pg_class \
                     WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                ),
            ],
        ),
        None => (
            "sqlite3",
            vec![
                "-readonly".into(),
                server.dir.path().join("canvas.db").display().to_string(),
                format!("SELECT (SELECT SUM(pgsize) FROM dbstat) - {outputs}"),
            ],
        ),
    };
    let out = std::process::Command::new(program).args(&args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

const CHAIN: &str = r#"[
  {"blockName": "Make", "script": "const out = []; for (let i = 0; i < 10; i++) out.push({ i, name: 'n' + i }); return out;"},
  {"blockName": "Map", "script": "return input.map(r => ({ id: r.i, name: r.name.toUpperCase() }));"}
]"#;

pub(crate) async fn workflows(server: &Server, n: usize) -> anyhow::Result<Vec<Value>> {
    let chain: Value = serde_json::from_str(CHAIN)?;
    let template = server
        .post(
            "/api/WorkflowTemplate",
            json!({"name": "Bench runs", "state": "Published", "applications": [], "chain": chain}),
        )
        .await?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            server
                .post(
                    "/api/Workflow",
                    json!({"workflowTemplateId": template, "applications": {}}),
                )
                .await?,
        );
    }
    Ok(out)
}

pub(crate) fn millis(a: &Value, b: &Value) -> Option<f64> {
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok();
    Some((parse(b)? - parse(a)?).num_microseconds()? as f64 / 1000.0)
}

pub(crate) async fn wait_all(
    server: &Server,
    workflows: &[Value],
    per_workflow: usize,
) -> anyhow::Result<()> {
    for w in workflows {
        let path = format!(
            "/api/WorkflowRuns?workflowId={}&top={per_workflow}",
            w.as_str().unwrap_or_default()
        );
        loop {
            let runs = server.get(&path).await?;
            let runs = runs.as_array().cloned().unwrap_or_default();
            if runs.len() == per_workflow
                && runs
                    .iter()
                    .all(|r| r["status"] != "Queued" && r["status"] != "Running")
            {
                anyhow::ensure!(
                    runs.iter().all(|r| r["status"] == "Succeeded"),
                    "a run failed: {runs:?}"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Queued → finished of runs queued at an even pace of `rate` a second
/// (each `RunWorkflow` sent on its tick, not waiting for the one before), the
/// workflows taking turns; (p50, p99) in ms, from the runs' own timestamps.
async fn latency_at(server: &Server, flows: &[Value], rate: f64) -> anyhow::Result<(f64, f64)> {
    let count = ((rate * 5.0) as usize).clamp(100, 2000);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut posts = Vec::new();
    for i in 0..count {
        ticker.tick().await;
        let body = json!({"workflowId": flows[i % flows.len()]}).to_string();
        let (addr, keys) = (server.addr, server.keys.clone());
        posts.push(tokio::spawn(async move {
            crate::load::request(addr, "POST", "/api/RunWorkflow", &keys, Some(body)).await
        }));
    }
    for p in posts {
        p.await??;
    }
    let mut finished = Vec::new();
    for (k, w) in flows.iter().enumerate() {
        let mine = (count + flows.len() - 1 - k) / flows.len();
        wait_all(server, std::slice::from_ref(w), mine).await?;
        let path = format!(
            "/api/WorkflowRuns?workflowId={}&top={mine}",
            w.as_str().unwrap_or_default()
        );
        for r in server.get(&path).await?.as_array().into_iter().flatten() {
            finished.extend(millis(&r["dateQueued"], &r["dateFinished"]));
        }
    }
    Ok(crate::load::p50_p99(finished))
}

pub async fn measure(server: &Server, total: usize) -> anyhow::Result<RunFigures> {
    let flows = workflows(server, 50).await?;
    // Latency: one run at a time on an idle queue.
    let mut queued_to_started = Vec::new();
    let mut claim_to_block = Vec::new();
    let blocks_before = script_block_time(server).await?;
    for w in flows.iter().take(20) {
        server
            .post("/api/RunWorkflow", json!({"workflowId": w}))
            .await?;
        wait_all(server, std::slice::from_ref(w), 1).await?;
        let runs = server
            .get(&format!(
                "/api/WorkflowRuns?workflowId={}&top=1",
                w.as_str().unwrap_or_default()
            ))
            .await?;
        let run = server
            .get(&format!(
                "/api/WorkflowRun?id={}",
                runs[0]["id"].as_str().unwrap_or_default()
            ))
            .await?;
        queued_to_started.extend(millis(&run["dateQueued"], &run["dateStarted"]));
        claim_to_block.extend(millis(
            &run["dateStarted"],
            &run["blocks"][0]["dateStarted"],
        ));
    }
    let blocks_after = script_block_time(server).await?;
    let script_block_ms =
        (blocks_after.0 - blocks_before.0) * 1000.0 / (blocks_after.1 - blocks_before.1).max(1.0);
    // Throughput: `total` runs spread over the workflows, queued by 8 concurrent clients;
    // measured from the runs' own timestamps (first start to last finish), so
    // the client's polling does not count.
    let per_workflow = total / flows.len();
    let writes_before = store_writes(server).await?;
    let commits_before = store_commits(server).await?;
    let bytes_before = store_bytes(server)?;
    let wal_before = server
        .database_url
        .as_deref()
        .map(wal_counters)
        .transpose()?;
    let posts: Vec<_> = (0..8)
        .map(|c| {
            let mine: Vec<Value> = flows.iter().skip(c).step_by(8).cloned().collect();
            let (addr, keys) = (
                server.addr,
                crate::server::Keys {
                    consumer: server.keys.consumer.clone(),
                    secret: server.keys.secret.clone(),
                },
            );
            tokio::spawn(async move {
                for _ in 0..per_workflow {
                    for w in &mine {
                        crate::load::request(
                            addr,
                            "POST",
                            "/api/RunWorkflow",
                            &keys,
                            Some(json!({"workflowId": w}).to_string()),
                        )
                        .await?;
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for p in posts {
        p.await??;
    }
    let (mut first, mut last) = (
        None::<chrono::DateTime<chrono::FixedOffset>>,
        None::<chrono::DateTime<chrono::FixedOffset>>,
    );
    for w in &flows {
        let path = format!(
            "/api/WorkflowRuns?workflowId={}&top=1000",
            w.as_str().unwrap_or_default()
        );
        let runs = loop {
            let runs = server.get(&path).await?;
            let list = runs.as_array().cloned().unwrap_or_default();
            if list.iter().all(|x| x["status"] == "Succeeded") {
                break list;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // The newest `per_workflow` runs are this phase's.
        for r in runs.iter().take(per_workflow) {
            let parse = |v: &Value| {
                v.as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            };
            if let (Some(s), Some(f)) = (parse(&r["dateStarted"]), parse(&r["dateFinished"])) {
                first = Some(first.map_or(s, |x| x.min(s)));
                last = Some(last.map_or(f, |x| x.max(f)));
            }
        }
    }
    let span = match (first, last) {
        (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(1) as f64 / 1e6,
        _ => anyhow::bail!("no run timestamps"),
    };
    let completed = (per_workflow * flows.len()) as f64;
    let rss_mib = server.rss_mib()?;
    let writes_per_run = (store_writes(server).await? - writes_before) / completed;
    let commits_per_run = (store_commits(server).await? - commits_before) / completed;
    let store_bytes_per_run = (store_bytes(server)? - bytes_before) / completed;
    let wal = match (wal_before, server.database_url.as_deref()) {
        (Some(before), Some(url)) => {
            // Backends report their WAL statistics at most once a second.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let after = wal_counters(url)?;
            let per = |i: usize| (after[i] - before[i]) / completed;
            Some(WalPerRun {
                syncs: per(0),
                records: per(1),
                bytes: per(2),
            })
        }
        _ => None,
    };
    let runs_per_second = (per_workflow * flows.len()) as f64 / span;
    let finished_at_half_load_ms = latency_at(server, &flows, runs_per_second / 2.0).await?;
    Ok(RunFigures {
        finished_at_half_load_ms,
        wal,
        writes_per_run,
        commits_per_run,
        store_bytes_per_run,
        rss_mib,
        script_block_ms,
        runs_per_second,
        queued_to_started_ms: crate::median(queued_to_started),
        claim_to_first_block_ms: crate::median(claim_to_block),
    })
}
