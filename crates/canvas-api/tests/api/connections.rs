//! Connections a client opens and never uses cannot exhaust the server.

use crate::helpers::{Backend, Options, spawn_app_opts, test_config};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

async fn app_with(
    max_connections: usize,
    header_read_timeout: Duration,
) -> crate::helpers::TestApp {
    let config = canvas_api::ApiConfig {
        connections: canvas_api::ConnectionLimits {
            max_connections,
            header_read_timeout,
        },
        ..test_config()
    };
    spawn_app_opts(
        Backend::Sqlite,
        Options {
            config,
            ..Options::default()
        },
    )
    .await
}

fn host(app: &crate::helpers::TestApp) -> String {
    app.address.trim_start_matches("http://").to_string()
}

/// Whether the server closes `stream` within `limit` (a read ends).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn half_open_connections_are_closed_and_a_normal_request_is_served_meanwhile() {
    let app = app_with(10_000, Duration::from_millis(500)).await;
    let mut idle = Vec::new();
    for _ in 0..5_000 {
        idle.push(TcpStream::connect(host(&app)).await.unwrap());
    }

    let started = Instant::now();
    let health = app.get_raw("/healthz", &[]).await;

    assert_eq!(health.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    for stream in idle.iter_mut().step_by(500) {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "a half-open connection stayed open"
        );
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once_and_slots_come_back() {
    let app = app_with(16, Duration::from_secs(30)).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(TcpStream::connect(host(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut extra = TcpStream::connect(host(&app)).await.unwrap();

    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "the 17th connection was kept"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get_raw("/healthz", &[]).await.status, 200);
}

/// What the server answers to `raw`, read until it closes.
async fn answer_to(app: &crate::helpers::TestApp, raw: &[u8]) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = TcpStream::connect(host(app)).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
    read.await.expect("the server answers and closes").unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// hyper's own answers to heads it cannot read are `{State, Msg}` JSON too.
#[tokio::test]
async fn requests_hyper_refuses_itself_get_state_msg_json() {
    let app = app_with(100, Duration::from_secs(5)).await;
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();

    let malformed = answer_to(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
    )
    .await;
    let too_many = answer_to(
        &app,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await;

    assert!(malformed.starts_with("HTTP/1.1 400 "), "{malformed}");
    assert!(
        malformed.contains("content-type: application/json"),
        "{malformed}"
    );
    assert!(
        malformed.ends_with(r#"{"State":400,"Msg":"the request could not be read: its request line or a header is not valid HTTP/1.1"}"#),
        "{malformed}"
    );
    assert!(too_many.starts_with("HTTP/1.1 431 "), "{too_many}");
    assert!(
        too_many.ends_with(r#"{"State":431,"Msg":"the request's headers are too large"}"#),
        "{too_many}"
    );
}
