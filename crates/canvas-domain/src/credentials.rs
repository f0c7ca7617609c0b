//! `credentialsJson` checked against an application's credential fields.

use crate::catalog::{CredentialField, FieldKind};
use serde_json::{Map, Value};

/// Credentials that passed their application's field rules. The values are
/// secret: this type never prints them.
#[derive(Clone, PartialEq)]
pub struct Credentials(Map<String, Value>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} fields, redacted)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("credentialsJson: is not valid JSON ({0})")]
    NotJson(String),
    #[error("credentialsJson: must be a JSON object of credential fields")]
    NotObject,
    /// The seed's `Authentication Error: ...` lines, in field order.
    #[error("Authentication Error: {}", .0.join("\n"))]
    Invalid(Vec<String>),
}

impl Credentials {
    pub fn validate(fields: &[CredentialField], raw: &str) -> Result<Self, CredentialsError> {
        let value: Value =
            serde_json::from_str(raw).map_err(|e| CredentialsError::NotJson(e.to_string()))?;
        let Value::Object(given) = value else {
            return Err(CredentialsError::NotObject);
        };
        let mut problems = Vec::new();
        let mut out = Map::new();
        for field in fields {
            match check_field(field, given.get(&field.short_name)) {
                Ok(Some(v)) => {
                    out.insert(field.short_name.clone(), v);
                }
                Ok(None) => {}
                Err(p) => problems.push(p),
            }
        }
        for key in given
            .keys()
            .filter(|k| !fields.iter().any(|f| &f.short_name == *k))
        {
            let known: Vec<&str> = fields.iter().map(|f| f.short_name.as_str()).collect();
            problems.push(format!(
                "Unknown field '{key}'; expected one of: {}.",
                known.join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(Self(out))
        } else {
            Err(CredentialsError::Invalid(problems))
        }
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.0.get(key).and_then(Value::as_i64)
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.0.get(key).and_then(Value::as_bool)
    }

    /// Credentials as stored (decrypted): they passed `validate` when registered.
    pub fn from_stored_json(json: &str) -> Option<Self> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => Some(Self(map)),
            _ => None,
        }
    }

    /// The serialized form, to be encrypted before it is stored.
    pub fn to_secret_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

fn check_field(field: &CredentialField, v: Option<&Value>) -> Result<Option<Value>, String> {
    let name = &field.name;
    if is_blank(v) {
        if field.optional || field.kind == FieldKind::Checkbox {
            return Ok(None);
        }
        return Err(format!("You must enter a value for {name}."));
    }
    let v = v.expect("not blank");
    match field.kind {
        FieldKind::Text | FieldKind::Password => match v {
            Value::String(s) => Ok(Some(Value::String(s.clone()))),
            Value::Number(n) => Ok(Some(Value::String(n.to_string()))),
            _ => Err(format!("{name} must be text.")),
        },
        FieldKind::Number => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            n.map(|n| Some(Value::from(n)))
                .ok_or_else(|| format!("{name} must be a whole number."))
        }
        FieldKind::Checkbox => match v {
            Value::Bool(b) => Ok(Some(Value::Bool(*b))),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(format!("{name} must be true or false.")),
        },
        FieldKind::Select => {
            let keys = field.option_keys();
            match v.as_str().map(str::trim) {
                Some(s) if keys.contains(&s) => Ok(Some(Value::String(s.to_string()))),
                _ => Err(format!("{name} must be one of: {}.", keys.join(", "))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(short: &str, name: &str, kind: FieldKind, optional: bool) -> CredentialField {
        CredentialField {
            short_name: short.into(),
            name: name.into(),
            kind,
            value: String::new(),
            options: (kind == FieldKind::Select)
                .then(|| "live|Live Environment,test|Test Environment".into()),
            optional,
            desc: String::new(),
            hidden: false,
        }
    }

    #[test]
    fn missing_fields_give_one_line_each_in_field_order() {
        let fields = [
            field("username", "User name", FieldKind::Text, false),
            field("password", "Password", FieldKind::Password, false),
            field("port", "Port", FieldKind::Number, false),
        ];
        let err = Credentials::validate(
            &fields,
            r#"{"username": null, "password": "", "port": null}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Authentication Error: You must enter a value for User name.\nYou must enter a value for Password.\nYou must enter a value for Port."
        );
    }

    #[test]
    fn types_and_options_are_checked_and_normalized() {
        let fields = [
            field("port", "Port", FieldKind::Number, false),
            field("env", "Environment", FieldKind::Select, false),
        ];
        let ok = Credentials::validate(&fields, r#"{"port": "21", "env": "test"}"#).unwrap();
        assert_eq!(ok.get_i64("port"), Some(21));
        let err = Credentials::validate(&fields, r#"{"port": "x", "env": "prod", "extra": 1}"#)
            .unwrap_err();
        let CredentialsError::Invalid(lines) = err else {
            panic!()
        };
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("live, test"));
        assert!(matches!(
            Credentials::validate(&fields, "[1]"),
            Err(CredentialsError::NotObject)
        ));
        assert!(matches!(
            Credentials::validate(&fields, "{"),
            Err(CredentialsError::NotJson(_))
        ));
    }
}
