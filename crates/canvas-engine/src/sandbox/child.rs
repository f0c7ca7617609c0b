//! The sandbox process's side: read a block's script from stdin, run it in
//! QuickJS, and carry its input, output, `apps` calls and log lines over the
//! pipe. One block at a time; the engine kills the process when a script
//! overruns its limits or its run is cancelled.

use super::frame::{Frame, HELLO, Start, ToChild, ToParent};
use crate::script::{self, OutputBatch, ScriptCall, ScriptHost};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The pipe to the engine: stdin and stdout, unbuffered by Rust's line writer.
struct Pipe {
    from_engine: BufReader<File>,
    to_engine: BufWriter<File>,
}

impl Pipe {
    fn open() -> io::Result<Self> {
        let stdin = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let stdout = File::from(io::stdout().as_fd().try_clone_to_owned()?);
        Ok(Self {
            from_engine: BufReader::new(stdin),
            to_engine: BufWriter::new(stdout),
        })
    }

    fn send(&mut self, message: ToParent) -> io::Result<()> {
        message.frame().write_to(&mut self.to_engine)
    }

    fn receive(&mut self) -> io::Result<Option<ToChild>> {
        Frame::read_from(&mut self.from_engine)?
            .map(ToChild::parse)
            .transpose()
    }
}

/// Serves blocks until the engine closes the pipe. The process dies with
/// the engine (a script stuck in native code cannot outlive it).
pub fn serve() -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(io::Error::from)?;
    let pipe = Rc::new(RefCell::new(Pipe::open()?));
    {
        let mut p = pipe.borrow_mut();
        p.to_engine.write_all(HELLO)?;
        p.to_engine.flush()?;
    }
    script::prepare_next();
    loop {
        let message = pipe.borrow_mut().receive()?;
        match message {
            None => return Ok(()),
            Some(ToChild::Start(start)) => run_block(*start, &pipe)?,
            Some(other) => {
                return Err(io::Error::other(format!(
                    "sandbox: expected a script, got {other:?}"
                )));
            }
        }
    }
}

fn run_block(start: Start, pipe: &Rc<RefCell<Pipe>>) -> io::Result<()> {
    let taken = Rc::new(Cell::new(0));
    let host = PipeHost {
        pipe: pipe.clone(),
        ahead: start.input.map(VecDeque::from),
        taken: taken.clone(),
        ended: false,
        broken: false,
    };
    let result = script::run(ScriptCall {
        source: &start.source,
        variables_json: &start.variables_json,
        limits: &start.limits,
        // The engine stops a cancelled script by ending this process.
        cancel: Arc::new(AtomicBool::new(false)),
        attempt: start.attempt,
        handles_json: &start.handles_json,
        host: Box::new(host),
    });
    let message = match result {
        Ok(_) => ToParent::Done(taken.get()),
        Err(e) => ToParent::Failed(e, taken.get()),
    };
    pipe.borrow_mut().send(message)?;
    // Off the block's path: the engine is recording the block meanwhile.
    // Yield first, so that on a busy machine the engine's thread, woken by
    // the result, runs before this clean-up rather than after it.
    std::thread::yield_now();
    script::prepare_next();
    Ok(())
}

/// A script's host at the sandbox's end of the pipe. A broken pipe ends
/// the script's input and refuses its output: the engine has gone.
struct PipeHost {
    pipe: Rc<RefCell<Pipe>>,
    /// The input the engine sent with the block, when it sent it whole.
    ahead: Option<VecDeque<String>>,
    /// How many of those batches the script took.
    taken: Rc<Cell<u32>>,
    /// The engine said the input has ended.
    ended: bool,
    broken: bool,
}

impl PipeHost {
    /// Sends `message` and, when `reply`, waits for the engine's answer.
    fn exchange(&mut self, message: ToParent, reply: bool) -> Option<ToChild> {
        if self.broken {
            return None;
        }
        let mut pipe = self.pipe.borrow_mut();
        let answer = pipe
            .send(message)
            .and_then(|()| if reply { pipe.receive() } else { Ok(None) });
        match answer {
            Ok(answer) => answer,
            Err(_) => {
                self.broken = true;
                None
            }
        }
    }
}

impl ScriptHost for PipeHost {
    fn next_batch(&mut self) -> Option<String> {
        if let Some(ahead) = &mut self.ahead {
            let batch = ahead.pop_front()?;
            self.taken.set(self.taken.get() + 1);
            return Some(batch);
        }
        if self.ended {
            return None;
        }
        match self.exchange(ToParent::Next, true) {
            Some(ToChild::Batch(Some(batch))) => Some(batch),
            _ => {
                self.ended = true;
                None
            }
        }
    }

    fn send(&mut self, batch: OutputBatch) -> bool {
        let message = match batch {
            OutputBatch::Records(ndjson, count) => ToParent::Records(ndjson.to_vec(), count),
            OutputBatch::File(name, content) => ToParent::File(name, content.to_vec()),
        };
        self.exchange(message, false);
        !self.broken
    }

    fn app_call(&mut self, app: &str, op: &str, args: &str) -> String {
        let call = ToParent::AppCall(app.into(), op.into(), args.into());
        match self.exchange(call, true) {
            Some(ToChild::AppResult(result)) => result,
            _ => serde_json::json!({ "error": "the engine did not answer" }).to_string(),
        }
    }

    fn log(&mut self, line: &str) {
        self.exchange(ToParent::Log(line.to_string()), false);
    }
}
