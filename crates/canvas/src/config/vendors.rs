//! `[vendors.<SHORT>] base_url` (`CANVAS_VENDORS__<SHORT>__BASE_URL`):
//! where this deployment reaches a vendor's API instead of its production
//! base — a sandbox, a test tenant, a stand-in.

use canvas_connectors::VendorBases;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorConfig {
    pub base_url: String,
}

/// The bases by vendor short name (upper case), each checked; a mistake is
/// `(key, problem)`.
pub fn bases(vendors: &BTreeMap<String, VendorConfig>) -> Result<VendorBases, (String, String)> {
    let known = canvas_connectors::vendor_short_names();
    let mut bases = VendorBases::new();
    for (name, vendor) in vendors {
        let short = name.to_ascii_uppercase();
        if !known.contains(&short) {
            let problem = format!(
                "not a vendor application Canvas reaches; expected one of {}",
                known.join(", ")
            );
            return Err((format!("vendors.{name}"), problem));
        }
        let base = canvas_connectors::vendor_base(&vendor.base_url)
            .map_err(|problem| (format!("vendors.{name}.base_url"), problem))?;
        bases.insert(short, base);
    }
    Ok(bases)
}
