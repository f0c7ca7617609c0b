//! Registered applications as blocks and scripts see them: credentials
//! opened on demand, and the `apps` handles of a script, whose calls go
//! through the connector layer's [`AppOperations`].

use crate::Engine;
use canvas_blocks::{AppAccess, AppOperations, BlockError, CancelToken};
use canvas_domain::credentials::Credentials;
use canvas_security::Secrets;
use canvas_store::model::Workflow;
use canvas_store::{Store, StoreError};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Opens a workflow's registered applications' credentials.
#[derive(Clone)]
pub(crate) struct Keys {
    store: Store,
    secrets: Secrets,
}

impl Keys {
    /// The application refused the registered credentials: the registration
    /// says so (`faulted`) until it is registered again.
    pub async fn mark_faulted(&self, reg_application: uuid::Uuid) {
        if let Err(e) = self.store.mark_faulted(reg_application).await {
            tracing::error!(%reg_application, error = %e, "marking the application faulted failed");
        }
    }

    /// The registered application the workflow uses for `short`, credentials opened.
    pub async fn open(
        &self,
        applications: &Map<String, Value>,
        short: &str,
    ) -> Result<AppAccess, BlockError> {
        let missing = || {
            BlockError::Permanent(format!(
                "the workflow has no registered application for {short}"
            ))
        };
        let id: Uuid = applications
            .get(short)
            .and_then(|v| v.as_str()?.parse().ok())
            .ok_or_else(missing)?;
        let reg = self.store.reg_application(id).await.map_err(|e| match e {
            StoreError::NotFound => missing(),
            other => BlockError::Transient(format!("store: {other}")),
        })?;
        let credentials = self
            .secrets
            .open(&reg.credentials, id.as_bytes())
            .and_then(|plain| Credentials::from_stored_json(std::str::from_utf8(&plain).ok()?))
            .ok_or_else(|| {
                BlockError::Permanent(format!(
                    "the credentials of {short} cannot be read with this server's master key"
                ))
            })?;
        Ok(AppAccess {
            short_name: short.to_string(),
            reg_application_id: id,
            credentials,
        })
    }
}

impl Engine {
    pub(crate) fn keys(&self) -> Keys {
        Keys {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
        }
    }

    /// The `apps` a script of `workflow` sees: a handle per registered
    /// application, with a method per operation its connector offers.
    pub(crate) fn script_apps(&self, workflow: &Workflow, cancel: CancelToken) -> ScriptApps {
        let catalog = canvas_catalog::Catalog::builtin();
        let mut handles = Vec::new();
        let mut operations: HashMap<String, Arc<dyn AppOperations>> = HashMap::new();
        for (short, reg) in &workflow.applications {
            let ops = self.blocks.operations(short);
            let names = ops
                .as_ref()
                .map(|o| o.operations().to_vec())
                .unwrap_or_default();
            let name = catalog
                .application_by_short_name(short)
                .map(|a| a.name.clone());
            handles.push(json!({"shortName": short, "id": reg, "name": name, "operations": names}));
            operations.extend(ops.map(|o| (short.clone(), o)));
        }
        let caller = Caller {
            keys: self.keys(),
            applications: workflow.applications.clone(),
            operations,
            opened: Mutex::default(),
            cancel,
        };
        ScriptApps {
            handles_json: Value::Array(handles).to_string(),
            caller,
        }
    }
}

/// A script's `apps`: the handles it sees, and the way to the connectors.
pub(crate) struct ScriptApps {
    /// `[{"shortName", "id", "name", "operations": [...]}]`
    pub handles_json: String,
    pub caller: Caller,
}

/// Carries a script's `apps` calls to the connectors.
pub(crate) struct Caller {
    keys: Keys,
    applications: Map<String, Value>,
    operations: HashMap<String, Arc<dyn AppOperations>>,
    /// Credentials are opened once per block, at the first call.
    opened: Mutex<HashMap<String, Arc<AppAccess>>>,
    cancel: CancelToken,
}

impl Caller {
    /// `{"ok": result}` or `{"error": message, "transient": bool}`, as JSON text.
    pub async fn call(&self, app: &str, op: &str, args: &str) -> String {
        let outcome = self.call_async(app, op, args).await;
        match outcome {
            Ok(value) => json!({ "ok": value }),
            Err(e) => json!({
                "error": e.to_string(),
                "transient": matches!(e, BlockError::Transient(_)),
            }),
        }
        .to_string()
    }

    async fn call_async(&self, app: &str, op: &str, args: &str) -> Result<Value, BlockError> {
        let ops = self.operations.get(app).ok_or_else(|| {
            BlockError::Permanent(format!("{app} offers no operations to scripts"))
        })?;
        if !ops.operations().contains(&op) {
            return Err(BlockError::Permanent(format!(
                "{app} has no operation '{op}'"
            )));
        }
        let args: Vec<Value> = serde_json::from_str(args)
            .map_err(|e| BlockError::Permanent(format!("arguments are not JSON: {e}")))?;
        let access = self.access(app).await?;
        let result = ops.call(&access, op, args, self.cancel.clone()).await;
        if let Err(BlockError::Unauthorized(_)) = &result {
            self.keys.mark_faulted(access.reg_application_id).await;
        }
        result
    }

    async fn access(&self, app: &str) -> Result<Arc<AppAccess>, BlockError> {
        let known = self
            .opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(app)
            .cloned();
        if let Some(access) = known {
            return Ok(access);
        }
        let access = Arc::new(self.keys.open(&self.applications, app).await?);
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(app.to_string(), access.clone());
        Ok(access)
    }
}
