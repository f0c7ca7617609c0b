//! Client addresses and IP allow-lists.

use ipnet::IpNet;
use std::net::IpAddr;

/// An organization's allow-list; empty means every address is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a CIDR range or IP address (expected e.g. 10.0.0.0/8 or 2001:db8::/32)")]
pub struct BadCidr(pub String);

impl AllowList {
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, BadCidr> {
        items
            .iter()
            .map(|s| parse_net(s.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.is_empty() || self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// An IPv4 client seen through an IPv6 socket counts as its IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn parse_net(s: &str) -> Result<IpNet, BadCidr> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| BadCidr(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_match_v4_v6_and_mapped_addresses() {
        let list = AllowList::parse(&["10.1.0.0/16", "2001:db8::/32", "192.0.2.7"]).unwrap();
        assert!(list.allows("10.1.2.3".parse().unwrap()));
        assert!(list.allows("::ffff:10.1.2.3".parse().unwrap()));
        assert!(list.allows("2001:db8::1".parse().unwrap()));
        assert!(list.allows("192.0.2.7".parse().unwrap()));
        assert!(!list.allows("10.2.0.1".parse().unwrap()));
        assert!(AllowList::default().allows("8.8.8.8".parse().unwrap()));
        assert!(AllowList::parse(&["10.0.0.0/33"]).is_err());
    }
}
