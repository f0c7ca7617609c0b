//! A file written beside a block's records while it is made (a Format
//! block's export): uploaded in parts like the records, so memory holds a
//! part whatever the file's size, and counted against the block's files
//! quota as it grows.

use super::writer::{PART_BYTES, RecordWriter};
use super::{DatasetError, check_file_name, files_prefix};
use bytes::Bytes;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use tokio::io::AsyncWriteExt;

pub struct FileWriter {
    blob: BufWriter,
    name: String,
    bytes: u64,
    /// Bytes the block's other files already hold, and the block's quota.
    others: u64,
    limit: u64,
}

impl RecordWriter {
    /// Starts a file `name` beside the records; [`Self::keep_file`] completes
    /// it, [`FileWriter::abort`] drops it.
    pub fn file(&self, name: &str) -> Result<FileWriter, DatasetError> {
        check_file_name(name)?;
        let path = Path::from(format!("{}{name}", files_prefix(self.key())));
        let blob = BufWriter::with_capacity(self.datasets().blobs.clone(), path, PART_BYTES)
            .with_max_concurrency(2);
        Ok(FileWriter {
            blob,
            name: name.to_string(),
            bytes: 0,
            others: self.files_bytes(),
            limit: self.datasets().quotas.block_files_bytes,
        })
    }

    /// Completes a file: listed with the block's files, and removed with
    /// them if the try fails. Returns its size.
    pub async fn keep_file(&mut self, mut file: FileWriter) -> Result<u64, DatasetError> {
        file.blob.shutdown().await.map_err(|e| {
            DatasetError::Blob(object_store::Error::Generic {
                store: "blob",
                source: Box::new(e),
            })
        })?;
        self.adopt_file(file.name, file.bytes);
        Ok(file.bytes)
    }
}

impl FileWriter {
    /// Appends `bytes`; refused once the block's files would pass its quota.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), DatasetError> {
        let would = self.others + self.bytes + bytes.len() as u64;
        if would > self.limit {
            return Err(DatasetError::BlockFilesQuota {
                would,
                limit: self.limit,
            });
        }
        self.bytes += bytes.len() as u64;
        self.blob.put(bytes).await?;
        Ok(())
    }

    /// Drops what was written: nothing reaches the file's name.
    pub async fn abort(mut self) {
        if let Err(e) = self.blob.abort().await {
            tracing::warn!(file = %self.name, error = %e, "aborting a file's upload failed");
        }
    }
}
