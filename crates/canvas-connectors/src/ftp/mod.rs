//! FTP Server: FTP, explicit FTPS (`AUTH TLS`) and implicit FTPS. Its
//! blocks are the file transfer blocks (`transfer.rs`).

mod client;

pub(crate) use client::{FtpSession, FtpSettings, Upload as FtpUpload, check};
