//! The Canvas workflow engine: workers claim queued runs from the store and
//! execute their block chains, keeping a lease with heartbeats.

pub mod script;
