//! `canvas-bench`: measures a release `canvas` binary from outside, the way
//! a client sees it. Each figure is the median of `--repeat` runs.
//!
//! ```sh
//! cargo build --release -p canvas -p canvas-bench
//! target/release/canvas-bench api --backend sqlite --backend postgres
//! target/release/canvas-bench startup
//! target/release/canvas-bench console --backend sqlite --backend postgres --runs 1000000
//! target/release/canvas-bench history --backend sqlite --backend postgres --runs 1000000
//! target/release/canvas-bench records --records 100000 --records 1000000
//! target/release/canvas-bench schedule --backend sqlite --backend postgres
//! target/release/canvas-bench connectors --rows 100000 --rows 1000000
//! target/release/canvas-bench vendors --records 100000 --records 300000
//! ```

mod connectors;
mod console;
mod history;
mod load;
mod records;
mod runs;
mod schedule;
mod server;
mod vendors;

use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Parser)]
struct Cli {
    /// The canvas binary to measure.
    #[arg(long, default_value = "target/release/canvas")]
    canvas: String,
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Requests per second and latency of authenticated GETs.
    Api {
        #[arg(long = "backend", default_values_t = vec!["sqlite".to_string()])]
        backends: Vec<String>,
        #[arg(long = "concurrency", default_values_t = vec![1, 8, 64])]
        concurrency: Vec<usize>,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 8)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        #[arg(long, default_value = "postgres://root@127.0.0.1:5432")]
        postgres: String,
    },
    /// End-to-end runs per second of a two-script-block workflow, and claim latency.
    Runs {
        #[arg(long = "backend", default_values_t = vec!["sqlite".to_string()])]
        backends: Vec<String>,
        #[arg(long = "workers", default_values_t = vec![1, 4])]
        workers: Vec<usize>,
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        #[arg(long, default_value = "postgres://root@127.0.0.1:5432")]
        postgres: String,
    },
    /// Records per second through a native and a script map block, and peak memory.
    Records {
        #[arg(long = "records", default_values_t = vec![100_000, 1_000_000])]
        records: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Scheduler lateness, missed and doubled fires under many schedules.
    Schedule {
        #[arg(long = "backend", default_values_t = vec!["sqlite".to_string()])]
        backends: Vec<String>,
        /// Workflows on per-minute schedules, spread over the seconds of the minute.
        #[arg(long, default_value_t = 10_000)]
        per_minute: usize,
        /// Workflows firing every second.
        #[arg(long, default_value_t = 100)]
        per_second: usize,
        #[arg(long, default_value_t = 180)]
        seconds: u64,
        #[arg(long, default_value = "postgres://root@127.0.0.1:5432")]
        postgres: String,
    },
    /// Rows per second PostgreSQL → CSV on FTP and PostgreSQL → MariaDB, and peak memory.
    Connectors {
        #[arg(long = "rows", default_values_t = vec![100_000, 1_000_000])]
        rows: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Records per second from a MyStore stand-in through `MyStore Get
    /// Customers` → `Format CSV`, and peak memory.
    Vendors {
        #[arg(long = "records", default_values_t = vec![100_000, 300_000])]
        records: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// RunWorkflow, claim, WorkflowRuns pages and Workflow GET on an empty
    /// history and on `--runs` finished runs; then retention deleting them
    /// while `GET /api/Workflow` is timed.
    History {
        #[arg(long = "backend", default_values_t = vec!["sqlite".to_string()])]
        backends: Vec<String>,
        #[arg(long, default_value_t = 1_000_000)]
        runs: usize,
        /// Requests (and runs) per figure.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// The longest retention is watched, in seconds.
        #[arg(long, default_value_t = 900)]
        retention_limit: u64,
        #[arg(long, default_value = "postgres://root@127.0.0.1:5432")]
        postgres: String,
    },
    /// The console's pages and GET /api/Runs, p50/p99, with 1,000 and with
    /// `--runs` finished runs in the store.
    Console {
        #[arg(long = "backend", default_values_t = vec!["sqlite".to_string()])]
        backends: Vec<String>,
        #[arg(long, default_value_t = 1_000_000)]
        runs: usize,
        /// Requests per page and repeat.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        #[arg(long, default_value = "postgres://root@127.0.0.1:5432")]
        postgres: String,
    },
    /// Time from `canvas serve` to the first 200 on /healthz, and idle memory.
    Startup {
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Bench::Api {
            backends,
            concurrency,
            seconds,
            repeat,
            postgres,
        } => {
            println!("| backend | request | concurrency | req/s | p50 ms | p99 ms | errors |");
            println!("|---|---|---|---|---|---|---|");
            for backend in backends {
                let database = (backend == "postgres").then(|| postgres.clone());
                let server = server::Server::start(&cli.canvas, database.as_deref()).await?;
                let targets = server.seed_workflows(100).await?;
                for (label, path) in [
                    ("GET /api/Workflow?id=", targets.one.clone()),
                    ("GET /api/Workflows (100)", targets.list.clone()),
                ] {
                    for &c in &concurrency {
                        let mut runs = Vec::new();
                        for _ in 0..repeat {
                            runs.push(
                                load::run(
                                    server.addr,
                                    &path,
                                    &server.keys,
                                    c,
                                    Duration::from_secs(seconds),
                                )
                                .await?,
                            );
                        }
                        let rps = median(runs.iter().map(|r| r.rps).collect());
                        let p50 = median(runs.iter().map(|r| r.p50_ms).collect());
                        let p99 = median(runs.iter().map(|r| r.p99_ms).collect());
                        let errors: u64 = runs.iter().map(|r| r.errors).sum();
                        println!(
                            "| {backend} | {label} | {c} | {rps:.0} | {p50:.3} | {p99:.3} | {errors} |"
                        );
                    }
                }
                println!(
                    "\nRSS of the server after load ({backend}): {:.1} MiB\n",
                    server.rss_mib()?
                );
            }
        }
        Bench::Runs {
            backends,
            workers,
            runs,
            repeat,
            postgres,
        } => {
            println!(
                "| backend | workers | runs/s | queued→started ms | claim→first block ms | script block ms (idle) | queued→finished p50 / p99 ms at half load | store writes/run | commits/run | store bytes/run | WAL syncs/run | WAL records/run | WAL bytes/run | RSS MiB |"
            );
            println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            for backend in &backends {
                for &w in &workers {
                    let (mut rps, mut q, mut c) = (Vec::new(), Vec::new(), Vec::new());
                    let mut wal: Vec<[f64; 3]> = Vec::new();
                    let (mut writes, mut rss, mut script) = (Vec::new(), Vec::new(), Vec::new());
                    let (mut commits, mut bytes) = (Vec::new(), Vec::new());
                    let (mut loaded_p50, mut loaded_p99) = (Vec::new(), Vec::new());
                    for _ in 0..repeat {
                        let database = (backend == "postgres").then(|| postgres.clone());
                        let env = [
                            ("CANVAS_WORKERS", w.to_string()),
                            // One organization runs everything here: let it use every worker.
                            ("CANVAS_MAX_RUNNING_RUNS_PER_ORGANIZATION", w.to_string()),
                            ("CANVAS_LOG", "warn".to_string()),
                        ];
                        let server =
                            server::Server::start_with(&cli.canvas, database.as_deref(), &env)
                                .await?;
                        let f = runs::measure(&server, runs).await?;
                        rps.push(f.runs_per_second);
                        q.push(f.queued_to_started_ms);
                        c.push(f.claim_to_first_block_ms);
                        writes.push(f.writes_per_run);
                        commits.push(f.commits_per_run);
                        bytes.push(f.store_bytes_per_run);
                        loaded_p50.push(f.finished_at_half_load_ms.0);
                        loaded_p99.push(f.finished_at_half_load_ms.1);
                        rss.push(f.rss_mib);
                        script.push(f.script_block_ms);
                        wal.extend(f.wal.map(|w| [w.syncs, w.records, w.bytes]));
                    }
                    let wal_median = |i: usize| match wal.is_empty() {
                        true => "–".to_string(),
                        false => format!("{:.1}", median(wal.iter().map(|w| w[i]).collect())),
                    };
                    println!(
                        "| {backend} | {w} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} / {:.1} | {:.2} | {:.2} | {:.0} | {} | {} | {} | {:.1} |",
                        median(rps),
                        median(q),
                        median(c),
                        median(script),
                        median(loaded_p50),
                        median(loaded_p99),
                        median(writes),
                        median(commits),
                        median(bytes),
                        wal_median(0),
                        wal_median(1),
                        wal_median(2),
                        median(rss)
                    );
                }
            }
        }
        Bench::Records { records, repeat } => {
            println!(
                "| records | generate (script) rec/s | Map fields rec/s | script map rec/s | peak RSS MiB | datasets MiB |"
            );
            println!("|---|---|---|---|---|---|");
            for n in records {
                let mut figures = Vec::new();
                for _ in 0..repeat {
                    // A fresh server each time: its peak memory is this run's alone.
                    let env = [("CANVAS_SCRIPT_CPU_MS", "600000".to_string())];
                    let server = server::Server::start_with(&cli.canvas, None, &env).await?;
                    figures.push(records::measure(&server, n, server.dir.path()).await?);
                }
                let m =
                    |f: fn(&records::RecordFigures) -> f64| median(figures.iter().map(f).collect());
                println!(
                    "| {n} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} |",
                    m(|f| f.generate_per_second),
                    m(|f| f.map_block_per_second),
                    m(|f| f.script_map_per_second),
                    m(|f| f.peak_rss_mib),
                    m(|f| f.dataset_mib)
                );
            }
        }
        Bench::Schedule {
            backends,
            per_minute,
            per_second,
            seconds,
            postgres,
        } => {
            println!(
                "| backend | fires/s | lateness p50 ms | p99 ms | max ms | missed | doubled | scheduler CPU % of a core | server RSS MiB |"
            );
            println!("|---|---|---|---|---|---|---|---|---|");
            for backend in backends {
                let database = (backend == "postgres").then(|| postgres.clone());
                let server = server::Server::start(&cli.canvas, database.as_deref()).await?;
                let f = schedule::measure(&server, per_minute, per_second, seconds).await?;
                println!(
                    "| {backend} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {:.1} |",
                    f.fires_per_second,
                    f.late_p50_ms,
                    f.late_p99_ms,
                    f.late_max_ms,
                    f.missed,
                    f.doubled,
                    f.scheduler_cpu_percent,
                    f.rss_mib
                );
            }
        }
        Bench::Connectors { rows, repeat } => {
            println!(
                "| rows | path | SQL Query rows/s | delivering block rows/s | whole run rows/s | peak RSS MiB |"
            );
            println!("|---|---|---|---|---|---|");
            let ftp_root = tempfile::tempdir()?;
            let ftp_port = connectors::start_ftp(ftp_root.path()).await?;
            for n in rows {
                connectors::prepare_source(n)?;
                for path in [
                    "PostgreSQL → FTP Upload (CSV)",
                    "PostgreSQL → SQL Write (MariaDB)",
                ] {
                    let mut figures = Vec::new();
                    for _ in 0..repeat {
                        // A fresh server each time: its peak memory is this run's alone.
                        let env = [("CANVAS_LOG", "warn".to_string())];
                        let server = server::Server::start_with(&cli.canvas, None, &env).await?;
                        figures.push(if path.contains("FTP") {
                            connectors::to_ftp(&server, n, ftp_port, ftp_root.path()).await?
                        } else {
                            connectors::to_mariadb(&server, n).await?
                        });
                    }
                    let m = |f: fn(&connectors::Figures) -> f64| {
                        median(figures.iter().map(f).collect())
                    };
                    println!(
                        "| {n} | {path} | {:.0} | {:.0} | {:.0} | {:.1} |",
                        m(|f| f.query_per_second),
                        m(|f| f.deliver_per_second),
                        m(|f| f.run_per_second),
                        m(|f| f.peak_rss_mib)
                    );
                }
            }
        }
        Bench::Vendors { records, repeat } => {
            println!(
                "| records | chain | MyStore Get Customers records/s | whole run records/s | peak RSS MiB |"
            );
            println!("|---|---|---|---|---|");
            for n in records {
                let base = vendors::start_mystore(n).await?;
                for (chain, to_csv) in [("MyStore Get Customers", false), ("→ Format CSV", true)]
                {
                    let mut figures = Vec::new();
                    for _ in 0..repeat {
                        // A fresh server each time: its peak memory is this run's alone.
                        let env = [("CANVAS_VENDORS__MYST2__BASE_URL", base.clone())];
                        let server = server::Server::start_with(&cli.canvas, None, &env).await?;
                        figures.push(vendors::customers(&server, n, to_csv).await?);
                    }
                    let m =
                        |f: fn(&vendors::Figures) -> f64| median(figures.iter().map(f).collect());
                    println!(
                        "| {n} | {chain} | {:.0} | {:.0} | {:.1} |",
                        m(|f| f.read_per_second),
                        m(|f| f.run_per_second),
                        m(|f| f.peak_rss_mib)
                    );
                }
            }
        }
        Bench::Console {
            backends,
            runs,
            samples,
            repeat,
            postgres,
        } => {
            let plan = console::Plan {
                runs,
                samples,
                repeat,
            };
            for backend in backends {
                let database = (backend == "postgres").then_some(postgres.as_str());
                console::bench(&cli.canvas, database, &backend, &plan).await?;
            }
        }
        Bench::History {
            backends,
            runs,
            samples,
            retention_limit,
            postgres,
        } => {
            let plan = history::Plan {
                runs,
                samples,
                retention_limit: Duration::from_secs(retention_limit),
            };
            for backend in backends {
                let database = (backend == "postgres").then_some(postgres.as_str());
                history::bench(&cli.canvas, database, &backend, &plan).await?;
            }
        }
        Bench::Startup { repeat } => {
            let mut fresh = Vec::new();
            let mut again = Vec::new();
            let mut rss = Vec::new();
            for _ in 0..repeat {
                let dir = tempfile::tempdir()?;
                let (t1, mem) = server::time_to_healthy(&cli.canvas, dir.path()).await?;
                let (t2, _) = server::time_to_healthy(&cli.canvas, dir.path()).await?;
                fresh.push(t1);
                again.push(t2);
                rss.push(mem);
            }
            println!("| measure | median of {repeat} |");
            println!("|---|---|");
            println!(
                "| serve → first 200 on /healthz, fresh store (migrations + init) | {:.1} ms |",
                median(fresh)
            );
            println!(
                "| serve → first 200 on /healthz, existing store | {:.1} ms |",
                median(again)
            );
            println!("| idle RSS after start | {:.1} MiB |", median(rss));
        }
    }
    Ok(())
}
