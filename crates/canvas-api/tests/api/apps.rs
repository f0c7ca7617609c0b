//! The engine's connector layer: native blocks get their registered
//! application's credentials; scripts reach applications through `apps`.

use crate::helpers::{Backend, Options, TestApp, both_backends, spawn_app_opts};
use crate::runs::output;
use canvas_blocks::{
    AppAccess, AppOperations, BlockContext, BlockError, CallFuture, CancelToken, NativeBlock,
    RecordReader, RecordWriter,
};
use serde_json::{Value, json};
use std::sync::Arc;

const FTP: &str = "5f814909-01ea-4395-96ee-5ba7614128fc";

/// Stands in for the FTP connector's upload block: writes what it was given to work with.
struct ProbeBlock;

impl NativeBlock for ProbeBlock {
    fn name(&self) -> &str {
        "FTP Upload"
    }
    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> canvas_blocks::block::BlockFuture<'a> {
        Box::pin(async move {
            let mut seen = 0;
            while let Some(batch) = input.next_values().await? {
                seen += batch.len();
            }
            let app = cx
                .application
                .as_ref()
                .expect("an FTP block gets its application");
            let record = json!({
                "app": app.short_name,
                "user": app.credentials.get_str("username"),
                "passwordMatches": app.credentials.get_str("password") == Some("pw-probe"),
                "records": seen,
                "filename": cx.variables.raw()["filename"],
            });
            cx.log("probed");
            output.write_values(&[record]).await?;
            Ok(())
        })
    }
}

/// Stands in for a connector's script operations.
struct EchoOps;

impl AppOperations for EchoOps {
    fn operations(&self) -> &[&'static str] {
        &["echo", "busy"]
    }
    fn call<'a>(
        &'a self,
        app: &'a AppAccess,
        operation: &'a str,
        args: Vec<Value>,
        _cancel: CancelToken,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            match operation {
                "echo" => Ok(
                    json!({"app": app.short_name, "args": args, "port": app.credentials.get_i64("port").is_some()}),
                ),
                _ => Err(BlockError::Transient("the server is busy".into())),
            }
        })
    }
}

async fn app_with_probes(backend: Backend) -> TestApp {
    let mut blocks = canvas_engine::builtin_blocks();
    blocks.add("FTP", Arc::new(ProbeBlock));
    blocks.add_operations("FTP", Arc::new(EchoOps));
    spawn_app_opts(
        backend,
        Options {
            blocks,
            ..Options::default()
        },
    )
    .await
}

/// A workflow on a registered FTP application (a real FTP login) with `chain`.
async fn ftp_workflow(app: &TestApp, chain: Value) -> String {
    let server = crate::ftp::start("partner", "pw-probe").await;
    let creds = json!({"username": "partner", "password": "pw-probe", "port": server.port, "address": "127.0.0.1", "secure": false});
    let reg = app
        .post(
            "/api/RegApplication",
            &json!({"applicationId": FTP, "tagText": "FTP", "credentialsJson": creds.to_string()}),
        )
        .await;
    assert_eq!(reg.status, 200, "{}", reg.text);
    let t = app
        .post(
            "/api/WorkflowTemplate",
            &json!({"name": "Apps", "state": "Published", "applications": ["FTP"], "chain": chain}),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let w = app
        .post(
            "/api/Workflow",
            &json!({"workflowTemplateId": t.body, "applications": {"FTP": reg.body}}),
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.text);
    w.body.as_str().unwrap().to_string()
}

async fn run_and_wait(app: &TestApp, workflow: &str) -> Value {
    crate::runs::run_to_end(app, json!({ "workflowId": workflow })).await
}

async fn native_blocks_get_their_applications_credentials(backend: Backend) {
    let app = app_with_probes(backend).await;
    let chain = json!([
        {"blockName": "Make", "script": "return [{ a: 1 }, { a: 2 }];", "variables": {}},
        {"blockName": "FTP Upload", "variables": {"filename": "out-{runId}.csv", "fileformat": "csv", "filepath": "/"}},
    ]);
    let workflow = ftp_workflow(&app, chain).await;

    let run = run_and_wait(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(run["blocks"][1]["log"], json!(["probed"]));
    let out = output(&app, run["id"].as_str().unwrap(), 2).await;
    assert_eq!(
        out,
        json!([{"app": "FTP", "user": "partner", "passwordMatches": true, "records": 2,
            "filename": format!("out-{}.csv", run["id"].as_str().unwrap())}])
    );
}

async fn scripts_call_applications_through_their_handles(backend: Backend) {
    let app = app_with_probes(backend).await;
    let source = r#"
        const echoed = await apps.FTP.echo({ a: 1 }, 'two');
        let missing = null;
        try { await apps.FTP.upload(); } catch (e) { missing = e.constructor.name; }
        let busy = null;
        try { await apps.FTP.busy(); } catch (e) { busy = { message: e.message, transient: e.transient }; }
        return [{ echoed, missing, busy, names: Object.keys(apps), name: apps.FTP.name }];
    "#;
    let workflow = ftp_workflow(
        &app,
        json!([{"blockName": "Call", "script": source, "variables": {}}]),
    )
    .await;

    let run = run_and_wait(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let out = output(&app, run["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        out,
        json!([{
            "echoed": {"app": "FTP", "args": [{"a": 1}, "two"], "port": true},
            "missing": "TypeError",
            "busy": {"message": "transient error: the server is busy", "transient": true},
            "names": ["FTP"],
            "name": "FTP Server",
        }])
    );
}

both_backends!(
    native_blocks_get_their_applications_credentials,
    scripts_call_applications_through_their_handles
);
