//! Script blocks: JavaScript in an embedded QuickJS sandbox. The runtime has
//! the language's built-ins only (no file system, no network: QuickJS's
//! `std`/`os` modules are not part of `rquickjs`), a memory limit, and an
//! interrupt handler that enforces the CPU-time limit and cancellation.

use crate::meter::MemoryMeter;
use rquickjs::{CatchResultExt, Context, Function, Promise, Runtime, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ScriptLimits {
    pub cpu_time: Duration,
    pub memory_bytes: usize,
    /// Largest `input` handed over as an array; beyond it scripts use `inputStream`.
    pub max_input_records: usize,
    /// What `log()` may keep per block (it lives outside QuickJS's memory
    /// limit); beyond it one line says the log was cut.
    pub max_log_bytes: usize,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(30),
            memory_bytes: 256 * 1024 * 1024,
            max_input_records: 100_000,
            max_log_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScriptError {
    #[error("the script ran longer than its CPU-time limit of {0} ms")]
    CpuTime(u128),
    #[error("the script used more than its memory limit of {0} MiB")]
    Memory(usize),
    #[error("cancelled")]
    Cancelled,
    #[error("script error: {0}")]
    Thrown(String),
    #[error(
        "the script must return an array of records or an async iterable of them; it returned {0}"
    )]
    BadResult(String),
    #[error(
        "input holds at most {limit} records and this block's input has more: read it with `for await (const r of inputStream)` instead"
    )]
    InputTooLarge { limit: usize },
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The script marked its error as transient (`err.transient = true`): worth a retry.
    #[error("transient error: {0}")]
    Transient(String),
    /// A failure of a block written in Rust (utility and connector blocks).
    #[error("{0}")]
    Native(String),
}

/// What a script hands to the output store.
#[derive(Debug)]
pub enum OutputBatch {
    /// Records as NDJSON lines, and how many.
    Records(bytes::Bytes, usize),
    /// `saveFile(name, content)`: a file beside the records.
    File(String, bytes::Bytes),
}

/// Where a script's input comes from and its output, files, `apps` calls
/// and log lines go: channels to the engine in this process, or the pipe to
/// the engine from a sandbox process. Every call may block (the script waits,
/// and the wait does not count against its CPU time).
pub trait ScriptHost {
    /// The next input batch as JSON array text; `None` after the last.
    fn next_batch(&mut self) -> Option<String>;
    /// Hands output to the store; false once it stopped taking output.
    fn send(&mut self, batch: OutputBatch) -> bool;
    /// `(application, operation, arguments as JSON)` → `{"ok": ...}` or
    /// `{"error": ..., "transient": bool}`, as JSON text.
    fn app_call(&mut self, app: &str, op: &str, args: &str) -> String;
    /// A log line the block keeps (already within its cap).
    fn log(&mut self, _line: &str) {}
}

/// What a script sees besides its source.
pub struct ScriptCall<'a> {
    pub source: &'a str,
    pub variables_json: &'a str,
    pub limits: &'a ScriptLimits,
    pub cancel: Arc<AtomicBool>,
    /// 1 on the first try; more when the block is retried after a transient error.
    pub attempt: u32,
    /// The script's `apps` handles: `[{"shortName", "id", "name", "operations": [...]}]`.
    pub handles_json: &'a str,
    pub host: Box<dyn ScriptHost>,
}

#[cfg(test)]
/// A host over channels: input batches (each one JSON array text, closed
/// after the last) in, output batches out; `apps` calls through `apps`.
pub struct ChannelHost {
    pub input: tokio::sync::mpsc::Receiver<String>,
    pub output: tokio::sync::mpsc::Sender<OutputBatch>,
    pub apps: Option<AppCall>,
}

#[cfg(test)]
impl ScriptHost for ChannelHost {
    fn next_batch(&mut self) -> Option<String> {
        self.input.blocking_recv()
    }

    fn send(&mut self, batch: OutputBatch) -> bool {
        self.output.blocking_send(batch).is_ok()
    }

    fn app_call(&mut self, app: &str, op: &str, args: &str) -> String {
        match &self.apps {
            Some(call) => call(app, op, args),
            None => {
                serde_json::json!({ "error": format!("{app} is not available here") }).to_string()
            }
        }
    }
}

/// `(application, operation, arguments as JSON)` → the result envelope as JSON.
#[cfg(test)]
pub type AppCall = Box<dyn Fn(&str, &str, &str) -> String + Send>;

/// Wires `input`/`inputStream` to the input batches and sends whatever the
/// script returned (array, iterable, async iterable, nothing) out in batches.
/// Why a script stopped is told to Rust through `stop(kind, detail)` — a
/// function the user's code cannot reach — never read from message text.
/// `input` is a proxy: the batches are loaded on its first use.
pub(crate) const PRELUDE: &str = r#"
(async function (run, next, emit, variables, log, o, fns) {
    const { attempt, maxInput, batch } = o;
    const { appCall, stop } = fns;
    const apps = {};
    for (const h of o.apps) {
        const handle = { id: h.id, name: h.name };
        for (const op of h.operations) {
            handle[op] = async (...args) => {
                const r = JSON.parse(appCall(h.shortName, op, JSON.stringify(args)));
                if ('error' in r) { const e = new Error(r.error); e.transient = r.transient; throw e; }
                return r.ok;
            };
        }
        apps[h.shortName] = Object.freeze(handle);
    }
    Object.freeze(apps);
    let loaded = null, streaming = false;
    const load = () => {
        if (loaded) return loaded;
        if (streaming) throw new Error('input cannot be read once inputStream has started: use one or the other');
        const all = [];
        for (let t = next(); t != null; t = next()) {
            const b = JSON.parse(t);
            if (all.length + b.length > maxInput) { stop('too_large', ''); throw new Error('input is too large'); }
            for (const r of b) all.push(r);
        }
        return (loaded = all);
    };
    // `input` stands for the loaded array and loads it on first use.
    const input = new Proxy([], {
        get: (_, k) => { const a = load(); const v = a[k]; return typeof v === 'function' ? v.bind(a) : v; },
        set: (_, k, v) => { load()[k] = v; return true; },
        has: (_, k) => k in load(),
        deleteProperty: (_, k) => delete load()[k],
        ownKeys: () => Reflect.ownKeys(load()),
        getOwnPropertyDescriptor: (_, k) => Reflect.getOwnPropertyDescriptor(load(), k),
    });
    const inputStream = (async function* () {
        if (loaded) { yield* loaded; return; }
        streaming = true;
        for (let t = next(); t != null; t = next()) yield* JSON.parse(t);
    })();
    const flush = (rs) => {
        if (rs.length === 0) return;
        const lines = rs.map(r => { const s = JSON.stringify(r); return s === undefined ? 'null' : s; });
        if (!emit(lines.join('\n') + '\n', rs.length)) throw new Error('the output store stopped');
    };
    // `err.transient = true` asks for a retry (a busy or unreachable
    // service), whether thrown by the body or while its output streams.
    const marked = e => { if (e && e.transient === true) stop('transient', e.message || String(e)); return e; };
    let out;
    try {
        const saveFile = (name, content) => {
            const text = typeof content === 'string' ? content : JSON.stringify(content);
            if (!__saveFile(String(name), text)) throw new Error('the output store stopped');
        };
        out = await run(input, inputStream, variables, log, attempt, apps, saveFile);
    } catch (e) {
        throw marked(e);
    }
    if (out === undefined || out === null) return;
    if (Array.isArray(out)) {
        for (let i = 0; i < out.length; i += batch) flush(out.slice(i, i + batch));
        return;
    }
    const iterable = out && (typeof out[Symbol.asyncIterator] === 'function' || typeof out[Symbol.iterator] === 'function');
    if (!iterable || typeof out === 'string') { stop('bad_result', typeof out); throw new TypeError('a bad result'); }
    let rs = [];
    try {
        for await (const r of out) {
            rs.push(r);
            if (rs.length >= batch) { flush(rs); rs = []; }
        }
    } catch (e) {
        throw marked(e);
    }
    flush(rs);
})
"#;

/// Runs a script on the calling thread, which may block (a blocking-pool
/// thread or a sandbox process), in a context of its own.
pub fn run(call: ScriptCall<'_>) -> Result<Vec<String>, ScriptError> {
    crate::contexts::with_fresh_context(|runtime, meter, context| {
        execute(runtime, meter, context, call)
    })
}

/// Frees the last block's context and prepares the next block's: the
/// sandbox calls it after answering, while it waits for the next block.
pub fn prepare_next() {
    crate::contexts::prepare();
}

/// Time the script spent running JavaScript: wall time minus the time it
/// waited for input batches or for the output store.
#[derive(Clone)]
struct CpuClock {
    start: Instant,
    waited_ns: Arc<AtomicU64>,
}

impl CpuClock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            waited_ns: Arc::default(),
        }
    }

    fn used(&self) -> Duration {
        let waited = Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(waited)
    }

    /// Runs `f` (a wait) without counting its time.
    fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let at = Instant::now();
        let out = f();
        let ns = at.elapsed().as_nanos() as u64;
        self.waited_ns.fetch_add(ns, Ordering::Relaxed);
        out
    }
}

/// What keeping one log line costs besides its text.
const LINE_OVERHEAD: usize = 32;

/// A block's `log()` lines, up to a number of bytes; then one line saying so.
struct LogSink {
    lines: Vec<String>,
    bytes: usize,
    limit: usize,
    cut: bool,
}

impl LogSink {
    fn new(limit: usize) -> Self {
        Self {
            lines: Vec::new(),
            bytes: 0,
            limit,
            cut: false,
        }
    }

    /// Keeps `line` (or the marker saying the log was cut) and returns what was kept.
    fn push(&mut self, line: String) -> Option<&str> {
        if self.cut {
            return None;
        }
        // Each line costs its text and its keeping, so empty lines count too.
        let cost = line.len() + LINE_OVERHEAD;
        if self.bytes + cost > self.limit {
            self.cut = true;
            self.lines.push(format!(
                "… the log was cut here: it reached script_max_log_bytes ({} bytes)",
                self.limit
            ));
            return self.lines.last().map(String::as_str);
        }
        self.bytes += cost;
        self.lines.push(line);
        self.lines.last().map(String::as_str)
    }
}

/// A script's host while it runs; emptied (and so dropped) when it ends.
type Host = Rc<RefCell<Option<Box<dyn ScriptHost>>>>;

/// Why the prelude stopped the script (`stop(kind, detail)`), the first
/// reason told: `transient`, `too_large` or `bad_result`.
type Stopped = Rc<RefCell<Option<(String, String)>>>;

fn execute(
    runtime: &Runtime,
    meter: &MemoryMeter,
    context: &Context,
    call: ScriptCall<'_>,
) -> Result<Vec<String>, ScriptError> {
    let ScriptCall {
        source,
        variables_json,
        limits,
        cancel,
        attempt,
        handles_json,
        host: script_host,
    } = call;
    // The metering allocator holds the limit (QuickJS's own would refuse
    // before the meter could say so).
    meter.start_block(limits.memory_bytes);
    runtime.set_max_stack_size(1024 * 1024);
    let clock = CpuClock::new();
    let (limit, handler_clock, stop) = (limits.cpu_time, clock.clone(), cancel.clone());
    runtime.set_interrupt_handler(Some(Box::new(move || {
        handler_clock.used() > limit || stop.load(Ordering::Relaxed)
    })));
    let log = Rc::new(RefCell::new(LogSink::new(limits.max_log_bytes)));
    // The host is dropped when the script ends, whatever closures JavaScript
    // still holds: the tasks feeding and draining it stop waiting.
    let host: Host = Rc::new(RefCell::new(Some(script_host)));
    let job = Job {
        source,
        variables_json,
        limits,
        attempt,
        handles_json,
    };
    let stopped = Stopped::default();
    let result = context.with(|ctx| run_in_context(&ctx, &job, (&host, &stopped), &clock, &log));
    host.borrow_mut().take();
    let lines = std::mem::take(&mut log.borrow_mut().lines);
    let why = Why {
        stopped: stopped.borrow_mut().take(),
        over_time: clock.used() > limit,
        cancelled: cancel.load(Ordering::Relaxed),
        out_of_memory: meter.refused(),
    };
    match result {
        Ok(()) => Ok(lines),
        Err(message) => Err(classify(message, why, limits)),
    }
}

/// A script call without its host.
struct Job<'a> {
    source: &'a str,
    variables_json: &'a str,
    limits: &'a ScriptLimits,
    attempt: u32,
    handles_json: &'a str,
}

fn run_in_context<'js>(
    ctx: &rquickjs::Ctx<'js>,
    job: &Job<'_>,
    (host, stopped): (&Host, &Stopped),
    clock: &CpuClock,
    log: &Rc<RefCell<LogSink>>,
) -> Result<(), String> {
    let js = |e: rquickjs::Error| e.to_string();
    let (sink, log_host) = (log.clone(), host.clone());
    let push = Function::new(ctx.clone(), move |line: String| {
        if let (Some(kept), Some(h)) =
            (sink.borrow_mut().push(line), log_host.borrow_mut().as_mut())
        {
            h.log(kept);
        }
    })
    .map_err(js)?;
    ctx.globals().set("__log", push).map_err(js)?;
    let log_fn: Value = take_global(ctx, crate::contexts::LOG_GLOBAL)?;
    let next = next_batch_fn(ctx, host.clone(), clock.clone())?;
    let save = save_file_fn(ctx, host.clone(), clock.clone())?;
    ctx.globals().set("__saveFile", save).map_err(js)?;
    let emit = emit_fn(ctx, host.clone(), clock.clone())?;
    let app_call = app_call_fn(ctx, host.clone(), clock.clone())?;
    let stop = stop_fn(ctx, stopped.clone())?;
    call_prelude(ctx, job, [next, emit, app_call, stop], log_fn)
}

/// A value the context was prepared with, taken out of the global scope
/// before the user's code runs.
fn take_global<'js, T: rquickjs::FromJs<'js>>(
    ctx: &rquickjs::Ctx<'js>,
    key: &str,
) -> Result<T, String> {
    let globals = ctx.globals();
    let value = globals.get(key).map_err(|e| e.to_string())?;
    globals.remove(key).map_err(|e| e.to_string())?;
    Ok(value)
}

/// The script's `log(...)`: its arguments as one line, strings as they are.
pub(crate) const LOG_FN: &str =
    "(...a) => __log(a.map(x => typeof x === 'string' ? x : JSON.stringify(x)).join(' '))";

/// `stop(kind, detail)`: the prelude says why it stops the script.
fn stop_fn<'js>(ctx: &rquickjs::Ctx<'js>, stopped: Stopped) -> Result<Function<'js>, String> {
    Function::new(ctx.clone(), move |kind: String, detail: String| {
        stopped.borrow_mut().get_or_insert((kind, detail));
    })
    .map_err(|e| e.to_string())
}

/// Calls the prelude with the user's function, the host functions
/// (`next`, `emit`, `appCall`, `stop`) and the options.
fn call_prelude<'js>(
    ctx: &rquickjs::Ctx<'js>,
    job: &Job<'_>,
    [next, emit, app_call, stop]: [Function<'js>; 4],
    log_fn: Value<'js>,
) -> Result<(), String> {
    // `input` is the prelude's proxy: the input is loaded only when the
    // script reads it.
    let body = format!(
        "(async function (input, inputStream, variables, log, attempt, apps, saveFile) {{\n{}\n}})",
        job.source
    );
    // Taken before the user's text is evaluated: a body that closes its
    // wrapper early runs code at the top level, and must not find it.
    let prelude: Function = take_global(ctx, crate::contexts::PRELUDE_GLOBAL)?;
    let user: Function = ctx.eval(body).catch(ctx).map_err(|e| e.to_string())?;
    let variables = ctx
        .json_parse(job.variables_json)
        .catch(ctx)
        .map_err(|e| e.to_string())?;
    let handles: serde_json::Value =
        serde_json::from_str(job.handles_json).unwrap_or_else(|_| serde_json::json!([]));
    let options = serde_json::json!({
        "attempt": job.attempt,
        "maxInput": job.limits.max_input_records,
        "batch": OUTPUT_BATCH,
        "apps": handles,
    });
    let options = ctx
        .json_parse(options.to_string())
        .catch(ctx)
        .map_err(|e| e.to_string())?;
    let fns = rquickjs::Object::new(ctx.clone()).map_err(|e| e.to_string())?;
    fns.set("appCall", app_call).map_err(|e| e.to_string())?;
    fns.set("stop", stop).map_err(|e| e.to_string())?;
    let args = (user, next, emit, variables, log_fn, options, fns);
    let promise: Promise = prelude.call(args).catch(ctx).map_err(|e| e.to_string())?;
    promise.finish::<()>().catch(ctx).map_err(|e| e.to_string())
}

/// Runs `f` on the host (while the script runs), the wait uncounted.
fn with_host<T>(
    host: &Host,
    clock: &CpuClock,
    f: impl FnOnce(&mut dyn ScriptHost) -> T,
) -> Option<T> {
    let mut host = host.borrow_mut();
    let h = host.as_mut()?;
    Some(clock.paused(|| f(h.as_mut())))
}

/// `appCall(app, op, argsJson)`: a call through the connector layer, waited for.
fn app_call_fn<'js>(
    ctx: &rquickjs::Ctx<'js>,
    host: Host,
    clock: CpuClock,
) -> Result<Function<'js>, String> {
    Function::new(
        ctx.clone(),
        move |app: String, op: String, args: String| -> String {
            with_host(&host, &clock, |h| h.app_call(&app, &op, &args)).unwrap_or_else(|| {
                serde_json::json!({ "error": "the script has ended" }).to_string()
            })
        },
    )
    .map_err(|e| e.to_string())
}

/// `next()`: the next input batch as JSON array text, or `null` after the last.
fn next_batch_fn<'js>(
    ctx: &rquickjs::Ctx<'js>,
    host: Host,
    clock: CpuClock,
) -> Result<Function<'js>, String> {
    Function::new(ctx.clone(), move || -> Option<String> {
        with_host(&host, &clock, |h| h.next_batch()).flatten()
    })
    .map_err(|e| e.to_string())
}

/// `emit(lines, count)`: hands a batch of NDJSON lines to the output store;
/// false once the store stopped taking them.
fn emit_fn<'js>(
    ctx: &rquickjs::Ctx<'js>,
    host: Host,
    clock: CpuClock,
) -> Result<Function<'js>, String> {
    Function::new(ctx.clone(), move |lines: String, count: usize| -> bool {
        let batch = OutputBatch::Records(bytes::Bytes::from(lines), count);
        with_host(&host, &clock, |h| h.send(batch)).unwrap_or(false)
    })
    .map_err(|e| e.to_string())
}

/// `__saveFile(name, content)`: a file beside the block's records; false once
/// the store stopped taking output.
fn save_file_fn<'js>(
    ctx: &rquickjs::Ctx<'js>,
    host: Host,
    clock: CpuClock,
) -> Result<Function<'js>, String> {
    Function::new(ctx.clone(), move |name: String, content: String| -> bool {
        let file = OutputBatch::File(name, bytes::Bytes::from(content));
        with_host(&host, &clock, |h| h.send(file)).unwrap_or(false)
    })
    .map_err(|e| e.to_string())
}

/// Records per output batch sent from a script.
const OUTPUT_BATCH: usize = canvas_blocks::BATCH_RECORDS;
/// What Rust knows of how a script ended, besides its error's text.
struct Why {
    stopped: Option<(String, String)>,
    over_time: bool,
    cancelled: bool,
    out_of_memory: bool,
}

/// A failed script's error from what Rust recorded: the cancel flag, the
/// CPU clock, the metering allocator's refusal, the prelude's
/// `stop(kind, detail)`. The thrown text is only the message of a `Thrown`
/// error.
fn classify(message: String, why: Why, limits: &ScriptLimits) -> ScriptError {
    if why.cancelled {
        return ScriptError::Cancelled;
    }
    if why.over_time {
        return ScriptError::CpuTime(limits.cpu_time.as_millis());
    }
    if why.out_of_memory {
        return ScriptError::Memory(limits.memory_bytes / (1024 * 1024));
    }
    match why.stopped {
        Some((kind, _)) if kind == "too_large" => ScriptError::InputTooLarge {
            limit: limits.max_input_records,
        },
        Some((kind, detail)) if kind == "transient" => ScriptError::Transient(detail),
        Some((kind, detail)) if kind == "bad_result" => ScriptError::BadResult(detail),
        _ => ScriptError::Thrown(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script's output as one JSON array text, and its log.
    struct Done {
        records_json: String,
        log: Vec<String>,
    }

    fn call(source: &str, input: &str) -> Result<Done, ScriptError> {
        let limits = ScriptLimits {
            cpu_time: Duration::from_millis(300),
            memory_bytes: 32 << 20,
            max_input_records: 10,
            max_log_bytes: 10_000,
        };
        let (in_tx, in_rx) = tokio::sync::mpsc::channel(1);
        in_tx.try_send(input.to_string()).unwrap();
        drop(in_tx);
        let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(64);
        let log = run(ScriptCall {
            source,
            variables_json: r#"{"k":"v"}"#,
            limits: &limits,
            cancel: Arc::new(AtomicBool::new(false)),
            attempt: 1,
            handles_json: "[]",
            host: Box::new(ChannelHost {
                input: in_rx,
                output: out_tx,
                apps: None,
            }),
        })?;
        let mut lines = String::new();
        while let Ok(out) = out_rx.try_recv() {
            if let OutputBatch::Records(batch, _) = out {
                lines.push_str(std::str::from_utf8(&batch).unwrap());
            }
        }
        let records: Vec<&str> = lines.lines().collect();
        Ok(Done {
            records_json: format!("[{}]", records.join(",")),
            log,
        })
    }

    /// Log lines live outside QuickJS's memory limit: they are capped.
    #[test]
    fn a_blocks_log_is_cut_at_its_limit_with_one_line_saying_so() {
        let out = call(
            "for (let i = 0; i < 1000; i++) log('x'.repeat(1000)); return [];",
            "[]",
        )
        .unwrap();
        let kept: usize = out.log.iter().map(String::len).sum();
        assert!(kept < 10_000 + 200, "{kept} bytes kept");
        assert_eq!(
            out.log.len(),
            10,
            "9 lines of 1,000 bytes (1,032 with their keeping), then the marker"
        );
        assert!(out.log.last().unwrap().contains("the log was cut here"));
        // 5,000 empty lines: far more than the cap keeps, and quick even in a busy debug build.
        let empty = call("for (let i = 0; i < 5000; i++) log(''); return [];", "[]").unwrap();
        assert!(
            empty.log.len() < 10_000 / 32 + 2,
            "{} empty lines kept",
            empty.log.len()
        );
    }

    #[test]
    fn scripts_map_their_input_and_log() {
        let out = call("log('n', input.length, variables.k); return input.filter(r => r.active).map(r => ({ id: r.id, name: r.name.toUpperCase() }));",
            r#"[{"id":1,"name":"a","active":true},{"id":2,"name":"b","active":false}]"#).unwrap();
        assert_eq!(out.records_json, r#"[{"id":1,"name":"A"}]"#);
        assert_eq!(out.log, ["n 2 v"]);
    }

    #[test]
    fn blocks_sharing_a_thread_never_see_each_others_globals() {
        call(
            "globalThis.leak = 42; Array.prototype.evil = 1; return [];",
            "[]",
        )
        .unwrap();
        let out = call(
            "return [{ leak: typeof leak, evil: typeof [].evil }];",
            "[]",
        )
        .unwrap();
        assert_eq!(
            out.records_json,
            r#"[{"leak":"undefined","evil":"undefined"}]"#
        );
    }

    /// The sandbox prepares the next context while it waits: that context
    /// is as fresh as one made on demand, and the prelude's handles are
    /// gone from its global scope before the user's code runs.
    #[test]
    fn a_context_prepared_ahead_is_fresh_and_keeps_nothing_of_ours_in_sight() {
        prepare_next();
        call(
            "globalThis.leak = 42; Array.prototype.evil = 1; return [];",
            "[]",
        )
        .unwrap();
        prepare_next();
        let out = call(
            "return [{ leak: typeof leak, evil: typeof [].evil, ours: typeof __canvasPrelude + typeof __canvasLog }];",
            "[]",
        )
        .unwrap();
        assert_eq!(
            out.records_json,
            r#"[{"leak":"undefined","evil":"undefined","ours":"undefinedundefined"}]"#
        );
        call("globalThis.n = 0; (function again() { n++; Promise.resolve().then(again); })(); return [];", "[]").unwrap();
        prepare_next();
        let out = call("return [{ n: typeof n }];", "[]").unwrap();
        assert_eq!(
            out.records_json, r#"[{"n":"undefined"}]"#,
            "jobs left behind never run"
        );
    }

    /// A body that closes its wrapper early runs at the top level; the
    /// prelude is out of its reach by then.
    #[test]
    fn a_script_breaking_out_of_its_wrapper_cannot_replace_the_prelude() {
        prepare_next();
        let source = "}); globalThis.__canvasPrelude = async function (run, next, emit) { emit('{\"hacked\":1}\\n', 1); }; (async function () { return [{ ok: 1 }];";
        let out = call(source, "[]").unwrap();
        assert_eq!(out.records_json, r#"[{"ok":1}]"#);
    }

    /// A self-renewing microtask left by one block would run inside the
    /// next block on the same thread, eating its CPU time.
    #[test]
    fn jobs_a_block_leaves_behind_never_run_in_the_next_block() {
        call(
            "globalThis.n = 0; (function again() { n++; Promise.resolve().then(again); })(); return [];",
            "[]",
        )
        .unwrap();
        let started = Instant::now();
        let out = call("return [{ n: typeof n }];", "[]").unwrap();
        assert_eq!(out.records_json, r#"[{"n":"undefined"}]"#);
        assert!(started.elapsed() < Duration::from_millis(200));
    }

    #[test]
    fn a_transient_error_thrown_while_the_output_streams_is_still_transient() {
        let source = "return (async function* () { yield {a: 1}; const e = new Error('busy'); e.transient = true; throw e; })();";
        assert_eq!(
            call(source, "[]").err(),
            Some(ScriptError::Transient("busy".into()))
        );
    }

    #[test]
    fn transient_errors_are_told_apart_and_the_attempt_is_in_scope() {
        let source = "const e = new Error('busy, try later'); e.transient = attempt < 2; throw e;";
        assert_eq!(
            call(source, "[]").err(),
            Some(ScriptError::Transient("busy, try later".into()))
        );
        assert!(matches!(
            call("throw new Error('bad data')", "[]"),
            Err(ScriptError::Thrown(_))
        ));
    }

    #[test]
    fn async_generators_stream_their_records() {
        let out = call("return (async function* () { for await (const r of inputStream) yield { x: r.x * 2 }; })();", r#"[{"x":1},{"x":2}]"#).unwrap();
        assert_eq!(out.records_json, r#"[{"x":2},{"x":4}]"#);
    }

    #[test]
    fn limits_and_errors_fail_cleanly() {
        assert_eq!(
            call("while (true) {}", "[]").err(),
            Some(ScriptError::CpuTime(300))
        );
        assert_eq!(
            call("const a = []; while (true) a.push('x'.repeat(1e6));", "[]").err(),
            Some(ScriptError::Memory(32))
        );
        // A script that catches running out of memory and throws its own
        // error was still stopped by the limit: the meter says so.
        assert_eq!(
            call("try { const a = []; while (true) a.push('x'.repeat(1e6)); } catch (e) { throw new Error('gave up'); }", "[]").err(),
            Some(ScriptError::Memory(32))
        );
        assert!(
            matches!(call("throw new Error('boom')", "[]"), Err(ScriptError::Thrown(m)) if m.contains("boom"))
        );
        // What a script throws is its message, whatever the words.
        for words in [
            "request interrupted",
            "__transient__: x",
            "__bad_result__:",
            "__too_large__:",
            "out of memory",
        ] {
            let source = format!("throw new Error('{words}')");
            assert!(
                matches!(call(&source, "[]"), Err(ScriptError::Thrown(ref m)) if m.contains(words)),
                "{words}"
            );
        }
        assert!(matches!(call("return 5", "[]"), Err(ScriptError::BadResult(k)) if k == "number"));
        assert!(matches!(
            call("return require('fs').readFileSync('/etc/passwd')", "[]"),
            Err(ScriptError::Thrown(_))
        ));
        let big = serde_json::to_string(&vec![1; 11]).unwrap();
        assert!(matches!(
            call("return input", &big),
            Err(ScriptError::InputTooLarge { limit: 10 })
        ));
        assert!(
            call(
                "const out = []; for await (const r of inputStream) out.push(r); return out;",
                &big
            )
            .is_ok()
        );
        // Scripts written for an array parameter still work.
        let three = r#"[{"x":1},{"x":2},{"x":3}]"#;
        for source in [
            "var input = input || []; return input.filter(r => r.x > 1);",
            "return input.map(r => r.x).concat([input.length, Array.isArray(input), JSON.stringify(input).length > 0]);",
            "const out = []; for (const r of input) out.push(r); return out.slice(1);",
        ] {
            assert!(call(source, three).is_ok(), "{source}");
        }
        assert_eq!(
            call("return input.filter(r => r.x > 1);", three)
                .unwrap()
                .records_json,
            r#"[{"x":2},{"x":3}]"#
        );
        // A comment that mentions input does not load it: only reading it does.
        assert!(
            call(
                "// every input record, doubled\nconst out = []; for await (const r of inputStream) out.push(r); return out;",
                &big
            )
            .is_ok()
        );
    }
}
