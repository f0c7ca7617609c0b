//! Writing a block's output as it is produced: the first `INLINE_MAX` bytes
//! are held in memory — a small output is handed back whole, for the engine
//! to keep with the block's record, or put in one go — and a larger one goes
//! up as a multipart upload of bounded parts.

use super::{DatasetError, Datasets, RECENT_ITEM_MAX};
use bytes::Bytes;
use object_store::buffered::BufWriter;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// Bytes held before the upload turns multipart (also the part size: S3's minimum is 5 MiB).
pub(super) const PART_BYTES: usize = 5 << 20;

/// The largest output kept with its block's record instead of the blob store.
pub const INLINE_MAX: usize = 64 * 1024;

/// What a finished writer holds.
#[derive(Debug)]
pub struct Written {
    pub records: usize,
    /// The whole output, when it stayed under `INLINE_MAX`: the caller keeps
    /// it (nothing was put in the blob store).
    pub inline: Option<Bytes>,
}

pub struct RecordWriter {
    datasets: Datasets,
    key: String,
    /// Opened once the output outgrows `held`.
    blob: Option<BufWriter>,
    /// The output while it is under `INLINE_MAX`, not yet sent anywhere.
    held: Vec<u8>,
    count: usize,
    /// A copy for the recent-outputs cache while the output is small.
    small: Option<Vec<u8>>,
    /// Files stored so far (removed again if the try fails).
    files: Vec<String>,
    files_bytes: u64,
}

impl RecordWriter {
    pub(super) fn new(datasets: Datasets, key: &str) -> Self {
        Self {
            datasets,
            key: key.to_string(),
            blob: None,
            held: Vec::new(),
            count: 0,
            small: Some(Vec::new()),
            files: Vec::new(),
            files_bytes: 0,
        }
    }

    /// Stores a file beside the records (a block that makes files: a CSV
    /// export, a downloaded document). Listed by `WorkflowRunFiles`.
    /// Refused (nothing stored) once the try's files would exceed
    /// `max_block_files_bytes`.
    pub async fn put_file(&mut self, name: &str, content: Bytes) -> Result<(), DatasetError> {
        let would = self.files_bytes + content.len() as u64;
        let limit = self.datasets.quotas.block_files_bytes;
        if would > limit {
            return Err(DatasetError::BlockFilesQuota { would, limit });
        }
        self.datasets.put_file(&self.key, name, content).await?;
        self.files_bytes = would;
        self.files.push(name.to_string());
        Ok(())
    }

    pub(super) fn key(&self) -> &str {
        &self.key
    }

    pub(super) fn datasets(&self) -> &Datasets {
        &self.datasets
    }

    pub(super) fn files_bytes(&self) -> u64 {
        self.files_bytes
    }

    /// A file completed beside the records (`file_writer.rs`).
    pub(super) fn adopt_file(&mut self, name: String, bytes: u64) {
        self.files_bytes += bytes;
        self.files.push(name);
    }

    pub fn records_written(&self) -> usize {
        self.count
    }

    /// Appends `count` records given as NDJSON lines, each ending in `\n`.
    pub async fn write_ndjson(&mut self, ndjson: Bytes, count: usize) -> Result<(), DatasetError> {
        if let Some(copy) = &mut self.small {
            if copy.len() + ndjson.len() <= RECENT_ITEM_MAX {
                copy.extend_from_slice(&ndjson);
            } else {
                self.small = None;
            }
        }
        self.count += count;
        if self.blob.is_none() && self.held.len() + ndjson.len() <= INLINE_MAX {
            self.held.extend_from_slice(&ndjson);
            return Ok(());
        }
        let blob = match &mut self.blob {
            Some(blob) => blob,
            None => {
                let mut blob = self.open_blob();
                let held = std::mem::take(&mut self.held);
                if !held.is_empty() {
                    blob.put(held.into()).await?;
                }
                self.blob.insert(blob)
            }
        };
        blob.put(ndjson).await?;
        Ok(())
    }

    fn open_blob(&self) -> BufWriter {
        BufWriter::with_capacity(
            self.datasets.blobs.clone(),
            self.key.as_str().into(),
            PART_BYTES,
        )
        .with_max_concurrency(2)
    }

    pub async fn write_values(&mut self, values: &[Value]) -> Result<(), DatasetError> {
        if values.is_empty() {
            return Ok(());
        }
        let mut ndjson = Vec::with_capacity(values.len() * 64);
        for v in values {
            serde_json::to_writer(&mut ndjson, v).expect("a JSON value serializes");
            ndjson.push(b'\n');
        }
        self.write_ndjson(ndjson.into(), values.len()).await
    }

    /// Completes the upload; returns how many records the dataset holds.
    pub async fn finish(mut self) -> Result<usize, DatasetError> {
        if self.blob.is_none() {
            let mut blob = self.open_blob();
            blob.put(std::mem::take(&mut self.held).into()).await?;
            self.blob = Some(blob);
        }
        self.complete().await
    }

    /// Completes the output: a small one is handed back whole (the caller
    /// keeps it with the block's record; the blob store is not touched), a
    /// larger one's upload is completed.
    pub async fn finish_inline(mut self) -> Result<Written, DatasetError> {
        if self.blob.is_some() {
            let records = self.complete().await?;
            return Ok(Written {
                records,
                inline: None,
            });
        }
        let held = Bytes::from(std::mem::take(&mut self.held));
        self.datasets.remember(&self.key, held.clone());
        Ok(Written {
            records: self.count,
            inline: Some(held),
        })
    }

    async fn complete(mut self) -> Result<usize, DatasetError> {
        let Some(blob) = &mut self.blob else {
            return Ok(self.count);
        };
        blob.shutdown().await.map_err(|e| {
            DatasetError::Blob(object_store::Error::Generic {
                store: "blob",
                source: Box::new(e),
            })
        })?;
        if let Some(copy) = self.small.take() {
            self.datasets.remember(&self.key, Bytes::from(copy));
        }
        Ok(self.count)
    }

    /// Drops what was written (a failed try); nothing reaches the final key.
    pub async fn abort(mut self) {
        if let Some(blob) = &mut self.blob
            && let Err(e) = blob.abort().await
        {
            tracing::warn!(key = %self.key, error = %e, "aborting an upload failed");
        }
        for name in &self.files {
            if let Err(e) = self.datasets.delete_file(&self.key, name).await {
                tracing::warn!(key = %self.key, error = %e, "removing a failed try's file failed");
            }
        }
    }
}
