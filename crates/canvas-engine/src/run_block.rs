//! One try of one block: its input read batch by batch from the data
//! source's stored output, its output written as it is produced.

use crate::execute::RunExecution;
use crate::sandbox::ScriptRun;
use crate::script::ScriptError;
use canvas_blocks::{BlockContext, BlockError, CancelToken, Variables};
use canvas_blocks::{RecordReader, RecordWriter, Written};
use canvas_domain::catalog::ChainBlock;
use canvas_domain::catalog::VariableDef;
use canvas_store::model::{RunBlock, Workflow};

/// A block of a run, with where it reads and writes.
pub(crate) struct BlockJob<'a> {
    pub workflow: &'a Workflow,
    pub block: &'a ChainBlock,
    /// The data source's stored output; `None` for a block with no data source.
    pub input_key: Option<&'a str>,
    pub output_key: &'a str,
    pub cancel: CancelToken,
}

impl From<ScriptError> for BlockError {
    fn from(e: ScriptError) -> Self {
        match e {
            ScriptError::Transient(m) => Self::Transient(m),
            ScriptError::Cancelled => Self::Cancelled,
            other => Self::Permanent(other.to_string()),
        }
    }
}

impl RunExecution<'_> {
    /// One try; returns what the block wrote (a small output whole, to be
    /// kept with the block's record). Nothing is left under the output key
    /// when the try fails.
    pub(crate) async fn run_block(
        &self,
        job: &BlockJob<'_>,
        attempt: u32,
        record: &mut RunBlock,
    ) -> Result<Written, BlockError> {
        let mut reader = match job.input_key {
            Some(key) => self.engine.datasets.reader(key).await?,
            None => RecordReader::empty(),
        };
        let mut writer = self.engine.datasets.writer(job.output_key);
        let started = std::time::Instant::now();
        let outcome = match job.block.script.as_deref().or_else(|| catalog_script(job)) {
            Some(source) => {
                let io = (&mut reader, &mut writer);
                self.run_script(source, job, attempt, io, &mut record.log)
                    .await
            }
            None => self
                .run_native(job, attempt, (&mut reader, &mut writer))
                .await
                .map(|log| record.log.extend(log)),
        };
        record.records_in = reader.records_read() as i64;
        let result = match outcome {
            Ok(()) => writer.finish_inline().await.map_err(BlockError::from),
            Err(e) => {
                writer.abort().await;
                Err(e)
            }
        };
        measure(job, &result, started.elapsed());
        result
    }

    async fn run_script(
        &self,
        source: &str,
        job: &BlockJob<'_>,
        attempt: u32,
        io: (&mut RecordReader, &mut RecordWriter),
        log: &mut Vec<String>,
    ) -> Result<(), BlockError> {
        let apps = self.engine.script_apps(job.workflow, job.cancel.clone());
        let run = ScriptRun {
            source: source.to_string(),
            variables_json: serde_json::Value::Object(job.block.variables.clone()).to_string(),
            limits: self.engine.config.script.clone(),
            attempt,
            apps: &apps,
            cancel: &job.cancel,
        };
        self.engine.sandboxes.run(run, io, log).await
    }

    async fn run_native(
        &self,
        job: &BlockJob<'_>,
        attempt: u32,
        (reader, writer): (&mut RecordReader, &mut RecordWriter),
    ) -> Result<Vec<String>, BlockError> {
        let apps: Vec<String> = match &job.block.application {
            Some(short) => vec![short.clone()],
            None => job.workflow.applications.keys().cloned().collect(),
        };
        let Some((app, native)) = self.engine.blocks.find(&apps, &job.block.block_name) else {
            return Err(BlockError::Permanent(format!(
                "no application of this workflow runs a block '{}' (is its application registered in the workflow?)",
                job.block.block_name
            )));
        };
        let declared = declared_variables(app.as_deref(), &job.block.block_name);
        let variables = Variables::new(job.block.variables.clone(), declared);
        let mut cx = BlockContext::new(&job.block.block_name, variables, job.cancel.clone());
        cx.attempt = attempt;
        if let Some(short) = app {
            cx.application = Some(
                self.engine
                    .keys()
                    .open(&job.workflow.applications, &short)
                    .await?,
            );
            cx.account_email = self.account_email(job.workflow.account_id).await;
            cx.account_id = Some(job.workflow.account_id);
        }
        let result = native.run(&mut cx, reader, writer).await;
        if let (Err(BlockError::Unauthorized(_)), Some(app)) = (&result, &cx.application) {
            self.engine
                .keys()
                .mark_faulted(app.reg_application_id)
                .await;
        }
        result?;
        Ok(cx.take_log())
    }

    async fn account_email(&self, account: uuid::Uuid) -> Option<String> {
        let account = self.engine.store.account(account).await.ok()?;
        Some(account.default_notification_email.unwrap_or(account.email))
    }
}

/// The variables the catalog declares for block `name` of the application
/// `app` (a utility block without one): what the block's reads go by.
fn declared_variables(app: Option<&str>, name: &str) -> &'static [VariableDef] {
    let catalog = canvas_catalog::Catalog::builtin();
    let block = match app {
        Some(short) => catalog
            .application_by_short_name(short)
            .and_then(|a| a.block(name)),
        None => catalog.utility_blocks().iter().find(|b| b.name == name),
    };
    block.map_or(&[], |b| b.variables.as_slice())
}

/// The catalog script that does the work of a vendor's block, when the
/// catalog ships it as one (`vendor.scripts`).
fn catalog_script(job: &BlockJob<'_>) -> Option<&'static str> {
    let catalog = canvas_catalog::Catalog::builtin();
    let shorts: Vec<&String> = match &job.block.application {
        Some(short) => vec![short],
        None => job.workflow.applications.keys().collect(),
    };
    let has_input = job.input_key.is_some();
    shorts
        .into_iter()
        .find_map(|short| catalog.block_script(short, &job.block.block_name, has_input))
}

/// Prometheus figures per try of a block: `kind` is the native block's
/// name, or `script` (script blocks' names are the users' own, unbounded).
fn measure(job: &BlockJob<'_>, result: &Result<Written, BlockError>, took: std::time::Duration) {
    let kind = match &job.block.script {
        Some(_) => "script".to_string(),
        None => job.block.block_name.clone(),
    };
    let outcome = match result {
        Ok(_) => "succeeded",
        Err(BlockError::Transient(_)) => "transient",
        Err(BlockError::Unauthorized(_)) => "unauthorized",
        Err(BlockError::Cancelled) => "cancelled",
        Err(BlockError::Permanent(_) | BlockError::Dataset(_)) => "failed",
    };
    metrics::counter!("canvas_block_tries_total", "kind" => kind.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("canvas_block_duration_seconds", "kind" => kind.clone())
        .record(took.as_secs_f64());
    if let Ok(written) = result {
        metrics::counter!("canvas_block_records_out_total", "kind" => kind)
            .increment(written.records as u64);
    }
}
