//! Secrets stay out of the log at every level: a `trace` log of a
//! registration's FTP login holds no password (suppaftp prints its commands,
//! `PASS` included, at `trace`).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An FTP server that takes any login; returns its port and what it heard.
fn ftp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut out = stream.try_clone().unwrap();
            let _ = out.write_all(b"220 ready\r\n");
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line.clone());
                let reply: &[u8] = match line.split(' ').next().unwrap_or("") {
                    "USER" => b"331 password please\r\n",
                    "PASS" => b"230 logged in\r\n",
                    "PWD" => b"257 \"/\"\r\n",
                    "QUIT" => b"221 bye\r\n",
                    _ => b"200 ok\r\n",
                };
                if out.write_all(reply).is_err() {
                    break;
                }
            }
        }
    });
    (port, heard)
}

#[tokio::test]
async fn a_trace_log_of_an_ftp_login_holds_no_password() {
    let (ftp_port, heard) = ftp_server();
    let password = "Tr4ce-N0t-Me-7f3a";
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvas"));
    crate::common::without_canvas_env(&mut command);
    let mut child = command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("CANVAS_LOG", "trace")
        .env("CANVAS_EGRESS__ALLOW", r#"["127.0.0.1/32"]"#)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let keys: Value = serde_json::from_str(&first).unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    let credentials = json!({"username": "partner", "password": password, "port": ftp_port, "address": "127.0.0.1"});
    let body = json!({"applicationId": "5f814909-01ea-4395-96ee-5ba7614128fc", "tagText": "FTP", "credentialsJson": credentials.to_string()});

    let registered = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/RegApplication"))
        .header("Consumer", keys["consumer"].as_str().unwrap())
        .header("SecretKey", keys["secretKey"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = registered.status();
    let text = registered.text().await.unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let log = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();

    assert_eq!(status, 200, "{text}");
    assert!(
        heard
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == &format!("PASS {password}")),
        "the password was sent to the server: {:?}",
        heard.lock().unwrap()
    );
    assert!(log.contains("DEBUG"), "a verbose log: {log}");
    assert!(!log.contains(password), "the password is in the log");
    assert!(!text.contains(password));
}
