//! Executing one claimed run: a `RunExecution` runs its blocks in order,
//! each fed by its data source, and ends with one explicit `Outcome`.

use crate::Engine;
use crate::heartbeat::{Flags, heartbeat};
use crate::run_block::BlockJob;
use canvas_blocks::{BlockError, CancelToken};
use canvas_blocks::{Datasets, Written};
use canvas_domain::catalog::ChainBlock;
use canvas_domain::template::{TemplateContext, render_value};
use canvas_domain::time::now;
use canvas_domain::workflow::data_source;
use canvas_store::model::{ClaimedRun, RunBlock, RunStatus, Workflow};
use canvas_store::{RunEnd, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;
use uuid::Uuid;

/// How an attempt at a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every block of the range completed.
    Finished,
    /// A block failed (or the workflow is gone): the run is Failed.
    Failed(String),
    /// A user cancelled the run.
    Cancelled,
    /// Shutdown or a lost lease stopped the attempt: the run goes back to
    /// the queue (a lost lease: the new holder has it already).
    Interrupted,
    /// The store could not say or record what the run did: the attempt
    /// ends and the run goes back to the queue — completed blocks are never
    /// redone; after `MAX_ATTEMPTS_HANDED_BACK` attempts it fails.
    HandedBack(String),
    /// The run outlived its time limit.
    TimedOut,
}

/// Attempts after which a run the store cannot serve fails instead of
/// going back to the queue.
const MAX_ATTEMPTS_HANDED_BACK: i64 = 5;

/// A run's first block is recorded as started only once it has run this
/// long; a shorter one's start is written with its end (one write, not two).
const START_RECORDED_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// Tries at recording a block's state before the run is handed back.
const SAVE_TRIES: u32 = 4;

/// Tries at recording a run's end before it is recorded as Failed instead.
const END_TRIES: u32 = 5;

/// One attempt at one claimed run: what it has done so far, and the flags
/// its heartbeat raises.
pub(crate) struct RunExecution<'e> {
    pub(crate) engine: &'e Engine,
    pub(crate) run: ClaimedRun,
    flags: Arc<Flags>,
    /// Stored outputs by block, completed in this or an earlier attempt.
    outputs: HashMap<Uuid, String>,
    /// The last block completed.
    last: Option<i64>,
    /// A block's final record not yet written: it goes with the next
    /// block's start, or with the run's end — one write instead of two.
    /// Written before anything else is (a hand-back writes it alone).
    pending: Option<RunBlock>,
}

impl Engine {
    pub(crate) async fn execute(&self, run: ClaimedRun, shutdown: watch::Receiver<bool>) {
        let execution = RunExecution {
            engine: self,
            run,
            flags: Arc::new(Flags::default()),
            outputs: HashMap::new(),
            last: None,
            pending: None,
        };
        execution.execute(shutdown).await;
    }
}

impl RunExecution<'_> {
    /// Runs the blocks under a renewed lease, within the run's time limit
    /// (shutdown shortens it to the grace period), then records the outcome.
    async fn execute(mut self, mut shutdown: watch::Receiver<bool>) {
        let heartbeat = tokio::spawn(heartbeat(
            self.engine.store.clone(),
            self.run.lease.clone(),
            self.engine.config.clone(),
            self.flags.clone(),
        ));
        let flags = self.flags.clone();
        let (run_timeout, grace) = (
            self.engine.config.run_timeout,
            self.engine.config.shutdown_grace,
        );
        let mut stopping = false;
        let outcome = {
            let work = self.blocks();
            tokio::pin!(work);
            let deadline = tokio::time::sleep(run_timeout);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    out = &mut work => break out,
                    _ = &mut deadline => {
                        flags.interrupt.store(true, Ordering::Relaxed);
                        let lost = flags.lease_lost.load(Ordering::Relaxed);
                        break if stopping || lost { Outcome::Interrupted } else { Outcome::TimedOut };
                    }
                    _ = shutdown.changed(), if !stopping => {
                        stopping = true;
                        deadline.as_mut().reset(tokio::time::Instant::now() + grace);
                    }
                }
            }
        };
        let outcome = match outcome {
            Outcome::Interrupted if flags.cancel_requested.load(Ordering::Relaxed) => {
                Outcome::Cancelled
            }
            other => other,
        };
        // The lease is renewed while the end is recorded (which may retry).
        self.conclude(outcome).await;
        heartbeat.abort();
    }

    /// Records the outcome: the run's end, or its return to the queue.
    async fn conclude(mut self, outcome: Outcome) {
        let attempt = self.run.attempt;
        let (status, error) = match outcome {
            Outcome::Finished => (RunStatus::Succeeded, None),
            Outcome::Failed(e) => (RunStatus::Failed, Some(e)),
            Outcome::Cancelled => (RunStatus::Cancelled, Some("cancelled".to_string())),
            Outcome::HandedBack(reason) if attempt >= MAX_ATTEMPTS_HANDED_BACK => (
                RunStatus::Failed,
                Some(format!("{reason} (attempt {attempt})")),
            ),
            Outcome::HandedBack(reason) => {
                tracing::warn!(run = %self.run.id, %reason, "the run is handed back to the queue");
                return self.hand_back().await;
            }
            Outcome::Interrupted => return self.hand_back().await,
            Outcome::TimedOut => {
                let limit = self.engine.config.run_timeout.as_secs();
                let why = format!("the run exceeded its time limit of {limit} s");
                (RunStatus::Failed, Some(why))
            }
        };
        let block = self.pending.take();
        let end = RunEnd {
            status,
            error: error.as_deref(),
            last_block: self.last,
            at: now(),
            block: block.as_ref(),
        };
        self.record_end(&end).await;
    }

    async fn hand_back(&mut self) {
        if let Some(record) = self.pending.take() {
            // Retried like any block record; if it still cannot be written,
            // the next attempt runs the block again (never skips it).
            if self.save(std::slice::from_ref(&record)).await.is_err() {
                tracing::warn!(run = %self.run.id, "recording the last block before handing the run back failed");
            }
        }
        if let Err(e) = self.engine.store.release_run(&self.run.lease).await {
            tracing::error!(run = %self.run.id, error = %e, "handing the run back failed");
        }
    }

    /// Records the run's end, retrying a store that fails; when the end as
    /// it was cannot be written, ends the run as Failed, saying why — a run
    /// never stays Running (to be run again) because its end was lost.
    async fn record_end(&self, end: &RunEnd<'_>) {
        let store = &self.engine.store;
        let mut failure = None;
        let mut recorded = None;
        for attempt in 0..END_TRIES {
            match store.finish_run(&self.run.lease, end).await {
                Ok(held) => {
                    recorded = Some(Ok(held));
                    break;
                }
                Err(e) => {
                    tracing::warn!(run = %self.run.id, attempt, error = %e, "recording the run's end failed; trying again");
                    failure = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        if let Some(recorded) = recorded {
            return self.report_end(end, recorded).await;
        }
        // The end as it was could not be written: the run ends Failed,
        // saying why, and is reported (and notified) as what was written.
        let why = format!(
            "the run's end ({}) could not be recorded: {}",
            end.status.name(),
            failure.map(|e| e.to_string()).unwrap_or_default()
        );
        let mut failed = RunEnd {
            status: RunStatus::Failed,
            error: Some(&why),
            ..*end
        };
        let mut recorded = self.engine.store.finish_run(&self.run.lease, &failed).await;
        if recorded.is_err() && failed.block.is_some() {
            // The block's record may be what the store refuses: the end alone.
            failed.block = None;
            recorded = self.engine.store.finish_run(&self.run.lease, &failed).await;
        }
        self.report_end(&failed, recorded).await;
    }

    async fn report_end(&self, end: &RunEnd<'_>, recorded: Result<bool, StoreError>) {
        let run = self.run.id;
        match recorded {
            Ok(true) => {
                tracing::info!(%run, status = end.status.name(), "run finished");
                if end.status == RunStatus::Failed {
                    self.notify_failure(end.error.unwrap_or_default()).await;
                }
            }
            Ok(false) => tracing::warn!(%run, "the run's lease was lost before it finished"),
            Err(e) => tracing::error!(%run, error = %e, "recording the run's end failed"),
        }
    }

    /// Runs the blocks not yet completed.
    async fn blocks(&mut self) -> Outcome {
        let mut workflow = match self.engine.store.workflow(self.run.workflow_id).await {
            Ok(w) => w,
            Err(StoreError::NotFound) => return Outcome::Failed("the workflow was deleted".into()),
            Err(e) => return Outcome::HandedBack(format!("reading its workflow: {e}")),
        };
        render_variables(&mut workflow, self.run.id);
        if let Err(e) = self.resume().await {
            return Outcome::HandedBack(format!("reading its blocks: {e}"));
        }
        for number in self.run.run_from..=self.run.run_till {
            let Some(block) = workflow.chain.get((number - 1) as usize) else {
                break;
            };
            if self.outputs.contains_key(&block.unique_block_id) {
                continue;
            }
            if self.flags.interrupt.load(Ordering::Relaxed) {
                return Outcome::Interrupted;
            }
            if let Err(stop) = self.block(&workflow, number).await {
                return stop;
            }
            self.last = Some(number);
        }
        Outcome::Finished
    }

    /// What earlier attempts completed: their outputs are used, not redone.
    async fn resume(&mut self) -> Result<(), StoreError> {
        // A first attempt has no blocks behind it (each claim counts one).
        if self.run.attempt <= 1 && self.run.previous_owner.is_none() {
            return Ok(());
        }
        let done = self.engine.store.run_blocks(self.run.id).await?;
        for b in done.iter().filter(|b| b.status == RunStatus::Succeeded) {
            if let Some(key) = &b.output_key {
                self.outputs.insert(b.unique_block_id, key.clone());
                self.last = Some(b.number);
            }
        }
        Ok(())
    }

    async fn input_key(&self, workflow: &Workflow, number: i64) -> Result<Option<String>, String> {
        let Some(source) = data_source(&workflow.chain, number) else {
            return Ok(None);
        };
        if let Some(key) = self.outputs.get(&source) {
            return Ok(Some(key.clone()));
        }
        match self
            .engine
            .store
            .latest_block_output(workflow.id, source)
            .await
        {
            Ok(Some(key)) => Ok(Some(key)),
            Ok(None) => Err("its data source has no stored output".into()),
            Err(e) => Err(format!("store: {e}")),
        }
    }

    /// Runs block `number`; every block it starts ends with a final status.
    async fn block(&mut self, workflow: &Workflow, number: i64) -> Result<(), Outcome> {
        let block = &workflow.chain[(number - 1) as usize];
        let mut record = started_record(block, number);
        let input_key = match self.input_key(workflow, number).await {
            Ok(key) => key,
            Err(problem) => return self.fail(record, problem).await,
        };
        // A block's start goes with the previous block's end; the first
        // block's alone only if it is still running after a moment.
        let start_alone = match self.pending.take() {
            Some(done) => {
                self.save(&[done, record.clone()]).await?;
                None
            }
            None => Some(record.clone()),
        };
        let key = Datasets::key(self.run.id, self.run.attempt, number);
        let job = BlockJob {
            workflow,
            block,
            input_key: input_key.as_deref(),
            output_key: &key,
            cancel: CancelToken::new(self.flags.interrupt.clone()),
        };
        let work = self.run_with_retries(&job, &mut record);
        let result = match start_alone {
            Some(start) => self.record_start_if_long(work, start).await?,
            None => work.await,
        };
        record.date_finished = Some(now());
        match result {
            Ok(written) => {
                record.records_out = written.records as i64;
                record.status = RunStatus::Succeeded;
                record.output_key = Some(key.clone());
                // A small output is durable with its record, in the same write.
                record.inline_output = written.inline.map(|b| b.to_vec());
                self.pending = Some(record);
                self.outputs.insert(block.unique_block_id, key);
                Ok(())
            }
            Err(BlockError::Cancelled) => {
                record.status = RunStatus::Cancelled;
                record.error = Some("interrupted".into());
                self.pending = Some(record);
                Err(Outcome::Interrupted)
            }
            Err(e) => self.fail(record, e.to_string()).await,
        }
    }

    /// Runs `work`, recording its block's start once it has run for
    /// [`START_RECORDED_AFTER`]: a short first block's start is written
    /// with its end, in one write. If the start cannot be recorded (the
    /// lease was lost, the store keeps failing) the block is stopped.
    async fn record_start_if_long(
        &self,
        work: impl Future<Output = Result<Written, BlockError>>,
        start: RunBlock,
    ) -> Result<Result<Written, BlockError>, Outcome> {
        tokio::pin!(work);
        tokio::select! {
            done = &mut work => return Ok(done),
            () = tokio::time::sleep(START_RECORDED_AFTER) => {}
        }
        // The block goes on while its start is written (its streams and
        // its sandbox are not left waiting on the store).
        let save = self.save(std::slice::from_ref(&start));
        tokio::pin!(save);
        let mut done = None;
        let saved = loop {
            tokio::select! {
                result = &mut work, if done.is_none() => done = Some(result),
                saved = &mut save => break saved,
            }
        };
        if let Err(stop) = saved {
            self.flags.interrupt.store(true, Ordering::Relaxed);
            if done.is_none() {
                let _ = work.await;
            }
            return Err(stop);
        }
        Ok(match done {
            Some(result) => result,
            None => work.await,
        })
    }

    /// A failed block's record goes with the run's end (the run fails).
    async fn fail(&mut self, mut record: RunBlock, error: String) -> Result<(), Outcome> {
        let message = format!("block {} ({}): {error}", record.number, record.block_name);
        record.status = RunStatus::Failed;
        record.error = Some(error);
        if let Some(done) = self.pending.take() {
            self.save(std::slice::from_ref(&done)).await?;
        }
        self.pending = Some(record);
        Err(Outcome::Failed(message))
    }

    /// Records a block's state under the run's lease. A lost lease stops
    /// the run (another worker holds it); a store that keeps failing hands
    /// the run back — it is never carried on with its record unwritten.
    async fn save(&self, records: &[RunBlock]) -> Result<(), Outcome> {
        let (run, block) = (self.run.id, records.last().map_or(0, |r| r.number));
        let mut tries = 0;
        loop {
            match self
                .engine
                .store
                .save_run_blocks(&self.run.lease, records)
                .await
            {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    tracing::warn!(%run, block, "the lease was lost: the run stops here");
                    self.flags.lease_lost.store(true, Ordering::Relaxed);
                    self.flags.interrupt.store(true, Ordering::Relaxed);
                    return Err(Outcome::Interrupted);
                }
                Err(e) if tries + 1 >= SAVE_TRIES => {
                    return Err(Outcome::HandedBack(format!("recording block {block}: {e}")));
                }
                Err(e) => {
                    tries += 1;
                    tracing::warn!(%run, block, error = %e, "recording a block's state failed; trying again");
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
    ) -> Result<Written, BlockError> {
        let policy = &self.engine.config.retry;
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
                        && !self.flags.interrupt.load(Ordering::Relaxed) =>
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

/// A block's record as it starts.
fn started_record(block: &ChainBlock, number: i64) -> RunBlock {
    RunBlock {
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
        inline_output: None,
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
