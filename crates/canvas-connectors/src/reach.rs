//! How a connector reaches a tenant's host: within a time limit, and only
//! at addresses the egress policy allows. The policy is applied to the
//! resolved address that is then connected to, so a name cannot resolve to
//! an allowed address for the check and an internal one for the connection.

use crate::ConnectorError;
use canvas_domain::egress::{EgressPolicy, EgressRefused};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Reach {
    /// How long connecting and logging in may take.
    pub timeout: Duration,
    pub egress: EgressPolicy,
}

impl Reach {
    /// The first address of `host` the policy allows. A refused address is
    /// never connected to, so the answer says nothing of its open ports.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, ConnectorError> {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let found = tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| {
                ConnectorError::Unreachable(format!("{host}: the name did not resolve in time"))
            })?
            .map_err(|e| {
                ConnectorError::Unreachable(format!("{host}: the name does not resolve ({e})"))
            })?;
        let mut refused = None;
        for address in found {
            match self.egress.check(address.ip()) {
                Ok(()) => return Ok(address),
                Err(e) => refused = refused.or(Some(e)),
            }
        }
        Err(match refused {
            Some(e) => not_allowed(e),
            None => ConnectorError::Unreachable(format!("{host}: the name has no address")),
        })
    }

    /// Refuses an address given literally (not resolved), e.g. a URL's host.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ConnectorError> {
        self.egress.check(ip).map_err(not_allowed)
    }
}

pub(crate) fn not_allowed(e: EgressRefused) -> ConnectorError {
    ConnectorError::NotAllowed(e.to_string())
}
