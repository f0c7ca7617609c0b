//! FTP and FTPS blocks against libunftp on loopback.

use crate::connectors::*;
use crate::helpers::{Backend, Options, assert_error, spawn_app_opts};
use crate::runs::output;
use serde_json::json;

#[tokio::test]
async fn ftp_upload_writes_the_dataset_as_csv_under_its_final_name_only() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let chain = json!([
        script("return [{ id: 1, name: 'Ådne, \"A\"' }, { id: 2, name: 'Bo' }];"),
        {"blockName": "FTP Upload", "variables": {"filename": "people_{runId}", "fileformat": "csv", "filepath": "/out"}},
    ]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let name = format!("people_{id}.csv");
    assert_eq!(names_in(&server.files().join("out")), vec![name.clone()]);
    assert_eq!(
        read(&server.files().join("out").join(&name)),
        "id,name\n1,\"Ådne, \"\"A\"\"\"\n2,Bo\n"
    );
    let out = output(&app, id, 2).await;
    assert_eq!(out[0]["path"], format!("/out/{name}"));
    assert_eq!(out[0]["records"], 2);
}

#[tokio::test]
async fn ftp_upload_writes_json_xml_and_ndjson_over_explicit_ftps() {
    let server = crate::ftp::start_secure("partner", "pw").await;
    let app = spawn_app_opts(
        Backend::Sqlite,
        Options {
            extra_ca_file: server.certificate.clone(),
            ..Options::default()
        },
    )
    .await;
    let upload = |format: &str| json!({"blockName": "FTP Upload", "variables": {"filename": format!("data.{format}"), "fileformat": format}});
    let chain = json!([
        script("return [{ id: 1, tags: ['a', 'b'] }];"),
        upload("json"),
    ]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;
    assert_eq!(run(&app, &workflow).await["status"], "Succeeded");
    assert_eq!(
        read(&server.files().join("data.json")),
        r#"[{"id":1,"tags":["a","b"]}]"#
    );

    for (format, expected) in [
        ("ndjson", "{\"id\":1,\"tags\":[\"a\",\"b\"]}\n"),
        (
            "xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<records>\n  <record><id>1</id><tags>a</tags><tags>b</tags></record>\n</records>\n",
        ),
    ] {
        let chain = json!([
            script("return [{ id: 1, tags: ['a', 'b'] }];"),
            upload(format)
        ]);
        let t = app
            .post("/api/WorkflowTemplate", &json!({"name": format, "state": "Published", "applications": ["FTP"], "chain": chain}))
            .await;
        let reg = app.get("/api/RegApplications").await.body[0]["id"].clone();
        let w = app
            .post(
                "/api/Workflow",
                &json!({"workflowTemplateId": t.body, "applications": {"FTP": reg}}),
            )
            .await;
        let run = run(&app, w.body.as_str().unwrap()).await;
        assert_eq!(run["status"], "Succeeded", "{run}");
        assert_eq!(
            read(&server.files().join(format!("data.{format}"))),
            expected
        );
    }
}

#[tokio::test]
async fn ftp_download_reads_matching_files_as_records_and_moves_them() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let inbox = server.files().join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), "id;city\n1;Oslo\n2;Bergen\n").unwrap();
    std::fs::write(inbox.join("b.CSV"), b"id;city\n3;Troms\xF8\n").unwrap();
    std::fs::write(inbox.join("notes.txt"), "not data").unwrap();
    let chain = json!([{"blockName": "FTP Download", "variables": {
        "pattern": "*.csv", "filepath": "/in", "fileformat": "csv", "delimiter": ";",
        "encoding": "ISO-8859-1", "moveTo": "/done"}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let out = output(&app, run["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        out,
        json!([{"id": "1", "city": "Oslo"}, {"id": "2", "city": "Bergen"}, {"id": "3", "city": "Tromsø"}])
    );
    assert_eq!(names_in(&inbox), vec!["notes.txt"]);
    assert_eq!(
        names_in(&server.files().join("done")),
        vec!["a.csv", "b.CSV"]
    );
}

/// Relative folders are under the login folder, run after run: an upload
/// into an existing folder lands there (not in a folder of the same name
/// inside it), and files moved to an existing folder get there.
#[tokio::test]
async fn relative_ftp_folders_stay_relative_run_after_run() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    std::fs::create_dir_all(server.files().join("in")).unwrap();
    let chain = json!([
        script("return [{ id: 1 }];"),
        {"blockName": "FTP Upload", "variables": {"filename": "x", "fileformat": "csv", "filepath": "out/daily"}},
        {"blockName": "FTP Download", "datasource": null, "variables": {"pattern": "*.csv", "filepath": "in", "fileformat": "csv", "moveTo": "in/done"}},
    ]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    for n in 1..=2 {
        std::fs::write(server.files().join(format!("in/{n}.csv")), "id\n1\n").unwrap();
        let ran = run(&app, &workflow).await;
        assert_eq!(ran["status"], "Succeeded", "run {n}: {ran}");
    }

    assert!(server.files().join("out/daily/x.csv").exists());
    assert!(!server.files().join("out/daily/out").exists());
    assert_eq!(
        names_in(&server.files().join("in/done")),
        vec!["1.csv", "2.csv"]
    );
}

/// `moveTo` a folder under the watched one, pattern `*`: the folder is not
/// a file, so the next run reads the new file and leaves the folder be.
#[tokio::test]
async fn a_processed_folder_under_the_watched_one_is_never_read_as_a_file() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let inbox = server.files().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), "id\n1\n").unwrap();
    let chain = json!([{"blockName": "FTP Download", "variables": {
        "pattern": "*", "filepath": "/inbox", "fileformat": "csv", "moveTo": "/inbox/processed"}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let first = run(&app, &workflow).await;
    std::fs::write(inbox.join("b.csv"), "id\n2\n").unwrap();
    let second = run(&app, &workflow).await;

    assert_eq!(first["status"], "Succeeded", "{first}");
    assert_eq!(second["status"], "Succeeded", "{second}");
    let out = output(&app, second["id"].as_str().unwrap(), 1).await;
    assert_eq!(out, json!([{"id": "2"}]));
    assert_eq!(names_in(&inbox.join("processed")), vec!["a.csv", "b.csv"]);
}

#[tokio::test]
async fn a_file_that_does_not_parse_fails_the_block_naming_file_and_line() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    std::fs::write(server.files().join("bad.csv"), "a,b\n1,2\n3\n").unwrap();
    let chain = json!([{"blockName": "FTP Download", "variables": {"pattern": "bad.csv"}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Failed", "{run}");
    assert_eq!(
        run["blocks"][0]["error"],
        "bad.csv: line 3: 1 columns where the header has 2"
    );
}

/// The server's reply is quoted with its code once ("530 Login incorrect.",
/// not "530 530 Login incorrect.").
#[tokio::test]
async fn a_wrong_ftp_password_is_refused_at_registration_quoting_the_reply_code_once() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let credentials = ftp_credentials(&server, "not-the-password");
    let body =
        json!({"applicationId": FTP, "tagText": "f", "credentialsJson": credentials.to_string()});

    let r = app.post("/api/RegApplication", &body).await;

    assert_error(
        &r,
        400,
        "Authentication Error: the FTP server refused the login: 530 ",
    );
    let msg = r.body["Msg"].as_str().unwrap();
    assert_eq!(msg.matches("530").count(), 1, "{msg}");
    assert!(!msg.contains("not-the-password"), "{msg}");
}

/// Credentials that stop working make the run fail and mark the registration faulted.
#[tokio::test]
async fn a_refused_login_fails_the_run_and_marks_the_application_faulted() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let chain = json!([{"blockName": "FTP Download", "variables": {}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;
    let port = server.port;
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _changed = crate::ftp::start_on(port, "partner", "new-password").await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["blocks"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("Authentication Error: the FTP server refused the login: 530"),
        "{error}"
    );
    assert_eq!(error.matches("530").count(), 1, "{error}");
    assert!(!error.contains("pw"), "{error}");
    let reg = &app.get("/api/RegApplications").await.body[0];
    assert_eq!(
        (reg["faulted"].clone(), reg["isAuthenticated"].clone()),
        (json!(true), json!(false))
    );
}

/// An FTP server that logs the first client in, then answers every later
/// login `421 Too many connections` (busy, not a refusal of the password).
async fn ftp_busy_after_the_first_login() -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut logins = 0;
        while let Ok((socket, _)) = listener.accept().await {
            logins += 1;
            let busy = logins > 1;
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 ready\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = match line.split(' ').next().unwrap_or_default() {
                        "USER" => b"331 password please\r\n",
                        "PASS" if busy => b"421 Too many connections, try later\r\n",
                        "PASS" => b"230 logged in\r\n",
                        "TYPE" => b"200 binary\r\n",
                        "QUIT" => b"221 bye\r\n",
                        _ => b"502 not here\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_busy_ftp_server_at_login_is_not_taken_for_wrong_credentials() {
    let app = plain_app().await;
    let port = ftp_busy_after_the_first_login().await;
    let creds = json!({"username": "partner", "password": "pw", "port": port, "address": "127.0.0.1", "secure": false});
    let chain = json!([{"blockName": "FTP Download", "variables": {}}]);
    let workflow = connector_workflow(&app, &[("FTP", FTP, creds)], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["blocks"][0]["error"].as_str().unwrap();
    assert!(error.contains("421 Too many connections"), "{error}");
    assert!(!error.starts_with("Authentication Error"), "{error}");
    assert!(
        run["blocks"][0]["log"].to_string().contains("retrying"),
        "a busy server is retried: {run}"
    );
    let reg = &app.get("/api/RegApplications").await.body[0];
    assert_eq!(
        (reg["faulted"].clone(), reg["isAuthenticated"].clone()),
        (json!(false), json!(true))
    );
}

#[tokio::test]
async fn an_ftp_connection_lost_mid_upload_is_retried_and_the_retry_succeeds() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let proxy = crate::ftp::cutting_proxy(server.port).await;
    let mut creds = ftp_credentials(&server, "pw");
    creds["port"] = json!(proxy);
    let chain = json!([
        script("const out = []; for (let i = 0; i < 50000; i++) out.push({ i, text: 'some text to make the file longer' }); return out;"),
        {"blockName": "FTP Upload", "variables": {"filename": "big.csv"}},
    ]);
    let workflow = connector_workflow(&app, &[("FTP", FTP, creds)], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let log = run["blocks"][1]["log"].to_string();
    assert!(log.contains("attempt 1 failed: "), "{log}");
    let content = read(&server.files().join("big.csv"));
    assert_eq!(content.lines().count(), 50_001);
    assert_eq!(names_in(&server.files()), vec!["big.csv"]);
}

#[tokio::test]
async fn an_xlsx_file_uploaded_to_ftp_reads_back_as_the_same_records() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let chain = json!([
        script("return [{ id: 1, name: 'Ada', paid: true }, { id: 2, name: 'Bo', paid: false }];"),
        {"blockName": "FTP Upload", "variables": {"filename": "people", "fileformat": "xlsx", "sheet": "People"}},
        {"blockName": "FTP Download", "datasource": null, "variables": {"pattern": "*.xlsx", "fileformat": "xlsx"}},
    ]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        &std::fs::read(server.files().join("people.xlsx")).unwrap()[..2],
        b"PK"
    );
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 3).await,
        json!([{"id": 1, "name": "Ada", "paid": true}, {"id": 2, "name": "Bo", "paid": false}])
    );
}

/// Implicit FTPS: TLS from the first byte, the server's certificate checked.
#[tokio::test]
async fn implicit_ftps_logs_in_over_tls_from_the_first_byte() {
    let server = crate::ftp::start("partner", "pw").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, certificate) = crate::ftp::implicit_tls_front(server.port, dir.path()).await;
    let creds = |password: &str| json!({"username": "partner", "password": password, "port": port, "address": "127.0.0.1", "implicitTls": true});
    let untrusting = plain_app().await;
    let r = untrusting
        .post("/api/RegApplication", &json!({"applicationId": FTP, "tagText": "i", "credentialsJson": creds("pw").to_string()}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("FTPS negotiation with 127.0.0.1:"),
        "an unknown certificate is refused: {}",
        r.text
    );

    let app = spawn_app_opts(
        Backend::Sqlite,
        Options {
            extra_ca_file: Some(certificate),
            ..Options::default()
        },
    )
    .await;
    let wrong = app
        .post("/api/RegApplication", &json!({"applicationId": FTP, "tagText": "i", "credentialsJson": creds("nope").to_string()}))
        .await;
    assert_error(
        &wrong,
        400,
        "Authentication Error: the FTP server refused the login: 530",
    );
    let ok = app
        .post("/api/RegApplication", &json!({"applicationId": FTP, "tagText": "i", "credentialsJson": creds("pw").to_string()}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

/// Implicit FTPS carrying files: the control connection through the TLS
/// front, data connections TLS to the server itself (PROT P).
#[tokio::test]
async fn implicit_ftps_uploads_and_downloads_over_protected_data_connections() {
    let server = crate::ftp::start_secure("partner", "pw").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, front_cert) = crate::ftp::implicit_tls_front(server.port, dir.path()).await;
    let both = dir.path().join("both.pem");
    let pem = [front_cert, server.certificate.clone().unwrap()]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<String>();
    std::fs::write(&both, pem).unwrap();
    let app = spawn_app_opts(
        Backend::Sqlite,
        Options {
            extra_ca_file: Some(both),
            ..Options::default()
        },
    )
    .await;
    let creds = json!({"username": "partner", "password": "pw", "port": port, "address": "127.0.0.1", "implicitTls": true});
    let chain = json!([
        script("return [{ id: 1 }, { id: 2 }];"),
        {"blockName": "FTP Upload", "variables": {"filename": "implicit.csv"}},
        {"blockName": "FTP Download", "datasource": null, "variables": {"pattern": "implicit.csv"}},
    ]);
    let workflow = connector_workflow(&app, &[("FTP", FTP, creds)], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(read(&server.files().join("implicit.csv")), "id\n1\n2\n");
    assert_eq!(
        output(&app, run["id"].as_str().unwrap(), 3).await,
        json!([{"id": "1"}, {"id": "2"}])
    );
}

/// A file larger than memory should hold is read in batches: every record
/// arrives, the raw file is not kept beside them.
#[tokio::test]
async fn a_large_download_streams_its_records_and_does_not_keep_the_file() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    let padding = "x".repeat(80);
    let mut csv = String::from("id,text\n");
    for i in 0..200_000 {
        csv.push_str(&format!("{i},{padding}\n"));
    }
    assert!(csv.len() > 16 << 20);
    std::fs::write(server.files().join("big.csv"), csv).unwrap();
    let chain = json!([{"blockName": "FTP Download", "variables": {"pattern": "big.csv"}}]);
    let workflow =
        connector_workflow(&app, &[("FTP", FTP, ftp_credentials(&server, "pw"))], chain).await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(run["blocks"][0]["recordsOut"], 200_000);
    let log = run["blocks"][0]["log"].to_string();
    assert!(log.contains("big.csv is larger than 16 MiB"), "{log}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/WorkflowRunFiles?id={id}&block=1"))
            .await
            .body,
        json!([])
    );
    let last = app
        .get(&format!(
            "/api/WorkflowRunOutput?id={id}&block=1&skip=199999&top=1"
        ))
        .await
        .body;
    assert_eq!(last, json!([{"id": "199999", "text": padding}]));
}

#[tokio::test]
async fn scripts_move_files_through_apps_ftp() {
    let app = plain_app().await;
    let server = crate::ftp::start("partner", "pw").await;
    std::fs::write(server.files().join("in.txt"), "from the server").unwrap();
    let source = r#"
        const read = await apps.FTP.download('/in.txt');
        const put = await apps.FTP.upload('/out.txt', read.toUpperCase());
        const before = await apps.FTP.list('/');
        await apps.FTP.remove('/in.txt');
        const after = await apps.FTP.list('/');
        let missing = null;
        try { await apps.FTP.download('/nope.txt'); } catch (e) { missing = { transient: e.transient }; }
        return [{ read, put, before: before.sort(), after, missing }];
    "#;
    let workflow = connector_workflow(
        &app,
        &[("FTP", FTP, ftp_credentials(&server, "pw"))],
        json!([script(source)]),
    )
    .await;

    let run = run(&app, &workflow).await;

    assert_eq!(run["status"], "Succeeded", "{run}");
    let out = output(&app, run["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        out[0],
        json!({"read": "from the server", "put": {"path": "/out.txt", "size": 15},
            "before": ["in.txt", "out.txt"], "after": ["out.txt"], "missing": {"transient": false}})
    );
    assert_eq!(read(&server.files().join("out.txt")), "FROM THE SERVER");
}
