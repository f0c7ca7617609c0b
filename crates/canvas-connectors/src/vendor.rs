//! Vendor applications: each is a declaration in the catalog
//! (`canvas_domain::vendor::VendorSpec`) — base URL, authentication, path
//! placeholders, credential check, paging, document shape, and the request
//! of each block — executed here over the HTTP connector's machinery. A
//! vendor of the same shape is a data file, not code.

use crate::ConnectorError;
use crate::http::{Auth, Http, HttpSession, MAX_PAGES, Request};
use canvas_domain::catalog::Application;
use canvas_domain::credentials::Credentials;
use canvas_domain::vendor::{
    DocumentShape, VendorAuth, VendorPaging, VendorRequest, VendorSpec, flatten_resource,
    placeholder_value,
};
use canvas_engine::{
    AppAccess, AppOperations, BlockContext, BlockError, BlockFuture, CallFuture, CancelToken,
    NativeBlock, NativeBlocks, RecordReader, RecordWriter,
};
use reqwest::Method;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Deployments' replacements for vendors' base URLs, by short name in
/// upper case (`[vendors.<SHORT>] base_url`), each checked by [`vendor_base`].
pub type VendorBases = HashMap<String, String>;

/// A base URL as given, checked: `http` or `https`, a trailing `/` dropped.
pub fn vendor_base(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    reqwest::Url::parse(trimmed)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .map(|_| trimmed.to_string())
        .ok_or_else(|| format!("'{text}' is not an http:// or https:// URL"))
}

/// The short names of the vendor applications Canvas reaches.
pub fn vendor_short_names() -> Vec<String> {
    canvas_catalog::Catalog::builtin()
        .applications()
        .iter()
        .filter(|a| a.vendor.is_some())
        .map(|a| a.short_name.clone())
        .collect()
}

/// One vendor: its declaration and the base URL in force.
pub(crate) struct Vendor {
    http: Http,
    short: String,
    spec: VendorSpec,
    base: reqwest::Url,
}

impl Vendor {
    /// The vendor of `app`, when the catalog declares one.
    pub fn of(app: &Application, http: &Http, bases: &VendorBases) -> Option<Result<Self, String>> {
        let spec = app.vendor.clone()?;
        let base = bases
            .get(&app.short_name.to_ascii_uppercase())
            .unwrap_or(&spec.base_url);
        let base =
            reqwest::Url::parse(base).map_err(|e| format!("{}: base URL: {e}", app.short_name));
        Some(base.map(|base| Self {
            http: http.clone(),
            short: app.short_name.clone(),
            spec,
            base,
        }))
    }

    /// A session with the registration's authentication, and its placeholders.
    fn session(
        &self,
        credentials: &Credentials,
    ) -> Result<(HttpSession, Placeholders), ConnectorError> {
        let auth = match &self.spec.auth {
            VendorAuth::Bearer { credential } => {
                let token = credentials
                    .get_str(credential)
                    .map(str::trim)
                    .unwrap_or_default();
                if token.is_empty() {
                    return Err(ConnectorError::Rejected(format!(
                        "{credential}: is required"
                    )));
                }
                Auth::Bearer(token.to_string())
            }
        };
        let mut values = HashMap::new();
        for (name, p) in &self.spec.placeholders {
            let given = credentials.get_str(&p.credential).unwrap_or_default();
            let value = placeholder_value(p, given).map_err(ConnectorError::Rejected)?;
            values.insert(name.clone(), value);
        }
        Ok((
            self.http
                .vendor_session(&self.short, self.base.clone(), auth),
            Placeholders(values),
        ))
    }

    fn request(&self, spec: &VendorRequest, placeholders: &Placeholders) -> Request {
        Request {
            method: Method::GET,
            path: placeholders.fill(&spec.path),
            query: spec
                .query
                .iter()
                .map(|(k, v)| (k.clone(), placeholders.fill(v)))
                .collect(),
            body: None,
            media_type: spec.accept.clone().or_else(|| self.spec.media_type.clone()),
        }
    }

    /// The credential check: the declared request must answer 2xx; a
    /// refusal (401/403, or any other 4xx) is the vendor's words.
    pub async fn check(&self, credentials: &Credentials) -> Result<(), ConnectorError> {
        let (session, placeholders) = self.session(credentials)?;
        match session
            .send(&self.request(&self.spec.check, &placeholders))
            .await
        {
            Ok(_) => Ok(()),
            Err(ConnectorError::Failed(words)) => Err(ConnectorError::Rejected(words)),
            Err(other) => Err(other),
        }
    }

    /// The next page's URL after an answer, by the vendor's paging.
    fn next_page(&self, body: &Value) -> Option<String> {
        match self.spec.paging {
            VendorPaging::None => None,
            VendorPaging::LinksNext => body["links"]["next"].as_str().map(str::to_string),
        }
    }

    /// The records of one answer, in the vendor's document shape.
    fn records(&self, body: &Value) -> Vec<Value> {
        match &self.spec.documents {
            DocumentShape::JsonApi { time_zone } => {
                let zone = time_zone.parse().unwrap_or(chrono_tz::UTC);
                let included = body["included"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                let data = match &body["data"] {
                    Value::Array(items) => items.iter().collect(),
                    Value::Null => Vec::new(),
                    one => vec![one],
                };
                data.into_iter()
                    .map(|r| flatten_resource(r, included, zone))
                    .collect()
            }
        }
    }
}

/// The pages of one read, one at a time (memory holds one page).
struct Pages<'a> {
    vendor: &'a Vendor,
    session: HttpSession,
    request: Option<Request>,
    read: usize,
}

impl<'a> Pages<'a> {
    fn new(vendor: &'a Vendor, session: HttpSession, request: Request) -> Self {
        Self {
            vendor,
            session,
            request: Some(request),
            read: 0,
        }
    }

    /// The next page's records; `None` after the last.
    async fn next(&mut self, cancel: &CancelToken) -> Result<Option<Vec<Value>>, BlockError> {
        let Some(mut request) = self.request.take() else {
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
        let response = self.session.send(&request).await?;
        if let Some(url) = self.vendor.next_page(&response.body) {
            request.path = url;
            request.query.clear();
            self.request = Some(request);
        }
        Ok(Some(self.vendor.records(&response.body)))
    }
}

/// `{name}` values of one registration.
struct Placeholders(HashMap<String, String>);

impl Placeholders {
    fn fill(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (k, v)| {
            t.replace(&format!("{{{k}}}"), v)
        })
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
            let (session, placeholders) = vendor.session(&credentials)?;
            let request = vendor.request(&declared.request, &placeholders);
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
            let (session, placeholders) = vendor.session(&app.credentials)?;
            let declared = VendorRequest {
                path: path.to_string(),
                query: query
                    .iter()
                    .map(|(k, v)| (k.clone(), canvas_formats::cell_text(v)))
                    .collect(),
                accept: None,
            };
            let request = vendor.request(&declared, &placeholders);
            if !paged {
                return Ok(session.send(&request).await?.body);
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
