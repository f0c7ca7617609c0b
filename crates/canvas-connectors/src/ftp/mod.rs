//! FTP Server: FTP, explicit FTPS (`AUTH TLS`) and implicit FTPS. The
//! client in `client.rs`; the blocks `FTP Upload` and `FTP Download` and
//! the script operations in `blocks.rs`.

mod blocks;
mod client;

pub(crate) use blocks::register;
pub(crate) use client::check;
