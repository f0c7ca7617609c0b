//! The `canvas` binary, started as a process the way an operator runs it.

mod architecture;
mod cli;
mod common;
mod datasets;
mod engine;
mod readme;
mod schedules;
mod secrets;
mod startup;
