//! A block's variables, read through the catalog's declarations: one parser
//! for every native block. A read falls back to the declared default, checks
//! the value against the declared type, and says what is wrong naming the
//! variable — a block never guesses at a value of the wrong shape.

use crate::block::BlockError;
use canvas_domain::catalog::{VariableDef, VariableKind};
use serde_json::{Map, Value};
use std::ops::RangeInclusive;

/// The variables of one block of a run, templates already rendered.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: Map<String, Value>,
    declared: Vec<VariableDef>,
}

impl Variables {
    /// `values` as the chain gives them, read by the catalog's `declared` variables.
    pub fn new(values: Map<String, Value>, declared: &[VariableDef]) -> Self {
        Self {
            values,
            declared: declared.to_vec(),
        }
    }

    /// The values as given (for parsers that take the whole set, like a file format).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.values
    }

    /// The given value, else the declared default; `None` when neither (`null` is unset).
    pub fn value(&self, name: &str) -> Option<&Value> {
        let given = self.values.get(name).filter(|v| !v.is_null());
        given.or_else(|| {
            self.declaration(name)
                .map(|d| &d.default)
                .filter(|v| !v.is_null())
        })
    }

    fn declaration(&self, name: &str) -> Option<&VariableDef> {
        self.declared.iter().find(|d| d.name == name)
    }

    /// The value, checked against the declared type (or `kind` when undeclared).
    fn typed(&self, name: &str, kind: VariableKind) -> Result<Option<&Value>, BlockError> {
        let kind = self.declaration(name).map_or(kind, |d| d.kind);
        match self.value(name) {
            Some(v) if !kind.accepts(v) => {
                Err(bad(name, &format!("must be {}, got {v}", kind.name())))
            }
            other => Ok(other),
        }
    }

    /// Text, trimmed; `None` when unset or blank.
    pub fn text(&self, name: &str) -> Result<Option<&str>, BlockError> {
        Ok(self
            .typed(name, VariableKind::String)?
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty()))
    }

    /// Text that must be there.
    pub fn required_text(&self, name: &str) -> Result<&str, BlockError> {
        self.text(name)?.ok_or_else(|| bad(name, "is required"))
    }

    /// A whole number within `range`.
    pub fn whole_number(
        &self,
        name: &str,
        range: RangeInclusive<u64>,
    ) -> Result<Option<u64>, BlockError> {
        let Some(v) = self.typed(name, VariableKind::Number)? else {
            return Ok(None);
        };
        let whole = v.as_u64().filter(|n| range.contains(n));
        let (lo, hi) = (range.start(), range.end());
        whole.map(Some).ok_or_else(|| {
            bad(
                name,
                &format!("must be a whole number from {lo} to {hi}, got {v}"),
            )
        })
    }

    pub fn flag(&self, name: &str) -> Result<Option<bool>, BlockError> {
        Ok(self
            .typed(name, VariableKind::Boolean)?
            .and_then(Value::as_bool))
    }

    /// An array's items; empty when unset.
    pub fn list(&self, name: &str) -> Result<&[Value], BlockError> {
        Ok(self
            .typed(name, VariableKind::Array)?
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice))
    }

    pub fn object(&self, name: &str) -> Result<Option<&Map<String, Value>>, BlockError> {
        Ok(self
            .typed(name, VariableKind::Object)?
            .and_then(Value::as_object))
    }
}

fn bad(name: &str, problem: &str) -> BlockError {
    BlockError::Permanent(format!("variable '{name}' {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> Vec<VariableDef> {
        serde_json::from_value(json!([
            {"name": "table", "type": "string", "required": true},
            {"name": "batchSize", "type": "number", "default": 1000},
            {"name": "keys", "type": "array", "default": []},
        ]))
        .unwrap()
    }

    fn vars(values: Value) -> Variables {
        Variables::new(values.as_object().unwrap().clone(), &declared())
    }

    #[test]
    fn reads_fall_back_to_the_declared_default_and_check_the_declared_type() {
        let v = vars(json!({"table": " orders ", "batchSize": null}));
        assert_eq!(v.required_text("table").unwrap(), "orders");
        assert_eq!(
            v.whole_number("batchSize", 1..=100_000).unwrap(),
            Some(1000)
        );
        assert!(v.list("keys").unwrap().is_empty());

        let wrong = vars(json!({"table": 5, "batchSize": "500"}));
        let e = wrong.text("table").unwrap_err().to_string();
        assert_eq!(e, "variable 'table' must be a string, got 5");
        let e = wrong
            .whole_number("batchSize", 1..=10)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("variable 'batchSize' must be a number"),
            "{e}"
        );
        let e = vars(json!({"batchSize": 0})).whole_number("batchSize", 1..=10);
        assert!(e.unwrap_err().to_string().contains("from 1 to 10, got 0"));
        let e = vars(json!({"table": "  "}))
            .required_text("table")
            .unwrap_err();
        assert_eq!(e.to_string(), "variable 'table' is required");
    }
}
