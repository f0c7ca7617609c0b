//! Our own extractors, so that every rejection has the `{State, Msg}` shape:
//! JSON bodies (size limit, case-insensitive property names, required
//! properties, typed errors naming the property) and query parameters
//! (case-insensitive names).

use crate::error::{ApiError, ApiResult};
use crate::spec::Dto;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use uuid::Uuid;

/// A JSON request body parsed into the DTO `T`.
pub struct JsonBody<T>(pub T);

impl<T: Dto> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.body_limit;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::TooLarge(limit));
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if too_large {
                    ApiError::TooLarge(limit)
                } else {
                    ApiError::BadRequest(format!("request body could not be read: {e}"))
                }
            })?;
        parse_body::<T>(&bytes).map(JsonBody)
    }
}

pub fn parse_body<T: Dto>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(format!(
            "request body is empty; expected a JSON {} object",
            T::SPEC.name
        )));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    if let Some(path) = nul_at(&value, String::new()) {
        return Err(nul_refused(&path));
    }
    let Value::Object(given) = value else {
        return Err(ApiError::BadRequest(format!(
            "request body must be a JSON object ({})",
            T::SPEC.name
        )));
    };
    let object = canonical_keys::<T>(given);
    for field in T::SPEC.fields.iter().filter(|f| f.required) {
        if object.get(field.property).is_none_or(Value::is_null) {
            return Err(ApiError::BadRequest(format!(
                "{}: is required",
                field.property
            )));
        }
    }
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let path = e.path().to_string();
        let property = path.split(['.', '[']).next().unwrap_or("");
        let is_guid = T::SPEC
            .fields
            .iter()
            .any(|f| f.property == property && f.type_name == "guid")
            || path.ends_with("uniqueBlockId")
            || path.ends_with("datasource");
        let inner = e.into_inner().to_string();
        let msg = if is_guid && inner.contains("UUID") {
            "is not a GUID (expected e.g. 296dce4a-3e24-495e-833c-e183ccfbf2d9)".to_string()
        } else {
            inner
        };
        ApiError::BadRequest(format!("{path}: {msg}"))
    })
}

/// The path of the first string (or key) holding a NUL character: text no
/// store keeps alike (PostgreSQL refuses it), so it is refused at the edge.
fn nul_at(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(at)
            } else {
                nul_at(v, at)
            }
        }),
        _ => None,
    }
}

fn nul_refused(path: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "{}: contains a NUL character (\\u0000), which Canvas does not store",
        path.replace('\0', "\\u0000")
    ))
}

/// Property names match case-insensitively, as in the original service.
fn canonical_keys<T: Dto>(given: Map<String, Value>) -> Map<String, Value> {
    given
        .into_iter()
        .map(|(k, v)| {
            let canonical = T::SPEC
                .fields
                .iter()
                .find(|f| f.property.eq_ignore_ascii_case(&k));
            (canonical.map_or(k, |f| f.property.to_string()), v)
        })
        .collect()
}

/// Query parameters with case-insensitive names.
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::BadRequest(format!("query string is malformed: {e}")))?;
        if let Some((name, _)) = pairs
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(nul_refused(name));
        }
        // A repeated name (`status=Failed&status=Cancelled`, as a form's
        // checkboxes send it) is one comma-separated value, never the last only.
        let mut params: HashMap<String, String> = HashMap::new();
        for (k, v) in pairs {
            match params.entry(k.to_ascii_lowercase()) {
                Entry::Occupied(mut e) => {
                    e.get_mut().push(',');
                    e.get_mut().push_str(&v);
                }
                Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Ok(Self(params))
    }
}

impl Params {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn guid(&self, name: &str) -> ApiResult<Uuid> {
        let raw = self.text(name).filter(|s| !s.trim().is_empty());
        let raw = raw.ok_or_else(|| ApiError::BadRequest(format!("{name}: is required")))?;
        parse_guid(name, raw)
    }

    pub fn int(
        &self,
        name: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> ApiResult<i64> {
        let Some(raw) = self.text(name).filter(|s| !s.is_empty()) else {
            return Ok(default);
        };
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name}: must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ))
            })
    }
}

pub fn parse_guid(name: &str, raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        ApiError::BadRequest(format!(
            "{name}: '{raw}' is not a GUID (expected e.g. 296dce4a-3e24-495e-833c-e183ccfbf2d9)"
        ))
    })
}
