//! The SFTP connector against an SSH server on loopback.

use crate::connectors::{connector_workflow, run, script};
use crate::helpers::{Backend, Options, TestApp, assert_error, spawn_app_opts};
use crate::runs::output;
use serde_json::{Value, json};

const SFTP: &str = "4a6c2e8f-0b1d-4f3a-8c5e-7d9b1f3a5c70";

async fn app() -> TestApp {
    spawn_app_opts(Backend::Sqlite, Options::default()).await
}

fn password_login(server: &crate::sftp_server::SftpServer, password: &str) -> Value {
    json!({"username": "partner", "password": password, "port": server.port, "address": "127.0.0.1", "hostKey": server.host_key})
}

#[tokio::test]
async fn sftp_upload_and_download_with_a_password_and_a_pinned_host_key() {
    let server = crate::sftp_server::start("pw").await;
    let app = app().await;
    std::fs::create_dir(server.files().join("in")).unwrap();
    std::fs::write(server.files().join("in/a.json"), r#"[{"n": 1}, {"n": 2}]"#).unwrap();
    std::fs::write(server.files().join("out.csv"), "old content").unwrap();
    let chain = json!([
        script("return [{ id: 1, name: 'Ada' }, { id: 2, name: 'Bo' }];"),
        {"blockName": "SFTP Upload", "variables": {"filename": "out", "fileformat": "csv"}},
        {"blockName": "SFTP Download", "datasource": null, "variables": {"pattern": "*.json", "filepath": "/in", "fileformat": "json", "moveTo": "/done"}},
    ]);
    let workflow = connector_workflow(
        &app,
        &[("SFTP", SFTP, password_login(&server, "pw"))],
        chain,
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        std::fs::read_to_string(server.files().join("out.csv")).unwrap(),
        "id,name\n1,Ada\n2,Bo\n"
    );
    assert!(!server.files().join(".out.csv.part").exists());
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 3).await,
        json!([{"n": 1}, {"n": 2}])
    );
    assert!(server.files().join("done/a.json").exists());
    assert!(!server.files().join("in/a.json").exists());
}

/// A folder without a leading `/` is under the login folder (as `sftp`
/// and every SFTP client have it); with one, from the server's root.
#[tokio::test]
async fn sftp_folders_are_relative_to_the_login_folder_unless_absolute() {
    let server = crate::sftp_server::start("pw").await;
    let app = app().await;
    let chain = json!([
        script("return [{ id: 1 }];"),
        {"blockName": "SFTP Upload", "variables": {"filename": "rel", "fileformat": "csv", "filepath": "out"}},
        {"blockName": "SFTP Upload", "datasource": null, "variables": {"filename": "abs", "fileformat": "csv", "filepath": "/out"}},
    ]);
    let workflow = connector_workflow(
        &app,
        &[("SFTP", SFTP, password_login(&server, "pw"))],
        chain,
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let home = server
        .files()
        .join(crate::sftp_server::HOME.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(home.join("out/rel.csv")).unwrap(),
        "id\n1\n"
    );
    assert!(server.files().join("out/abs.csv").exists());
    assert!(!server.files().join("out/rel.csv").exists());
}

#[tokio::test]
async fn sftp_logs_in_with_an_encrypted_private_key() {
    let server = crate::sftp_server::start("unused-pw").await;
    let app = app().await;
    let key_login = |passphrase: &str| {
        json!({"username": "partner", "privateKey": server.user_key, "passphrase": passphrase,
            "port": server.port, "address": "127.0.0.1"})
    };
    let wrong = app
        .post("/api/RegApplication", &json!({"applicationId": SFTP, "tagText": "k", "credentialsJson": key_login("wrong-pass").to_string()}))
        .await;
    assert_error(
        &wrong,
        400,
        "Authentication Error: the private key cannot be read",
    );
    assert!(
        !wrong.text.contains("wrong-pass") && !wrong.text.contains("PRIVATE KEY"),
        "{}",
        wrong.text
    );
    let creds = key_login(crate::sftp_server::USER_KEY_PASSPHRASE);
    let chain = json!([script("return [{ a: 1 }];"), {"blockName": "SFTP Upload", "variables": {"filename": "k.json", "fileformat": "json"}}]);
    let workflow = connector_workflow(&app, &[("SFTP", SFTP, creds)], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        std::fs::read_to_string(server.files().join("k.json")).unwrap(),
        r#"[{"a":1}]"#
    );
}

#[tokio::test]
async fn a_wrong_password_or_host_key_is_refused_at_registration() {
    let server = crate::sftp_server::start("pw").await;
    let app = app().await;
    let register = |creds: Value| {
        let app = &app;
        async move {
            app.post("/api/RegApplication", &json!({"applicationId": SFTP, "tagText": "s", "credentialsJson": creds.to_string()}))
                .await
        }
    };
    let r = register(password_login(&server, "wrong-pw")).await;
    assert_error(
        &r,
        400,
        "Authentication Error: the SSH server at 127.0.0.1:",
    );
    assert!(
        r.text.contains("refused the login of 'partner'"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("wrong-pw"));
    let mut other_key = password_login(&server, "pw");
    other_key["hostKey"] = json!("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let r = register(other_key).await;
    assert!(
        r.text.contains(&format!(
            "presented the host key {}, not the pinned SHA256:AAAA",
            server.host_key
        )),
        "{}",
        r.text
    );
    assert_eq!(app.get("/api/RegApplications").await.body, json!([]));
}

/// A server that stops sending mid-file fails the try as transient (the
/// engine tries again), not the block hanging until the run's time limit.
#[tokio::test]
async fn a_transfer_that_stops_moving_fails_as_transient_after_the_stall_time() {
    let server = crate::sftp_server::start("pw").await;
    std::fs::write(server.files().join("stall.csv"), "a\n1\n").unwrap();
    let app = spawn_app_opts(
        Backend::Sqlite,
        Options {
            transfer_stall: std::time::Duration::from_secs(1),
            ..Options::default()
        },
    )
    .await;
    let chain = json!([{"blockName": "SFTP Download", "variables": {"pattern": "stall.csv"}}]);
    let workflow = connector_workflow(
        &app,
        &[("SFTP", SFTP, password_login(&server, "pw"))],
        chain,
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Failed", "{run}");
    assert_eq!(
        run["blocks"][0]["error"],
        "transient error: reading /stall.csv: no data for 1 s"
    );
    assert!(
        run["blocks"][0]["log"]
            .to_string()
            .contains("attempt 1 failed"),
        "{run}"
    );
}
