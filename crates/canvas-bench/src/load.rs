//! A closed-loop load generator: `c` connections, each sending its next
//! request when the previous answer arrived (like wrk), over HTTP/1.1 keep-alive.

use crate::server::Keys;
use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct Figures {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

fn build(
    method: &str,
    path: &str,
    keys: &Keys,
    body: Option<String>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("consumer", &keys.consumer)
        .header("secretkey", &keys.secret)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?)
}

/// One request on a new connection; the body as text, or an error for non-2xx.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    keys: &Keys,
    body: Option<String>,
) -> anyhow::Result<String> {
    let mut sender = connect(addr).await?;
    sender.ready().await?;
    let response = sender
        .send_request(build(method, path, keys, body)?)
        .await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !status.is_success() {
        bail!("{method} {path}: {status} {text}");
    }
    Ok(text)
}

async fn worker(
    addr: SocketAddr,
    path: String,
    keys: (String, String),
    until: Instant,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let keys = Keys {
        consumer: keys.0,
        secret: keys.1,
    };
    let mut sender = connect(addr).await.context("connect")?;
    let mut latencies = Vec::with_capacity(100_000);
    let mut errors = 0;
    while Instant::now() < until {
        sender.ready().await?;
        let start = Instant::now();
        let response = sender
            .send_request(build("GET", &path, &keys, None)?)
            .await?;
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        latencies.push(start.elapsed().as_micros() as u32);
        errors += u64::from(!ok);
    }
    Ok((latencies, errors))
}

pub async fn run(
    addr: SocketAddr,
    path: &str,
    keys: &Keys,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    // A short warm-up so connection set-up and caches are not measured.
    let warm = Instant::now() + Duration::from_millis(300);
    worker(
        addr,
        path.to_string(),
        (keys.consumer.clone(), keys.secret.clone()),
        warm,
    )
    .await?;
    let start = Instant::now();
    let until = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(worker(
                addr,
                path.to_string(),
                (keys.consumer.clone(), keys.secret.clone()),
                until,
            ))
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, err) = t.await??;
        all.extend(lat);
        errors += err;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Ok(Figures {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    })
}
