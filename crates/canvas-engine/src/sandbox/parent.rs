//! The engine's side: a pool of sandbox processes, and one block's script
//! served over a process's pipe — its input read from the store on demand,
//! its output written as it arrives, its `apps` calls made here, its time
//! watched from here.

use super::SandboxProgram;
use super::frame::{Frame, HELLO, Start, ToChild, ToParent};
use crate::apps::ScriptApps;
use crate::script::{ScriptError, ScriptLimits};
use canvas_blocks::{BlockError, CancelToken};
use canvas_blocks::{RecordReader, RecordWriter};
use std::io;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

/// Beyond its CPU limit, how long a script's process may go on before it is
/// killed (QuickJS stops a script in JavaScript code itself, at the limit).
const KILL_AFTER: Duration = Duration::from_secs(1);
/// How often a waiting engine looks at the run's cancel flag.
const TICK: Duration = Duration::from_millis(50);

/// Idle sandbox processes, reused block after block (a script that was
/// killed takes its process with it).
pub(crate) struct Sandboxes {
    program: SandboxProgram,
    idle: Mutex<Vec<Sandbox>>,
    keep: usize,
}

/// One block's script and what it may reach.
pub(crate) struct ScriptRun<'a> {
    pub source: String,
    pub variables_json: String,
    pub limits: ScriptLimits,
    pub attempt: u32,
    pub apps: &'a ScriptApps,
    pub cancel: &'a CancelToken,
}

/// How serving a block ended: the script finished (its process can serve
/// another block), or the process must go.
enum Served {
    Finished(Result<(), BlockError>),
    Killed(BlockError),
}

impl Sandboxes {
    pub fn new(program: SandboxProgram, keep: usize) -> Self {
        Self {
            program,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        }
    }

    /// Runs a script in a sandbox process; its log lines go to `kept`,
    /// whether it succeeds or fails (a failing block's log says why).
    pub async fn run(
        &self,
        job: ScriptRun<'_>,
        (reader, writer): (&mut RecordReader, &mut RecordWriter),
        kept: &mut Vec<String>,
    ) -> Result<(), BlockError> {
        let mut sandbox = match self.take() {
            Some(sandbox) => sandbox,
            None => self.spawn().map_err(|e| {
                BlockError::Transient(format!("the script sandbox could not start: {e}"))
            })?,
        };
        let mut log = LogLines::new(job.limits.max_log_bytes);
        let served = sandbox.serve(&job, (reader, writer), &mut log).await;
        kept.extend(log.lines);
        match served {
            Served::Finished(result) => {
                self.put_back(sandbox);
                result
            }
            Served::Killed(error) => {
                sandbox.kill().await;
                Err(error)
            }
        }
    }

    /// An idle sandbox whose process is still alive (one the OS killed
    /// while it waited is dropped, not handed a block).
    fn take(&self) -> Option<Sandbox> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut sandbox) = idle.pop() {
            if matches!(sandbox.process.try_wait(), Ok(None)) {
                return Some(sandbox);
            }
        }
        None
    }

    fn put_back(&self, sandbox: Sandbox) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(sandbox);
        }
    }

    fn spawn(&self) -> io::Result<Sandbox> {
        let mut process = Command::new(&self.program.program)
            .args(&self.program.args)
            .env_clear()
            .envs(self.program.env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = process.stdin.take().expect("stdin is piped");
        let stdout = process.stdout.take().expect("stdout is piped");
        // One frame ahead: a frame may be large (a script's file).
        let (tx, frames) = mpsc::channel(1);
        let reader = tokio::spawn(read_frames(stdout, tx));
        Ok(Sandbox {
            process,
            stdin,
            frames,
            reader,
        })
    }
}

/// Log lines as they arrive (the sandbox caps them already; this bounds
/// what a misbehaving process could send).
struct LogLines {
    lines: Vec<String>,
    bytes: usize,
    limit: usize,
}

impl LogLines {
    fn new(limit: usize) -> Self {
        Self {
            lines: Vec::new(),
            bytes: 0,
            limit: limit.saturating_mul(2).saturating_add(4096),
        }
    }

    fn push(&mut self, line: String) {
        if self.bytes + line.len() <= self.limit {
            self.bytes += line.len();
            self.lines.push(line);
        }
    }
}

struct Sandbox {
    process: Child,
    stdin: ChildStdin,
    frames: mpsc::Receiver<io::Result<Frame>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Sandbox {
    async fn kill(mut self) {
        let _ = self.process.kill().await;
    }

    async fn send(&mut self, message: ToChild) -> Result<(), BlockError> {
        let bytes = message.frame().encode();
        let written = async {
            self.stdin.write_all(&bytes).await?;
            self.stdin.flush().await
        };
        written.await.map_err(|e| ended(&e.to_string()))
    }

    async fn serve(
        &mut self,
        job: &ScriptRun<'_>,
        (reader, writer): (&mut RecordReader, &mut RecordWriter),
        log: &mut LogLines,
    ) -> Served {
        let mut ahead = match InputAhead::read(reader).await {
            Ok(ahead) => ahead,
            Err(e) => return Served::Finished(Err(e)),
        };
        let start = Start {
            source: job.source.clone(),
            variables_json: job.variables_json.clone(),
            limits: job.limits.clone(),
            attempt: job.attempt,
            handles_json: job.apps.handles_json.clone(),
            input: ahead.batches.take(),
        };
        // A killed script never says what it took of its input: nothing, then.
        let (served, taken) = match self.send(ToChild::Start(Box::new(start))).await {
            Ok(()) => self.converse(job, (reader, writer), log).await,
            Err(e) => (Served::Killed(e), 0),
        };
        reader.count_unused(ahead.unused(taken));
        served
    }

    /// Answers the script until it ends; with how many batches of the input
    /// sent ahead it took.
    async fn converse(
        &mut self,
        job: &ScriptRun<'_>,
        (reader, writer): (&mut RecordReader, &mut RecordWriter),
        log: &mut LogLines,
    ) -> (Served, u32) {
        let mut budget = job.limits.cpu_time + KILL_AFTER;
        loop {
            let message = match self.next_message(&mut budget, job).await {
                Ok(message) => message,
                Err(e) => return (Served::Killed(e), 0),
            };
            let answered = match message {
                ToParent::Done(taken) => return (Served::Finished(Ok(())), taken),
                ToParent::Failed(e, taken) => return (Served::Finished(Err(e.into())), taken),
                ToParent::Log(line) => {
                    log.push(line);
                    Ok(())
                }
                other => self.answer(other, job, (&mut *reader, &mut *writer)).await,
            };
            if let Err(e) = answered {
                return (Served::Killed(e), 0);
            }
        }
    }

    /// Does what the script asked for: an input batch, output to store, an `apps` call.
    async fn answer(
        &mut self,
        message: ToParent,
        job: &ScriptRun<'_>,
        (reader, writer): (&mut RecordReader, &mut RecordWriter),
    ) -> Result<(), BlockError> {
        match message {
            ToParent::Next => {
                let batch = reader.next_batch().await?.map(|b| b.array_json());
                self.send(ToChild::Batch(batch)).await
            }
            ToParent::Records(ndjson, count) => {
                Ok(writer.write_ndjson(ndjson.into(), count).await?)
            }
            ToParent::File(name, content) => Ok(writer.put_file(&name, content.into()).await?),
            ToParent::AppCall(app, op, args) => {
                let result = job.apps.caller.call(&app, &op, &args).await;
                self.send(ToChild::AppResult(result)).await
            }
            ToParent::Log(_) | ToParent::Done(_) | ToParent::Failed(..) => {
                unreachable!("handled by serve")
            }
        }
    }

    /// The script's next message. Only time spent waiting here counts
    /// against the script (not the store's or the connectors' time).
    async fn next_message(
        &mut self,
        budget: &mut Duration,
        job: &ScriptRun<'_>,
    ) -> Result<ToParent, BlockError> {
        loop {
            if job.cancel.is_cancelled() {
                return Err(BlockError::Cancelled);
            }
            if budget.is_zero() {
                let limit = job.limits.cpu_time.as_millis();
                return Err(ScriptError::CpuTime(limit).into());
            }
            let at = Instant::now();
            let got = tokio::time::timeout((*budget).min(TICK), self.frames.recv()).await;
            *budget = budget.saturating_sub(at.elapsed());
            match got {
                Err(_) => continue,
                Ok(Some(Ok(frame))) => {
                    return ToParent::parse(frame).map_err(|e| ended(&e.to_string()));
                }
                Ok(Some(Err(e))) => return Err(ended(&e.to_string())),
                Ok(None) => return Err(ended("its process exited")),
            }
        }
    }
}

/// A block's input sent with its start when the engine has it in memory
/// (a small output of the block before, or no data source): the script
/// reads it without a round trip per batch.
struct InputAhead {
    batches: Option<Vec<String>>,
    /// Records per batch sent.
    counts: Vec<usize>,
}

impl InputAhead {
    async fn read(reader: &mut RecordReader) -> Result<Self, BlockError> {
        if !reader.is_in_memory() {
            return Ok(Self {
                batches: None,
                counts: Vec::new(),
            });
        }
        let (mut batches, mut counts) = (Vec::new(), Vec::new());
        while let Some(batch) = reader.next_batch().await? {
            counts.push(batch.count);
            batches.push(batch.array_json());
        }
        Ok(Self {
            batches: Some(batches),
            counts,
        })
    }

    /// Records sent ahead that the script never took.
    fn unused(&self, taken: u32) -> usize {
        self.counts.iter().skip(taken as usize).sum()
    }
}

fn ended(why: &str) -> BlockError {
    BlockError::Permanent(format!(
        "sandbox: the script's process stopped answering ({why})"
    ))
}

/// Reads frames from a sandbox's stdout into `tx` until the stream ends.
async fn read_frames(stdout: ChildStdout, tx: mpsc::Sender<io::Result<Frame>>) {
    let mut r = BufReader::new(stdout);
    if let Err(e) = skip_to_hello(&mut r).await {
        let _ = tx.send(Err(e)).await;
        return;
    }
    loop {
        match read_frame(&mut r).await {
            Ok(Some(frame)) => {
                if tx.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// Skips what the program printed before the sandbox's greeting.
async fn skip_to_hello(r: &mut (impl AsyncRead + Unpin)) -> io::Result<()> {
    let mut seen = Vec::new();
    while !seen.ends_with(HELLO) {
        if seen.len() > 64 * 1024 {
            return Err(io::Error::other("the sandbox program never greeted"));
        }
        seen.push(r.read_u8().await?);
    }
    Ok(())
}

async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<Frame>> {
    let mut header = [0u8; 4];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0u8; Frame::length(header)?];
    r.read_exact(&mut body).await?;
    Ok(Some(Frame::from_body(body)))
}
