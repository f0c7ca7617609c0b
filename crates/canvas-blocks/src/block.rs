//! What every block written in Rust implements — the utility blocks here,
//! the connector blocks in their own crate — and what the engine hands it.

use crate::datasets::{DatasetError, RecordReader, RecordWriter};
use crate::variables::Variables;
use canvas_domain::credentials::Credentials;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// How a block ended when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Worth another try later (a network error, a timeout, HTTP 5xx or 429).
    #[error("transient error: {0}")]
    Transient(String),
    /// Trying again would fail the same way.
    #[error("{0}")]
    Permanent(String),
    /// The application refused the registered credentials: the run marks
    /// the registration `faulted`.
    #[error("Authentication Error: {0}")]
    Unauthorized(String),
    #[error("cancelled")]
    Cancelled,
    #[error("dataset: {0}")]
    Dataset(#[from] DatasetError),
}

/// The registered application a block works with.
pub struct AppAccess {
    pub short_name: String,
    pub reg_application_id: Uuid,
    pub credentials: Credentials,
}

impl std::fmt::Debug for AppAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAccess")
            .field("short_name", &self.short_name)
            .field("reg_application_id", &self.reg_application_id)
            .finish_non_exhaustive()
    }
}

/// Raised when the run is cancelled or interrupted; long blocks check it
/// between batches (their cancellation points).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token raised with `flag` (the run's interrupt flag).
    pub fn new(flag: Arc<AtomicBool>) -> Self {
        Self(flag)
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the run is cancelled: `cx.cancel.check()?` between batches.
    pub fn check(&self) -> Result<(), BlockError> {
        if self.is_cancelled() {
            Err(BlockError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// What a native block gets besides its input and output.
#[derive(Debug)]
pub struct BlockContext {
    pub block_name: String,
    /// The block's variables, templates already rendered for this run,
    /// read through the catalog's declarations.
    pub variables: Variables,
    /// `None` for blocks that belong to no application (the utility blocks).
    pub application: Option<AppAccess>,
    pub cancel: CancelToken,
    /// 1 on the first try; more when the block is retried after a transient error.
    pub attempt: u32,
    /// Where the workflow's account gets email: its `defaultNotificationEmail`,
    /// else its email. Set for application blocks.
    pub account_email: Option<String>,
    /// The workflow's account. Set for application blocks.
    pub account_id: Option<Uuid>,
    log: Vec<String>,
}

impl BlockContext {
    pub fn new(block_name: &str, variables: Variables, cancel: CancelToken) -> Self {
        Self {
            block_name: block_name.to_string(),
            variables,
            application: None,
            cancel,
            attempt: 1,
            account_email: None,
            account_id: None,
            log: Vec::new(),
        }
    }

    /// A line in the run's block log (visible through WorkflowRun). Never log credentials.
    pub fn log(&mut self, line: impl Into<String>) {
        self.log.push(line.into());
    }

    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }
}

pub type BlockFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BlockError>> + Send + 'a>>;

/// A block written in Rust: reads its input batch by batch and writes its
/// output as it goes, so memory stays bounded by the batch size.
pub trait NativeBlock: Send + Sync {
    /// The block's name as templates use it (`blockName`); its variables
    /// and everything else about it are the catalog's to say.
    fn name(&self) -> &str;
    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a>;
}

pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, BlockError>> + Send + 'a>>;

/// What a script can do with a registered application through its handle:
/// `await apps.FTP.upload(...)` calls `call(app, "upload", args)`.
pub trait AppOperations: Send + Sync {
    /// The method names a script's handle offers.
    fn operations(&self) -> &[&'static str];
    /// One call; `args` are the script's arguments, as JSON.
    fn call<'a>(
        &'a self,
        app: &'a AppAccess,
        operation: &'a str,
        args: Vec<Value>,
        cancel: CancelToken,
    ) -> CallFuture<'a>;
}

/// The native blocks this engine can execute, by application short name
/// (`""` for utility blocks) and block name; and the operations scripts can
/// call on each application.
#[derive(Clone, Default)]
pub struct NativeBlocks {
    blocks: HashMap<(String, String), Arc<dyn NativeBlock>>,
    operations: HashMap<String, Arc<dyn AppOperations>>,
}

impl NativeBlocks {
    pub fn add(&mut self, application: &str, block: Arc<dyn NativeBlock>) {
        let key = (application.to_string(), block.name().to_string());
        self.blocks.insert(key, block);
    }

    /// Adds (or replaces with) every block and operation of `other`.
    pub fn extend(&mut self, other: NativeBlocks) {
        self.blocks.extend(other.blocks);
        self.operations.extend(other.operations);
    }

    /// Gives scripts' `apps.<application>` handles these operations.
    pub fn add_operations(&mut self, application: &str, ops: Arc<dyn AppOperations>) {
        self.operations.insert(application.to_string(), ops);
    }

    /// Every registered block, as (application short name, block name).
    pub fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks
            .keys()
            .map(|(app, name)| (app.as_str(), name.as_str()))
    }

    pub fn operations(&self, application: &str) -> Option<Arc<dyn AppOperations>> {
        self.operations.get(application).cloned()
    }

    /// The block `name` of one of `applications`, or a utility block; with
    /// the application's short name.
    pub fn find(
        &self,
        applications: &[String],
        name: &str,
    ) -> Option<(Option<String>, Arc<dyn NativeBlock>)> {
        if let Some(b) = self.blocks.get(&(String::new(), name.to_string())) {
            return Some((None, b.clone()));
        }
        applications.iter().find_map(|app| {
            let b = self.blocks.get(&(app.clone(), name.to_string()))?;
            Some((Some(app.clone()), b.clone()))
        })
    }
}
