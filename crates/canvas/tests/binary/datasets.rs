//! Large datasets through a real server: memory stays bounded by the batch
//! size, not the record count.

use crate::common::{Api, serve, wait_until};
use serde_json::json;
use std::time::Duration;

/// The server process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

const RECORDS: usize = 200_000;

#[tokio::test]
async fn two_hundred_thousand_records_pass_three_blocks_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (server, keys) = serve(dir.path());
    let api = Api::new(&server.base, &keys.unwrap());
    let chain = json!([
        {"blockName": "Generate", "script": format!(
            "return (async function* () {{ for (let i = 0; i < {RECORDS}; i++) yield {{ id: i, name: 'n' + i, payload: 'x'.repeat(400) }}; }})();")},
        {"blockName": "Upper", "script":
            "return (async function* () { for await (const r of inputStream) yield { id: r.id, name: r.name.toUpperCase(), payload: r.payload }; })();"},
        {"blockName": "Map fields", "variables": {"fields": {"key": "id", "label": "name", "payload": "payload"}}},
    ]);
    let run = api.run_new_workflow(chain).await;

    let done = wait_until(&api, &run, Duration::from_secs(240), |r| {
        !matches!(r["status"].as_str(), Some("Queued" | "Running"))
    })
    .await;

    assert_eq!(done["status"], "Succeeded", "{done}");
    for block in done["blocks"].as_array().unwrap() {
        assert_eq!(block["recordsOut"], RECORDS, "{block}");
    }
    assert_eq!(done["blocks"][2]["recordsIn"], RECORDS);
    let last = api
        .get(&format!(
            "/api/WorkflowRunOutput?id={run}&block=3&skip={}&top=5",
            RECORDS - 1
        ))
        .await;
    assert_eq!(
        last,
        json!([{"key": RECORDS - 1, "label": format!("N{}", RECORDS - 1), "payload": "x".repeat(400)}])
    );
    let stored: u64 = std::fs::read_dir(dir.path().join("blobs/runs").join(&run))
        .unwrap()
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    let peak = peak_rss_mib(server.child.id());
    assert!(
        stored > 250 << 20,
        "three datasets of about 90 MiB each: {stored} bytes"
    );
    assert!(
        peak < 80,
        "peak memory {peak} MiB with {} MiB of datasets",
        stored >> 20
    );
}
