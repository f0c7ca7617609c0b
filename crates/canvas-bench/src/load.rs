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

pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
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
    Ok(Figures {
        rps: all.len() as f64 / elapsed,
        p50_ms: percentile_ms(&all, 0.50),
        p99_ms: percentile_ms(&all, 0.99),
        errors,
    })
}

/// `n` GETs of `path`, one after another on one connection, with `headers`;
/// each one's latency in µs (after `warm` unmeasured ones). A non-2xx fails.
pub async fn sample(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    (warm, n): (usize, usize),
) -> anyhow::Result<Vec<u32>> {
    let mut sender = connect(addr).await?;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..warm + n {
        let mut request = Request::builder().uri(path).header("host", "127.0.0.1");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        sender.ready().await?;
        let start = Instant::now();
        let response = sender
            .send_request(request.body(Full::new(Bytes::new()))?)
            .await?;
        let status = response.status();
        response.into_body().collect().await?;
        if !status.is_success() {
            bail!("GET {path}: {status}");
        }
        if i >= warm {
            latencies.push(start.elapsed().as_micros() as u32);
        }
    }
    Ok(latencies)
}

/// Percentile `p` (0–1) of latencies in µs, in ms.
pub fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    let at = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(at).copied().unwrap_or(0) as f64 / 1000.0
}

/// (p50, p99) of durations already in ms.
pub fn p50_p99(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}
