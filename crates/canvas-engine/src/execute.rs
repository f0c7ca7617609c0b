//! Executing one claimed run: blocks in order, each fed by its data source.

use crate::Engine;
use crate::datasets::{Datasets, Records};
use crate::script::{self, ScriptCall, ScriptError};
use canvas_domain::catalog::ChainBlock;
use canvas_domain::template::{TemplateContext, render_value};
use canvas_domain::time::now;
use canvas_store::model::{ClaimedRun, RunBlock, RunStatus, Workflow};
use canvas_store::{RunEnd, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;
use uuid::Uuid;

/// Why a run stopped before its last block.
enum Stop {
    Failed(String),
    /// Cancelled by a user, or interrupted by shutdown (then handed back).
    Interrupted,
}

/// Stop flags the heartbeat raises.
#[derive(Default)]
struct Flags {
    interrupt: Arc<AtomicBool>,
    cancel_requested: AtomicBool,
    lease_lost: AtomicBool,
}

impl Engine {
    pub(crate) async fn execute(&self, run: ClaimedRun, mut shutdown: watch::Receiver<bool>) {
        let flags = Arc::new(Flags::default());
        let heartbeat = tokio::spawn(heartbeat(
            self.store.clone(),
            self.node.clone(),
            run.id,
            self.config.clone(),
            flags.clone(),
        ));
        let work = self.execute_blocks(&run, &flags);
        tokio::pin!(work);
        let deadline = tokio::time::sleep(self.config.run_timeout);
        tokio::pin!(deadline);
        let mut stopping = false;
        let outcome = loop {
            tokio::select! {
                out = &mut work => break Some(out),
                _ = &mut deadline => break None,
                _ = shutdown.changed(), if !stopping => {
                    stopping = true;
                    let grace = self.config.shutdown_grace;
                    deadline.as_mut().reset(tokio::time::Instant::now() + grace);
                }
            }
        };
        heartbeat.abort();
        self.conclude(&run, outcome, stopping, &flags).await;
    }

    async fn conclude(
        &self,
        run: &ClaimedRun,
        outcome: Option<(Result<(), Stop>, Option<i64>)>,
        stopping: bool,
        flags: &Flags,
    ) {
        let at = now();
        let (status, error, last) = match outcome {
            Some((Ok(()), last)) => (RunStatus::Succeeded, None, last),
            Some((Err(Stop::Failed(e)), last)) => (RunStatus::Failed, Some(e), last),
            Some((Err(Stop::Interrupted), last))
                if flags.cancel_requested.load(Ordering::Relaxed) =>
            {
                (RunStatus::Cancelled, Some("cancelled".to_string()), last)
            }
            _ if stopping || flags.lease_lost.load(Ordering::Relaxed) => {
                flags.interrupt.store(true, Ordering::Relaxed);
                if let Err(e) = self.store.release_run(run.id, &self.node).await {
                    tracing::error!(run = %run.id, error = %e, "handing the run back failed");
                }
                return;
            }
            _ => {
                flags.interrupt.store(true, Ordering::Relaxed);
                let limit = self.config.run_timeout.as_secs();
                (
                    RunStatus::Failed,
                    Some(format!("the run exceeded its time limit of {limit} s")),
                    None,
                )
            }
        };
        let end = RunEnd {
            status,
            error: error.as_deref(),
            last_block: last,
            at,
        };
        match self.store.finish_run(run.id, &self.node, &end).await {
            Ok(true) if status == RunStatus::Failed => {
                tracing::info!(run = %run.id, status = status.name(), "run finished");
                self.notify_failure(run, end.error.unwrap_or_default())
                    .await;
            }
            Ok(true) => tracing::info!(run = %run.id, status = status.name(), "run finished"),
            Ok(false) => {
                tracing::warn!(run = %run.id, "the run's lease was lost before it finished")
            }
            Err(e) => tracing::error!(run = %run.id, error = %e, "recording the run's end failed"),
        }
    }

    /// Runs the blocks not yet completed; returns how it ended and the last block completed.
    async fn execute_blocks(
        &self,
        run: &ClaimedRun,
        flags: &Flags,
    ) -> (Result<(), Stop>, Option<i64>) {
        let mut workflow = match self.store.workflow(run.workflow_id).await {
            Ok(w) => w,
            Err(StoreError::NotFound) => {
                return (Err(Stop::Failed("the workflow was deleted".into())), None);
            }
            Err(e) => return (Err(Stop::Failed(format!("store: {e}"))), None),
        };
        render_variables(&mut workflow, run.id);
        let mut outputs: HashMap<Uuid, String> = HashMap::new();
        let mut last = None;
        let done = self.store.run_blocks(run.id).await.unwrap_or_default();
        for b in done.iter().filter(|b| b.status == RunStatus::Succeeded) {
            if let Some(key) = &b.output_key {
                outputs.insert(b.unique_block_id, key.clone());
                last = Some(b.number);
            }
        }
        for number in run.run_from..=run.run_till {
            let Some(block) = workflow.chain.get((number - 1) as usize) else {
                break;
            };
            if outputs.contains_key(&block.unique_block_id) {
                continue;
            }
            if flags.interrupt.load(Ordering::Relaxed) {
                return (Err(Stop::Interrupted), last);
            }
            if let Err(stop) = self
                .execute_block(run, &workflow, number, &mut outputs, flags)
                .await
            {
                return (Err(stop), last);
            }
            last = Some(number);
        }
        (Ok(()), last)
    }

    async fn input_key(
        &self,
        workflow: &Workflow,
        number: i64,
        outputs: &HashMap<Uuid, String>,
    ) -> Result<Option<String>, Stop> {
        let Some(source) = data_source(&workflow.chain, number) else {
            return Ok(None);
        };
        if let Some(key) = outputs.get(&source) {
            return Ok(Some(key.clone()));
        }
        match self.store.latest_block_output(workflow.id, source).await {
            Ok(Some(key)) => Ok(Some(key)),
            Ok(None) => Err(Stop::Failed(format!(
                "block {number}: its data source has no stored output"
            ))),
            Err(e) => Err(Stop::Failed(format!("store: {e}"))),
        }
    }

    async fn execute_block(
        &self,
        run: &ClaimedRun,
        workflow: &Workflow,
        number: i64,
        outputs: &mut HashMap<Uuid, String>,
        flags: &Flags,
    ) -> Result<(), Stop> {
        let block = &workflow.chain[(number - 1) as usize];
        let mut record = RunBlock {
            number,
            unique_block_id: block.unique_block_id,
            block_name: block.block_name.clone(),
            status: RunStatus::Running,
            date_started: Some(now()),
            date_finished: None,
            records_in: 0,
            records_out: 0,
            log: Vec::new(),
            error: None,
            output_key: None,
        };
        self.save(run.id, &record).await;
        let input_key = self.input_key(workflow, number, outputs).await?;
        let result = self
            .run_with_retries(block, input_key.as_deref(), &mut record, flags)
            .await;
        record.date_finished = Some(now());
        match result {
            Ok(records) => {
                let key = Datasets::key(run.id, number);
                record.records_out = records.count as i64;
                if let Err(e) = self.datasets.write(&key, records).await {
                    return self
                        .fail(run.id, record, format!("storing the output failed: {e}"))
                        .await;
                }
                record.status = RunStatus::Succeeded;
                record.output_key = Some(key.clone());
                self.save(run.id, &record).await;
                outputs.insert(block.unique_block_id, key);
                Ok(())
            }
            Err(ScriptError::Cancelled) => {
                record.status = RunStatus::Cancelled;
                record.error = Some("interrupted".into());
                self.save(run.id, &record).await;
                Err(Stop::Interrupted)
            }
            Err(e) => self.fail(run.id, record, e.to_string()).await,
        }
    }

    async fn fail(&self, run: Uuid, mut record: RunBlock, error: String) -> Result<(), Stop> {
        let message = format!("block {} ({}): {error}", record.number, record.block_name);
        record.status = RunStatus::Failed;
        record.error = Some(error);
        self.save(run, &record).await;
        Err(Stop::Failed(message))
    }

    async fn save(&self, run: Uuid, record: &RunBlock) {
        if let Err(e) = self.store.save_run_block(run, record).await {
            tracing::error!(%run, block = record.number, error = %e, "recording a block's state failed");
        }
    }

    /// Runs a block, trying again after a transient error with backoff and
    /// jitter; permanent errors fail at once.
    async fn run_with_retries(
        &self,
        block: &ChainBlock,
        input_key: Option<&str>,
        record: &mut RunBlock,
        flags: &Flags,
    ) -> Result<Records, ScriptError> {
        let policy = &self.config.retry;
        let mut attempt = 1;
        loop {
            let input = BlockInput {
                key: input_key,
                attempt,
            };
            match self.run_block(block, input, record, flags).await {
                Err(ScriptError::Transient(msg))
                    if attempt < policy.max_attempts
                        && !flags.interrupt.load(Ordering::Relaxed) =>
                {
                    let wait = policy.delay(attempt);
                    record.log.push(format!(
                        "attempt {attempt} failed: {msg}; retrying in {} ms",
                        wait.as_millis()
                    ));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn run_block(
        &self,
        block: &ChainBlock,
        input: BlockInput<'_>,
        record: &mut RunBlock,
        flags: &Flags,
    ) -> Result<Records, ScriptError> {
        let input_key = input.key;
        let (input_json, input_len) = match input_key {
            Some(key) => self
                .datasets
                .read_array(key)
                .await
                .map_err(|e| ScriptError::Sandbox(format!("reading the input: {e}")))?,
            None => ("[]".to_string(), 0),
        };
        record.records_in = input_len as i64;
        let Some(source) = block.script.clone() else {
            return run_native(block, &input_json);
        };
        let variables_json = serde_json::Value::Object(block.variables.clone()).to_string();
        let limits = self.config.script.clone();
        let cancel = flags.interrupt.clone();
        let output = tokio::task::spawn_blocking(move || {
            script::run(&ScriptCall {
                source: &source,
                input_json: &input_json,
                input_len,
                variables_json: &variables_json,
                limits: &limits,
                cancel,
                attempt: input.attempt,
            })
        })
        .await
        .map_err(|e| ScriptError::Sandbox(e.to_string()))?;
        let output = output?;
        record.log.extend(output.log);
        let values: Vec<serde_json::Value> = serde_json::from_str(&output.records_json)
            .map_err(|e| ScriptError::BadResult(format!("records that are not JSON ({e})")))?;
        Ok(Records::from_values(&values))
    }
}

/// Where a block reads its input from, and which try this is.
struct BlockInput<'a> {
    key: Option<&'a str>,
    attempt: u32,
}

/// Blocks written in Rust: the utility blocks (connector blocks come with the connectors).
fn run_native(block: &ChainBlock, input_json: &str) -> Result<Records, ScriptError> {
    if canvas_catalog::Catalog::builtin()
        .utility_block(&block.block_name)
        .is_none()
    {
        return Err(ScriptError::Native(format!(
            "'{}' is a connector block, and connector blocks do not execute yet in this version of Canvas",
            block.block_name
        )));
    }
    let input: Vec<serde_json::Value> = serde_json::from_str(input_json)
        .map_err(|e| ScriptError::Native(format!("reading the input: {e}")))?;
    let output = crate::utility::run(&block.block_name, &block.variables, input)
        .map_err(ScriptError::Native)?;
    Ok(Records::from_values(&output))
}

/// `{date:...}`, `{runId}` and `{workflowName}` in every block variable, once per run.
fn render_variables(workflow: &mut Workflow, run: Uuid) {
    let run_id = run.to_string();
    let ctx = TemplateContext {
        now: now(),
        run_id: &run_id,
        workflow_name: &workflow.name,
    };
    for block in &mut workflow.chain {
        for value in block.variables.values_mut() {
            *value = render_value(value, &ctx);
        }
    }
}

/// The block feeding block `number` (1-based): its `datasource`, or the block before it.
pub fn data_source(chain: &[ChainBlock], number: i64) -> Option<Uuid> {
    let block = chain.get((number - 1) as usize)?;
    block
        .datasource
        .or_else(|| (number > 1).then(|| chain[(number - 2) as usize].unique_block_id))
}

async fn heartbeat(
    store: Store,
    node: String,
    run: Uuid,
    config: crate::EngineConfig,
    flags: Arc<Flags>,
) {
    loop {
        tokio::time::sleep(config.heartbeat).await;
        let expires = now() + chrono::Duration::from_std(config.lease).unwrap_or_default();
        match store.heartbeat(run, &node, expires).await {
            Ok(lease) if !lease.held => {
                flags.lease_lost.store(true, Ordering::Relaxed);
                flags.interrupt.store(true, Ordering::Relaxed);
                return;
            }
            Ok(lease) if lease.cancel_requested => {
                flags.cancel_requested.store(true, Ordering::Relaxed);
                flags.interrupt.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%run, error = %e, "heartbeat failed"),
        }
    }
}
