//! `canvas cron next`: the server's own parser and next-fire computation.

use canvas_domain::cron::CronExpr;
use canvas_domain::time::format_rfc3339;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CronCommand {
    /// Print the next fire times of an expression.
    #[command(
        after_help = "Example:\n  canvas cron next '0 0 2,6 ? * TUE *' --tz Europe/Oslo --count 3 --json"
    )]
    Next {
        /// The Quartz expression, e.g. "0 0 2,6 ? * TUE".
        expr: String,
        /// IANA time zone of the schedule. Example: --tz Europe/Oslo
        #[arg(long, default_value = "UTC", value_name = "ZONE")]
        tz: String,
        /// Start instant (RFC 3339); default now. Example: --after 2026-03-29T00:00:00Z
        #[arg(long, value_name = "INSTANT")]
        after: Option<DateTime<Utc>>,
        /// How many fire times to print. Example: --count 10
        #[arg(long, default_value_t = 5, value_name = "N")]
        count: usize,
        /// Print a JSON array (or {"error": ...}). Example: --json
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: &CronCommand) -> ExitCode {
    let CronCommand::Next {
        expr,
        tz,
        after,
        count,
        json,
    } = command;
    let result = tz
        .parse::<chrono_tz::Tz>()
        .map_err(|_| format!("unknown time zone '{tz}'; expected an IANA name such as Europe/Oslo"))
        .and_then(|tz| {
            CronExpr::parse(expr, Utc::now())
                .map(|e| (e, tz))
                .map_err(|e| e.to_string())
        });
    match result {
        Ok((cron, tz)) => {
            let times: Vec<String> = cron
                .next_n(after.unwrap_or_else(Utc::now), tz, *count)
                .iter()
                .map(format_rfc3339)
                .collect();
            if *json {
                println!("{}", json!(times));
            } else {
                times.iter().for_each(|t| println!("{t}"));
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            if *json {
                println!("{}", json!({ "error": message }));
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::from(2)
        }
    }
}
