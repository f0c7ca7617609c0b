//! `canvas`: the server and the operator commands. Thin: parse the command
//! line, load the configuration, hand over to the libraries.

mod admin;
mod blobs;
mod config;
mod cron;
mod scheduling;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "canvas", version, about = "Canvas integration platform server")]
struct Cli {
    /// Configuration file (TOML); default ./canvas.toml when present.
    #[arg(long, global = true, env = "CANVAS_CONFIG")]
    config: Option<PathBuf>,
    /// Folder of the embedded store and the master key.
    #[arg(long, global = true, env = "CANVAS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://...` to use PostgreSQL instead of the embedded store.
    #[arg(long, global = true, env = "CANVAS_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "CANVAS_LISTEN")]
        listen: Option<String>,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Create the first organization, its Admin account and an API key.
    Init {
        #[arg(long, default_value = "Canvas")]
        name: String,
        #[arg(long)]
        admin_email: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: admin::OrgCommand,
    },
    /// API keys.
    Keys {
        #[command(subcommand)]
        command: admin::KeysCommand,
    },
    /// Quartz cron expressions.
    Cron {
        #[command(subcommand)]
        command: cron::CronCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Cron { command } = &cli.command {
        return cron::run(command);
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = config::Overrides {
        data_dir: cli.data_dir,
        database_url: cli.database_url,
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
        Command::Cron { .. } => unreachable!("handled before the runtime starts"),
    }
}
