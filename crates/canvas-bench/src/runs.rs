//! End-to-end run throughput and claim latency of the engine.

use crate::server::Server;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub struct RunFigures {
    pub runs_per_second: f64,
    /// Median of dateStarted − dateQueued on an idle queue, in ms.
    pub queued_to_started_ms: f64,
    /// Median of the first block's dateStarted − the run's dateStarted, in ms.
    pub claim_to_first_block_ms: f64,
}

const CHAIN: &str = r#"[
  {"blockName": "Make", "script": "const out = []; for (let i = 0; i < 10; i++) out.push({ i, name: 'n' + i }); return out;"},
  {"blockName": "Map", "script": "return input.map(r => ({ id: r.i, name: r.name.toUpperCase() }));"}
]"#;

async fn workflows(server: &Server, n: usize) -> anyhow::Result<Vec<Value>> {
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

fn millis(a: &Value, b: &Value) -> Option<f64> {
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok();
    Some((parse(b)? - parse(a)?).num_microseconds()? as f64 / 1000.0)
}

async fn wait_all(server: &Server, workflows: &[Value], per_workflow: usize) -> anyhow::Result<()> {
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

pub async fn measure(server: &Server, total: usize) -> anyhow::Result<RunFigures> {
    let flows = workflows(server, 50).await?;
    // Latency: one run at a time on an idle queue.
    let mut queued_to_started = Vec::new();
    let mut claim_to_block = Vec::new();
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
    // Throughput: `total` runs spread over the workflows, queued as fast as the API takes them.
    let per_workflow = total / flows.len();
    let start = Instant::now();
    for _ in 0..per_workflow {
        for w in &flows {
            server
                .post("/api/RunWorkflow", json!({"workflowId": w}))
                .await?;
        }
    }
    for w in &flows {
        let path = format!(
            "/api/WorkflowRuns?workflowId={}&top=1000",
            w.as_str().unwrap_or_default()
        );
        loop {
            let runs = server.get(&path).await?;
            if runs
                .as_array()
                .is_some_and(|r| r.iter().all(|x| x["status"] == "Succeeded"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(RunFigures {
        runs_per_second: (per_workflow * flows.len()) as f64 / elapsed,
        queued_to_started_ms: crate::median(queued_to_started),
        claim_to_first_block_ms: crate::median(claim_to_block),
    })
}
