//! Script blocks: JavaScript in an embedded QuickJS sandbox. The runtime has
//! the language's built-ins only (no file system, no network: QuickJS's
//! `std`/`os` modules are not part of `rquickjs`), a memory limit, and an
//! interrupt handler that enforces the CPU-time limit and cancellation.

use rquickjs::{CatchResultExt, Context, Function, Promise, Runtime, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ScriptLimits {
    pub cpu_time: Duration,
    pub memory_bytes: usize,
    /// Largest `input` handed over as an array; beyond it scripts use `inputStream`.
    pub max_input_records: usize,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(30),
            memory_bytes: 256 * 1024 * 1024,
            max_input_records: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
        "input holds at most {limit} records and this block's input has {actual}: read it with `for await (const r of inputStream)` instead"
    )]
    InputTooLarge { limit: usize, actual: usize },
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The script marked its error as transient (`err.transient = true`): worth a retry.
    #[error("transient error: {0}")]
    Transient(String),
    /// A failure of a block written in Rust (utility and connector blocks).
    #[error("{0}")]
    Native(String),
}

pub struct ScriptOutput {
    /// The returned records, as one JSON array.
    pub records_json: String,
    pub log: Vec<String>,
}

/// What a script sees besides its source.
pub struct ScriptCall<'a> {
    pub source: &'a str,
    pub input_json: &'a str,
    pub input_len: usize,
    pub variables_json: &'a str,
    pub limits: &'a ScriptLimits,
    pub cancel: Arc<AtomicBool>,
    /// 1 on the first try; more when the block is retried after a transient error.
    pub attempt: u32,
}

/// Turns whatever the script returned (array, async iterable, nothing) into an array.
const PRELUDE: &str = r#"
(async function (run, input, variables, log, attempt) {
    const inputStream = (async function* () { for (const r of input) yield r; })();
    let out;
    try {
        out = await run(input, inputStream, variables, log, attempt);
    } catch (e) {
        // `err.transient = true` asks for a retry (a busy or unreachable service).
        if (e && e.transient === true) throw new Error('__transient__:' + (e.message || String(e)));
        throw e;
    }
    if (out === undefined || out === null) return [];
    if (Array.isArray(out)) return out;
    if (out && typeof out[Symbol.asyncIterator] === 'function') {
        const all = [];
        for await (const r of out) all.push(r);
        return all;
    }
    throw new TypeError('__bad_result__:' + (typeof out));
})
"#;

/// Whether the source reads `input` itself (not only `inputStream`).
fn uses_input(source: &str) -> bool {
    let bytes = source.as_bytes();
    source.match_indices("input").any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 5).copied();
        let ident =
            |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$');
        !ident(before) && !ident(after)
    })
}

pub fn run(call: &ScriptCall<'_>) -> Result<ScriptOutput, ScriptError> {
    if call.input_len > call.limits.max_input_records && uses_input(call.source) {
        return Err(ScriptError::InputTooLarge {
            limit: call.limits.max_input_records,
            actual: call.input_len,
        });
    }
    with_runtime(|runtime| execute(runtime, call))
}

thread_local! {
    /// One QuickJS runtime per blocking thread, reused from block to block;
    /// every block still gets a fresh context (its own global scope).
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's runtime. A runtime that saw a failure (a limit,
/// an interruption, an exception) is dropped rather than reused.
fn with_runtime(
    f: impl FnOnce(&Runtime) -> Result<ScriptOutput, ScriptError>,
) -> Result<ScriptOutput, ScriptError> {
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Runtime::new().map_err(|e| ScriptError::Sandbox(e.to_string()))?);
        }
        let runtime = slot.as_ref().expect("set above");
        let out = f(runtime);
        runtime.set_interrupt_handler(None);
        if out.is_err() {
            *slot = None;
        } else {
            runtime.run_gc();
        }
        out
    })
}

fn execute(runtime: &Runtime, call: &ScriptCall<'_>) -> Result<ScriptOutput, ScriptError> {
    let sandbox = |e: rquickjs::Error| ScriptError::Sandbox(e.to_string());
    runtime.set_memory_limit(call.limits.memory_bytes);
    runtime.set_max_stack_size(1024 * 1024);
    let deadline = Instant::now() + call.limits.cpu_time;
    let cancel = call.cancel.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || {
        Instant::now() > deadline || cancel.load(Ordering::Relaxed)
    })));
    let context = Context::full(runtime).map_err(sandbox)?;
    let log = Rc::new(RefCell::new(Vec::new()));
    let result = context.with(|ctx| -> Result<String, String> {
        let sink = log.clone();
        let push = Function::new(ctx.clone(), move |line: String| sink.borrow_mut().push(line)).map_err(|e| e.to_string())?;
        ctx.globals().set("__log", push).map_err(|e| e.to_string())?;
        let log_fn: Value = ctx
            .eval("(...a) => __log(a.map(x => typeof x === 'string' ? x : JSON.stringify(x)).join(' '))")
            .catch(&ctx)
            .map_err(|e| e.to_string())?;
        let body = format!("(async function (input, inputStream, variables, log, attempt) {{\n{}\n}})", call.source);
        let user: Function = ctx.eval(body).catch(&ctx).map_err(|e| e.to_string())?;
        let prelude: Function = ctx.eval(PRELUDE).catch(&ctx).map_err(|e| e.to_string())?;
        let input = ctx.json_parse(call.input_json).catch(&ctx).map_err(|e| e.to_string())?;
        let variables = ctx.json_parse(call.variables_json).catch(&ctx).map_err(|e| e.to_string())?;
        let promise: Promise = prelude.call((user, input, variables, log_fn, call.attempt)).catch(&ctx).map_err(|e| e.to_string())?;
        let out: Value = promise.finish().catch(&ctx).map_err(|e| e.to_string())?;
        let json = ctx.json_stringify(out).catch(&ctx).map_err(|e| e.to_string())?;
        Ok(json.map(|s| s.to_string().unwrap_or_default()).unwrap_or_else(|| "[]".into()))
    });
    let lines = log.borrow().clone();
    match result {
        Ok(records_json) => Ok(ScriptOutput {
            records_json,
            log: lines,
        }),
        Err(message) => Err(classify(message, deadline, &call.cancel, call.limits)),
    }
}

fn classify(
    message: String,
    deadline: Instant,
    cancel: &AtomicBool,
    limits: &ScriptLimits,
) -> ScriptError {
    if cancel.load(Ordering::Relaxed) {
        return ScriptError::Cancelled;
    }
    if message.contains("out of memory") {
        return ScriptError::Memory(limits.memory_bytes / (1024 * 1024));
    }
    if message.contains("interrupted") || Instant::now() > deadline {
        return ScriptError::CpuTime(limits.cpu_time.as_millis());
    }
    if let Some(rest) = message.split("__transient__:").nth(1) {
        return ScriptError::Transient(rest.lines().next().unwrap_or("").trim().to_string());
    }
    if let Some(kind) = message.split("__bad_result__:").nth(1) {
        return ScriptError::BadResult(
            kind.split_whitespace()
                .next()
                .unwrap_or("something else")
                .to_string(),
        );
    }
    ScriptError::Thrown(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(source: &str, input: &str) -> Result<ScriptOutput, ScriptError> {
        let limits = ScriptLimits {
            cpu_time: Duration::from_millis(300),
            memory_bytes: 32 << 20,
            max_input_records: 10,
        };
        let len = serde_json::from_str::<Vec<serde_json::Value>>(input)
            .map(|v| v.len())
            .unwrap_or(0);
        run(&ScriptCall {
            source,
            input_json: input,
            input_len: len,
            variables_json: r#"{"k":"v"}"#,
            limits: &limits,
            cancel: Arc::new(AtomicBool::new(false)),
            attempt: 1,
        })
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
        assert!(
            matches!(call("throw new Error('boom')", "[]"), Err(ScriptError::Thrown(m)) if m.contains("boom"))
        );
        assert!(matches!(call("return 5", "[]"), Err(ScriptError::BadResult(k)) if k == "number"));
        assert!(matches!(
            call("return require('fs').readFileSync('/etc/passwd')", "[]"),
            Err(ScriptError::Thrown(_))
        ));
        let big = serde_json::to_string(&vec![1; 11]).unwrap();
        assert!(matches!(
            call("return input", &big),
            Err(ScriptError::InputTooLarge {
                limit: 10,
                actual: 11
            })
        ));
        assert!(
            call(
                "const out = []; for await (const r of inputStream) out.push(r); return out;",
                &big
            )
            .is_ok()
        );
    }
}
