//! Accounts, roles and the values an account is made of.

use std::fmt;
use std::str::FromStr;
use uuid::{Uuid, uuid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRole {
    Admin,
    SuperPartner,
    User,
}

impl AccountRole {
    pub const ALL: [AccountRole; 3] = [Self::Admin, Self::SuperPartner, Self::User];

    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "Admin",
            Self::SuperPartner => "SuperPartner",
            Self::User => "User",
        }
    }

    /// The role ids of the original service (Admin and User from the seed).
    pub fn id(self) -> Uuid {
        match self {
            Self::Admin => uuid!("9c525665-df99-4aee-9e52-1a55853db03b"),
            Self::SuperPartner => uuid!("5b0b7a3e-0f7e-4c1e-9a57-2f4b1c6d8e21"),
            Self::User => uuid!("349889ad-4277-42d0-a268-5cd27230cfc5"),
        }
    }

    /// Admins and partners manage their organization and every one below it.
    pub fn manages_organization_tree(self) -> bool {
        matches!(self, Self::Admin | Self::SuperPartner)
    }

    /// Whether a key of this role may act (`ManagedAccountId`) as an account
    /// of `target`'s role: acting never raises a key above its own role
    /// (User < SuperPartner < Admin), so a SuperPartner may not act as an
    /// Admin. The tree rule (own organization and below) comes on top.
    pub fn may_act_as(self, target: AccountRole) -> bool {
        let rank = |r: AccountRole| match r {
            Self::User => 0,
            Self::SuperPartner => 1,
            Self::Admin => 2,
        };
        self.manages_organization_tree() && rank(target) <= rank(self)
    }
}

impl fmt::Display for AccountRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role '{0}': expected Admin, SuperPartner or User")]
pub struct UnknownRole(pub String);

impl FromStr for AccountRole {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// A syntactically valid email address, kept as given; compared
/// case-insensitively through [`Email::normalized`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("must not be empty")]
    Empty,
    #[error("'{0}' is not an email address: expected name@domain")]
    Malformed(String),
}

/// The domain of the address `canvas init` gives an Admin when none is
/// given: `.local` is never delivered, so mail to it is refused up front.
pub const PLACEHOLDER_EMAIL_DOMAIN: &str = "canvas.local";

impl Email {
    /// `admin+<id>@canvas.local`, for an Admin made without an address.
    pub fn placeholder(id: &str) -> Self {
        Self(format!("admin+{id}@{PLACEHOLDER_EMAIL_DOMAIN}"))
    }

    /// Whether an address is such a placeholder (no mail can reach it).
    pub fn is_placeholder(address: &str) -> bool {
        address
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(PLACEHOLDER_EMAIL_DOMAIN))
    }

    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        let malformed = || EmailError::Malformed(s.to_string());
        let (local, domain) = s.rsplit_once('@').ok_or_else(malformed)?;
        let bad_domain = domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.');
        if local.is_empty() || bad_domain || s.len() > 254 || s.chars().any(char::is_whitespace) {
            return Err(malformed());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key used for uniqueness: addresses differ only when they differ
    /// beyond letter case.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_placeholder_address_is_valid_and_known_as_a_placeholder() {
        let placeholder = Email::placeholder("0b9e4c1d2a3f");
        assert!(Email::parse(placeholder.as_str()).is_ok());
        assert!(Email::is_placeholder(placeholder.as_str()));
        assert!(!Email::is_placeholder("ops@acme.example"));
        assert!(!Email::is_placeholder("ops@canvas.local.example"));
    }

    #[test]
    fn roles_parse_case_insensitively_and_reject_unknown_names() {
        assert_eq!("superpartner".parse(), Ok(AccountRole::SuperPartner));
        assert!("Owner".parse::<AccountRole>().is_err());
    }

    #[test]
    fn emails_accept_unicode_domains_and_reject_malformed_ones() {
        assert!(Email::parse("john.smmet@сompany.com").is_ok());
        for bad in ["", "no-at", "a@b", "@x.com", "a b@x.com", "a@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Email::parse("A@X.com").unwrap().normalized(), "a@x.com");
    }
}
