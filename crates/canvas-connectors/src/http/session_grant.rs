//! A vendor's session token made from the registration's credentials
//! (Tripletex: `PUT /token/session/:create?consumerToken&employeeToken&expirationDate`),
//! sent as HTTP Basic `<user>:<token>`, kept until the UTC day it was made
//! ends, made again once on a 401 (`TokenCache`).

use super::Http;
use crate::ConnectorError;
use reqwest::Method;
use std::time::Duration;

#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionGrant {
    /// The create URL, without its query.
    pub url: String,
    pub method: Method,
    /// The query, credentials filled in; `{tomorrow}` is filled at each creation.
    pub query: Vec<(String, String)>,
    /// Where the answer holds the token (a JSON pointer: `/value/token`).
    pub token_pointer: String,
    pub user: String,
}

/// The query holds tokens: never shown.
impl std::fmt::Debug for SessionGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionGrant")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SessionGrant {
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Creates a session; returns its token and how long it is used (until
    /// the UTC day ends: the session is asked to expire tomorrow).
    pub async fn create(&self, http: &Http) -> Result<(String, Option<Duration>), ConnectorError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| ConnectorError::Rejected(format!("the session URL: {e}")))?;
        super::egress::check_literal(&http.reach, &url)?;
        let now = chrono::Utc::now();
        let tomorrow = now.date_naive() + chrono::Days::new(1);
        let query: Vec<(&str, String)> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.replace("{tomorrow}", &tomorrow.to_string())))
            .collect();
        let host = url.host_str().unwrap_or_default().to_string();
        let response = http
            .client
            .request(self.method.clone(), url)
            .query(&query)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                super::egress::refusal(&e).unwrap_or_else(|| {
                    // Without the URL: its query holds the tokens.
                    ConnectorError::Unreachable(format!("{host}: {}", e.without_url()))
                })
            })?;
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let words =
                super::vendor_words(&bytes).unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            // Busy or failing is not a refusal of the tokens.
            let busy = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
            return Err(match busy {
                true => ConnectorError::Transient(format!("creating a session: {words}")),
                false => ConnectorError::Rejected(words),
            });
        }
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let token = body.pointer(&self.token_pointer).and_then(|t| t.as_str());
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
            ConnectorError::Failed(format!("the session answer has no {}", self.token_pointer))
        })?;
        let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let left = (midnight - now).to_std().unwrap_or_default();
        Ok((token.to_string(), Some(left)))
    }
}
