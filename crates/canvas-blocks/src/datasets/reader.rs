//! Reading a stored dataset batch by batch: memory holds one batch and one
//! blob chunk, whatever the dataset's size.

use super::{DatasetError, Datasets, FileInfo};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;

/// Records per batch unless the batch reaches [`BATCH_BYTES`] first.
pub const BATCH_RECORDS: usize = 1000;
pub const BATCH_BYTES: usize = 1 << 20;

/// A run of complete NDJSON lines (each ending in `\n`) and how many there are.
#[derive(Debug, Clone)]
pub struct RecordBatch {
    pub ndjson: Bytes,
    pub count: usize,
}

impl RecordBatch {
    /// The batch as one JSON array text, without parsing a record.
    pub fn array_json(&self) -> String {
        let text = String::from_utf8_lossy(&self.ndjson);
        format!("[{}]", text.trim_end_matches('\n').replace('\n', ","))
    }

    pub fn values(&self, key: &str) -> Result<Vec<Value>, DatasetError> {
        self.ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).map_err(|_| DatasetError::Corrupt(key.into())))
            .collect()
    }
}

pub(super) enum Source {
    Empty,
    Memory(Bytes),
    Blob(BoxStream<'static, object_store::Result<Bytes>>),
}

/// The records of one dataset, in order, a batch at a time.
pub struct RecordReader {
    key: String,
    source: Source,
    pending: BytesMut,
    /// Complete lines in `pending` before `scanned`.
    lines: usize,
    scanned: usize,
    read: usize,
    /// Where the source's files are (none for the empty reader).
    store: Option<Datasets>,
}

impl RecordReader {
    pub(super) fn new(key: &str, source: Source) -> Self {
        Self {
            key: key.to_string(),
            source,
            pending: BytesMut::new(),
            lines: 0,
            scanned: 0,
            read: 0,
            store: None,
        }
    }

    pub(super) fn with_files(mut self, store: &Datasets) -> Self {
        self.store = Some(store.clone());
        self
    }

    /// The files the data source stored beside its records.
    pub async fn files(&self) -> Result<Vec<FileInfo>, DatasetError> {
        match &self.store {
            Some(store) => store.files(&self.key).await,
            None => Ok(Vec::new()),
        }
    }

    /// One of the data source's files.
    pub async fn read_file(&self, name: &str) -> Result<Bytes, DatasetError> {
        match &self.store {
            Some(store) => store.read_file(&self.key, name).await,
            None => Err(DatasetError::NoSuchFile(name.into())),
        }
    }

    /// A reader with no records (the first block of a chain).
    pub fn empty() -> Self {
        Self::new("", Source::Empty)
    }

    /// Whether the whole dataset is already in memory (a small recent output).
    pub fn is_in_memory(&self) -> bool {
        matches!(self.source, Source::Memory(_) | Source::Empty)
    }

    /// Records handed out so far.
    pub fn records_read(&self) -> usize {
        self.read
    }

    /// Takes back `records` handed out but never used: a sandbox sent its
    /// whole input ahead says how much of it the script took.
    pub fn count_unused(&mut self, records: usize) {
        self.read = self.read.saturating_sub(records);
    }

    /// The next batch, or `None` after the last record.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>, DatasetError> {
        loop {
            self.scan();
            if self.lines >= BATCH_RECORDS || self.scanned >= BATCH_BYTES {
                return Ok(Some(self.take()));
            }
            match self.pull().await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => {
                    if self.pending.last().is_some_and(|b| *b != b'\n') {
                        self.pending.extend_from_slice(b"\n");
                        self.scan();
                    }
                    return Ok((self.lines > 0).then(|| self.take()));
                }
            }
        }
    }

    /// The next batch as JSON values.
    pub async fn next_values(&mut self) -> Result<Option<Vec<Value>>, DatasetError> {
        match self.next_batch().await? {
            Some(batch) => batch.values(&self.key).map(Some),
            None => Ok(None),
        }
    }

    fn scan(&mut self) {
        while let Some(at) = self.pending[self.scanned..]
            .iter()
            .position(|b| *b == b'\n')
        {
            self.scanned += at + 1;
            // Blank lines are not records.
            if at > 0 {
                self.lines += 1;
            }
            if self.lines >= BATCH_RECORDS || self.scanned >= BATCH_BYTES {
                break;
            }
        }
    }

    fn take(&mut self) -> RecordBatch {
        let ndjson = self.pending.split_to(self.scanned).freeze();
        let count = std::mem::take(&mut self.lines);
        self.scanned = 0;
        self.read += count;
        RecordBatch { ndjson, count }
    }

    async fn pull(&mut self) -> Result<Option<Bytes>, DatasetError> {
        match &mut self.source {
            Source::Empty => Ok(None),
            Source::Memory(bytes) => {
                let all = std::mem::take(bytes);
                self.source = Source::Empty;
                Ok((!all.is_empty()).then_some(all))
            }
            Source::Blob(stream) => Ok(stream.next().await.transpose()?),
        }
    }
}
