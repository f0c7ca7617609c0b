//! The egress policy inside the HTTP client: names are resolved through
//! it (the address checked is the address connected to), addresses given
//! literally are checked before a request, redirects are followed only
//! within the application's own origin — credentials never travel to
//! another host — and never to a refused address.

use crate::ConnectorError;
use crate::reach::{Reach, not_allowed};
use canvas_domain::egress::{EgressPolicy, EgressRefused};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Response, Url};
use std::net::IpAddr;

/// Resolves names and keeps only the addresses the policy allows.
pub(super) struct Resolver(pub Reach);

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.0.clone();
        Box::pin(async move {
            let address = reach.resolve(name.as_str(), 0).await.map_err(|e| match e {
                ConnectorError::NotAllowed(m) => Box::new(Refused(m)) as BoxError,
                other => BoxError::from(other.to_string()),
            })?;
            let addrs: Addrs = Box::new(std::iter::once(address));
            Ok(addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A name that resolved only to refused addresses, as reqwest carries it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// Refuses a URL whose host is an address the policy refuses.
pub(super) fn check_literal(reach: &Reach, url: &Url) -> Result<(), ConnectorError> {
    literal_ip(url).map_or(Ok(()), |ip| reach.check_ip(ip))
}

/// The URL's host when it is an address rather than a name.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Redirects within the first request's origin, to allowed addresses only.
pub(super) fn redirects(policy: EgressPolicy) -> Policy {
    Policy::custom(move |attempt: Attempt| {
        if let Some(Err(refused)) = literal_ip(attempt.url()).map(|ip| policy.check(ip)) {
            return attempt.error(refused);
        }
        let first = attempt.previous().first().map(Url::origin);
        match first {
            Some(origin) if origin != attempt.url().origin() => attempt.stop(),
            _ if attempt.previous().len() >= 10 => attempt.stop(),
            _ => attempt.follow(),
        }
    })
}

/// A redirect left unfollowed because it leaves the application's origin.
pub(super) fn same_origin(base: &Url, response: &Response) -> Result<(), ConnectorError> {
    if !response.status().is_redirection() {
        return Ok(());
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| response.url().join(l).ok());
    match location {
        Some(to) if to.origin() != base.origin() => Err(ConnectorError::Failed(format!(
            "{} redirected to another server ({}); Canvas does not send an application's \
             credentials to another origin",
            base.origin().ascii_serialization(),
            to.origin().ascii_serialization()
        ))),
        _ => Ok(()),
    }
}

/// The egress refusal inside a reqwest error, when that is what stopped it.
pub(super) fn refusal(error: &reqwest::Error) -> Option<ConnectorError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<EgressRefused>() {
            return Some(not_allowed(refused.clone()));
        }
        if let Some(Refused(message)) = e.downcast_ref::<Refused>() {
            return Some(ConnectorError::NotAllowed(message.clone()));
        }
        cause = e.source();
    }
    None
}
