//! Block outputs in the blob store, as NDJSON (one record a line), so a
//! page can be read without parsing the whole dataset.

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;
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
}

#[derive(Clone, Debug)]
pub struct Datasets {
    blobs: Arc<dyn ObjectStore>,
    /// Recently written small datasets, so the next block of a run reads its
    /// input without a round trip to the blob store.
    recent: Arc<Mutex<Recent>>,
}

/// A block's output, ready to store.
pub struct Records {
    pub ndjson: Vec<u8>,
    pub count: usize,
}

impl Records {
    pub fn from_values(values: &[Value]) -> Self {
        let mut ndjson = Vec::with_capacity(values.len() * 64);
        for v in values {
            serde_json::to_writer(&mut ndjson, v).expect("a JSON value serializes");
            ndjson.push(b'\n');
        }
        Self {
            ndjson,
            count: values.len(),
        }
    }

    /// The records as one JSON array text.
    fn array_json(&self) -> String {
        let text = String::from_utf8_lossy(&self.ndjson);
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        format!("[{}]", lines.join(","))
    }
}

/// Datasets under this size stay in memory after they are written.
const RECENT_ITEM_MAX: usize = 256 * 1024;
const RECENT_TOTAL_MAX: usize = 16 * 1024 * 1024;

#[derive(Debug, Default)]
struct Recent {
    items: VecDeque<(String, Arc<str>, usize)>,
    bytes: usize,
}

impl Recent {
    fn put(&mut self, key: &str, json: Arc<str>, count: usize) {
        self.bytes += json.len();
        self.items.push_back((key.to_string(), json, count));
        while self.bytes > RECENT_TOTAL_MAX {
            let Some((_, old, _)) = self.items.pop_front() else {
                break;
            };
            self.bytes -= old.len();
        }
    }

    fn get(&self, key: &str) -> Option<(Arc<str>, usize)> {
        self.items
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, j, n)| (j.clone(), *n))
    }

    fn forget(&mut self, key: &str) {
        let found = self.items.iter().position(|(k, _, _)| k == key);
        if let Some((_, json, _)) = found.and_then(|i| self.items.remove(i)) {
            self.bytes -= json.len();
        }
    }
}

impl Datasets {
    pub fn new(blobs: Arc<dyn ObjectStore>) -> Self {
        Self {
            blobs,
            recent: Arc::default(),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
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

    pub fn key(run: Uuid, block: i64) -> String {
        format!("runs/{run}/block-{block}.ndjson")
    }

    pub async fn write(&self, key: &str, records: Records) -> Result<(), DatasetError> {
        let small = (records.ndjson.len() <= RECENT_ITEM_MAX)
            .then(|| (Arc::<str>::from(records.array_json()), records.count));
        self.blobs
            .put(&Path::from(key), Bytes::from(records.ndjson).into())
            .await?;
        if let Some((json, count)) = small {
            self.recent().put(key, json, count);
        }
        Ok(())
    }

    /// Deletes a stored dataset; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), DatasetError> {
        self.recent().forget(key);
        match self.blobs.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The dataset as one JSON array text (for a script's `input`) and its length.
    pub async fn read_array(&self, key: &str) -> Result<(String, usize), DatasetError> {
        let recent = self.recent().get(key);
        if let Some((json, count)) = recent {
            return Ok((json.to_string(), count));
        }
        let bytes = self.blobs.get(&Path::from(key)).await?.bytes().await?;
        let text = std::str::from_utf8(&bytes).map_err(|_| DatasetError::Corrupt(key.into()))?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        Ok((format!("[{}]", lines.join(",")), lines.len()))
    }

    /// Records `skip..skip+top` of a dataset.
    pub async fn page(
        &self,
        key: &str,
        skip: usize,
        top: usize,
    ) -> Result<Vec<Value>, DatasetError> {
        let bytes = self.blobs.get(&Path::from(key)).await?.bytes().await?;
        let text = std::str::from_utf8(&bytes).map_err(|_| DatasetError::Corrupt(key.into()))?;
        text.lines()
            .filter(|l| !l.is_empty())
            .skip(skip)
            .take(top)
            .map(|l| serde_json::from_str(l).map_err(|_| DatasetError::Corrupt(key.into())))
            .collect()
    }
}
