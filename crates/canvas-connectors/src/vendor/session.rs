//! A registration's session with a vendor: its base, authentication, path
//! placeholders, pace and SOAP key, all from the registration's credentials.

use super::{Vendor, vendor_base};
use crate::ConnectorError;
use crate::http::{Auth, HttpSession, OAuth2, SessionGrant};
use canvas_domain::credentials::Credentials;
use canvas_domain::vendor::{VendorAuth, VendorRequest, placeholder_value};
use reqwest::Method;
use std::collections::HashMap;

/// A registration's session with the vendor.
pub(super) struct VendorSession {
    pub http: HttpSession,
    pub placeholders: Placeholders,
    /// Which account's turns its requests take (`spec.pace`).
    pub pace_key: Option<u64>,
    /// Secret placeholder values (a key in the path): masked in every message.
    pub secrets: Vec<String>,
    /// The registration's key for SOAP calls (`soap.keyCredential`).
    pub key: Option<String>,
}

/// A credential the vendor needs, trimmed; refused when missing or empty.
fn required(credentials: &Credentials, name: &str) -> Result<String, ConnectorError> {
    let value = credentials.get_str(name).map(str::trim).unwrap_or_default();
    match value.is_empty() {
        true => Err(ConnectorError::Rejected(format!("{name}: is required"))),
        false => Ok(value.to_string()),
    }
}

/// `path` under `base`, one `/` between them.
fn under(base: &reqwest::Url, path: &str) -> String {
    format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

impl Vendor {
    /// A session with the registration's authentication, and its placeholders.
    pub(super) fn session(
        &self,
        credentials: &Credentials,
    ) -> Result<VendorSession, ConnectorError> {
        let base = self.base_of(credentials)?;
        let auth = self.auth(&base, credentials)?;
        let (placeholders, secrets) = self.placeholders(credentials)?;
        let key = match &self.spec.soap {
            Some(soap) => Some(required(credentials, &soap.key_credential)?),
            None => None,
        };
        let header = self.spec.request_id_header.clone();
        let mut http = self.http.vendor_session(&self.short, base, auth, header);
        if self.spec.soap.is_some() {
            http = http.speaking_soap();
        }
        Ok(VendorSession {
            key,
            http,
            placeholders,
            pace_key: self.pace_key(credentials),
            secrets,
        })
    }

    fn auth(&self, base: &reqwest::Url, credentials: &Credentials) -> Result<Auth, ConnectorError> {
        Ok(match &self.spec.auth {
            VendorAuth::Bearer { credential } => Auth::Bearer(required(credentials, credential)?),
            VendorAuth::InPath | VendorAuth::InBody => Auth::None,
            VendorAuth::ClientCredentials {
                token_path,
                client_id,
                client_secret,
            } => Auth::OAuth2(OAuth2::in_body(
                under(base, token_path),
                required(credentials, client_id)?,
                required(credentials, client_secret)?,
            )),
            VendorAuth::Session {
                method,
                create,
                token_pointer,
                user_credential,
                user_default,
            } => {
                let user = user_credential
                    .as_deref()
                    .and_then(|c| required(credentials, c).ok())
                    .unwrap_or_else(|| user_default.clone());
                Auth::Session(SessionGrant {
                    url: under(base, &create.path),
                    method: method.parse().unwrap_or(Method::PUT),
                    query: session_query(create, credentials)?,
                    token_pointer: token_pointer.clone(),
                    user,
                })
            }
        })
    }

    /// The placeholders' values, and those that are secrets.
    fn placeholders(
        &self,
        credentials: &Credentials,
    ) -> Result<(Placeholders, Vec<String>), ConnectorError> {
        let mut values = HashMap::new();
        let mut secrets = Vec::new();
        for (name, p) in &self.spec.placeholders {
            let given = credentials.get_str(&p.credential).unwrap_or_default();
            let value = placeholder_value(p, given).map_err(ConnectorError::Rejected)?;
            if value.is_empty() {
                let credential = &p.credential;
                return Err(ConnectorError::Rejected(format!(
                    "{credential}: is required"
                )));
            }
            if p.secret {
                secrets.push(value.clone());
            }
            values.insert(name.clone(), value);
        }
        Ok((Placeholders(values), secrets))
    }

    /// Which account of the vendor the registration is (`spec.pace.per`).
    fn pace_key(&self, credentials: &Credentials) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let pace = self.spec.pace.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.short.hash(&mut h);
        for c in &pace.per {
            credentials
                .get_str(c)
                .unwrap_or_default()
                .trim()
                .hash(&mut h);
        }
        Some(h.finish())
    }

    /// The registration's base: chosen by a credential (`baseUrlBy`, unless
    /// the deployment set one), a credential itself (`baseUrlCredential`:
    /// http or https, a trailing `/` dropped), else the vendor's.
    pub(super) fn base_of(
        &self,
        credentials: &Credentials,
    ) -> Result<reqwest::Url, ConnectorError> {
        if let (Some(by), false) = (&self.spec.base_url_by, self.overridden) {
            let given = credentials
                .get_str(&by.credential)
                .unwrap_or_default()
                .trim();
            let base = by
                .values
                .get(given)
                .and_then(|b| reqwest::Url::parse(b).ok());
            return base.ok_or_else(|| {
                let known: Vec<&str> = by.values.keys().map(String::as_str).collect();
                ConnectorError::Rejected(format!(
                    "{}: must be one of {}, not '{given}'",
                    by.credential,
                    known.join(", ")
                ))
            });
        }
        let Some(name) = &self.spec.base_url_credential else {
            return Ok(self.base.clone());
        };
        let given = credentials.get_str(name).unwrap_or_default();
        vendor_base(given)
            .ok()
            .and_then(|b| reqwest::Url::parse(&b).ok())
            .ok_or_else(|| {
                ConnectorError::Rejected(format!(
                    "{name}: '{given}' is not an http:// or https:// URL"
                ))
            })
    }
}

/// A session's create query: `{<credential>}` filled (each one required),
/// `{tomorrow}` left for each creation to fill.
fn session_query(
    create: &VendorRequest,
    credentials: &Credentials,
) -> Result<Vec<(String, String)>, ConnectorError> {
    create
        .query
        .iter()
        .map(|(k, v)| {
            let filled = match v.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Some("tomorrow") | None => v.clone(),
                Some(name) => required(credentials, name)?,
            };
            Ok((k.clone(), filled))
        })
        .collect()
}

/// `{name}` values of one registration.
pub(super) struct Placeholders(pub(super) HashMap<String, String>);

impl Placeholders {
    pub(super) fn fill(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (k, v)| {
            t.replace(&format!("{{{k}}}"), v)
        })
    }
}
