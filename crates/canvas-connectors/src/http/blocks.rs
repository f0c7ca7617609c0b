//! `HTTP Request` and what scripts call on `apps.HTTP`.

use super::paging::{MAX_PAGES, Next, PageRead, Paging, records};
use super::{Http, HttpSession, Request, SessionPolicy};
use crate::ConnectorError;
use canvas_blocks::{
    AppAccess, AppOperations, BlockContext, BlockError, BlockFuture, CallFuture, CancelToken,
    NativeBlock, NativeBlocks, RecordReader, RecordWriter,
};
use reqwest::Method;
use serde_json::{Map, Value};
use std::sync::Arc;

pub(crate) fn register(
    blocks: &mut NativeBlocks,
    http: Http,
    app: &canvas_domain::catalog::Application,
) {
    let connector = Arc::new(HttpApp {
        http,
        app: app.short_name.clone(),
        session: SessionPolicy {
            minutes: u32::try_from(app.session_time_mins).unwrap_or(0),
            sliding: app.session_sliding_expiry,
        },
    });
    blocks.add(&app.short_name, Arc::new(RequestBlock(connector.clone())));
    blocks.add_operations(&app.short_name, connector);
}

struct HttpApp {
    http: Http,
    app: String,
    session: SessionPolicy,
}

impl HttpApp {
    fn session(&self, app: Option<&AppAccess>) -> Result<HttpSession, BlockError> {
        let app =
            app.ok_or_else(|| BlockError::Permanent(format!("no {} application", self.app)))?;
        Ok(self.http.session(&app.credentials, self.session)?)
    }
}

struct RequestBlock(Arc<HttpApp>);

fn permanent(message: impl Into<String>) -> BlockError {
    BlockError::Permanent(message.into())
}

/// The block's variables, read once.
struct Settings {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    /// A body with `{{field}}`s, made for each input record.
    body_template: Option<String>,
    records_path: Option<String>,
    /// Answers that are files (CSV, XML...) rather than JSON: `fileformat`.
    answer_format: Option<canvas_formats::FileFormat>,
    paging: Paging,
    batch_size: usize,
}

impl Settings {
    fn from_variables(vars: &Map<String, Value>) -> Result<Self, BlockError> {
        let method = vars.get("method").and_then(Value::as_str).unwrap_or("GET");
        let method =
            Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes()).map_err(|_| {
                permanent(format!(
                    "variable 'method': '{method}' is not an HTTP method"
                ))
            })?;
        let query = match vars.get("query") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(q)) => q
                .iter()
                .map(|(k, v)| (k.clone(), canvas_formats::cell_text(v)))
                .collect(),
            Some(other) => {
                return Err(permanent(format!(
                    "variable 'query' must be an object, got {other}"
                )));
            }
        };
        // A body that is JSON text goes as that JSON; other text as a JSON string.
        let body_template = vars
            .get("body")
            .and_then(Value::as_str)
            .filter(|s| s.contains("{{"))
            .map(str::to_string);
        let body = match vars.get("body") {
            _ if body_template.is_some() => None,
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => {
                Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
            }
            Some(other) => Some(other.clone()),
        };
        let batch_size = match vars.get("batchSize") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    permanent(format!(
                        "variable 'batchSize' must be a whole number from 1 to 10000, got {v}"
                    ))
                })? as usize,
        };
        Ok(Self {
            method,
            path: vars
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string(),
            query,
            body,
            body_template,
            records_path: vars
                .get("recordsPath")
                .and_then(Value::as_str)
                .map(str::to_string),
            answer_format: match vars.get("fileformat") {
                None | Some(Value::Null) => None,
                Some(_) => Some(
                    canvas_formats::FileFormat::from_variables(vars)
                        .map_err(|e| permanent(e.to_string()))?,
                ),
            },
            paging: Paging::from_variable(vars.get("pagination")).map_err(permanent)?,
            batch_size,
        })
    }

    /// The records of an answer: its JSON at `recordsPath`, or the file it
    /// holds when `fileformat` is set.
    fn records_of(
        &self,
        request: &Request,
        response: &super::Response,
    ) -> Result<Vec<Value>, BlockError> {
        let found = match &self.answer_format {
            Some(format) => format
                .parse(&request.path, &response.bytes)
                .map_err(|e| e.to_string()),
            None => records(&response.body, self.records_path.as_deref()),
        };
        found.map_err(|e| permanent(format!("{} {}: {e}", request.method, request.path)))
    }

    /// POST, PUT or PATCH without a fixed body send the input records
    /// (as they are, or through the body template).
    fn may_send_input(&self) -> bool {
        self.body.is_none() && matches!(self.method, Method::POST | Method::PUT | Method::PATCH)
    }

    /// The body for records `chunk` (numbered from `first` in messages).
    fn body_for(&self, chunk: &[Value], first: usize) -> Result<Value, BlockError> {
        let one = |record: &Value, n: usize| match &self.body_template {
            None => Ok(record.clone()),
            Some(template) => {
                let text = fill(template, record, &|v| v.to_string());
                serde_json::from_str(&text).map_err(|e| {
                    permanent(format!("record {n}: variable 'body' does not make JSON with this record's fields: {e}"))
                })
            }
        };
        if self.batch_size == 1 {
            return one(&chunk[0], first);
        }
        let bodies: Result<Vec<Value>, BlockError> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| one(r, first + i))
            .collect();
        Ok(Value::Array(bodies?))
    }
}

impl NativeBlock for RequestBlock {
    fn name(&self) -> &str {
        "HTTP Request"
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let settings = Settings::from_variables(cx.variables.raw())?;
            let session = self.0.session(cx.application.as_ref())?;
            // Whether there are records to send decides between sending and reading.
            let first = if settings.may_send_input() {
                input.next_values().await?.filter(|b| !b.is_empty())
            } else {
                None
            };
            let (requests, records) = match first {
                Some(first) => send_input(&session, &settings, cx, (first, input), output).await?,
                None if settings.body_template.is_some() => {
                    return Err(permanent(
                        "variable 'body' takes {{fields}} from input records, and this block has none",
                    ));
                }
                None => read_pages(&session, &settings, &cx.cancel, output).await?,
            };
            cx.log(format!("{requests} requests, {records} records"));
            Ok(())
        })
    }
}

/// One request, then the next pages while the pagination finds more.
async fn read_pages(
    session: &HttpSession,
    settings: &Settings,
    cancel: &CancelToken,
    output: &mut RecordWriter,
) -> Result<(usize, usize), BlockError> {
    let mut request = Request {
        method: settings.method.clone(),
        path: settings.path.clone(),
        query: [settings.query.clone(), settings.paging.first()].concat(),
        body: settings.body.clone(),
        media_type: None,
        raw_body: None,
        headers: Vec::new(),
        repeatable: false,
    };
    let mut total = 0;
    let mut previous: Option<Vec<Value>> = None;
    for page in 1..=MAX_PAGES {
        cancel.check()?;
        let response = match session.send(&request).await {
            // A numbered page past the last one that is not there: the
            // server has said it is done.
            Err(ConnectorError::NotFound(_)) if page > 1 && settings.paging.numbered() => {
                return Ok((page - 1, total));
            }
            other => other?,
        };
        let found = settings.records_of(&request, &response)?;
        // Paging goes on past short pages; a server that ignores the paging
        // parameters answers the same page again: that page was all there is.
        if !found.is_empty() && previous.as_ref() == Some(&found) {
            return Ok((page - 1, total));
        }
        total += found.len();
        output.write_values(&found).await?;
        let answer = (&response.body, response.link.as_deref());
        let read = PageRead {
            page,
            count: found.len(),
            so_far: total,
        };
        let next = settings.paging.next(read, answer);
        previous = Some(found);
        match next {
            None => return Ok((page, total)),
            Some(Next::Query(q)) => request.query = [settings.query.clone(), q].concat(),
            Some(Next::Url(url)) => {
                request.path = url;
                request.query.clear();
            }
        }
    }
    Err(permanent(format!(
        "stopped after {MAX_PAGES} pages; is the pagination right?"
    )))
}

/// Each input record (or batch of `batchSize` records, as an array) is
/// the body of one request; `{{field}}` in the path takes the record's field.
async fn send_input(
    session: &HttpSession,
    settings: &Settings,
    cx: &BlockContext,
    (first, input): (Vec<Value>, &mut RecordReader),
    output: &mut RecordWriter,
) -> Result<(usize, usize), BlockError> {
    let (mut requests, mut total, mut sent) = (0, 0, 0);
    let mut next = Some(first);
    while let Some(values) = next.take() {
        for chunk in values.chunks(settings.batch_size) {
            cx.cancel.check()?;
            let body = settings.body_for(chunk, sent + 1)?;
            sent += chunk.len();
            let request = Request {
                method: settings.method.clone(),
                path: fill(&settings.path, &chunk[0], &|v| {
                    encode_segment(&canvas_formats::cell_text(v))
                }),
                query: settings.query.clone(),
                body: Some(body),
                media_type: None,
                raw_body: None,
                headers: Vec::new(),
                repeatable: false,
            };
            let response = session.send(&request).await?;
            let found = settings.records_of(&request, &response).unwrap_or_default();
            total += found.len();
            output.write_values(&found).await?;
            requests += 1;
        }
        next = input.next_values().await?;
    }
    Ok((requests, total))
}

/// `text` with each `{{field}}` replaced by `value(the record's field)`
/// (null when the record has no such field): `/customers/{{id}}`.
fn fill(text: &str, record: &Value, value: &dyn Fn(&Value) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let field = rest[start + 2..start + len].trim();
        let found = super::paging::at(record, field).unwrap_or(&Value::Null);
        out.push_str(&value(found));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn encode_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `apps.HTTP.get(path, query)`, `.delete(path, query)`, `.post/.put/.patch(path, body)`
/// → the answer's JSON (or its text when it is not JSON).
impl AppOperations for HttpApp {
    fn operations(&self) -> &[&'static str] {
        &["get", "post", "put", "patch", "delete"]
    }

    fn call<'a>(
        &'a self,
        app: &'a AppAccess,
        operation: &'a str,
        args: Vec<Value>,
        _cancel: CancelToken,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            let path = args.first().and_then(Value::as_str).ok_or_else(|| {
                permanent(format!(
                    "apps.{}.{operation}: argument 1 (path) must be text",
                    app.short_name
                ))
            })?;
            let method =
                Method::from_bytes(operation.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    permanent(format!(
                        "apps.{} has no operation '{operation}'",
                        app.short_name
                    ))
                })?;
            let second = args.get(1).cloned().filter(|v| !v.is_null());
            let (query, body) = match method {
                Method::GET | Method::DELETE => {
                    let query = match second {
                        None => Vec::new(),
                        Some(Value::Object(q)) => q
                            .iter()
                            .map(|(k, v)| (k.clone(), canvas_formats::cell_text(v)))
                            .collect(),
                        Some(_) => {
                            return Err(permanent(format!(
                                "apps.{}.{operation}: argument 2 (query) must be an object",
                                app.short_name
                            )));
                        }
                    };
                    (query, None)
                }
                _ => (Vec::new(), second),
            };
            let request = Request {
                method,
                path: path.to_string(),
                query,
                body,
                media_type: None,
                raw_body: None,
                headers: Vec::new(),
                repeatable: false,
            };
            let response = self.session(Some(app))?.send(&request).await?;
            Ok(
                if response.body.is_null() && !response.bytes.trim_ascii().is_empty() {
                    Value::String(String::from_utf8_lossy(&response.bytes).into_owned())
                } else {
                    response.body
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_bodies_take_record_fields() {
        let record = json!({"id": "a b/c", "n": 7});
        let path = |p: &str| {
            fill(p, &record, &|v| {
                encode_segment(&canvas_formats::cell_text(v))
            })
        };
        assert_eq!(path("/x/{{id}}/y/{{ n }}"), "/x/a%20b%2Fc/y/7");
        assert_eq!(path("/plain"), "/plain");
        let body = fill(
            r#"{"who": {{id}}, "n": {{n}}, "x": {{missing}}}"#,
            &record,
            &|v| v.to_string(),
        );
        assert_eq!(body, r#"{"who": "a b/c", "n": 7, "x": null}"#);
    }
}
