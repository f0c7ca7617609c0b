//! Small block outputs are kept in the store with their block's record (the
//! engine writes them together); `Datasets` reads them back through this.

use canvas_blocks::{InlineOutputs, OutputKey};
use canvas_store::Store;
use futures::future::BoxFuture;

#[derive(Debug)]
pub(crate) struct StoredOutputs(pub Store);

impl InlineOutputs for StoredOutputs {
    fn get<'a>(
        &'a self,
        output: OutputKey,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<bytes::Bytes>, String>> {
        Box::pin(async move {
            let kept = self.0.inline_output(output.run, output.block, key).await;
            kept.map(|o| o.map(bytes::Bytes::from))
                .map_err(|e| e.to_string())
        })
    }
}
