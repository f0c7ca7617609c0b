//! The scheduler under load: `workflows` workflows on per-minute schedules
//! spread over the seconds of the minute, plus `per_second` workflows firing
//! every second, for `seconds`; scripts that do nothing. Lateness is the
//! run's `dateQueued` minus its `dateScheduled` (the fire it belongs to);
//! missed and doubled fires are counted against the fires the expressions
//! call for in the window.

use crate::server::{Keys, Server};
use chrono::{DateTime, Timelike, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

pub struct ScheduleFigures {
    pub fires_per_second: f64,
    pub late_p50_ms: f64,
    pub late_p99_ms: f64,
    pub late_max_ms: f64,
    pub missed: usize,
    pub doubled: usize,
    /// CPU time of the scheduler thread over the window, as % of one core.
    pub scheduler_cpu_percent: f64,
    pub rss_mib: f64,
}

/// Requests `bodies` to `path`, 8 at a time; returns the answers in order.
async fn post_all(server: &Server, path: &str, bodies: Vec<Value>) -> anyhow::Result<Vec<Value>> {
    let chunks: Vec<Vec<(usize, Value)>> = {
        let mut c: Vec<Vec<(usize, Value)>> = (0..8).map(|_| Vec::new()).collect();
        for (i, b) in bodies.into_iter().enumerate() {
            c[i % 8].push((i, b));
        }
        c
    };
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (addr, path) = (server.addr, path.to_string());
            let keys = Keys {
                consumer: server.keys.consumer.clone(),
                secret: server.keys.secret.clone(),
            };
            tokio::spawn(async move {
                let mut out = Vec::new();
                for (i, body) in chunk {
                    let text =
                        crate::load::request(addr, "POST", &path, &keys, Some(body.to_string()))
                            .await?;
                    out.push((i, serde_json::from_str::<Value>(&text)?));
                }
                anyhow::Ok(out)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, v)| v).collect())
}

/// Utime + stime of the thread named `canvas-sched`, in seconds.
fn scheduler_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        if std::fs::read_to_string(dir.join("comm"))?.trim() == "canvas-sched" {
            let stat = std::fs::read_to_string(dir.join("stat"))?;
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
            return Ok(ticks / 100.0);
        }
    }
    anyhow::bail!("no canvas-sched thread")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub async fn measure(
    server: &Server,
    per_minute: usize,
    per_second: usize,
    seconds: u64,
) -> anyhow::Result<ScheduleFigures> {
    let template = server
        .post(
            "/api/WorkflowTemplate",
            json!({"name": "Bench schedule", "state": "Published", "applications": [],
            "chain": [{"blockName": "Nothing", "script": "return [];"}]}),
        )
        .await?;
    let total = per_minute + per_second;
    let ids = post_all(
        server,
        "/api/Workflow",
        vec![json!({"workflowTemplateId": template, "applications": {}}); total],
    )
    .await?;
    // Workflow i < per_minute fires at second i % 60 of every minute; the rest every second.
    let second_of = |i: usize| (i < per_minute).then_some((i % 60) as u32);
    let schedules: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let cron = match second_of(i) {
                Some(s) => format!("{s} * * ? * *"),
                None => "* * * ? * *".to_string(),
            };
            json!({"workflowId": id, "isScheduled": true, "scheduleFrequency": json!({"cronSchedule": cron}).to_string()})
        })
        .collect();
    post_all(server, "/api/WorkflowScheduler", schedules).await?;
    // The window starts once every schedule is set, on a whole second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = server.child.id().unwrap_or_default();
    let from = Utc::now().with_nanosecond(0).unwrap_or_default() + chrono::Duration::seconds(1);
    let cpu_before = scheduler_cpu_seconds(pid)?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = scheduler_cpu_seconds(pid)? - cpu_before;
    let rss_mib = server.rss_mib()?;
    let till = from + chrono::Duration::seconds(seconds as i64 - 2);
    collect(server, &ids, second_of, (from, till), cpu, rss_mib).await
}

async fn collect(
    server: &Server,
    ids: &[Value],
    second_of: impl Fn(usize) -> Option<u32>,
    (from, till): (DateTime<Utc>, DateTime<Utc>),
    cpu: f64,
    rss_mib: f64,
) -> anyhow::Result<ScheduleFigures> {
    let parse = |v: &Value| v.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok());
    let (mut late, mut missed, mut doubled, mut fired) = (Vec::new(), 0, 0, 0);
    for (i, id) in ids.iter().enumerate() {
        let runs = server
            .get(&format!(
                "/api/WorkflowRuns?workflowId={}&top=1000",
                id.as_str().unwrap_or_default()
            ))
            .await?;
        let mut seen: HashMap<DateTime<Utc>, usize> = HashMap::new();
        for r in runs.as_array().into_iter().flatten() {
            let (Some(fire), Some(queued)) = (parse(&r["dateScheduled"]), parse(&r["dateQueued"]))
            else {
                continue;
            };
            if fire < from || fire > till {
                continue;
            }
            *seen.entry(fire).or_default() += 1;
            late.push((queued - fire).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
        let mut t = from;
        while t <= till {
            if second_of(i).is_none_or(|s| t.second() == s) {
                match seen.get(&t) {
                    None => missed += 1,
                    Some(&n) => {
                        fired += 1;
                        doubled += n - 1;
                    }
                }
            }
            t += chrono::Duration::seconds(1);
        }
    }
    late.sort_by(f64::total_cmp);
    let window = (till - from).num_seconds() as f64 + 1.0;
    Ok(ScheduleFigures {
        fires_per_second: fired as f64 / window,
        late_p50_ms: percentile(&late, 0.5),
        late_p99_ms: percentile(&late, 0.99),
        late_max_ms: late.last().copied().unwrap_or(f64::NAN),
        missed,
        doubled,
        scheduler_cpu_percent: cpu / window * 100.0,
        rss_mib,
    })
}
