//! Operator commands that work on the store directly: init, org, keys.

use crate::bootstrap::{Created, audit, create_organization, open};
use crate::config::Config;
use anyhow::bail;
use canvas_domain::net::AllowList;
use canvas_domain::time::now;
use canvas_security::Secrets;
use canvas_store::{Store, StoreError};
use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create another top-level organization with its Admin account and key.
    #[command(
        after_help = "Example:\n  canvas org create --name Acme --admin-email ops@acme.example --json"
    )]
    Create {
        /// The organization's name. Example: --name Acme
        #[arg(long)]
        name: String,
        /// The Admin account's email (default a made-up admin+…@canvas.local). Example: --admin-email ops@acme.example
        #[arg(long, value_name = "EMAIL")]
        admin_email: Option<String>,
        /// Print the result as one JSON line. Example: --json
        #[arg(long)]
        json: bool,
    },
    /// Set the organization's IP allow-list (CIDR ranges; empty = open).
    #[command(
        after_help = "Examples:\n  canvas org allow-ips --organization 3f0c8a52-6c1e-4c55-9a4e-2d6f1b7e9c10 --cidr 10.0.0.0/8 --cidr 2001:db8::/32\n  canvas org allow-ips --organization 3f0c8a52-6c1e-4c55-9a4e-2d6f1b7e9c10 --clear"
    )]
    AllowIps {
        /// The organization's id (as `init` printed it). Example: --organization 3f0c8a52-6c1e-4c55-9a4e-2d6f1b7e9c10
        #[arg(long, value_name = "ID")]
        organization: Uuid,
        /// An allowed range, IPv4 or IPv6, repeatable. Example: --cidr 10.0.0.0/8
        #[arg(long = "cidr", value_name = "CIDR")]
        cidrs: Vec<String>,
        /// Remove the allow-list: every address may call. Example: --clear
        #[arg(long, conflicts_with = "cidrs")]
        clear: bool,
        /// Print the result as one JSON line. Example: --json
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Issue an API key pair for an account (turns API access on).
    #[command(
        after_help = "Example:\n  canvas keys create --account 3f0c8a52-6c1e-4c55-9a4e-2d6f1b7e9c10 --json"
    )]
    Create {
        /// The account's id. Example: --account 3f0c8a52-6c1e-4c55-9a4e-2d6f1b7e9c10
        #[arg(long, value_name = "ID")]
        account: Uuid,
        /// Print the result as one JSON line. Example: --json
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key.
    #[command(after_help = "Example:\n  canvas keys revoke --consumer 5D1F0C2E…")]
    Revoke {
        /// The key's Consumer. Example: --consumer 5D1F0C2E9A…
        #[arg(long, value_name = "KEY")]
        consumer: String,
        /// Print the result as one JSON line. Example: --json
        #[arg(long)]
        json: bool,
    },
}

fn print(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

fn print_created(json: bool, c: &Created) {
    print(json, c.to_json(), || {
        format!(
            "organization {}\naccount      {}\nConsumer:    {}\nSecretKey:   {}\n(the SecretKey is shown only now)",
            c.organization_id, c.account_id, c.consumer, c.secret_key
        )
    });
}

pub async fn init(
    config: &Config,
    name: &str,
    email: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let (store, secrets) = open(config).await?;
    if store.has_organization().await? {
        bail!(
            "this store is already initialized; use `canvas org create` for another organization"
        );
    }
    let created = create_organization(&store, &secrets, name, email).await?;
    print_created(json, &created);
    Ok(())
}

/// The store of an initialized Canvas: a mistyped `--data-dir` or URL is
/// refused rather than answered from a new, empty store.
async fn open_initialized(config: &Config) -> anyhow::Result<(Store, Secrets)> {
    let missing = || {
        anyhow::anyhow!(
            "no initialized store at {}; run `canvas init` (or `canvas serve`) first, \
             or give the right --data-dir / --database-url",
            match &config.database_url {
                Some(_) => "database_url".to_string(),
                None => config.sqlite_path().display().to_string(),
            }
        )
    };
    if config.database_url.is_none() && !config.sqlite_path().exists() {
        return Err(missing());
    }
    let (store, secrets) = open(config).await?;
    if !store.has_organization().await? {
        return Err(missing());
    }
    Ok((store, secrets))
}

pub async fn org(config: &Config, command: OrgCommand) -> anyhow::Result<()> {
    let (store, secrets) = open_initialized(config).await?;
    match command {
        OrgCommand::Create {
            name,
            admin_email,
            json,
        } => {
            let created = create_organization(&store, &secrets, &name, admin_email).await?;
            print_created(json, &created);
        }
        OrgCommand::AllowIps {
            organization,
            cidrs,
            clear,
            json,
        } => {
            if cidrs.is_empty() && !clear {
                bail!(
                    "give at least one --cidr, or --clear to open the organization to every address"
                );
            }
            let list = AllowList::parse(&cidrs).map_err(|e| anyhow::anyhow!("--cidr: {e}"))?;
            match store
                .set_allowed_cidrs(organization, &list.to_strings())
                .await
            {
                Err(StoreError::NotFound) => {
                    bail!("--organization: no organization {organization}")
                }
                other => other?,
            }
            audit(
                &store,
                organization,
                "Organization.AllowIps",
                Some(list.to_strings().join(",")),
            )
            .await;
            let value = json!({"organizationId": organization, "allowedCidrs": list.to_strings()});
            print(json, value, || {
                format!("allow-list of {organization}: {:?}", list.to_strings())
            });
        }
    }
    Ok(())
}

pub async fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let (store, secrets) = open_initialized(config).await?;
    match command {
        KeysCommand::Create { account, json } => {
            let found = match store.account(account).await {
                Err(StoreError::NotFound) => bail!("--account: no account {account}"),
                other => other?,
            };
            let pair = secrets.new_key_pair();
            store
                .create_key(
                    account,
                    &pair.consumer,
                    &secrets.hash_secret(&pair.secret),
                    now(),
                )
                .await?;
            audit(
                &store,
                found.organization_id,
                "Keys.Create",
                Some(account.to_string()),
            )
            .await;
            let value = json!({"consumer": pair.consumer, "secretKey": pair.secret});
            print(json, value, || {
                format!(
                    "Consumer:  {}\nSecretKey: {}\n(the SecretKey is shown only now)",
                    pair.consumer, pair.secret
                )
            });
        }
        KeysCommand::Revoke { consumer, json } => {
            match store.revoke_key(consumer.trim(), now()).await {
                Err(StoreError::NotFound) => bail!("--consumer: no live key {consumer}"),
                other => other?,
            }
            print(json, json!({"revoked": consumer}), || {
                format!("revoked {consumer}")
            });
        }
    }
    Ok(())
}
