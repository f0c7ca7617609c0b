//! How requests authenticate: none, basic, bearer, an API key in a header
//! or in the query, or an OAuth2 client-credentials token, fetched from the
//! token URL, kept for its lifetime and fetched again on a 401.

use super::session_grant::SessionGrant;
use super::{Http, SessionPolicy};
use crate::ConnectorError;
use canvas_domain::credentials::Credentials;
use reqwest::RequestBuilder;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) enum Auth {
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    HeaderKey {
        name: String,
        key: String,
    },
    QueryKey {
        name: String,
        key: String,
    },
    OAuth2(OAuth2),
    /// A vendor's session token, made from the credentials (Tripletex).
    Session(SessionGrant),
}

/// Where a cached token comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Grant {
    OAuth2(OAuth2),
    Session(SessionGrant),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OAuth2 {
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    /// The client's id and secret go in the form body (Talentsoft), not
    /// as HTTP Basic.
    client_in_body: bool,
}

impl OAuth2 {
    /// A vendor's client-credentials grant with the client in the form body.
    pub fn in_body(token_url: String, client_id: String, client_secret: String) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            scope: None,
            client_in_body: true,
        }
    }
}

fn required(credentials: &Credentials, field: &str, label: &str) -> Result<String, ConnectorError> {
    credentials
        .get_str(field)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ConnectorError::Rejected(format!("You must enter a value for {label}.")))
}

impl Auth {
    pub fn from_credentials(c: &Credentials) -> Result<Self, ConnectorError> {
        let style = c.get_str("auth").unwrap_or("none").trim();
        Ok(match style {
            "" | "none" => Self::None,
            "basic" => Self::Basic {
                user: required(c, "username", "User name")?,
                password: c.get_str("password").unwrap_or_default().to_string(),
            },
            "bearer" => Self::Bearer(required(c, "token", "Token")?),
            "apikey-header" | "apikey-query" => {
                let name = required(c, "keyName", "Key name")?;
                let key = required(c, "token", "Token")?;
                if style == "apikey-header" {
                    Self::HeaderKey { name, key }
                } else {
                    Self::QueryKey { name, key }
                }
            }
            "oauth2" => Self::OAuth2(OAuth2 {
                token_url: required(c, "tokenUrl", "Token URL")?,
                client_id: required(c, "clientId", "Client id")?,
                client_secret: required(c, "clientSecret", "Client secret")?,
                scope: c
                    .get_str("scope")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                client_in_body: false,
            }),
            other => {
                return Err(ConnectorError::Rejected(format!(
                    "Authentication must be one of none, basic, bearer, apikey-header, apikey-query, oauth2; got '{other}'."
                )));
            }
        })
    }

    /// A token this auth fetched may have expired early: a 401 fetches
    /// another, once.
    pub fn renews_on_401(&self) -> bool {
        matches!(self, Self::OAuth2(_) | Self::Session(_))
    }

    fn grant(&self) -> Option<Grant> {
        match self {
            Self::OAuth2(o) => Some(Grant::OAuth2(o.clone())),
            Self::Session(s) => Some(Grant::Session(s.clone())),
            _ => None,
        }
    }

    pub async fn apply(
        &self,
        builder: RequestBuilder,
        http: &Http,
        session: SessionPolicy,
    ) -> Result<RequestBuilder, ConnectorError> {
        Ok(match self {
            Self::None => builder,
            Self::Basic { user, password } => builder.basic_auth(user, Some(password)),
            Self::Bearer(token) => builder.bearer_auth(token),
            Self::HeaderKey { name, key } => builder.header(name.as_str(), key.as_str()),
            Self::QueryKey { name, key } => builder.query(&[(name, key)]),
            Self::OAuth2(o) => {
                let grant = Grant::OAuth2(o.clone());
                builder.bearer_auth(http.tokens.token(&grant, http, session).await?)
            }
            Self::Session(s) => {
                let grant = Grant::Session(s.clone());
                let token = http.tokens.token(&grant, http, session).await?;
                builder.basic_auth(s.user(), Some(token))
            }
        })
    }
}

struct Token {
    value: String,
    expires: Instant,
    /// Sliding sessions: how much each use extends the token.
    slide: Option<Duration>,
}

/// OAuth2 tokens by client, shared by every run of this process.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<Grant, Token>>,
}

/// A token is fetched again this long before it expires.
const EARLY: Duration = Duration::from_secs(60);

impl TokenCache {
    fn cached(&self, client: &Grant) -> Option<String> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let token = tokens.get_mut(client)?;
        let now = Instant::now();
        // A session lives to the end of its UTC day, asked to expire the
        // day after: no margin needed (it would make one per request in
        // the day's last minute).
        let early = match client {
            Grant::OAuth2(_) => EARLY,
            Grant::Session(_) => Duration::ZERO,
        };
        if token.expires <= now + early {
            return None;
        }
        if let Some(slide) = token.slide {
            token.expires = now + slide;
        }
        Some(token.value.clone())
    }

    pub fn forget(&self, auth: &Auth) {
        if let Some(grant) = auth.grant() {
            self.tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&grant);
        }
    }

    async fn token(
        &self,
        client: &Grant,
        http: &Http,
        session: SessionPolicy,
    ) -> Result<String, ConnectorError> {
        if let Some(token) = self.cached(client) {
            return Ok(token);
        }
        let (value, lifetime) = match client {
            Grant::OAuth2(o) => fetch(o, http).await?,
            Grant::Session(s) => s.create(http).await?,
        };
        let session_life =
            (session.minutes > 0).then(|| Duration::from_secs(u64::from(session.minutes) * 60));
        let lifetime = lifetime
            .or(session_life)
            .unwrap_or(Duration::from_secs(3600));
        let token = Token {
            value: value.clone(),
            expires: Instant::now() + lifetime,
            slide: session.sliding.then_some(lifetime),
        };
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client.clone(), token);
        Ok(value)
    }
}

/// The client-credentials grant (RFC 6749 §4.4), the client authenticated
/// with HTTP Basic; returns the token and how long it lives.
async fn fetch(client: &OAuth2, http: &Http) -> Result<(String, Option<Duration>), ConnectorError> {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = &client.scope {
        form.push(("scope", scope));
    }
    let url = reqwest::Url::parse(&client.token_url)
        .map_err(|e| ConnectorError::Rejected(format!("the token URL: {e}")))?;
    super::egress::check_literal(&http.reach, &url)?;
    let request = http.client.post(url).header("Accept", "application/json");
    let request = if client.client_in_body {
        form.push(("client_id", &client.client_id));
        form.push(("client_secret", &client.client_secret));
        request.form(&form)
    } else {
        request
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&form)
    };
    let response = request.send().await.map_err(|e| {
        super::egress::refusal(&e).unwrap_or_else(|| {
            ConnectorError::Unreachable(format!("the token URL: {}", e.without_url()))
        })
    })?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let error = body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or_default();
        let message = format!("the token URL answered {}: {error}", status.as_u16());
        return Err(if status.is_server_error() {
            ConnectorError::Transient(message)
        } else {
            ConnectorError::Rejected(message)
        });
    }
    let token = body["access_token"].as_str().ok_or_else(|| {
        ConnectorError::Rejected("the token URL answered without an access_token".into())
    })?;
    let lifetime = body["expires_in"].as_u64().map(Duration::from_secs);
    Ok((token.to_string(), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Grant {
        Grant::OAuth2(OAuth2 {
            token_url: "http://127.0.0.1/token".into(),
            client_id: "id".into(),
            client_secret: "secret".into(),
            scope: None,
            client_in_body: false,
        })
    }

    fn cache_with(expires_in: Duration, slide: Option<Duration>) -> TokenCache {
        let cache = TokenCache::default();
        let token = Token {
            value: "t".into(),
            expires: Instant::now() + expires_in,
            slide,
        };
        cache.tokens.lock().unwrap().insert(client(), token);
        cache
    }

    #[test]
    fn a_token_is_used_until_shortly_before_it_expires() {
        assert_eq!(
            cache_with(Duration::from_secs(600), None).cached(&client()),
            Some("t".into())
        );
        assert_eq!(
            cache_with(Duration::from_secs(10), None).cached(&client()),
            None
        );
    }

    #[test]
    fn a_sliding_session_is_extended_by_each_use() {
        let cache = cache_with(Duration::from_secs(90), Some(Duration::from_secs(3600)));
        assert!(cache.cached(&client()).is_some());
        let expires = cache.tokens.lock().unwrap()[&client()].expires;
        assert!(expires > Instant::now() + Duration::from_secs(3000));
        let fixed = cache_with(Duration::from_secs(90), None);
        assert!(fixed.cached(&client()).is_some());
        let expires = fixed.tokens.lock().unwrap()[&client()].expires;
        assert!(expires < Instant::now() + Duration::from_secs(91));
    }

    #[test]
    fn forgetting_a_token_makes_the_next_request_fetch_one() {
        let cache = cache_with(Duration::from_secs(600), None);
        let Grant::OAuth2(o) = client() else {
            unreachable!()
        };
        cache.forget(&Auth::OAuth2(o));
        assert_eq!(cache.cached(&client()), None);
    }
}
