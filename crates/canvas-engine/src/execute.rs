//! Executing one claimed run: blocks in order, each fed by its data source.

use crate::Engine;
use crate::block::{BlockError, CancelToken};
use crate::datasets::Datasets;
use crate::heartbeat::{Flags, heartbeat};
use crate::run_block::BlockJob;
use canvas_domain::catalog::ChainBlock;
use canvas_domain::template::{TemplateContext, render_value};
use canvas_domain::time::now;
use canvas_store::model::{ClaimedRun, RunBlock, RunStatus, Workflow};
use canvas_store::{RunEnd, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;
use uuid::Uuid;

/// Why a run stopped before its last block.
enum Stop {
    Failed(String),
    /// Cancelled by a user, or interrupted by shutdown (then handed back).
    Interrupted,
    /// The store could not say what the run had done: the attempt ends and
    /// the run goes back to the queue — completed blocks are never redone.
    HandBack(String),
}

/// Attempts after which a run the store cannot serve fails instead of
/// going back to the queue.
const MAX_ATTEMPTS_HANDED_BACK: i64 = 5;

/// Tries at recording a block's state before the run is handed back.
const SAVE_TRIES: u32 = 4;

/// Tries at recording a run's end before it is recorded as Failed instead.
const END_TRIES: u32 = 5;

impl Engine {
    pub(crate) async fn execute(&self, run: ClaimedRun, mut shutdown: watch::Receiver<bool>) {
        let flags = Arc::new(Flags::default());
        let heartbeat = tokio::spawn(heartbeat(
            self.store.clone(),
            run.lease.clone(),
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
        // The lease is renewed while the end is recorded (which may retry).
        self.conclude(&run, outcome, stopping, &flags).await;
        heartbeat.abort();
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
            // A store that keeps failing for this run fails it after a few
            // attempts, rather than hand it back for ever.
            Some((Err(Stop::HandBack(reason)), last))
                if run.attempt >= MAX_ATTEMPTS_HANDED_BACK =>
            {
                (
                    RunStatus::Failed,
                    Some(format!("{reason} (attempt {})", run.attempt)),
                    last,
                )
            }
            Some((Err(Stop::HandBack(reason)), _)) => {
                tracing::warn!(run = %run.id, %reason, "the run is handed back to the queue");
                self.hand_back(run).await;
                return;
            }
            _ if stopping || flags.lease_lost.load(Ordering::Relaxed) => {
                flags.interrupt.store(true, Ordering::Relaxed);
                self.hand_back(run).await;
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
        match self.record_end(run, &end).await {
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

    async fn hand_back(&self, run: &ClaimedRun) {
        if let Err(e) = self.store.release_run(&run.lease).await {
            tracing::error!(run = %run.id, error = %e, "handing the run back failed");
        }
    }

    /// Records the run's end, retrying a store that fails; when the end as
    /// it was cannot be written, ends the run as Failed, saying why — a run
    /// never stays Running (to be run again) because its end was lost.
    async fn record_end(&self, run: &ClaimedRun, end: &RunEnd<'_>) -> Result<bool, StoreError> {
        let mut failure = None;
        for attempt in 0..END_TRIES {
            match self.store.finish_run(&run.lease, end).await {
                Ok(held) => return Ok(held),
                Err(e) => {
                    tracing::warn!(run = %run.id, attempt, error = %e, "recording the run's end failed; trying again");
                    failure = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        let why = format!(
            "the run's end ({}) could not be recorded: {}",
            end.status.name(),
            failure.map(|e| e.to_string()).unwrap_or_default()
        );
        let failed = RunEnd {
            status: RunStatus::Failed,
            error: Some(&why),
            ..*end
        };
        self.store.finish_run(&run.lease, &failed).await
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
        let done = match self.store.run_blocks(run.id).await {
            Ok(done) => done,
            Err(e) => {
                return (
                    Err(Stop::HandBack(format!("reading its blocks: {e}"))),
                    None,
                );
            }
        };
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
    ) -> Result<Option<String>, String> {
        let Some(source) = data_source(&workflow.chain, number) else {
            return Ok(None);
        };
        if let Some(key) = outputs.get(&source) {
            return Ok(Some(key.clone()));
        }
        match self.store.latest_block_output(workflow.id, source).await {
            Ok(Some(key)) => Ok(Some(key)),
            Ok(None) => Err("its data source has no stored output".into()),
            Err(e) => Err(format!("store: {e}")),
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
        let input_key = match self.input_key(workflow, number, outputs).await {
            Ok(key) => key,
            // The block ends with a final status, never left Running.
            Err(problem) => return self.fail(run, record, problem, flags).await,
        };
        self.save(run, &record, flags).await?;
        let key = Datasets::key(run.id, run.attempt, number);
        let job = BlockJob {
            workflow,
            block,
            input_key: input_key.as_deref(),
            output_key: &key,
            cancel: CancelToken(flags.interrupt.clone()),
        };
        let result = self.run_with_retries(&job, &mut record, flags).await;
        record.date_finished = Some(now());
        match result {
            Ok(count) => {
                record.records_out = count as i64;
                record.status = RunStatus::Succeeded;
                record.output_key = Some(key.clone());
                self.save(run, &record, flags).await?;
                outputs.insert(block.unique_block_id, key);
                Ok(())
            }
            Err(BlockError::Cancelled) => {
                record.status = RunStatus::Cancelled;
                record.error = Some("interrupted".into());
                self.save(run, &record, flags).await?;
                Err(Stop::Interrupted)
            }
            Err(e) => self.fail(run, record, e.to_string(), flags).await,
        }
    }

    async fn fail(
        &self,
        run: &ClaimedRun,
        mut record: RunBlock,
        error: String,
        flags: &Flags,
    ) -> Result<(), Stop> {
        let message = format!("block {} ({}): {error}", record.number, record.block_name);
        record.status = RunStatus::Failed;
        record.error = Some(error);
        self.save(run, &record, flags).await?;
        Err(Stop::Failed(message))
    }

    /// Records a block's state under the run's lease. A lost lease stops
    /// the run (another worker holds it); a store that keeps failing hands
    /// the run back — it is never carried on with its record unwritten.
    async fn save(&self, run: &ClaimedRun, record: &RunBlock, flags: &Flags) -> Result<(), Stop> {
        let mut tries = 0;
        loop {
            match self.store.save_run_block(&run.lease, record).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    tracing::warn!(run = %run.id, block = record.number, "the lease was lost: the run stops here");
                    flags.lease_lost.store(true, Ordering::Relaxed);
                    flags.interrupt.store(true, Ordering::Relaxed);
                    return Err(Stop::Interrupted);
                }
                Err(e) if tries + 1 >= SAVE_TRIES => {
                    return Err(Stop::HandBack(format!(
                        "recording block {}: {e}",
                        record.number
                    )));
                }
                Err(e) => {
                    tries += 1;
                    tracing::warn!(run = %run.id, block = record.number, error = %e, "recording a block's state failed; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 << tries)).await;
                }
            }
        }
    }

    /// Runs a block, trying again after a transient error with backoff and
    /// jitter; permanent errors fail at once. Returns the records written.
    async fn run_with_retries(
        &self,
        job: &BlockJob<'_>,
        record: &mut RunBlock,
        flags: &Flags,
    ) -> Result<usize, BlockError> {
        let policy = &self.config.retry;
        let mut attempt = 1;
        loop {
            let outcome = self.run_block(job, attempt, record).await;
            let worth_retrying = match &outcome {
                Err(BlockError::Transient(msg)) => Some(msg.clone()),
                // The blob store's hiccups pass; its refusals (quota, names) do not.
                Err(BlockError::Dataset(e)) if e.is_transient() => Some(with_cause(e)),
                _ => None,
            };
            match (outcome, worth_retrying) {
                (Err(_), Some(msg))
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
                (other, _) => return other,
            }
        }
    }
}

/// An error and its cause, in one line (`blob store: connection reset`).
fn with_cause(e: &dyn std::error::Error) -> String {
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
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
