//! Scripts run in sandbox processes: a pool of child processes (`canvas
//! sandbox`), one block at a time each. A script that overruns its CPU limit
//! in native code (where QuickJS's interrupt handler is never called), or
//! whose run is cancelled, is stopped by killing its process; its memory
//! goes with it, and nothing it left behind can touch another block.

mod child;
mod frame;
mod parent;

pub use child::serve;
pub(crate) use parent::{Sandboxes, ScriptRun};

use std::path::PathBuf;

/// How to start a sandbox process. The child's environment is emptied
/// first (the server's may hold secrets); `env` is all it gets.
#[derive(Debug, Clone)]
pub struct SandboxProgram {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl SandboxProgram {
    /// This executable, started with `args` (the binary: `["sandbox"]`).
    pub fn this_executable(args: &[&str]) -> std::io::Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        })
    }
}

impl Default for SandboxProgram {
    /// `<this executable> sandbox`, as the `canvas` binary answers it.
    fn default() -> Self {
        Self::this_executable(&["sandbox"]).unwrap_or_else(|_| Self {
            program: PathBuf::from("canvas"),
            args: vec!["sandbox".into()],
            env: Vec::new(),
        })
    }
}
