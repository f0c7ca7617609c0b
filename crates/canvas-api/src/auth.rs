//! Who a request acts as: API key check (cached), failed-auth rate limit,
//! IP allow-list, and the `ManagedAccountId` rules.

use crate::error::{ApiError, ApiResult};
use crate::extract::parse_guid;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use canvas_domain::account::AccountRole;
use canvas_domain::net::{AllowList, canonical};
use canvas_store::model::Principal;
use ipnet::IpNet;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The account a request acts as, and the key that proved it.
#[derive(Debug, Clone)]
pub struct Acting {
    pub key_account_id: Uuid,
    pub account_id: Uuid,
    pub organization_id: Uuid,
    pub role: AccountRole,
    pub client_ip: IpAddr,
}

impl Acting {
    /// Organization administration needs an Admin or SuperPartner.
    pub fn require_manager(&self) -> ApiResult<()> {
        if self.role.manages_organization_tree() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this call needs an Admin or SuperPartner account; the acting account is a {}",
                self.role
            )))
        }
    }
}

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client_ip = client_ip(parts, &state.config.trusted_proxies)?;
        let key = authenticate(&parts.headers, client_ip, state).await?;
        admit(&key, client_ip)?;
        let managed = header(&parts.headers, "managedaccountid")?;
        managed_account(managed, &key.principal, client_ip, state).await
    }
}

/// The key may be used from `client_ip`, and its account is activated.
fn admit(key: &VerifiedKey, client_ip: IpAddr) -> ApiResult<()> {
    if !key.allow.allows(client_ip) {
        return Err(ApiError::Forbidden(format!(
            "requests from {client_ip} are not allowed for this organization (IP allow-list)"
        )));
    }
    if !key.principal.active {
        return Err(ApiError::Forbidden(
            "the key's account is not activated".into(),
        ));
    }
    Ok(())
}

/// A console sign-in: the key pair checked as an API request's would be —
/// a wrong one counts toward the same failed-auth limit — and admitted.
pub(crate) async fn sign_in(
    consumer: &str,
    secret: &str,
    client_ip: IpAddr,
    state: &AppState,
) -> ApiResult<()> {
    let Some(key) = verify_key(consumer, secret, state).await? else {
        return Err(match state.limiter.failed(client_ip, consumer) {
            Some(wait) => ApiError::TooManyRequests(wait),
            None => ApiError::Unauthorized("Consumer or SecretKey is incorrect".into()),
        });
    };
    admit(&key, client_ip)
}

/// The Acting of a console session's key, as its API requests would act:
/// allow-list, activation and `managed` (an account switcher) checked on
/// every page; the secret was checked at sign-in.
pub(crate) async fn session_acting(
    consumer: &str,
    managed: Option<&str>,
    client_ip: IpAddr,
    state: &AppState,
) -> ApiResult<Acting> {
    let key = load_key(consumer, state)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the session's key was revoked".into()))?;
    admit(&key, client_ip)?;
    managed_account(managed, &key.principal, client_ip, state).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<Option<&'a str>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()).filter(|s| !s.is_empty()))
            .map_err(|_| ApiError::BadRequest(format!("{name} header: must be plain ASCII text"))),
    }
}

/// A stored key with its organization's allow-list already parsed.
pub struct VerifiedKey {
    principal: Principal,
    allow: AllowList,
}

/// The key a request presents, checked. The key is checked first, so a
/// correct one is never refused for failures, its own or anyone else's;
/// only a wrong key counts as a failure, and once its address or its
/// Consumer used up the failures of this minute the answer is 429 instead
/// of 401. A request without a key is not a guess and is not counted.
async fn authenticate(
    headers: &HeaderMap,
    client_ip: IpAddr,
    state: &AppState,
) -> ApiResult<Arc<VerifiedKey>> {
    let consumer = header(headers, "consumer")?;
    let secret = header(headers, "secretkey")?;
    let (Some(consumer), Some(secret)) = (consumer, secret) else {
        return Err(ApiError::Unauthorized(
            "the Consumer and SecretKey headers are required".into(),
        ));
    };
    if let Some(key) = verify_key(consumer, secret, state).await? {
        return Ok(key);
    }
    match state.limiter.failed(client_ip, consumer) {
        Some(wait) => Err(ApiError::TooManyRequests(wait)),
        None => Err(ApiError::Unauthorized(
            "Consumer or SecretKey is incorrect".into(),
        )),
    }
}

/// The key when `secret` is the secret of `consumer`; `None` when either is wrong.
async fn verify_key(
    consumer: &str,
    secret: &str,
    state: &AppState,
) -> ApiResult<Option<Arc<VerifiedKey>>> {
    let Some(key) = load_key(consumer, state).await? else {
        return Ok(None);
    };
    let correct = state
        .secrets
        .verify_secret(secret, &key.principal.secret_hash);
    Ok(correct.then_some(key))
}

/// The stored key of `consumer` (through the cache); `None` when there is none.
async fn load_key(consumer: &str, state: &AppState) -> ApiResult<Option<Arc<VerifiedKey>>> {
    if let Some(key) = state.auth_cache.get(consumer) {
        return Ok(Some(key));
    }
    if state.auth_cache.known_unknown(consumer) {
        return Ok(None);
    }
    let Some(principal) = state.store.principal(consumer).await? else {
        state.auth_cache.put_unknown(consumer);
        return Ok(None);
    };
    let allow = AllowList::parse(&principal.allowed_cidrs).map_err(ApiError::internal)?;
    let key = Arc::new(VerifiedKey { principal, allow });
    state.auth_cache.put(key.clone());
    Ok(Some(key))
}

async fn managed_account(
    managed: Option<&str>,
    key: &Principal,
    client_ip: IpAddr,
    state: &AppState,
) -> ApiResult<Acting> {
    let mut acting = Acting {
        key_account_id: key.account_id,
        account_id: key.account_id,
        organization_id: key.organization_id,
        role: key.role,
        client_ip,
    };
    let Some(raw) = managed else {
        return Ok(acting);
    };
    let target = parse_guid("ManagedAccountId header", raw)?;
    if target == key.account_id {
        return Ok(acting);
    }
    let refused =
        || ApiError::Forbidden(format!("the key's account may not manage account {target}"));
    if !key.role.manages_organization_tree() {
        return Err(refused());
    }
    let account = match state.store.account(target).await {
        Ok(a) => a,
        Err(canvas_store::StoreError::NotFound) => return Err(refused()),
        Err(e) => return Err(e.into()),
    };
    if !state
        .store
        .organization_within(account.organization_id, key.organization_id)
        .await?
    {
        return Err(refused());
    }
    if !key.role.may_act_as(account.role) {
        return Err(ApiError::Forbidden(format!(
            "a {} key may not act as account {target}, a {} account",
            key.role, account.role
        )));
    }
    acting.account_id = account.id;
    acting.organization_id = account.organization_id;
    acting.role = account.role;
    Ok(acting)
}

/// The socket peer, or the `X-Forwarded-For` client when the peer is a
/// trusted proxy (the right-most address that is not itself trusted).
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> ApiResult<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| canonical(c.0.ip()))
        .ok_or_else(|| {
            ApiError::internal(std::io::Error::other("no peer address on the connection"))
        })?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Ok(peer);
    }
    let hops: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("unknown"))
        .flat_map(|v| v.split(','))
        .collect();
    // From the right (the hop our proxy added) leftwards, through trusted
    // proxies only. A hop that is no address (`unknown`, garbage) ends the
    // walk at the last address known: an earlier hop is the client's own
    // word and is never believed past it.
    let mut address = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = hop_address(hop) else {
            return Ok(address);
        };
        address = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Ok(address)
}

/// One `X-Forwarded-For` hop: an address, or an address with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// Verified keys, remembered for a short time so most requests skip the store.
pub struct AuthCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Arc<VerifiedKey>, Instant)>>,
    /// Consumers the store does not know, as keyed hashes (their memory
    /// does not depend on what clients send): a flood of wrong keys costs
    /// one store lookup per Consumer and `ttl`, not one per request.
    unknown: Mutex<HashMap<u64, Instant>>,
    hasher: RandomState,
}

const CACHE_LIMIT: usize = 100_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }

    /// Whether `consumer` was looked up and not found within `ttl`.
    fn known_unknown(&self, consumer: &str) -> bool {
        let unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        unknown
            .get(&self.hasher.hash_one(consumer))
            .is_some_and(|at| at.elapsed() < self.ttl)
    }

    fn put_unknown(&self, consumer: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        if unknown.len() >= CACHE_LIMIT {
            unknown.retain(|_, at| at.elapsed() < self.ttl);
            if unknown.len() >= CACHE_LIMIT {
                return;
            }
        }
        unknown.insert(self.hasher.hash_one(consumer), Instant::now());
    }

    fn get(&self, consumer: &str) -> Option<Arc<VerifiedKey>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (p, at) = entries.get(consumer)?;
        (at.elapsed() < self.ttl).then(|| p.clone())
    }

    fn put(&self, key: Arc<VerifiedKey>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_LIMIT {
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        entries.insert(key.principal.consumer.clone(), (key, Instant::now()));
    }
}

/// Fixed one-minute windows of failed authentications, counted per client
/// address and per Consumer presented (so guesses spread over many
/// addresses are caught as well). Consumers are kept as keyed hashes: the
/// map's memory does not depend on what clients send.
pub struct FailedAuthLimiter {
    per_minute: u32,
    hasher: RandomState,
    windows: Mutex<HashMap<FailureSource, (u32, Instant)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FailureSource {
    Address(IpAddr),
    Consumer(u64),
}

const WINDOW: Duration = Duration::from_secs(60);

impl FailedAuthLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            hasher: RandomState::new(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Records a wrong key from `ip` for `consumer`. Returns the seconds to
    /// wait when the address or the Consumer had already used up this
    /// window's failures (the attempt is refused with 429, not counted).
    fn failed(&self, ip: IpAddr, consumer: &str) -> Option<u64> {
        let sources = [
            FailureSource::Address(ip),
            FailureSource::Consumer(self.hasher.hash_one(consumer)),
        ];
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let wait = sources.iter().filter_map(|s| self.wait(&windows, s)).max();
        if wait.is_none() {
            for source in sources {
                Self::count(&mut windows, source);
            }
        }
        wait
    }

    /// Seconds left in `source`'s window when it used up its failures.
    fn wait(
        &self,
        windows: &HashMap<FailureSource, (u32, Instant)>,
        source: &FailureSource,
    ) -> Option<u64> {
        let (count, start) = windows.get(source)?;
        let elapsed = start.elapsed();
        (elapsed < WINDOW && *count >= self.per_minute).then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    fn count(windows: &mut HashMap<FailureSource, (u32, Instant)>, source: FailureSource) {
        if windows.len() >= CACHE_LIMIT && !windows.contains_key(&source) {
            windows.retain(|_, (_, start)| start.elapsed() < WINDOW);
            if windows.len() >= CACHE_LIMIT {
                // Full of live windows: the ones already counted go on.
                return;
            }
        }
        let entry = windows.entry(source).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}
