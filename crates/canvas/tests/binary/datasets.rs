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
    let stored: u64 = std::fs::read_dir(dir.path().join("blobs/runs").join(&run).join("attempt-1"))
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

/// An S3-compatible server on loopback (moto, installed by `.ci/run`), killed on drop.
struct S3Server {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_s3() -> S3Server {
    let port = crate::common::free_port();
    let child = std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server (pip install 'moto[server]'; .ci/run installs it)");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test]
async fn block_outputs_can_live_in_an_s3_compatible_store() {
    let s3 = start_s3();
    let http = reqwest::Client::new();
    let bucket = format!("{}/canvas-runs", s3.endpoint);
    assert!(
        http.put(&bucket)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CANVAS_BLOBS__URL", "s3://canvas-runs/tenant-a".to_string()),
        ("CANVAS_BLOBS__ENDPOINT", s3.endpoint.clone()),
        ("CANVAS_BLOBS__REGION", "us-east-1".to_string()),
        ("CANVAS_BLOBS__ACCESS_KEY_ID", "canvas".to_string()),
        (
            "CANVAS_BLOBS__SECRET_ACCESS_KEY",
            "s3-secret-never-logged".to_string(),
        ),
        ("CANVAS_BLOBS__ALLOW_HTTP", "true".to_string()),
    ];
    let (server, keys) = crate::common::serve_env(dir.path(), &env);
    let api = Api::new(&server.base, &keys.unwrap());
    // About 8 MiB: more than one 5 MiB part, so the output goes up as a multipart upload.
    let chain = json!([
        {"blockName": "Generate", "script":
            "return (async function* () { for (let i = 0; i < 20000; i++) yield { id: i, payload: 'y'.repeat(400) }; })();"},
        {"blockName": "Map fields", "variables": {"fields": {"key": "id"}}},
    ]);

    let run = api.run_new_workflow(chain).await;
    let done = wait_until(&api, &run, Duration::from_secs(60), |r| {
        !matches!(r["status"].as_str(), Some("Queued" | "Running"))
    })
    .await;

    assert_eq!(done["status"], "Succeeded", "{done}");
    let last = api
        .get(&format!(
            "/api/WorkflowRunOutput?id={run}&block=1&skip=19999"
        ))
        .await;
    assert_eq!(last, json!([{"id": 19999, "payload": "y".repeat(400)}]));
    let listing = http
        .get(format!("{bucket}?list-type=2&prefix=tenant-a/runs/{run}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for block in [1, 2] {
        let key = format!("tenant-a/runs/{run}/attempt-1/block-{block}.ndjson");
        assert!(listing.contains(&key), "{key} not in the bucket: {listing}");
    }
    assert!(
        !dir.path().join("blobs").exists(),
        "nothing written to the local folder"
    );
}
