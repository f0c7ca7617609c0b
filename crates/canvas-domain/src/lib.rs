//! Canvas domain: the types a request is parsed into and the rules they obey.
//! No I/O lives here; every value of a type in this crate is valid by construction.

pub mod account;
pub mod catalog;
pub mod credentials;
pub mod cron;
pub mod egress;
pub mod net;
pub mod path;
pub mod schedule;
pub mod template;
pub mod time;
pub mod vendor;
pub mod workflow;

pub use uuid::Uuid;
