//! `CANVAS_*` environment variables as a configuration layer. Values are
//! parsed as figment does (numbers, booleans), except secrets, which are
//! taken as the exact text given (`0123` stays `0123`). A variable whose
//! name is neither a key nor close to one (`CANVAS_SERVICE_HOST`, which
//! Kubernetes sets for a Service named canvas) is not configuration and is
//! left alone; a near miss (`CANVAS_WOKERS`) reaches the unknown-key check.

use super::Config;
use figment::error::Kind;
use figment::providers::{Env, Serialized};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

const PREFIX: &str = "CANVAS_";

/// `CANVAS_` variables that are not configuration keys.
const NOT_KEYS: [&str; 2] = ["config", "log"];

/// Keys whose values are secrets: never parsed, never echoed in an error.
pub const SECRET_KEYS: [&str; 5] = [
    "master_key",
    "database_url",
    "smtp.password",
    "blobs.access_key_id",
    "blobs.secret_access_key",
];

/// The layers the environment adds: parsed values, then secrets as text.
pub fn layers() -> (Env, SecretEnv) {
    let known = known_keys();
    let parsed = Env::prefixed(PREFIX).split("__").filter(move |name| {
        let key = name.as_str().to_ascii_lowercase().replace("__", ".");
        let top = key.split('.').next().unwrap_or_default();
        !NOT_KEYS.contains(&top)
            && !key.starts_with("test_")
            && !SECRET_KEYS.contains(&key.as_str())
            && (known.contains(&top) || super::explain::nearest(top, known).is_some())
    });
    (parsed, SecretEnv)
}

/// The configuration's top-level keys as serde knows them: the list an
/// unknown-field error carries, provoked by a key no field can have.
pub fn known_keys() -> &'static [&'static str] {
    let probe = Figment::from(Serialized::default("\u{0}", 0));
    match probe.extract::<Config>().map_err(|e| e.kind) {
        Err(Kind::UnknownField(_, known)) => known,
        _ => &[],
    }
}

/// The secret keys' variables, each value the text as given.
pub struct SecretEnv;

impl Provider for SecretEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_: &Profile, keys: &[&str]| {
            format!("{PREFIX}{}", keys.join("__").to_uppercase())
        })
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        let mut top = Dict::new();
        for key in SECRET_KEYS {
            let name = format!("{PREFIX}{}", key.replace('.', "__").to_uppercase());
            let Ok(text) = std::env::var(&name) else {
                continue;
            };
            match key.split_once('.') {
                None => {
                    top.insert(key.into(), Value::from(text));
                }
                Some((table, field)) => {
                    let entry = top
                        .entry(table.into())
                        .or_insert_with(|| Value::from(Dict::new()));
                    if let Value::Dict(_, dict) = entry {
                        dict.insert(field.into(), Value::from(text));
                    }
                }
            }
        }
        Ok(Profile::Default.collect(top))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_keys_are_the_configurations_fields() {
        let known = known_keys();
        for key in ["listen", "workers", "master_key", "smtp", "blobs"] {
            assert!(known.contains(&key), "{key} in {known:?}");
        }
    }
}
