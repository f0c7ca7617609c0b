//! Operator commands that work on the store directly: init, org, keys.

use crate::config::Config;
use anyhow::{Context, bail};
use canvas_domain::account::{AccountRole, Email};
use canvas_domain::net::AllowList;
use canvas_domain::time::now;
use canvas_security::{MasterKey, Secrets};
use canvas_store::model::{AuditEntry, NewAccount, Organization};
use canvas_store::{NewOrganization, Store, StoreError};
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

/// The store and the secrets, as every command and the server open them.
pub async fn open(config: &Config) -> anyhow::Result<(Store, Secrets)> {
    let store = open_store(config).await?;
    create_private_dir(&config.data_dir)?;
    let master = match &config.master_key {
        Some(hex) => MasterKey::from_hex(&hex.0).context("master_key")?,
        None => MasterKey::load_or_create(&config.data_dir.join("master.key"))?,
    };
    let secrets = Secrets::new(&master);
    check_master_key(&store, &secrets).await?;
    Ok((store, secrets))
}

/// The configured store (PostgreSQL or the embedded SQLite file).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Ok(match &config.database_url {
        Some(url) => Store::open_postgres(url.as_str(), None)
            .await
            .context("database_url")?,
        None => {
            create_private_dir(&config.data_dir)?;
            Store::open_sqlite(&config.sqlite_path())
                .await
                .with_context(|| format!("the embedded store {}", config.sqlite_path().display()))?
        }
    })
}

/// The store remembers a keyed hash made with the master key it was first
/// opened with; a node with another key would fail every API key silently.
async fn check_master_key(store: &Store, secrets: &Secrets) -> anyhow::Result<()> {
    let check = hex_encode(&secrets.hash_secret("canvas master key check"));
    let stored = store.setting_or_insert("master_key_check", &check).await?;
    if stored != check {
        bail!(
            "the master key differs from the one this store was created with: \
             nodes sharing a store must share master_key (CANVAS_MASTER_KEY or <data_dir>/master.key)"
        );
    }
    Ok(())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating the data folder {}", dir.display()))
}

/// What `init` and `org create` print: the new organization's first key.
pub struct Created {
    pub organization_id: Uuid,
    pub account_id: Uuid,
    pub consumer: String,
    pub secret_key: String,
}

impl Created {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "organizationId": self.organization_id,
            "accountId": self.account_id,
            "consumer": self.consumer,
            "secretKey": self.secret_key,
        })
    }
}

pub async fn create_organization(
    store: &Store,
    secrets: &Secrets,
    name: &str,
    email: Option<String>,
) -> anyhow::Result<Created> {
    let name = name.trim();
    if name.is_empty() {
        bail!("--name: must not be empty");
    }
    let org_id = Uuid::new_v4();
    let email = match email {
        Some(email) => Email::parse(&email).map_err(|e| anyhow::anyhow!("--admin-email: {e}"))?,
        None => Email::placeholder(&org_id.simple().to_string()[..12]),
    };
    let at = now();
    let pair = secrets.new_key_pair();
    let admin = NewAccount {
        id: Uuid::new_v4(),
        organization_id: org_id,
        first_name: "Admin".into(),
        last_name: name.into(),
        email: email.as_str().into(),
        phone: None,
        role: AccountRole::Admin,
        country_key: None,
        global_notifications: false,
        default_notification_email: None,
        active: true,
        activation_token_hash: None,
        date_created: at,
    };
    let new = NewOrganization {
        organization: Organization {
            id: org_id,
            name: name.into(),
            parent_id: None,
            allowed_cidrs: vec![],
            date_created: at,
        },
        consumer: pair.consumer.clone(),
        secret_hash: secrets.hash_secret(&pair.secret),
        admin,
    };
    match store.create_organization(&new).await {
        Err(StoreError::Conflict(_)) => bail!("an account with the email {email} already exists"),
        other => other?,
    }
    audit(
        store,
        org_id,
        "Organization.Create",
        Some(org_id.to_string()),
    )
    .await;
    Ok(Created {
        organization_id: org_id,
        account_id: new.admin.id,
        consumer: pair.consumer,
        secret_key: pair.secret,
    })
}

async fn audit(store: &Store, organization_id: Uuid, action: &str, target: Option<String>) {
    let entry = AuditEntry {
        id: Uuid::new_v4(),
        at: now(),
        organization_id,
        actor_account_id: None,
        acting_account_id: None,
        action: format!("cli:{action}"),
        target,
        client_ip: None,
    };
    if let Err(e) = store.record_audit(&entry).await {
        tracing::error!(error = %e, "audit entry could not be written");
    }
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

pub async fn org(config: &Config, command: OrgCommand) -> anyhow::Result<()> {
    let (store, secrets) = open(config).await?;
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
    let (store, secrets) = open(config).await?;
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
