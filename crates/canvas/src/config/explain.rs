//! Configuration errors in one line: the place the value came from (a key
//! of the file, an environment variable, a flag), the value, and what was
//! expected — never a source location of Canvas's own code.

use figment::error::{Actual, Kind};
use figment::{Figment, Profile};

/// `where: problem` for a key the configuration holds.
pub fn at(figment: &Figment, key: &str, problem: &str) -> String {
    format!("{}: {problem}", place(figment, key))
}

/// The first of figment's errors, said plainly.
pub fn figment_error(figment: &Figment, error: figment::Error) -> String {
    // For an unknown key, figment's path already ends with it.
    let path = &error.path;
    let problem = match &error.kind {
        Kind::UnknownField(key, known) => unknown_key(key, known),
        Kind::UnknownVariant(found, known) => {
            format!("'{found}' is not one of {}", known.join(", "))
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            let shown = match super::env::SECRET_KEYS.contains(&path.join(".").as_str()) {
                true => "a value".to_string(),
                false => value(actual),
            };
            format!("{shown} where {} was expected", expected_text(expected))
        }
        Kind::Message(message) => message.clone(),
        other => other.to_string(),
    };
    if path.is_empty() {
        return match &error.metadata {
            Some(md) => format!("{}: {problem}", source_name(md)),
            None => problem,
        };
    }
    at(figment, &path.join("."), &problem)
}

/// `canvas.toml: workers`, `CANVAS_WORKERS`, `--listen`.
fn place(figment: &Figment, key: &str) -> String {
    let keys: Vec<&str> = key.split('.').collect();
    let Some(md) = figment.find_metadata(key) else {
        return key.to_string();
    };
    match &md.source {
        Some(figment::Source::File(path)) => format!("{}: {key}", path.display()),
        // The built-in defaults: the key is all there is to name.
        Some(figment::Source::Code(_)) => key.to_string(),
        _ if md.name.contains("environment") => {
            format!("CANVAS_{}", keys.join("__").to_uppercase())
        }
        _ => md.interpolate(&Profile::Default, &keys),
    }
}

fn source_name(md: &figment::Metadata) -> String {
    match &md.source {
        Some(figment::Source::File(path)) => path.display().to_string(),
        _ => md.name.to_string(),
    }
}

fn unknown_key(key: &str, known: &[&str]) -> String {
    match nearest(key, known) {
        Some(near) => format!("unknown key '{key}'; did you mean '{near}'?"),
        None => format!(
            "unknown key '{key}'; the known keys are {}",
            known.join(", ")
        ),
    }
}

/// The known key closest to a mistyped one, when it is close enough to be meant.
pub fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let (distance, near) = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .min()?;
    (distance <= (key.len() / 3).max(2)).then_some(near)
}

fn value(actual: &Actual) -> String {
    match actual {
        Actual::Str(s) => format!("'{s}'"),
        Actual::Signed(n) => n.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Bool(b) => b.to_string(),
        other => format!("{other}"),
    }
}

/// serde's names of Rust types, said as a configuration's reader knows them.
fn expected_text(expected: &str) -> &str {
    match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number (0 or more)",
        "a boolean" | "bool" => "true or false",
        "a string" => "text",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_key_suggests_the_nearest_known_one() {
        let known = ["workers", "lease_secs", "listen"];
        assert_eq!(nearest("wokers", &known), Some("workers"));
        assert_eq!(nearest("lease_sec", &known), Some("lease_secs"));
        assert_eq!(nearest("database", &known), None);
    }
}
