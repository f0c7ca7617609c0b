//! Records per second through blocks, and the server's peak memory, for a
//! large dataset: a script generates the records (streaming), then the
//! native `Map fields` block and a streaming script map each reshape them.

use crate::server::Server;
use serde_json::{Value, json};
use std::time::Duration;

pub struct RecordFigures {
    pub generate_per_second: f64,
    pub map_block_per_second: f64,
    pub script_map_per_second: f64,
    pub peak_rss_mib: f64,
    pub dataset_mib: f64,
}

fn chain(records: usize) -> Value {
    json!([
        {"blockName": "Generate", "script": format!(
            "return (async function* () {{ for (let i = 0; i < {records}; i++) yield {{ id: i, name: 'customer ' + i, email: 'c' + i + '@example.com', active: i % 3 !== 0, city: 'Oslo' }}; }})();")},
        {"blockName": "Map fields", "variables": {"fields": {"customerId": "id", "displayName": "name", "mail": "email"}}},
        {"blockName": "Script map", "script":
            "return (async function* () { for await (const r of inputStream) yield { id: r.customerId, name: r.displayName.toUpperCase() }; })();"},
    ])
}

pub fn seconds(block: &Value) -> anyhow::Result<f64> {
    let at = |k: &str| {
        block[k]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(|| anyhow::anyhow!("{k} missing: {block}"))
    };
    Ok((at("dateFinished")? - at("dateStarted")?)
        .num_microseconds()
        .unwrap_or(1) as f64
        / 1e6)
}

/// One run of `records` records through the three blocks on a fresh server.
pub async fn measure(
    server: &Server,
    records: usize,
    data_dir: &std::path::Path,
) -> anyhow::Result<RecordFigures> {
    let template = server
        .post("/api/WorkflowTemplate", json!({"name": "Bench records", "state": "Published", "applications": [], "chain": chain(records)}))
        .await?;
    let workflow = server
        .post(
            "/api/Workflow",
            json!({"workflowTemplateId": template, "applications": {}}),
        )
        .await?;
    server
        .post("/api/RunWorkflow", json!({"workflowId": workflow}))
        .await?;
    let runs_path = format!(
        "/api/WorkflowRuns?workflowId={}",
        workflow.as_str().unwrap_or_default()
    );
    let run_id = server.get(&runs_path).await?[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let run = loop {
        let run = server.get(&format!("/api/WorkflowRun?id={run_id}")).await?;
        if run["status"] != "Queued" && run["status"] != "Running" {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    anyhow::ensure!(run["status"] == "Succeeded", "the run failed: {run}");
    let per_second =
        |i: usize| -> anyhow::Result<f64> { Ok(records as f64 / seconds(&run["blocks"][i])?) };
    Ok(RecordFigures {
        generate_per_second: per_second(0)?,
        map_block_per_second: per_second(1)?,
        script_map_per_second: per_second(2)?,
        peak_rss_mib: server.peak_rss_mib()?,
        dataset_mib: dir_size(&data_dir.join("blobs/runs").join(&run_id)) as f64 / (1 << 20) as f64,
    })
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
