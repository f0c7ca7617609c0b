//! What runs a vendor's declaration: its blocks (page by page, filtered,
//! written as they come) and its `apps.<SHORT>` operations.

use super::{Vendor, VendorSession};
use crate::http::{MAX_PAGES, Request};
use canvas_domain::credentials::Credentials;
use canvas_domain::vendor::{VendorPaging, VendorRequest};
use canvas_engine::{
    AppAccess, AppOperations, BlockContext, BlockError, BlockFuture, CallFuture, CancelToken,
    NativeBlock, NativeBlocks, RecordReader, RecordWriter,
};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The pages of one read, one at a time (memory holds one page).
struct Pages<'a> {
    vendor: &'a Vendor,
    session: VendorSession,
    request: Option<Request>,
    read: usize,
}

impl<'a> Pages<'a> {
    fn new(vendor: &'a Vendor, session: VendorSession, mut request: Request) -> Self {
        let first = match &vendor.spec.paging {
            VendorPaging::PageCountHeader { param, start, .. } => {
                vec![(param.clone(), start.to_string())]
            }
            VendorPaging::Offset {
                offset_param,
                limit_param,
                limit,
            } => {
                vec![
                    (offset_param.clone(), "0".into()),
                    (limit_param.clone(), limit.to_string()),
                ]
            }
            VendorPaging::None | VendorPaging::LinksNext => Vec::new(),
        };
        for (k, v) in first {
            request.query.retain(|(q, _)| *q != k);
            request.query.push((k, v));
        }
        Self {
            vendor,
            session,
            request: Some(request),
            read: 0,
        }
    }

    /// The next page's records; `None` after the last.
    async fn next(&mut self, cancel: &CancelToken) -> Result<Option<Vec<Value>>, BlockError> {
        let Some(request) = self.request.take() else {
            return Ok(None);
        };
        cancel.check()?;
        self.read += 1;
        if self.read > MAX_PAGES {
            let short = &self.vendor.short;
            return Err(BlockError::Permanent(format!(
                "{short}: stopped after {MAX_PAGES} pages"
            )));
        }
        let response = self.vendor.send(&self.session, &request).await?;
        let records = self.vendor.records(&response.body);
        self.request = self.vendor.next_page(request, &response, records.len());
        Ok(Some(records))
    }
}

/// Adds the vendor's blocks and its `apps.<SHORT>` operations.
pub(crate) fn register(blocks: &mut NativeBlocks, vendor: Vendor) {
    let vendor = Arc::new(vendor);
    for block in &vendor.spec.blocks {
        let block = VendorBlock {
            vendor: vendor.clone(),
            name: block.name.clone(),
        };
        blocks.add(&vendor.short, Arc::new(block));
    }
    blocks.add_operations(&vendor.short.clone(), Arc::new(VendorOps(vendor)));
}

struct VendorBlock {
    vendor: Arc<Vendor>,
    name: String,
}

fn access(app: Option<&AppAccess>, short: &str) -> Result<Credentials, BlockError> {
    app.map(|a| a.credentials.clone())
        .ok_or_else(|| BlockError::Permanent(format!("no {short} application")))
}

impl NativeBlock for VendorBlock {
    fn name(&self) -> &str {
        &self.name
    }

    fn variables(&self) -> &[canvas_domain::catalog::VariableDef] {
        crate::catalog_variables(&self.vendor.short, &self.name)
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        _input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let vendor = &self.vendor;
            let declared = vendor.spec.blocks.iter().find(|b| b.name == self.name);
            let declared = declared
                .ok_or_else(|| BlockError::Permanent(format!("{} is not declared", self.name)))?;
            let credentials = access(cx.application.as_ref(), &vendor.short)?;
            let session = vendor.session(&credentials)?;
            let request = vendor.request(&declared.request, &session.placeholders);
            let now = chrono::Utc::now();
            let mut pages = Pages::new(vendor, session, request);
            let (mut read, mut kept) = (0, 0);
            while let Some(records) = pages.next(&cx.cancel).await? {
                read += records.len();
                let keep: Vec<Value> = records
                    .into_iter()
                    .filter(|r| declared.keep.iter().all(|f| f.keeps(r, &cx.variables, now)))
                    .collect();
                kept += keep.len();
                output.write_values(&keep).await?;
            }
            cx.log(format!(
                "{} pages, {read} records read, {kept} kept",
                pages.read
            ));
            Ok(())
        })
    }
}

/// `apps.<SHORT>.get(path, query?, {paged: true}?)`: the answer's JSON, or
/// with `paged` the records of every page.
struct VendorOps(Arc<Vendor>);

impl AppOperations for VendorOps {
    fn operations(&self) -> &[&'static str] {
        &["get"]
    }

    fn call<'a>(
        &'a self,
        app: &'a AppAccess,
        operation: &'a str,
        args: Vec<Value>,
        cancel: CancelToken,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            let vendor = &self.0;
            if operation != "get" {
                return Err(BlockError::Permanent(format!(
                    "apps.{} has no operation '{operation}'",
                    vendor.short
                )));
            }
            let path = args.first().and_then(Value::as_str).ok_or_else(|| {
                BlockError::Permanent(format!(
                    "apps.{}.get: argument 1 (path) must be text",
                    vendor.short
                ))
            })?;
            let query: Map<String, Value> = args
                .get(1)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let paged = args.get(2).is_some_and(|o| o["paged"] == Value::Bool(true));
            let session = vendor.session(&app.credentials)?;
            let declared = VendorRequest {
                path: path.to_string(),
                query: query
                    .iter()
                    .map(|(k, v)| (k.clone(), canvas_formats::cell_text(v)))
                    .collect(),
                accept: None,
            };
            let request = vendor.request(&declared, &session.placeholders);
            if !paged {
                return Ok(vendor.send(&session, &request).await?.body);
            }
            let mut pages = Pages::new(vendor, session, request);
            let mut all = Vec::new();
            while let Some(records) = pages.next(&cancel).await? {
                all.extend(records);
            }
            Ok(Value::Array(all))
        })
    }
}
