//! Vendor applications: each is a declaration in the catalog
//! (`canvas_domain::vendor::VendorSpec`) — base URL, authentication, path
//! placeholders, credential check, paging, document shape, and the request
//! of each block — executed here over the HTTP connector's machinery. A
//! vendor of the same shape is a data file, not code.

use crate::ConnectorError;
use crate::http::{Http, Request, Response};
use canvas_domain::catalog::Application;
use canvas_domain::credentials::Credentials;
use canvas_domain::vendor::{
    DocumentShape, VendorPaging, VendorRequest, VendorSpec, flatten_resource, utc_wcf_dates,
};

mod blocks;
mod session;
pub(crate) use blocks::register;
use reqwest::Method;
use serde_json::Value;
use session::{Placeholders, VendorSession};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// The deployment set the base: no credential chooses it then.
    overridden: bool,
    turns: Turns,
}

/// Per account of a vendor (`spec.pace`): its turn, and when its last
/// request went — one map for the process, shared by checks, blocks and scripts.
#[derive(Clone, Default)]
pub(crate) struct Turns(Arc<Mutex<HashMap<u64, Turn>>>);

/// One account's turn: held while its request is out; when the last went.
type Turn = Arc<tokio::sync::Mutex<Option<Instant>>>;

impl Vendor {
    /// The vendor of `app`, when the catalog declares one.
    pub fn of(
        app: &Application,
        http: &Http,
        bases: &VendorBases,
        turns: &Turns,
    ) -> Option<Result<Self, String>> {
        let spec = app.vendor.clone()?;
        let given = bases.get(&app.short_name.to_ascii_uppercase());
        let overridden = given.is_some() && spec.base_url_credential.is_none();
        // A vendor whose base is a credential gets it per registration.
        let base = match &spec.base_url_credential {
            Some(_) => "https://base.invalid",
            None => given.unwrap_or(&spec.base_url),
        };
        let base =
            reqwest::Url::parse(base).map_err(|e| format!("{}: base URL: {e}", app.short_name));
        Some(base.map(|base| Self {
            http: http.clone(),
            short: app.short_name.clone(),
            spec,
            base,
            overridden,
            turns: turns.clone(),
        }))
    }

    /// Sends `request`, in the account's turn when the vendor asks for one
    /// request at a time (across every run and script of this process).
    async fn send(
        &self,
        session: &VendorSession,
        request: &Request,
    ) -> Result<Response, ConnectorError> {
        self.send_paced(session, request)
            .await
            .map_err(|e| mask(e, &session.secrets))
    }

    async fn send_paced(
        &self,
        session: &VendorSession,
        request: &Request,
    ) -> Result<Response, ConnectorError> {
        let (Some(key), Some(pace)) = (session.pace_key, &self.spec.pace) else {
            return session.http.send(request).await;
        };
        let turn = {
            let mut turns = self.turns.0.lock().unwrap_or_else(|e| e.into_inner());
            turns.entry(key).or_default().clone()
        };
        let mut last = turn.lock().await;
        if let Some(at) = *last {
            let gap = Duration::from_millis(pace.min_interval_ms);
            tokio::time::sleep_until((at + gap).into()).await;
        }
        *last = Some(Instant::now());
        session.http.send(request).await
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
            raw_body: None,
            headers: Vec::new(),
            repeatable: false,
        }
    }

    /// The credential check: the declared request must answer 2xx; a
    /// refusal (401/403, or any other 4xx) is the vendor's words.
    pub async fn check(&self, credentials: &Credentials) -> Result<(), ConnectorError> {
        let session = self.session(credentials)?;
        let outcome = match &self.spec.soap {
            Some(soap) => {
                let params = soap.check_params.clone();
                self.call(&session, &soap.check_method, params)
                    .await
                    .map(drop)
            }
            None => {
                let request = self.request(&self.spec.check, &session.placeholders);
                self.send(&session, &request).await.map(drop)
            }
        };
        match outcome {
            Ok(_) => Ok(()),
            Err(ConnectorError::Failed(words) | ConnectorError::NotFound(words)) => {
                Err(ConnectorError::Rejected(words))
            }
            Err(other) => Err(other),
        }
    }

    /// The request for the page after `request` answered `response`, by the
    /// vendor's paging; `None` after the last page.
    fn next_page(
        &self,
        mut request: Request,
        response: &Response,
        count: usize,
    ) -> Option<Request> {
        match &self.spec.paging {
            VendorPaging::None => None,
            VendorPaging::LinksNext => {
                request.path = response.body["links"]["next"].as_str()?.to_string();
                request.query.clear();
                Some(request)
            }
            VendorPaging::PageCountHeader {
                param,
                start,
                header,
            } => {
                let count: i64 = response
                    .headers
                    .get(header)?
                    .to_str()
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                let at = request.query.iter().position(|(k, _)| k == param)?;
                let page: i64 = request.query[at].1.parse().ok()?;
                let next = page + 1;
                (next - start < count).then(|| {
                    request.query[at].1 = next.to_string();
                    request
                })
            }
            VendorPaging::Offset {
                offset_param,
                total_path,
                ..
            } => {
                let at = request.query.iter().position(|(k, _)| k == offset_param)?;
                let offset: u64 = request.query[at].1.parse().ok()?;
                let read = offset + count as u64;
                let total = total_path
                    .as_deref()
                    .and_then(|p| crate::http::at(&response.body, p)?.as_u64());
                if count == 0 || total.is_some_and(|t| read >= t) {
                    return None;
                }
                request.query[at].1 = read.to_string();
                Some(request)
            }
        }
    }

    /// The records of one answer, in the vendor's document shape.
    fn records(&self, body: &Value) -> Vec<Value> {
        match &self.spec.documents {
            DocumentShape::Plain {
                records_path,
                wcf_dates,
            } => {
                let records =
                    crate::http::records(body, records_path.as_deref()).unwrap_or_default();
                match wcf_dates {
                    true => records.into_iter().map(utc_wcf_dates).collect(),
                    false => records,
                }
            }
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

impl Vendor {
    /// A SOAP call of `method` (the vendor's `soap`): the key first — the
    /// call's own `keyParam` or the registration's — then `params` in order;
    /// the answer's `return` as JSON. A fault is an error in its words.
    async fn call(
        &self,
        session: &VendorSession,
        method: &str,
        mut params: serde_json::Map<String, Value>,
    ) -> Result<Value, ConnectorError> {
        let short = &self.short;
        let soap = self
            .spec
            .soap
            .as_ref()
            .ok_or_else(|| ConnectorError::Invalid(format!("{short} has no SOAP methods")))?;
        if method.is_empty()
            || !method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ConnectorError::Invalid(format!(
                "'{method}' is not a method name"
            )));
        }
        let key = match params.shift_remove(&soap.key_param) {
            Some(Value::String(k)) if !k.trim().is_empty() => k.trim().to_string(),
            Some(Value::Null) | None => session.key.clone().unwrap_or_default(),
            Some(_) => {
                let param = &soap.key_param;
                return Err(ConnectorError::Invalid(format!("{param} must be text")));
            }
        };
        let mut all = serde_json::Map::new();
        all.insert(soap.key_param.clone(), Value::String(key.clone()));
        all.extend(params);
        let xml = canvas_formats::soap::envelope(&soap.namespace, method, &all)
            .map_err(ConnectorError::Invalid)?;
        let request = Request {
            method: Method::POST,
            path: soap.path.clone(),
            query: Vec::new(),
            body: None,
            media_type: Some("text/xml".into()),
            raw_body: Some(("text/xml; charset=utf-8".into(), xml.into_bytes())),
            headers: vec![(
                "SOAPAction".into(),
                format!("\"{}/{method}\"", soap.namespace),
            )],
            repeatable: method.starts_with(&soap.read_prefix),
        };
        let own_key = session.key.as_deref() == Some(key.as_str());
        let response = self.send(session, &request).await.map_err(|e| match e {
            // A key the script gave was refused, not the registration's.
            ConnectorError::Rejected(words) if !own_key => ConnectorError::Failed(words),
            other => other,
        });
        let response = response.map_err(|e| mask(e, &[key]))?;
        canvas_formats::soap::answer(&response.bytes, method)
            .map_err(|e| ConnectorError::Failed(format!("{short}: {e}")))
    }
}

/// `e` with every secret placeholder value replaced by `***`.
fn mask(e: ConnectorError, secrets: &[String]) -> ConnectorError {
    let hide = |m: String| secrets.iter().fold(m, |m, s| m.replace(s.as_str(), "***"));
    match e {
        ConnectorError::Rejected(m) => ConnectorError::Rejected(hide(m)),
        ConnectorError::Unreachable(m) => ConnectorError::Unreachable(hide(m)),
        ConnectorError::Transient(m) => ConnectorError::Transient(hide(m)),
        ConnectorError::Failed(m) => ConnectorError::Failed(hide(m)),
        ConnectorError::NotFound(m) => ConnectorError::NotFound(hide(m)),
        ConnectorError::Invalid(m) => ConnectorError::Invalid(hide(m)),
        ConnectorError::NotAllowed(m) => ConnectorError::NotAllowed(hide(m)),
    }
}
