//! An account's own files (File Hub), and the limits on what blocks and
//! accounts may store.

use super::{DatasetError, Datasets, FileInfo, check_file_name};
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Limits on stored files.
#[derive(Debug, Clone, Copy)]
pub struct FileQuotas {
    /// Files one try of one block may store (`max_block_files_bytes`).
    pub block_files_bytes: u64,
    /// Files one account may keep in File Hub (`filehub_max_bytes`).
    pub filehub_bytes: u64,
}

impl Default for FileQuotas {
    fn default() -> Self {
        Self {
            block_files_bytes: 1 << 30,
            filehub_bytes: 10 << 30,
        }
    }
}

/// A lock per account, taken around a File Hub write's check and put.
#[derive(Debug, Default, Clone)]
pub(super) struct Turns(Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>);

impl Turns {
    pub fn of(&self, account: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.0.lock().unwrap_or_else(|e| e.into_inner());
        turns.entry(account).or_default().clone()
    }
}

/// One account's files in the blob store, under `accounts/<id>/files/`.
#[derive(Clone, Debug)]
pub struct AccountFiles {
    pub(super) datasets: Datasets,
    pub(super) prefix: String,
    pub(super) account: Uuid,
}

impl AccountFiles {
    pub async fn list(&self) -> Result<Vec<FileInfo>, DatasetError> {
        self.datasets.list_files(&self.prefix).await
    }

    pub async fn read(&self, name: &str) -> Result<Bytes, DatasetError> {
        self.datasets.get_file(&self.prefix, name).await
    }

    /// Copies the file `name` into `to` as it streams from the blob store;
    /// how many bytes it had.
    pub async fn copy_to<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        name: &str,
        to: &mut W,
    ) -> Result<u64, DatasetError> {
        use tokio::io::AsyncWriteExt;
        check_file_name(name)?;
        let path = Path::from(format!("{}{name}", self.prefix));
        let mut chunks = match self.datasets.blobs.get(&path).await {
            Ok(got) => got.into_stream(),
            Err(object_store::Error::NotFound { .. }) => {
                return Err(DatasetError::NoSuchFile(name.into()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut size = 0;
        while let Some(chunk) = chunks.next().await.transpose()? {
            size += chunk.len() as u64;
            to.write_all(&chunk)
                .await
                .map_err(|e| DatasetError::Local(e.to_string()))?;
        }
        to.flush()
            .await
            .map_err(|e| DatasetError::Local(e.to_string()))?;
        Ok(size)
    }

    pub async fn delete(&self, name: &str) -> Result<(), DatasetError> {
        check_file_name(name)?;
        let path = Path::from(format!("{}{name}", self.prefix));
        match self.datasets.blobs.delete(&path).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(DatasetError::NoSuchFile(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `content` as `name`, replacing a file of that name whole —
    /// unless the account's files would then hold more than the File Hub
    /// quota (nothing is written then).
    pub async fn write(&self, name: &str, content: Bytes) -> Result<(), DatasetError> {
        check_file_name(name)?;
        let turn = self.datasets.filehub_turns.of(self.account);
        let _turn = turn.lock().await;
        let held: u64 = self
            .list()
            .await?
            .iter()
            .filter(|f| f.name != name)
            .map(|f| f.size)
            .sum();
        let would = held + content.len() as u64;
        let limit = self.datasets.quotas.filehub_bytes;
        if would > limit {
            return Err(DatasetError::FileHubQuota { would, limit });
        }
        self.datasets.put_under(&self.prefix, name, content).await
    }
}
