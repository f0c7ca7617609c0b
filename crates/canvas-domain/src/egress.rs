//! Where connectors may go. Tenants name the hosts Canvas connects to, so
//! by default nothing of the server's own network is reachable: loopback,
//! private, link-local (cloud metadata), shared, multicast and reserved
//! addresses are refused in every spelling (an IPv4-mapped IPv6 address
//! is its IPv4 address). An operator opens ranges with `[egress] allow`.

use crate::net::{AllowList, BadCidr, canonical};
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::LazyLock;

/// Ranges refused unless allowed (RFC 6890's special-purpose registries).
const INTERNAL: [&str; 28] = [
    "0.0.0.0/8",       // "this network", unspecified
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // shared (carrier-grade NAT)
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local: cloud metadata lives here
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation
    "203.0.113.0/24",  // documentation
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, broadcast
    "::/128",          // unspecified
    "::1/128",         // loopback
    "64:ff9b::/96",    // NAT64: IPv4 inside, internal ones included
    "64:ff9b:1::/48",  // local NAT64
    "2002::/16",       // 6to4: IPv4 inside
    "2001::/32",       // Teredo
    "::ffff:0:0:0/96", // IPv4-translated
    "100::/64",        // discard-only
    "fec0::/10",       // site-local (deprecated)
    "192.88.99.0/24",  // 6to4 relay anycast
    "fc00::/7",        // unique local (private)
    "fe80::/10",       // link-local
    "ff00::/8",        // multicast
    "2001:db8::/32",   // documentation
];

static INTERNAL_NETS: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    INTERNAL
        .iter()
        .map(|n| n.parse().expect("a valid range"))
        .collect()
});

/// The addresses connectors may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Internal ranges an operator opened; empty opens none.
    allowed: Vec<IpNet>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "address {0} is not allowed for connectors (an internal address); an operator can allow it with [egress] allow"
)]
pub struct EgressRefused(pub IpAddr);

impl EgressPolicy {
    /// The policy with `allow` (CIDR ranges or addresses) opened.
    pub fn allowing<S: AsRef<str>>(allow: &[S]) -> Result<Self, BadCidr> {
        let list = AllowList::parse(allow)?;
        let allowed = list
            .to_strings()
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        Ok(Self { allowed })
    }

    /// Whether a connector may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), EgressRefused> {
        let ip = canonical(ip);
        let internal = match ip {
            IpAddr::V6(v6) if v6.to_ipv4().is_some() && v6.segments()[..6] == [0; 6] => true, // ::a.b.c.d (deprecated IPv4-compatible)
            _ => INTERNAL_NETS.iter().any(|n| n.contains(&ip)),
        };
        if internal && !self.allowed.iter().any(|n| n.contains(&ip)) {
            return Err(EgressRefused(ip));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &EgressPolicy, ip: &str) -> bool {
        policy.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        let policy = EgressPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2001::1",
            "fec0::1",
        ] {
            assert!(refused(&policy, ip), "{ip} is internal");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(&policy, ip), "{ip} is public");
        }
    }

    #[test]
    fn an_operator_opens_internal_ranges_one_by_one() {
        let policy = EgressPolicy::allowing(&["127.0.0.0/8", "10.20.0.0/16"]).unwrap();
        assert!(!refused(&policy, "127.0.0.1") && !refused(&policy, "::ffff:127.0.0.1"));
        assert!(!refused(&policy, "10.20.3.4"));
        assert!(refused(&policy, "10.21.0.1") && refused(&policy, "169.254.169.254"));
        let e = policy
            .check("10.21.0.1".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("address 10.21.0.1 is not allowed for connectors"),
            "{e}"
        );
    }
}
