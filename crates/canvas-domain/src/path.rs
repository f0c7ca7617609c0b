//! One field-path syntax wherever a record's field is named: Map's
//! `fields`, Filter's `field`, the Format blocks' content `field`, HTTP's
//! `recordsPath` and its `{{field}}` placeholders. `a.b.c` reaches into
//! nested objects and a number into an array (`items.0.name`); JSONPath's
//! root (`$`, `$.`) may lead; an empty path (or `$`) is the value itself.

use serde_json::Value;

/// The value at `path` in `value`, if there is one.
pub fn field<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    let path = path
        .strip_prefix("$.")
        .or_else(|| path.strip_prefix('$'))
        .unwrap_or(path);
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, key| match v {
        Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        other => other.get(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_into_objects_and_arrays_from_an_optional_root() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": 2}]}, "0": "key", "x.y": 3});
        assert_eq!(field(&v, "a.b.1.c"), Some(&json!(2)));
        assert_eq!(field(&v, "$.a.b.0.c"), Some(&json!(1)));
        assert_eq!(field(&v, " a.b "), Some(&json!([{"c": 1}, {"c": 2}])));
        assert_eq!(
            field(&v, "0"),
            Some(&json!("key")),
            "an object's key may be a number"
        );
        assert_eq!(field(&v, "$"), Some(&v));
        assert_eq!(field(&v, ""), Some(&v));
        assert_eq!(field(&v, "a.b.9.c"), None);
        assert_eq!(field(&v, "a.b.first"), None);
        assert_eq!(field(&v, "x.y"), None, "a dot always descends");
    }
}
