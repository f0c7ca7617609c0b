//! The block interface, shared by the engine (which runs blocks), the
//! connectors (which implement them) and the API (which reads what they
//! stored): `NativeBlock` and `AppOperations`, the `NativeBlocks` registry,
//! and the blob-backed datasets blocks read and write (`RecordReader`,
//! `RecordWriter`, `Datasets`, an account's File Hub files). No script
//! engine here: depending on this crate never pulls QuickJS in.

pub mod block;
mod datasets;
mod variables;

pub use block::{
    AppAccess, AppOperations, BlockContext, BlockError, BlockFuture, CallFuture, CancelToken,
    NativeBlock, NativeBlocks,
};
pub use datasets::{
    AccountFiles, BATCH_RECORDS, DatasetError, Datasets, FileInfo, FileQuotas, FileWriter,
    INLINE_MAX, InlineOutputs, OutputKey, RecordBatch, RecordReader, RecordWriter, Written,
    check_file_name,
};
pub use variables::Variables;
