//! `canvas`: the server and the operator commands. Thin: parse the command
//! line, load the configuration, hand over to the libraries.

mod admin;
mod blobs;
mod bootstrap;
mod config;
mod cron;
mod fds;
mod lock;
mod logging;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  canvas serve                                   # ./canvas-data, 127.0.0.1:8080
  canvas serve --listen 0.0.0.0:8080 --database-url postgres://canvas@db/canvas
  canvas init --json > keys.json                 # a fresh store's first key, without serving
  canvas cron next '0 0 2,6 ? * TUE' --tz Europe/Oslo --count 3";

#[derive(Parser)]
#[command(
    name = "canvas",
    version,
    about = "Canvas integration platform server",
    after_help = EXAMPLES
)]
struct Cli {
    /// Configuration file (TOML); default ./canvas.toml when present. Example: --config /etc/canvas/canvas.toml
    #[arg(long, global = true, env = "CANVAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Folder of the embedded store, the master key and block outputs (default ./canvas-data; CANVAS_DATA_DIR). Example: --data-dir /var/lib/canvas
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL instead of the embedded store (CANVAS_DATABASE_URL). Example: --database-url postgres://canvas@db:5432/canvas
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server, the workers and the scheduler; a fresh store prints its first key once.
    #[command(after_help = "Example:\n  canvas serve --listen 127.0.0.1:8080 > first-key.json")]
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; CANVAS_LISTEN). Example: --listen 0.0.0.0:8080
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// Log as JSON lines instead of text. Example: --log-json
        #[arg(long)]
        log_json: bool,
    },
    /// Create the first organization, its Admin account and an API key (a fresh store only).
    #[command(
        after_help = "Example:\n  canvas init --name Acme --admin-email ops@acme.example --json > keys.json"
    )]
    Init {
        /// The organization's name. Example: --name Acme
        #[arg(long, default_value = "Canvas")]
        name: String,
        /// The Admin account's email (default a made-up admin+…@canvas.local). Example: --admin-email ops@acme.example
        #[arg(long, value_name = "EMAIL")]
        admin_email: Option<String>,
        /// Print the result as one JSON line. Example: --json
        #[arg(long)]
        json: bool,
    },
    /// Organizations: create another, set its IP allow-list.
    #[command(
        after_help = "Example:\n  canvas org create --name Acme --admin-email ops@acme.example --json"
    )]
    Org {
        #[command(subcommand)]
        command: admin::OrgCommand,
    },
    /// API keys: issue and revoke.
    #[command(
        after_help = "Example:\n  canvas keys create --account 3f0c8a52-6c1e-4c55-9a4e-2d6f1b7e9c10 --json"
    )]
    Keys {
        #[command(subcommand)]
        command: admin::KeysCommand,
    },
    /// Quartz cron expressions: next fire times, with the server's own parser.
    #[command(
        after_help = "Example:\n  canvas cron next '0 0 2,6 ? * TUE *' --tz Europe/Oslo --count 3"
    )]
    Cron {
        #[command(subcommand)]
        command: cron::CronCommand,
    },
    /// Runs scripts for `canvas serve`, which starts it; not for use by hand.
    #[command(
        hide = true,
        after_help = "Example:\n  canvas sandbox   # started by canvas serve, speaks frames on stdin and stdout"
    )]
    Sandbox,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Cron { command } = &cli.command {
        return cron::run(command);
    }
    if let Command::Sandbox = &cli.command {
        return match canvas_engine::sandbox::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: sandbox: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: a cause whose
/// text its context already holds is left out.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = config::Overrides {
        data_dir: cli.data_dir,
        database_url: cli.database_url.map(config::SecretText),
        ..Default::default()
    };
    if let Command::Serve { listen, log_json } = &cli.command {
        overrides.listen = listen.clone();
        overrides.log_format = log_json.then(|| "json".to_string());
    }
    let config = config::Config::load(cli.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Serve { .. } => serve::run(config).await,
        Command::Init {
            name,
            admin_email,
            json,
        } => admin::init(&config, &name, admin_email, json).await,
        Command::Org { command } => admin::org(&config, command).await,
        Command::Keys { command } => admin::keys(&config, command).await,
        Command::Cron { .. } | Command::Sandbox => {
            unreachable!("handled before the runtime starts")
        }
    }
}
