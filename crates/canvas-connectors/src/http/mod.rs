//! HTTP/REST: a base URL and one of the usual ways to authenticate
//! (`auth.rs`); requests retried on 429 (after `Retry-After`) and on
//! 502/503/504 with backoff; paged reads (`paging.rs`); the `HTTP Request`
//! block and the script operations (`blocks.rs`).

mod auth;
mod blocks;
mod egress;
mod paging;
mod session_grant;

pub(crate) use blocks::register;
pub(crate) use paging::{MAX_PAGES, at, records};

use crate::ConnectorError;
use crate::reach::Reach;
use auth::TokenCache;
pub(crate) use auth::{Auth, OAuth2};
use canvas_domain::credentials::Credentials;
use reqwest::{Method, StatusCode};
use serde_json::Value;
pub(crate) use session_grant::SessionGrant;
use std::sync::Arc;
use std::time::Duration;

/// Tries of one request when the server says it is busy (429, 502–504).
const BUSY_TRIES: u32 = 5;
/// The longest `Retry-After` honoured inside a block; longer waits fail
/// the try as transient and the engine's retry takes over.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The shared HTTP machinery: one client (connection pool, TLS) and the
/// OAuth2 tokens of every registration, kept for their lifetime.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    tokens: Arc<TokenCache>,
    reach: Reach,
}

impl Http {
    pub fn new(tls: &rustls::ClientConfig, reach: Reach) -> Self {
        let policy = reach.egress.clone();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls.clone())
            .dns_resolver(Arc::new(egress::Resolver(reach.clone())))
            .redirect(egress::redirects(policy))
            .referer(false)
            // A proxy from the environment would resolve tenants' hosts
            // itself, past the egress policy.
            .no_proxy()
            .connect_timeout(reach.timeout)
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("Canvas/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS configuration made by rustls itself");
        Self {
            client,
            tokens: Arc::new(TokenCache::default()),
            reach,
        }
    }

    /// The settings of one registration.
    pub fn session(
        &self,
        credentials: &Credentials,
        session: SessionPolicy,
    ) -> Result<HttpSession, ConnectorError> {
        let base = credentials.get_str("baseUrl").unwrap_or_default().trim();
        let base = reqwest::Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                ConnectorError::Rejected(format!(
                    "Base URL must be an http:// or https:// URL, got '{base}'."
                ))
            })?;
        Ok(HttpSession {
            http: self.clone(),
            base,
            auth: Auth::from_credentials(credentials)?,
            session,
            vendor: None,
            request_id_header: None,
            soap: false,
        })
    }
}

impl Http {
    /// Requests to a vendor's `base` with `auth` (the vendor connector).
    pub fn vendor_session(
        &self,
        vendor: &str,
        base: reqwest::Url,
        auth: Auth,
        request_id_header: Option<String>,
    ) -> HttpSession {
        HttpSession {
            http: self.clone(),
            base,
            auth,
            session: SessionPolicy::default(),
            vendor: Some(vendor.to_string()),
            request_id_header,
            soap: false,
        }
    }
}

impl HttpSession {
    /// The same session, for a vendor that speaks SOAP.
    pub fn speaking_soap(mut self) -> Self {
        self.soap = true;
        self
    }
}

/// How long a token lives when the token endpoint does not say
/// (`sessionTimeMins`), and whether each use extends it (`sessionSlidingExpiry`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionPolicy {
    pub minutes: u32,
    pub sliding: bool,
}

/// Requests to one registration's base URL with its authentication.
pub(crate) struct HttpSession {
    http: Http,
    base: reqwest::Url,
    auth: Auth,
    session: SessionPolicy,
    /// A vendor's name: its refusals are said in its own words
    /// (`vendors.md` §1.3); `None` for the generic HTTP application.
    vendor: Option<String>,
    /// A header given a fresh UUID on every request.
    request_id_header: Option<String>,
    /// The vendor speaks SOAP: a 500 may carry a Fault.
    soap: bool,
}

/// One request: method, path under the base URL (or an absolute URL of the
/// same host, as next-links are), query and JSON body.
#[derive(Clone)]
pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// `Accept` (and `Content-Type` of a body); JSON when `None`.
    pub media_type: Option<String>,
    /// A body that is not JSON, sent as it is (a SOAP envelope), with its `Content-Type`.
    pub raw_body: Option<(String, Vec<u8>)>,
    /// More headers (`SOAPAction`).
    pub headers: Vec<(String, String)>,
    /// Safe to send again although not a GET (a SOAP read).
    pub repeatable: bool,
}

/// Bodies and queries may hold keys (a SOAP call's `apiKey`): not shown.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Request {
    pub fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.to_string(),
            query: Vec::new(),
            body: None,
            media_type: None,
            raw_body: None,
            headers: Vec::new(),
            repeatable: false,
        }
    }
}

/// A 2xx answer read whole: its body as JSON (null when it is not JSON) and as bytes.
pub(crate) struct Response {
    pub body: Value,
    /// The body as it came (a CSV or XLSX answer is parsed from these).
    pub bytes: Vec<u8>,
    /// The `Link` header, for `linkHeader` pagination.
    pub link: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub status: u16,
}

impl HttpSession {
    fn url(&self, path: &str) -> Result<reqwest::Url, ConnectorError> {
        if path.starts_with("http://") || path.starts_with("https://") {
            let url = reqwest::Url::parse(path)
                .map_err(|e| ConnectorError::Invalid(format!("'{path}': {e}")))?;
            if url.origin() != self.base.origin() {
                return Err(ConnectorError::Invalid(format!(
                    "'{path}' is not on the application's server ({})",
                    self.base.origin().ascii_serialization()
                )));
            }
            return Ok(url);
        }
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        Ok(url)
    }

    /// Sends `request`, authenticating, refreshing an OAuth2 token once on
    /// 401, and waiting out 429/502/503/504. A 2xx answer is `Ok`.
    pub async fn send(&self, request: &Request) -> Result<Response, ConnectorError> {
        let mut refreshed = false;
        let mut busy = 0;
        loop {
            let response = self.send_once(request).await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && self.auth.renews_on_401() && !refreshed {
                self.http.tokens.forget(&self.auth);
                refreshed = true;
                continue;
            }
            if !(self.may_repeat(request, status) && busy + 1 < BUSY_TRIES) {
                return read(request, response, self.vendor.as_deref(), self.soap).await;
            }
            let wait = retry_after(&response).unwrap_or_else(|| backoff(busy + 1));
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                // A SOAP vendor's 500 may be a Fault: an answer, not a hiccup.
                let outcome = read(request, response, self.vendor.as_deref(), self.soap).await;
                if !matches!(outcome, Err(ConnectorError::Transient(_))) {
                    return outcome;
                }
            }
            busy += 1;
            if wait > MAX_RETRY_AFTER {
                return Err(ConnectorError::Transient(format!(
                    "{} {}: the server asks to wait {} s",
                    status.as_u16(),
                    reason(status),
                    wait.as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether an answer of `status` is asked again in place: a 429 always
    /// (it was not processed); 502–504 — and a vendor's 500 — for reads (a
    /// GET, or a request marked `repeatable`) and for the generic HTTP
    /// application. A vendor's write that met a server error may have been
    /// done: it is not repeated in place (the block's retry looks first).
    fn may_repeat(&self, request: &Request, status: StatusCode) -> bool {
        let read = request.method == Method::GET || request.repeatable;
        match status.as_u16() {
            429 => true,
            502..=504 => read || self.vendor.is_none(),
            500 => read && self.vendor.is_some(),
            _ => false,
        }
    }

    async fn send_once(&self, request: &Request) -> Result<reqwest::Response, ConnectorError> {
        let url = self.url(&request.path)?;
        egress::check_literal(&self.http.reach, &url)?;
        let media = request.media_type.as_deref().unwrap_or("application/json");
        let mut builder = self
            .http
            .client
            .request(request.method.clone(), url)
            .header("Accept", media);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body).header("Content-Type", media);
        }
        if let Some((content_type, bytes)) = &request.raw_body {
            builder = builder
                .header("Content-Type", content_type.as_str())
                .body(bytes.clone());
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(name) = &self.request_id_header {
            builder = builder.header(name.as_str(), uuid::Uuid::new_v4().to_string());
        }
        let builder = self.auth.apply(builder, &self.http, self.session).await?;
        let response = builder.send().await.map_err(|e| transport(&self.base, e))?;
        egress::same_origin(&self.base, &response)?;
        Ok(response)
    }

    /// The credential check. With a probe path the user chose, it must
    /// answer 2xx or 3xx; without one the base URL is asked, and any answer
    /// but 401/403 (or a server error) shows the credentials are taken —
    /// many APIs answer 404 at their root.
    pub async fn probe(&self, path: Option<&str>) -> Result<(), ConnectorError> {
        match self.send(&Request::get(path.unwrap_or("/"))).await {
            Ok(_) => Ok(()),
            Err(ConnectorError::Failed(_) | ConnectorError::NotFound(_)) if path.is_none() => {
                Ok(())
            }
            Err(ConnectorError::Failed(message) | ConnectorError::NotFound(message)) => {
                Err(ConnectorError::Rejected(message))
            }
            Err(other) => Err(other),
        }
    }
}

fn backoff(try_number: u32) -> Duration {
    Duration::from_millis(250 << try_number.min(6))
}

/// `Retry-After` in seconds or as an HTTP date; else Tripletex's
/// `X-Rate-Limit-Reset` (seconds until the period ends) on a 429.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let header = |name: &str| response.headers().get(name)?.to_str().ok();
    let Some(value) = header("retry-after").map(str::trim) else {
        let reset = header("x-rate-limit-reset")?.trim().parse::<u64>().ok()?;
        let limited = response.status() == StatusCode::TOO_MANY_REQUESTS;
        return limited.then(|| Duration::from_secs(reset));
    };
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or_default())
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("")
}

/// Reads the body; a non-2xx status becomes an error with the server's
/// words — a vendor's refusal in its own words alone, another of its
/// errors as `<VENDOR> <status>: <words>`.
async fn read(
    request: &Request,
    response: reqwest::Response,
    vendor: Option<&str>,
    soap: bool,
) -> Result<Response, ConnectorError> {
    let status = response.status();
    let headers = response.headers().clone();
    let link = headers
        .get("link")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ConnectorError::Transient(format!("reading the answer: {e}")))?
        .to_vec();
    if status.is_success() {
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return Ok(Response {
            body,
            bytes,
            link,
            headers,
            status: status.as_u16(),
        });
    }
    let fault = soap.then(|| canvas_formats::soap::fault(&bytes)).flatten();
    if let (Some(vendor), Some((code, words))) = (vendor, fault) {
        return Err(soap_fault(vendor, &code, &words));
    }
    let snippet: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
    let message = match vendor {
        Some(vendor) => {
            let words =
                vendor_words(&bytes).unwrap_or_else(|| snippet.trim().chars().take(200).collect());
            match status.as_u16() {
                401 | 403 => words,
                code => format!("{vendor} {code}: {words}"),
            }
        }
        None => format!(
            "{} {} answered {} {}: {}",
            request.method,
            request.path,
            status.as_u16(),
            reason(status),
            snippet.trim()
        ),
    };
    Err(match status.as_u16() {
        401 | 403 => ConnectorError::Rejected(message),
        408 | 429 | 500..=599 => ConnectorError::Transient(message),
        404 => ConnectorError::NotFound(message),
        _ => ConnectorError::Failed(message),
    })
}

/// A SOAP Fault is not transient: a `Client` fault naming the key is a
/// refusal of the credentials (`vendors.md` §2.4), any other fails the call.
fn soap_fault(vendor: &str, code: &str, words: &str) -> ConnectorError {
    let words = words.chars().take(500).collect::<String>();
    let about_the_key = words.to_ascii_lowercase().contains("apikey");
    match code.ends_with("Client") && about_the_key {
        true => ConnectorError::Rejected(words),
        false => ConnectorError::Failed(format!("{vendor} fault {code}: {words}")),
    }
}

/// A vendor's own words in an error document (`vendors.md` §1.3):
/// Tripletex `message` with each `validationMessages[]` as `field: message`;
/// JSON:API `errors[0].detail` or `.title`, OAuth `error_description` or
/// `error`, `message`, `Message`, `ErrorMessage`.
pub(crate) fn vendor_words(bytes: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(bytes).ok()?;
    let first = &body["errors"][0];
    let found = [
        &first["detail"],
        &first["title"],
        &body["error_description"],
        &body["error"],
        &body["message"],
        &body["Message"],
        &body["ErrorMessage"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().filter(|s| !s.trim().is_empty()));
    let validation: Vec<String> = body["validationMessages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let message = m["message"].as_str()?;
            Some(match m["field"].as_str().filter(|f| !f.is_empty()) {
                Some(field) => format!("{field}: {message}"),
                None => message.to_string(),
            })
        })
        .collect();
    let words = match (found, validation.is_empty()) {
        (Some(w), true) => w.trim().to_string(),
        (Some(w), false) => format!("{} {}", w.trim(), validation.join("; ")),
        (None, false) => validation.join("; "),
        (None, true) => return None,
    };
    Some(words.chars().take(500).collect())
}

fn transport(base: &reqwest::Url, e: reqwest::Error) -> ConnectorError {
    if let Some(refused) = egress::refusal(&e) {
        return refused;
    }
    let host = base.host_str().unwrap_or_default();
    if e.is_timeout() {
        ConnectorError::Transient(format!("{host}: the request timed out"))
    } else {
        // Without the URL: a query string may hold an API key.
        ConnectorError::Unreachable(format!("{host}: {}", e.without_url()))
    }
}

/// A request to the probe path with the credentials: the check at registration.
pub(crate) async fn check(
    http: &Http,
    credentials: &Credentials,
    session: SessionPolicy,
) -> Result<(), ConnectorError> {
    let probe = credentials
        .get_str("probePath")
        .map(str::trim)
        .filter(|p| !p.is_empty());
    http.session(credentials, session)?.probe(probe).await
}
