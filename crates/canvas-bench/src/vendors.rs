//! Records per second from a vendor and the server's peak memory: `MyStore
//! Get Customers` → `Format CSV`, from a MyStore stand-in in this process
//! that answers at once (JSON:API pages of 100, absolute `links.next`).

use crate::connectors::{register, run_chain};
use crate::records::seconds;
use crate::server::Server;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;

const MYSTORE: &str = "c1d54a1e-8a0f-4e0e-9d5a-3f2b6c9e7a10";
const PAGE: usize = 100;

pub struct Figures {
    /// Records per second of `MyStore Get Customers`.
    pub read_per_second: f64,
    /// Records per second from the run's start to its end.
    pub run_per_second: f64,
    pub peak_rss_mib: f64,
}

/// One page of `total` customers, as MyStore answers `page[number]`.
fn page(base: &str, total: usize, number: usize) -> String {
    let first = (number - 1) * PAGE + 1;
    let data: Vec<_> = (first..=(first + PAGE - 1).min(total))
        .map(|n| json!({"type": "customers", "id": n.to_string(), "attributes": {
            "firstname": format!("Kari {n}"), "lastname": "Nordmann", "email": format!("kari{n}@example.no"),
            "telephone": "+4791234567", "company": null, "street_address": "Storgata 1", "postcode": "0155",
            "city": "Oslo", "country": "Norway", "newsletter": n % 2 == 0,
            "created_at": "2023-01-17 08:00:00", "updated_at": "2024-03-01 12:30:00"}}))
        .collect();
    let next = (first + PAGE <= total).then(|| {
        format!(
            "{base}/shops/bench/customers?page%5Bnumber%5D={}&page%5Bsize%5D={PAGE}",
            number + 1
        )
    });
    json!({"data": data, "links": {"next": next}, "meta": {"total": total}}).to_string()
}

fn answer(base: &str, total: usize, request: &Request<hyper::body::Incoming>) -> String {
    let query = request.uri().query().unwrap_or_default();
    let number = query
        .split('&')
        .find_map(|kv| {
            kv.strip_prefix("page%5Bnumber%5D=")
                .or_else(|| kv.strip_prefix("page[number]="))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    match request.uri().path().ends_with("/settings") {
        true => json!({"name": "Bench shop"}).to_string(),
        false => page(base, total, number),
    }
}

/// The stand-in with `total` customers; returns its base URL.
pub async fn start_mystore(total: usize) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let served = base.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let base = served.clone();
            let service = hyper::service::service_fn(move |request| {
                let body = answer(&base, total, &request);
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(base)
}

/// `MyStore Get Customers` over `total` customers, alone or → `Format
/// CSV`; checks the count read.
pub async fn customers(server: &Server, total: usize, to_csv: bool) -> anyhow::Result<Figures> {
    let credentials = json!({"shopUrl": "bench", "apikey": "bench-token"});
    let reg = register(server, MYSTORE, credentials).await?;
    let mut chain = vec![json!({"blockName": "MyStore Get Customers", "variables": {}})];
    if to_csv {
        chain.push(json!({"blockName": "Format CSV", "variables": {"fileName": "customers.csv"}}));
    }
    let chain = serde_json::Value::Array(chain);
    let run = run_chain(server, json!(["MYST2"]), json!({"MYST2": reg}), chain).await?;
    let read = run["blocks"][0]["recordsOut"].as_u64().unwrap_or_default() as usize;
    anyhow::ensure!(read == total, "read {read} of {total} customers: {run}");
    Ok(Figures {
        read_per_second: total as f64 / seconds(&run["blocks"][0])?,
        run_per_second: total as f64 / seconds(&run)?,
        peak_rss_mib: server.peak_rss_mib()?,
    })
}
