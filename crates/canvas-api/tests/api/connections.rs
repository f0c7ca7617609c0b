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
    for _ in 0..500 {
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
    for stream in idle.iter_mut().step_by(50) {
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
