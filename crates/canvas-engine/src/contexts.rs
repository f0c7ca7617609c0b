//! The QuickJS runtime a thread keeps from block to block, and the fresh
//! context each block gets. A sandbox process prepares the next block's
//! context (and frees the last one's) after it has answered, while it waits:
//! a block neither builds its context nor waits for the clean-up of the one
//! before. Each context serves one block only, so nothing of a block is
//! visible in the next.

use crate::meter::{MemoryMeter, MeteredAllocator};
use crate::script::{LOG_FN, PRELUDE, ScriptError};
use rquickjs::{CatchResultExt, Context, Runtime, Value};
use std::cell::RefCell;

/// Where a prepared context keeps the prelude and the `log` function until
/// its block takes (and removes) them.
pub(crate) const PRELUDE_GLOBAL: &str = "__canvasPrelude";
pub(crate) const LOG_GLOBAL: &str = "__canvasLog";

/// Past this heap, a block's context is freed before its result is sent.
const FREE_BEFORE_ANSWER: usize = 8 << 20;

thread_local! {
    static WARM: RefCell<Option<Warm>> = const { RefCell::new(None) };
}

/// A thread's runtime and the contexts around its blocks.
struct Warm {
    runtime: Runtime,
    meter: MemoryMeter,
    /// A context no block has used, the prelude evaluated in it.
    ready: Option<Context>,
    /// The last block's context, freed before anything else runs here.
    spent: Option<Context>,
    /// The last block failed or left jobs behind: its runtime is not reused.
    poisoned: bool,
}

impl Warm {
    fn new() -> Result<Self, ScriptError> {
        let meter = MemoryMeter::default();
        let runtime = Runtime::new_with_alloc(MeteredAllocator::new(meter.clone()))
            .map_err(|e| ScriptError::Sandbox(e.to_string()))?;
        Ok(Self {
            runtime,
            meter,
            ready: None,
            spent: None,
            poisoned: false,
        })
    }
}

/// Runs one block in a fresh context on this thread's runtime (the one
/// prepared ahead, or a new one). A runtime that saw a failure (a limit, an
/// interruption, an exception) or was left with jobs is dropped rather than
/// reused.
pub(crate) fn with_fresh_context(
    block: impl FnOnce(&Runtime, &MemoryMeter, &Context) -> Result<Vec<String>, ScriptError>,
) -> Result<Vec<String>, ScriptError> {
    WARM.with(|cell| {
        let mut slot = cell.borrow_mut();
        settle(&mut slot);
        let warm = match slot.as_mut() {
            Some(warm) => warm,
            None => slot.insert(Warm::new()?),
        };
        let context = match warm.ready.take() {
            Some(context) => context,
            None => fresh_context(&warm.runtime, &warm.meter)?,
        };
        let out = block(&warm.runtime, &warm.meter, &context);
        warm.runtime.set_interrupt_handler(None);
        // Jobs a script left behind (a self-renewing microtask) would run in
        // the next block: a runtime with any goes, like a failed one.
        warm.poisoned = out.is_err() || warm.runtime.is_job_pending();
        warm.spent = Some(context);
        // A large heap is freed now, before the result is told: its clean-up
        // would otherwise eat into the next block's time on the engine's clock.
        let large = warm.meter.used() > FREE_BEFORE_ANSWER;
        if large {
            settle(&mut slot);
        }
        out
    })
}

/// Frees the last block's context and prepares the next one. Optional —
/// `with_fresh_context` does whatever is missing — but called once a
/// block's result is sent, it takes this work off the next block's path.
pub(crate) fn prepare() {
    WARM.with(|cell| {
        let mut slot = cell.borrow_mut();
        settle(&mut slot);
        if slot.is_none() {
            *slot = Warm::new().ok();
        }
        if let Some(warm) = slot.as_mut().filter(|w| w.ready.is_none()) {
            // A failure here is met again, and reported, by the block.
            warm.ready = fresh_context(&warm.runtime, &warm.meter).ok();
        }
    })
}

/// Frees the last block's context; drops a poisoned runtime, or collects
/// the cycles the block left in a healthy one.
fn settle(slot: &mut Option<Warm>) {
    let Some(warm) = slot.as_mut() else { return };
    let Some(spent) = warm.spent.take() else {
        return;
    };
    drop(spent);
    if !warm.poisoned {
        warm.runtime.run_gc();
    }
    // Collecting may queue finalizers' jobs: those would run in the next block.
    if warm.poisoned || warm.runtime.is_job_pending() {
        *slot = None;
    }
}

/// A new context with every built-in, the prelude and the `log` function
/// evaluated in it. Our own code, so no block's memory limit applies yet.
fn fresh_context(runtime: &Runtime, meter: &MemoryMeter) -> Result<Context, ScriptError> {
    let sandbox = |e: String| ScriptError::Sandbox(e);
    meter.start_block(0);
    let context = Context::full(runtime).map_err(|e| sandbox(e.to_string()))?;
    context
        .with(|ctx| {
            let globals = ctx.globals();
            for (key, source) in [(PRELUDE_GLOBAL, PRELUDE), (LOG_GLOBAL, LOG_FN)] {
                let value: Value = ctx.eval(source).catch(&ctx).map_err(|e| e.to_string())?;
                globals.set(key, value).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .map_err(sandbox)?;
    Ok(context)
}
