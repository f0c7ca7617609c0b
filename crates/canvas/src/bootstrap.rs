//! Opening Canvas's own store as the server and every command do: the
//! backend, the master key (checked against the store before it is kept),
//! and a fresh store's first organization.

use crate::config::Config;
use anyhow::{Context, bail};
use canvas_domain::account::{AccountRole, Email};
use canvas_domain::time::now;
use canvas_security::{MasterKey, Secrets};
use canvas_store::model::{AuditEntry, NewAccount, Organization};
use canvas_store::{NewOrganization, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

/// The store and the secrets, as every command and the server open them.
pub async fn open(config: &Config) -> anyhow::Result<(Store, Secrets)> {
    let store = open_store(config).await?;
    let key_file = config.data_dir.join("master.key");
    let (master, unsaved) = match &config.master_key {
        Some(hex) => (MasterKey::from_hex(&hex.0).context("master_key")?, false),
        None => match MasterKey::load(&key_file)? {
            Some(key) => (key, false),
            None => (MasterKey::generate(), true),
        },
    };
    let secrets = Secrets::new(&master);
    check_master_key(&store, &secrets).await?;
    // Kept only once the store accepted it: a refused node leaves no key file behind.
    if unsaved {
        create_private_dir(&config.data_dir)?;
        master.save_new(&key_file)?;
    }
    let check = master_key_check(&secrets);
    if store.setting_or_insert(MASTER_KEY_CHECK, &check).await? != check {
        bail!("{MASTER_KEY_DIFFERS}");
    }
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
            let path = config.sqlite_path();
            make_sqlite_files_private(&path)?;
            let store = Store::open_sqlite(&path)
                .await
                .with_context(|| format!("the embedded store {}", path.display()))?;
            make_sqlite_files_private(&path)?;
            store
        }
    })
}

const MASTER_KEY_CHECK: &str = "master_key_check";
const MASTER_KEY_DIFFERS: &str = "the master key differs from the one this store was created with: \
     nodes sharing a store must share master_key (CANVAS_MASTER_KEY or <data_dir>/master.key)";

/// The store remembers a keyed hash made with the master key it was first
/// opened with; a node with another key would fail every API key silently.
async fn check_master_key(store: &Store, secrets: &Secrets) -> anyhow::Result<()> {
    match store.setting(MASTER_KEY_CHECK).await? {
        Some(stored) if stored != master_key_check(secrets) => bail!("{MASTER_KEY_DIFFERS}"),
        _ => Ok(()),
    }
}

fn master_key_check(secrets: &Secrets) -> String {
    hex_encode(&secrets.hash_secret("canvas master key check"))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The data folder, private to the service user (0700) whether it was
/// made now or existed: the store, the master key and the blobs live there.
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating the data folder {}", dir.display()))?;
    match make_private(dir, 0o700) {
        // A folder the service user does not own (a mounted volume): its
        // owner decides; the files Canvas makes in it are still private.
        Err(e) if is_permission_denied(&e) => {
            tracing::warn!(folder = %dir.display(), "the data folder is not Canvas's to make private (mode unchanged)");
            Ok(())
        }
        other => other,
    }
}

fn is_permission_denied(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
}

/// Sets `path`'s mode (Unix); elsewhere the platform's defaults stand.
fn make_private(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("making {} private", path.display()))?;
    }
    let _ = mode;
    Ok(())
}

/// The SQLite files (the store, its WAL and shared memory), 0600: SQLite
/// gives the files it makes later the store's own mode.
fn make_sqlite_files_private(db: &std::path::Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if file.exists() {
            make_private(&file, 0o600)?;
        }
    }
    Ok(())
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

pub async fn audit(store: &Store, organization_id: Uuid, action: &str, target: Option<String>) {
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
