//! Vendor applications as data: how Canvas reaches a vendor's API (base URL,
//! authentication, path placeholders, the credential check, paging, the shape
//! of its documents) and the request of each of its blocks. The catalog's
//! application files carry a `vendor` declaration; the HTTP connector
//! executes it. Pure: the rules that turn a vendor's answer into records.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VendorSpec {
    /// The production base; `[vendors.<SHORT>] base_url` replaces it.
    /// Empty when the base is a credential (`baseUrlCredential`).
    #[serde(default)]
    pub base_url: String,
    /// The credential that is the base URL (Talentsoft's `baseUrl`); no
    /// deployment override applies then.
    #[serde(default)]
    pub base_url_credential: Option<String>,
    pub auth: VendorAuth,
    /// `Accept` on resource endpoints (e.g. `application/vnd.api+json`).
    #[serde(default)]
    pub media_type: Option<String>,
    /// `{name}` in paths, filled from the registration's credentials.
    #[serde(default)]
    pub placeholders: BTreeMap<String, Placeholder>,
    /// The credential check: one authenticated request that must answer 2xx
    /// (for a SOAP vendor, `soap.check` instead).
    #[serde(default)]
    pub check: VendorRequest,
    /// The base chosen by a credential (Quinyx's `environment`: live or
    /// test); a deployment's `[vendors.<SHORT>] base_url` replaces every one.
    #[serde(default)]
    pub base_url_by: Option<BaseUrlBy>,
    /// The vendor speaks SOAP 1.1 RPC/encoded (Quinyx): scripts `call`
    /// its methods, and the credential check is a call.
    #[serde(default)]
    pub soap: Option<SoapSpec>,
    pub paging: VendorPaging,
    pub documents: DocumentShape,
    /// A header given a fresh UUID on every request (Fiken's `X-Request-ID`).
    #[serde(default)]
    pub request_id_header: Option<String>,
    /// Requests to one account of the vendor go one at a time, at least
    /// this far apart (Fiken: one at a time, at most 4 a second).
    #[serde(default)]
    pub pace: Option<Pace>,
    pub blocks: Vec<VendorBlock>,
    /// Blocks shipped as catalog JavaScript over the vendor's `apps`
    /// handle: work that is more than "request → records".
    #[serde(default)]
    pub scripts: Vec<ScriptBlock>,
}

/// A block whose work is a catalog script (`data/scripts/<file>`), run in
/// the script sandbox like a user's script, with the block's variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptBlock {
    pub block: String,
    pub file: String,
    /// Only when the block has a data source (Fiken's `Get all contacts`
    /// matches its input to contacts; as a first block it is a plain read).
    #[serde(default)]
    pub with_input_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BaseUrlBy {
    pub credential: String,
    /// The base for each value of the credential.
    pub values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SoapSpec {
    /// Where every call is posted, under the base.
    pub path: String,
    /// The methods' namespace (`uri:FlexForce`); `SOAPAction` is `"<namespace>/<method>"`.
    pub namespace: String,
    /// The parameter that carries the key, first in every call, and the
    /// credential it comes from unless the call gives its own.
    pub key_param: String,
    pub key_credential: String,
    /// Methods whose names start so only read: asked again after a 5xx
    /// without a Fault (others may have been done).
    pub read_prefix: String,
    /// The credential check: this method must answer.
    pub check_method: String,
    #[serde(default)]
    pub check_params: Map<String, Value>,
}

/// One request at a time per account of the vendor (the credentials named
/// in `per` tell accounts apart), each at least `min_interval_ms` after
/// the one before.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pace {
    pub per: Vec<String>,
    #[serde(default)]
    pub min_interval_ms: u64,
}

/// How requests are authenticated, from which credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    tag = "style",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum VendorAuth {
    /// `Authorization: Bearer <credential>`.
    Bearer { credential: String },
    /// The key travels in the path (a `secret` placeholder): no header.
    InPath,
    /// The key travels in the body (a SOAP parameter): no header.
    InBody,
    /// OAuth2 client credentials, the client in the form body, the token
    /// from `tokenPath` under the base, cached per client until shortly
    /// before `expires_in`, fetched again once on a 401.
    ClientCredentials {
        token_path: String,
        client_id: String,
        client_secret: String,
    },
    /// A session token made from credentials (Tripletex): `method` on
    /// `create.path` with `create.query`, where `{<credential>}` is that
    /// credential and `{tomorrow}` the UTC date after today; the token at
    /// `tokenPointer` of the answer. Requests then carry HTTP Basic
    /// `<user>:<token>`, the user being credential `userCredential` when
    /// given, else `userDefault`. Kept until the UTC day ends; made again
    /// once on a 401.
    Session {
        method: String,
        create: VendorRequest,
        token_pointer: String,
        #[serde(default)]
        user_credential: Option<String>,
        #[serde(default)]
        user_default: String,
    },
}

/// A path placeholder's value: a credential, as it is or reduced to a name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placeholder {
    pub credential: String,
    /// The credential is an address whose first host label is the value:
    /// scheme, `www.`, path and this suffix are removed
    /// (`https://demo.mystore.no/` → `demo`); anything left with a `.` is refused.
    #[serde(default)]
    pub host_label_before: Option<String>,
    /// The value is a secret (a key in the path): never logged or reported.
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VendorRequest {
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// `Accept` for this request when not the vendor's media type.
    #[serde(default)]
    pub accept: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "style",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum VendorPaging {
    /// One answer.
    None,
    /// JSON:API: follow `links.next` (an absolute URL) until it is absent or null.
    LinksNext,
    /// `param` counts pages from `start`; the answer's `header` says how
    /// many pages there are (Fiken: `page`, 0, `Fiken-Api-Page-Count`).
    PageCountHeader {
        param: String,
        start: i64,
        header: String,
    },
    /// `offsetParam` = 0, then the records received so far (a page the
    /// vendor made smaller is followed), with `limitParam` = `limit`, until
    /// a page is empty or the total at `totalPath` is read.
    Offset {
        offset_param: String,
        limit_param: String,
        limit: u32,
        #[serde(default)]
        total_path: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    tag = "style",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum DocumentShape {
    /// JSON:API documents: `data` resources flattened with their `included`
    /// relations; `YYYY-MM-DD HH:MM:SS` attribute values are local times of
    /// `timeZone` made ISO 8601 UTC.
    JsonApi { time_zone: String },
    /// Records as the vendor gives them: the array at `recordsPath` (or the
    /// whole answer).
    Plain {
        #[serde(default)]
        records_path: Option<String>,
        /// WCF dates (`/Date(1524816000000+0200)/`), nested ones too, become ISO 8601 UTC.
        #[serde(default)]
        wcf_dates: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VendorBlock {
    pub name: String,
    pub request: VendorRequest,
    /// Which records the block keeps, by its variables.
    #[serde(default)]
    pub keep: Vec<RecordFilter>,
}

/// A filter a block applies to every record, driven by one of its variables
/// (null or empty: keep all).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    tag = "op",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum RecordFilter {
    /// The record's `field`, as text, is one of the variable's comma-separated values.
    OneOf { variable: String, field: String },
    /// The record's `field` (ISO 8601) is at most the variable's number of days old.
    YoungerThanDays { variable: String, field: String },
}

/// The value of a placeholder from its credential, or why it cannot be had.
pub fn placeholder_value(p: &Placeholder, credential: &str) -> Result<String, String> {
    let raw = credential.trim();
    let Some(suffix) = &p.host_label_before else {
        return Ok(raw.to_string());
    };
    let host = raw
        .split_once("://")
        .map_or(raw, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let name = host.strip_suffix(suffix.as_str()).unwrap_or(host);
    if name.is_empty() || name.contains('.') || name.contains(':') {
        return Err(format!(
            "{}: give the name of the shop (the part before {suffix}), not '{raw}'",
            p.credential
        ));
    }
    Ok(name.to_string())
}

/// A JSON:API resource as one record: `id`, its attributes in order, then
/// each relationship — to-one as `<name>_id`, to-many (when included) as an
/// array of flattened included resources. `-` in names becomes `_`.
pub fn flatten_resource(resource: &Value, included: &[Value], zone: chrono_tz::Tz) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), resource["id"].clone());
    if let Some(attributes) = resource["attributes"].as_object() {
        for (k, v) in attributes {
            out.insert(k.replace('-', "_"), utc_if_local_time(v, zone));
        }
    }
    if let Some(relationships) = resource["relationships"].as_object() {
        for (name, rel) in relationships {
            let name = name.replace('-', "_");
            match &rel["data"] {
                Value::Array(refs) => {
                    let items = refs
                        .iter()
                        .filter_map(|r| find_included(included, r))
                        .map(|inc| flatten_resource(inc, &[], zone))
                        .collect();
                    out.insert(name, Value::Array(items));
                }
                Value::Object(_) => {
                    out.insert(format!("{name}_id"), rel["data"]["id"].clone());
                }
                _ => {
                    out.insert(format!("{name}_id"), Value::Null);
                }
            }
        }
    }
    Value::Object(out)
}

fn find_included<'a>(included: &'a [Value], r: &Value) -> Option<&'a Value> {
    included
        .iter()
        .find(|inc| inc["type"] == r["type"] && inc["id"] == r["id"])
}

/// `"2024-05-02 10:15:00"` (a local time of `zone`) → `"2024-05-02T08:15:00Z"`;
/// a time with an explicit offset is made UTC too; anything else as it is.
pub fn utc_if_local_time(v: &Value, zone: chrono_tz::Tz) -> Value {
    use chrono::{NaiveDateTime, TimeZone};
    let Some(text) = v.as_str() else {
        return v.clone();
    };
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok();
    if let Some(at) = local.and_then(|l| zone.from_local_datetime(&l).earliest()) {
        return Value::String(iso_utc(at.with_timezone(&chrono::Utc)));
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Value::String(iso_utc(at.with_timezone(&chrono::Utc)));
    }
    v.clone()
}

/// `value` with every WCF date string in it (`/Date(ms)/`, `/Date(ms±hhmm)/`)
/// made ISO 8601 UTC from the milliseconds (the offset is informational).
pub fn utc_wcf_dates(value: Value) -> Value {
    match value {
        Value::String(text) => match wcf_millis(&text) {
            Some(ms) => chrono::DateTime::from_timestamp_millis(ms)
                .map_or(Value::String(text), |at| Value::String(iso_utc(at))),
            None => Value::String(text),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(utc_wcf_dates).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, utc_wcf_dates(v)))
                .collect(),
        ),
        other => other,
    }
}

fn wcf_millis(text: &str) -> Option<i64> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let end = inner[1..].find(['+', '-']).map_or(inner.len(), |i| i + 1);
    inner[..end].parse().ok()
}

/// ISO 8601 UTC, milliseconds only when they are not zero.
fn iso_utc(at: chrono::DateTime<chrono::Utc>) -> String {
    if at.timestamp_subsec_millis() == 0 {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

impl RecordFilter {
    /// Whether `record` is kept, given the block's variables and the run's start.
    pub fn keeps(
        &self,
        record: &Value,
        variables: &Map<String, Value>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        match self {
            Self::OneOf { variable, field } => {
                let wanted = match variables.get(variable) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return true,
                };
                let wanted: Vec<&str> = wanted
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                let have = match &record[field] {
                    Value::String(s) => s.clone(),
                    Value::Null => return wanted.is_empty(),
                    other => other.to_string(),
                };
                wanted.is_empty() || wanted.contains(&have.as_str())
            }
            Self::YoungerThanDays { variable, field } => {
                let Some(days) = variables
                    .get(variable)
                    .and_then(Value::as_f64)
                    .filter(|d| *d > 0.0)
                else {
                    return true;
                };
                let cutoff = now - chrono::Duration::milliseconds((days * 86_400_000.0) as i64);
                record[field]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|at| at >= cutoff)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_shop_address_gives_the_shop_name() {
        let p = Placeholder {
            credential: "shopUrl".into(),
            host_label_before: Some(".mystore.no".into()),
            secret: false,
        };
        for given in [
            "https://demo-shop.mystore.no/",
            "demo-shop",
            "http://www.demo-shop.mystore.no/admin",
        ] {
            assert_eq!(
                placeholder_value(&p, given).unwrap(),
                "demo-shop",
                "{given}"
            );
        }
        assert!(
            placeholder_value(&p, "https://shop.example.com")
                .unwrap_err()
                .contains("shopUrl")
        );
    }

    #[test]
    fn json_api_resources_are_flattened_with_their_relations_and_utc_times() {
        let order = json!({"type": "orders", "id": "1003",
            "attributes": {"currency": "NOK", "created_at": "2024-05-02 10:15:00"},
            "relationships": {
                "customer": {"data": {"type": "customers", "id": "17"}},
                "order-status": {"data": {"type": "order-statuses", "id": "2"}},
                "order-products": {"data": [{"type": "order-products", "id": "5001"}]}}});
        let included = [
            json!({"type": "order-products", "id": "5001", "attributes": {"products_model": "UG-1"}}),
        ];
        let flat = flatten_resource(&order, &included, chrono_tz::Europe::Oslo);
        assert_eq!(
            flat,
            json!({"id": "1003", "currency": "NOK", "created_at": "2024-05-02T08:15:00Z",
                   "customer_id": "17", "order_status_id": "2",
                   "order_products": [{"id": "5001", "products_model": "UG-1"}]})
        );
        let keys: Vec<&String> = flat.as_object().unwrap().keys().collect();
        assert_eq!(keys[..3], ["id", "currency", "created_at"]);
    }

    #[test]
    fn wcf_dates_become_utc_wherever_they_are() {
        let record = json!({"Birthdate": "/Date(1524816000000)/", "Employed": "/Date(1524816000000+0200)/",
                            "Early": "/Date(-86400000)/", "Nested": [{"At": "/Date(1704067200123)/"}], "Name": "Kari"});
        assert_eq!(
            utc_wcf_dates(record),
            json!({"Birthdate": "2018-04-27T08:00:00Z", "Employed": "2018-04-27T08:00:00Z",
                   "Early": "1969-12-31T00:00:00Z", "Nested": [{"At": "2024-01-01T00:00:00.123Z"}], "Name": "Kari"})
        );
    }

    #[test]
    fn filters_keep_records_by_the_blocks_variables() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-05-10T00:00:00Z")
            .unwrap()
            .to_utc();
        let status = RecordFilter::OneOf {
            variable: "status".into(),
            field: "order_status_id".into(),
        };
        let vars = json!({"status": "2, 3"});
        let vars = vars.as_object().unwrap();
        assert!(status.keeps(&json!({"order_status_id": "3"}), vars, now));
        assert!(!status.keeps(&json!({"order_status_id": "1"}), vars, now));
        assert!(status.keeps(&json!({"order_status_id": "1"}), &Map::new(), now));
        let age = RecordFilter::YoungerThanDays {
            variable: "age".into(),
            field: "created_at".into(),
        };
        let vars = json!({"age": 7});
        let vars = vars.as_object().unwrap();
        assert!(age.keeps(&json!({"created_at": "2024-05-05T00:00:00Z"}), vars, now));
        assert!(!age.keeps(&json!({"created_at": "2024-05-01T00:00:00Z"}), vars, now));
    }
}
