//! Where block outputs are kept: a folder under the data directory, or any
//! S3-compatible store (AWS S3, MinIO, Ceph, R2...) when `[blobs]` is set.

use anyhow::Context;
use canvas_blocks::Datasets;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::prefix::PrefixStore;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

/// `[blobs]` in canvas.toml, or `CANVAS_BLOBS__URL` and friends.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobConfig {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// For S3-compatible stores other than AWS, e.g. `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// When absent, the usual `AWS_*` environment variables are read.
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Allows an `http://` endpoint (a store on the loopback interface).
    #[serde(default)]
    pub allow_http: bool,
}

impl std::fmt::Debug for BlobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// The S3-compatible store `[blobs]` names, checked to be reachable;
/// changes nothing, so start-up calls it before it touches the store.
pub async fn remote(config: &BlobConfig) -> anyhow::Result<Datasets> {
    let store = s3(config)?;
    // Fail at start, not at the first run's first block.
    store
        .list_with_delimiter(None)
        .await
        .with_context(|| format!("blobs.url: {} is not reachable", config.url))?;
    Ok(Datasets::new(store))
}

/// `<data_dir>/blobs`, made when missing.
pub fn local(data_dir: &Path) -> anyhow::Result<Datasets> {
    Datasets::local(&data_dir.join("blobs")).context("the blob folder")
}

fn s3(config: &BlobConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let rest = config
        .url
        .strip_prefix("s3://")
        .context("blobs.url: must start with s3://, as in s3://bucket/prefix")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    anyhow::ensure!(!bucket.is_empty(), "blobs.url: names no bucket");
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_allow_http(config.allow_http);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &config.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &config.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    let store = builder.build().context("blobs")?;
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}
