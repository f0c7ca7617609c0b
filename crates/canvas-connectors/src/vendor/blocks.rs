//! What runs a vendor's declaration: its blocks (page by page, filtered,
//! written as they come) and its `apps.<SHORT>` operations.

use super::{Vendor, VendorSession};
use crate::http::{MAX_PAGES, Request};
use canvas_blocks::{
    AppAccess, AppOperations, BlockContext, BlockError, BlockFuture, CallFuture, CancelToken,
    NativeBlock, NativeBlocks, RecordReader, RecordWriter,
};
use canvas_domain::credentials::Credentials;
use canvas_domain::vendor::{VendorPaging, VendorRequest};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The pages of one read, one at a time (memory holds one page).
struct Pages<'a> {
    vendor: &'a Vendor,
    session: VendorSession,
    request: Option<Request>,
    read: usize,
    /// The last page's records: a vendor answering the same page again
    /// does not page as declared (it would be read for ever).
    last: Option<Vec<Value>>,
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
                ..
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
            last: None,
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
        // A vendor that ignores the paging parameters answers the same page
        // again: that page was all there is.
        if !records.is_empty() && self.last.as_ref() == Some(&records) {
            return Ok(None);
        }
        self.request = self.vendor.next_page(request, &response, records.len());
        self.last = Some(records.clone());
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
                    .filter(|r| {
                        declared
                            .keep
                            .iter()
                            .all(|f| f.keeps(r, cx.variables.raw(), now))
                    })
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
        match self.0.spec.soap {
            Some(_) => &["call"],
            None => &["get", "post", "put", "delete"],
        }
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
            let session = vendor.session(&app.credentials)?;
            if operation == "call" {
                return soap_call(vendor, &session, &args).await;
            }
            let call = Call::read(&vendor.short, operation, &args)?;
            let mut request = vendor.request(&call.declared, &session.placeholders);
            request.method = call.method.clone();
            request.body = call.body;
            if call.method != Method::GET {
                let response = vendor.send(&session, &request).await?;
                return Ok(written(&response));
            }
            if !call.paged {
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

/// `apps.<SHORT>.call(method, params?)` of a SOAP vendor: the method's `return`.
async fn soap_call(
    vendor: &Vendor,
    session: &VendorSession,
    args: &[Value],
) -> Result<Value, BlockError> {
    let short = &vendor.short;
    let wrong = |what: &str| BlockError::Permanent(format!("apps.{short}.call: {what}"));
    let method = args
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| wrong("argument 1 (method) must be text"))?;
    let params = match args.get(1) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(wrong("argument 2 (params) must be an object")),
    };
    Ok(vendor.call(session, method, params).await?)
}

/// A script's call on a vendor handle, read from its arguments:
/// `get(path, query?, {paged}?)`, `post(path, body, query?)`,
/// `put(path, body?, query?)`, `delete(path, query?)`.
struct Call {
    method: Method,
    declared: VendorRequest,
    body: Option<Value>,
    paged: bool,
}

impl Call {
    fn read(short: &str, operation: &str, args: &[Value]) -> Result<Self, BlockError> {
        let wrong = |what: &str| BlockError::Permanent(format!("apps.{short}.{operation}: {what}"));
        let method = match operation {
            "get" => Method::GET,
            "post" => Method::POST,
            "put" => Method::PUT,
            "delete" => Method::DELETE,
            _ => {
                return Err(BlockError::Permanent(format!(
                    "apps.{short} has no operation '{operation}'"
                )));
            }
        };
        let path = args
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| wrong("argument 1 (path) must be text"))?;
        let (body, query_at) = match method {
            Method::POST | Method::PUT => (args.get(1).cloned().filter(|b| !b.is_null()), 2),
            _ => (None, 1),
        };
        let query = match args.get(query_at) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(q)) => q.clone(),
            Some(_) => {
                return Err(wrong(&format!(
                    "argument {} (query) must be an object",
                    query_at + 1
                )));
            }
        };
        Ok(Self {
            paged: method == Method::GET
                && args.get(2).is_some_and(|o| o["paged"] == Value::Bool(true)),
            method,
            declared: VendorRequest {
                path: path.to_string(),
                query: query
                    .iter()
                    .map(|(k, v)| (k.clone(), canvas_formats::cell_text(v)))
                    .collect(),
                accept: None,
            },
            body,
        })
    }
}

/// `{status, location, id, body}` of a write: `id` is the last segment of
/// `Location` (a number when numeric), as vendors that answer `201` with an
/// empty body give the created id (Fiken).
fn written(response: &crate::http::Response) -> Value {
    let location = response
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let id = location
        .as_deref()
        .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_or(Value::String(s.to_string()), Value::from)
        });
    json!({
        "status": response.status,
        "location": location,
        "id": id,
        "body": response.body,
    })
}
