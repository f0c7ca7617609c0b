//! Block outputs in the blob store, as NDJSON (one record a line): written
//! as they are produced and read back in batches, so memory stays bounded
//! by the batch size whatever the dataset's size.

mod account_files;
mod file_writer;
mod reader;
mod writer;

pub use account_files::{AccountFiles, FileQuotas};
pub use file_writer::FileWriter;
pub use reader::{BATCH_RECORDS, RecordBatch, RecordReader};
pub use writer::{INLINE_MAX, RecordWriter, Written};

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use reader::Source;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("blob store")]
    Blob(#[from] object_store::Error),
    #[error("stored dataset {0} is not NDJSON")]
    Corrupt(String),
    #[error(
        "file name '{0}': must be 1 to 200 characters, without '/', '\\' or control characters, and not '.' or '..'"
    )]
    BadFileName(String),
    #[error(
        "file name '{name}': {encoded} bytes once stored (non-ASCII and some characters take several); the limit is {MAX_STORED_NAME_BYTES}"
    )]
    NameTooLong { name: String, encoded: usize },
    #[error("no file named '{0}'")]
    NoSuchFile(String),
    #[error("local copy: {0}")]
    Local(String),
    /// The store that keeps small outputs with their records failed.
    #[error("reading a stored output: {0}")]
    Inline(String),
    #[error(
        "the files of this block would hold {would} bytes, over the server's max_block_files_bytes ({limit})"
    )]
    BlockFilesQuota { would: u64, limit: u64 },
    #[error(
        "the account's File Hub would hold {would} bytes, over the server's filehub_max_bytes ({limit})"
    )]
    FileHubQuota { would: u64, limit: u64 },
}

impl DatasetError {
    /// Worth another try: the blob store failed (a network or service
    /// hiccup), or the local copy did (a full disk may clear); a missing
    /// file, a bad name or a quota will fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Blob(e) => !matches!(
                e,
                object_store::Error::NotFound { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented
            ),
            Self::Local(_) | Self::Inline(_) => true,
            _ => false,
        }
    }
}

/// A file a block stored beside its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
}

/// Where the files of the dataset under `key` live: `<key>.files/`.
fn files_prefix(key: &str) -> String {
    format!("{key}.files/")
}

/// A file name a block may use: one path segment, printable.
pub fn check_file_name(name: &str) -> Result<(), DatasetError> {
    let bad = name.is_empty()
        || name.chars().count() > 200
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(DatasetError::BadFileName(name.chars().take(200).collect()));
    }
    // The blob store percent-encodes a name; a file system takes 255 bytes.
    let encoded = object_store::path::PathPart::from(name).as_ref().len();
    if encoded > MAX_STORED_NAME_BYTES {
        return Err(DatasetError::NameTooLong {
            name: name.to_string(),
            encoded,
        });
    }
    Ok(())
}

/// The longest a file name may be as the blob store keeps it (encoded).
pub const MAX_STORED_NAME_BYTES: usize = 250;

/// A listed name as it was stored (the blob store lists it percent-encoded).
fn stored_name(listed: &str) -> String {
    percent_encoding::percent_decode_str(listed)
        .decode_utf8_lossy()
        .into_owned()
}

/// Where small outputs kept with their block's record are read back (the
/// store; the engine writes them with the record): `None` when the output
/// under `key` is not kept there.
pub trait InlineOutputs: Send + Sync + std::fmt::Debug {
    fn get<'a>(
        &'a self,
        output: OutputKey,
        key: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Option<Bytes>, String>>;
}

/// What a block output's key names: the run, its attempt, the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputKey {
    pub run: Uuid,
    pub attempt: i64,
    pub block: i64,
}

impl OutputKey {
    /// Reads a key made by [`Datasets::key`]; any other key is `None`.
    pub fn parse(key: &str) -> Option<Self> {
        let rest = key.strip_prefix("runs/")?;
        let (run, rest) = rest.split_once('/')?;
        let (attempt, block) = rest.strip_prefix("attempt-")?.split_once("/block-")?;
        Some(Self {
            run: run.parse().ok()?,
            attempt: attempt.parse().ok()?,
            block: block.strip_suffix(".ndjson")?.parse().ok()?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Datasets {
    blobs: Arc<dyn ObjectStore>,
    /// Small outputs kept with their records, read before the blob store.
    inline: Option<Arc<dyn InlineOutputs>>,
    /// Recently written small datasets, so the next block of a run reads its
    /// input without a round trip to the blob store.
    recent: Arc<Mutex<Recent>>,
    quotas: FileQuotas,
    /// One File Hub write at a time per account, so its quota holds.
    filehub_turns: account_files::Turns,
}

/// Datasets under this size stay in memory after they are written.
const RECENT_ITEM_MAX: usize = 256 * 1024;
const RECENT_TOTAL_MAX: usize = 16 * 1024 * 1024;

#[derive(Debug, Default)]
struct Recent {
    items: VecDeque<(String, Bytes)>,
    bytes: usize,
}

impl Recent {
    fn put(&mut self, key: &str, ndjson: Bytes) {
        self.forget(key);
        self.bytes += ndjson.len();
        self.items.push_back((key.to_string(), ndjson));
        while self.bytes > RECENT_TOTAL_MAX {
            let Some((_, old)) = self.items.pop_front() else {
                break;
            };
            self.bytes -= old.len();
        }
    }

    fn get(&self, key: &str) -> Option<Bytes> {
        self.items
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, b)| b.clone())
    }

    /// Forgets every dataset whose key starts with `prefix`.
    fn forget_under(&mut self, prefix: &str) {
        self.items.retain(|(k, _)| !k.starts_with(prefix));
        self.bytes = self.items.iter().map(|(_, b)| b.len()).sum();
    }

    fn forget(&mut self, key: &str) {
        let found = self.items.iter().position(|(k, _)| k == key);
        if let Some((_, old)) = found.and_then(|i| self.items.remove(i)) {
            self.bytes -= old.len();
        }
    }
}

impl Datasets {
    pub fn new(blobs: Arc<dyn ObjectStore>) -> Self {
        Self {
            blobs,
            inline: None,
            recent: Arc::default(),
            quotas: FileQuotas::default(),
            filehub_turns: account_files::Turns::default(),
        }
    }

    /// Reads small outputs back from where the engine keeps them with their records.
    pub fn with_inline(mut self, inline: Arc<dyn InlineOutputs>) -> Self {
        self.inline = Some(inline);
        self
    }

    /// The same blob store with these limits on stored files.
    pub fn with_quotas(mut self, quotas: FileQuotas) -> Self {
        self.quotas = quotas;
        self
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, key: &str, ndjson: Bytes) {
        self.recent().put(key, ndjson);
    }

    /// A local folder as the blob store.
    pub fn local(dir: &std::path::Path) -> Result<Self, DatasetError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            DatasetError::Blob(object_store::Error::Generic {
                store: "local",
                source: Box::new(e),
            })
        })?;
        Ok(Self::new(Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(dir)?,
        )))
    }

    /// Where block `block` of a run's attempt `attempt` writes: a worker
    /// that lost its lease can never touch what the next holder wrote.
    pub fn key(run: Uuid, attempt: i64, block: i64) -> String {
        // `OutputKey::parse` reads this back.
        format!("runs/{run}/attempt-{attempt}/block-{block}.ndjson")
    }

    /// A writer for the dataset under `key`; nothing is visible there until it finishes.
    pub fn writer(&self, key: &str) -> RecordWriter {
        RecordWriter::new(self.clone(), key)
    }

    /// A reader of the dataset under `key`, from its first record.
    pub async fn reader(&self, key: &str) -> Result<RecordReader, DatasetError> {
        let cached = self.recent().get(key);
        if let Some(ndjson) = cached {
            return Ok(RecordReader::new(key, Source::Memory(ndjson)).with_files(self));
        }
        if let (Some(inline), Some(output)) = (&self.inline, OutputKey::parse(key)) {
            let kept = inline
                .get(output, key)
                .await
                .map_err(DatasetError::Inline)?;
            if let Some(ndjson) = kept {
                return Ok(RecordReader::new(key, Source::Memory(ndjson)).with_files(self));
            }
        }
        let stream = self.blobs.get(&Path::from(key)).await?.into_stream();
        Ok(RecordReader::new(key, Source::Blob(stream.boxed())).with_files(self))
    }

    /// Stores `values` as the whole dataset under `key`.
    pub async fn write_values(&self, key: &str, values: &[Value]) -> Result<(), DatasetError> {
        let mut writer = self.writer(key);
        writer.write_values(values).await?;
        writer.finish().await.map(|_| ())
    }

    /// Deletes a stored dataset and its files; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), DatasetError> {
        self.recent().forget(key);
        for file in self.files(key).await? {
            self.delete_blob(&format!("{}{}", files_prefix(key), file.name))
                .await?;
        }
        self.delete_blob(key).await
    }

    async fn delete_blob(&self, key: &str) -> Result<(), DatasetError> {
        match self.blobs.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes everything a run stored — every attempt's outputs and files,
    /// recorded or not (an attempt that lost its lease records nothing).
    /// Outputs kept with their records go with the records.
    pub async fn delete_run(&self, run: Uuid) -> Result<usize, DatasetError> {
        self.recent().forget_under(&format!("runs/{run}/"));
        let prefix = Path::from(format!("runs/{run}/"));
        let mut listing = self.blobs.list(Some(&prefix));
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            keys.push(meta?.location);
        }
        for key in &keys {
            self.recent().forget(key.as_ref());
            self.delete_blob(key.as_ref()).await?;
        }
        Ok(keys.len())
    }

    /// The files stored beside the dataset under `key`, by name.
    pub async fn files(&self, key: &str) -> Result<Vec<FileInfo>, DatasetError> {
        self.list_files(&files_prefix(key)).await
    }

    /// One file stored beside the dataset under `key`.
    pub async fn read_file(&self, key: &str, name: &str) -> Result<Bytes, DatasetError> {
        self.get_file(&files_prefix(key), name).await
    }

    /// An account's own file space (File Hub's `Store file` and `Read file`).
    pub fn account_files(&self, account: Uuid) -> AccountFiles {
        AccountFiles {
            datasets: self.clone(),
            prefix: format!("accounts/{account}/files/"),
            account,
        }
    }

    async fn list_files(&self, prefix: &str) -> Result<Vec<FileInfo>, DatasetError> {
        let mut listing = self.blobs.list(Some(&Path::from(prefix)));
        let mut files = Vec::new();
        while let Some(meta) = listing.next().await.transpose()? {
            if let Some(name) = meta.location.filename() {
                files.push(FileInfo {
                    name: stored_name(name),
                    size: meta.size,
                });
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    async fn get_file(&self, prefix: &str, name: &str) -> Result<Bytes, DatasetError> {
        check_file_name(name)?;
        let path = Path::from(format!("{prefix}{name}"));
        match self.blobs.get(&path).await {
            Ok(got) => Ok(got.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(DatasetError::NoSuchFile(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_file(&self, key: &str, name: &str) -> Result<(), DatasetError> {
        self.delete_blob(&format!("{}{name}", files_prefix(key)))
            .await
    }

    /// Stores a file beside the dataset under `key`.
    async fn put_file(&self, key: &str, name: &str, content: Bytes) -> Result<(), DatasetError> {
        self.put_under(&files_prefix(key), name, content).await
    }

    async fn put_under(
        &self,
        prefix: &str,
        name: &str,
        content: Bytes,
    ) -> Result<(), DatasetError> {
        check_file_name(name)?;
        let path = Path::from(format!("{prefix}{name}"));
        self.blobs.put(&path, content.into()).await?;
        Ok(())
    }

    /// Records `skip..skip+top` of a dataset, read batch by batch.
    pub async fn page(
        &self,
        key: &str,
        skip: usize,
        top: usize,
    ) -> Result<Vec<Value>, DatasetError> {
        let mut reader = self.reader(key).await?;
        let mut seen = 0;
        let mut page = Vec::new();
        while page.len() < top {
            let Some(batch) = reader.next_batch().await? else {
                break;
            };
            if seen + batch.count > skip {
                let values = batch.values(key)?;
                let from = skip.saturating_sub(seen);
                page.extend(values.into_iter().skip(from).take(top - page.len()));
            }
            seen += batch.count;
        }
        Ok(page)
    }
}

#[cfg(test)]
mod inline_tests {
    use super::{Datasets, INLINE_MAX, OutputKey};
    use bytes::Bytes;
    use object_store::ObjectStore;
    use std::sync::Arc;

    #[test]
    fn an_output_key_reads_back_what_made_it_and_nothing_else() {
        let run = uuid::Uuid::new_v4();
        let key = Datasets::key(run, 2, 3);
        let parsed = OutputKey::parse(&key);
        assert_eq!(
            parsed,
            Some(OutputKey {
                run,
                attempt: 2,
                block: 3
            })
        );
        for other in [
            format!("{key}.files/report.csv"),
            format!("runs/{run}/attempt-x/block-1.ndjson"),
            "accounts/a/file.csv".to_string(),
            format!("runs/{run}/block-1.ndjson"),
        ] {
            assert_eq!(OutputKey::parse(&other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn a_small_output_is_handed_back_and_a_large_one_stored() {
        let blobs = Arc::new(object_store::memory::InMemory::new());
        let datasets = Datasets::new(blobs.clone());
        let line = Bytes::from(format!("{{\"pad\":\"{}\"}}\n", "x".repeat(100)));
        let mut small = datasets.writer("runs/a/attempt-1/block-1.ndjson");
        small.write_ndjson(line.clone(), 1).await.unwrap();
        let written = small.finish_inline().await.unwrap();
        assert_eq!((written.records, written.inline), (1, Some(line.clone())));
        let path = object_store::path::Path::from("runs/a/attempt-1/block-1.ndjson");
        assert!(
            blobs.head(&path).await.is_err(),
            "nothing stored for a small output"
        );
        let mut large = datasets.writer("runs/a/attempt-1/block-2.ndjson");
        let lines = INLINE_MAX / line.len() + 2;
        for _ in 0..lines {
            large.write_ndjson(line.clone(), 1).await.unwrap();
        }
        let written = large.finish_inline().await.unwrap();
        assert_eq!((written.records, written.inline), (lines, None));
        let path = object_store::path::Path::from("runs/a/attempt-1/block-2.ndjson");
        let stored = blobs.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(
            stored.len(),
            lines * line.len(),
            "every line, the held ones first"
        );
    }
}

#[cfg(test)]
mod transient_tests {
    use super::DatasetError;

    #[test]
    fn blob_store_hiccups_are_transient_and_refusals_are_not() {
        let hiccup = object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        };
        assert!(DatasetError::Blob(hiccup).is_transient());
        let missing = object_store::Error::NotFound {
            path: "x".into(),
            source: "gone".into(),
        };
        assert!(!DatasetError::Blob(missing).is_transient());
        assert!(!DatasetError::BlockFilesQuota { would: 2, limit: 1 }.is_transient());
    }
}
