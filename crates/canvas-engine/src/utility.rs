//! Built-in utility blocks: map/rename fields, filter records, parse and
//! format CSV and JSON. They need no application and run in-process.

use serde_json::{Map, Value};

type Res<T> = Result<T, String>;

pub fn run(name: &str, vars: &Map<String, Value>, input: Vec<Value>) -> Res<Vec<Value>> {
    match name {
        "Map fields" => map_fields(vars, input),
        "Filter records" => filter(vars, input),
        "Parse CSV" => parse_csv(vars, input),
        "Format CSV" => format_csv(vars, &input),
        "Parse JSON" => parse_json(vars, input),
        "Format JSON" => Ok(vec![
            serde_json::json!({ "content": Value::Array(input).to_string() }),
        ]),
        other => Err(format!("'{other}' is not a utility block")),
    }
}

fn text<'a>(vars: &'a Map<String, Value>, name: &str, default: &'a str) -> &'a str {
    vars.get(name).and_then(Value::as_str).unwrap_or(default)
}

/// A field by path: `a.b.c` reaches into nested objects.
fn at<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(record, |v, key| v.get(key))
}

fn map_fields(vars: &Map<String, Value>, input: Vec<Value>) -> Res<Vec<Value>> {
    let fields = vars
        .get("fields")
        .and_then(Value::as_object)
        .ok_or("variable 'fields' must be an object of output name → input field")?;
    let keep = vars
        .get("keepOthers")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(input
        .into_iter()
        .map(|record| {
            let mut out = match (&record, keep) {
                (Value::Object(m), true) => m.clone(),
                _ => Map::new(),
            };
            for (name, source) in fields {
                let value = source
                    .as_str()
                    .and_then(|p| at(&record, p))
                    .cloned()
                    .unwrap_or(Value::Null);
                out.insert(name.clone(), value);
            }
            Value::Object(out)
        })
        .collect())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn filter(vars: &Map<String, Value>, input: Vec<Value>) -> Res<Vec<Value>> {
    let field = vars
        .get("field")
        .and_then(Value::as_str)
        .ok_or("variable 'field' is required")?
        .to_string();
    let op = text(vars, "operator", "equals").to_string();
    let wanted = vars.get("value").cloned().unwrap_or(Value::Null);
    let test = |v: Option<&Value>| -> Res<bool> {
        let present = v.is_some_and(|v| !v.is_null());
        let v = v.unwrap_or(&Value::Null);
        let cmp = || match (number(v), number(&wanted)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(plain(v).cmp(&plain(&wanted))),
        };
        Ok(match op.as_str() {
            "equals" => cmp() == Some(std::cmp::Ordering::Equal),
            "notEquals" => cmp() != Some(std::cmp::Ordering::Equal),
            "contains" => match v {
                Value::Array(items) => items.iter().any(|i| plain(i) == plain(&wanted)),
                other => plain(other).contains(&plain(&wanted)),
            },
            "greaterThan" => cmp() == Some(std::cmp::Ordering::Greater),
            "lessThan" => cmp() == Some(std::cmp::Ordering::Less),
            "exists" => present,
            "notExists" => !present,
            other => {
                return Err(format!(
                    "operator '{other}' is not one of equals, notEquals, contains, greaterThan, lessThan, exists, notExists"
                ));
            }
        })
    };
    let mut out = Vec::new();
    for record in input {
        if test(at(&record, &field))? {
            out.push(record);
        }
    }
    Ok(out)
}

fn delimiter(vars: &Map<String, Value>) -> Res<u8> {
    match text(vars, "delimiter", ",").as_bytes() {
        [d] => Ok(*d),
        _ => Err("variable 'delimiter' must be one character".into()),
    }
}

fn parse_csv(vars: &Map<String, Value>, input: Vec<Value>) -> Res<Vec<Value>> {
    let field = text(vars, "field", "content");
    let delimiter = delimiter(vars)?;
    let mut out = Vec::new();
    for (i, record) in input.iter().enumerate() {
        let csv_text = at(record, field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("record {}: field '{field}' is not text", i + 1))?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(csv_text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| format!("record {}: {e}", i + 1))?
            .clone();
        for row in reader.records() {
            let row = row.map_err(|e| format!("record {}: {e}", i + 1))?;
            let object: Map<String, Value> = headers
                .iter()
                .zip(row.iter())
                .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
                .collect();
            out.push(Value::Object(object));
        }
    }
    Ok(out)
}

fn format_csv(vars: &Map<String, Value>, input: &[Value]) -> Res<Vec<Value>> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter(vars)?)
        .from_writer(Vec::new());
    let headers: Vec<String> = input
        .first()
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if !headers.is_empty() {
        writer.write_record(&headers).map_err(|e| e.to_string())?;
    }
    for record in input {
        let row: Vec<String> = headers
            .iter()
            .map(|h| record.get(h).map(plain).unwrap_or_default())
            .collect();
        writer.write_record(&row).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    Ok(vec![
        serde_json::json!({ "content": String::from_utf8_lossy(&bytes) }),
    ])
}

fn parse_json(vars: &Map<String, Value>, input: Vec<Value>) -> Res<Vec<Value>> {
    let field = text(vars, "field", "content");
    let mut out = Vec::new();
    for (i, record) in input.iter().enumerate() {
        let json_text = at(record, field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("record {}: field '{field}' is not text", i + 1))?;
        match serde_json::from_str(json_text).map_err(|e| format!("record {}: {e}", i + 1))? {
            Value::Array(items) => out.extend(items),
            Value::Object(o) => out.push(Value::Object(o)),
            _ => {
                return Err(format!(
                    "record {}: the JSON is neither an array nor an object",
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn map_and_filter_reshape_records() {
        let input = vec![
            json!({"id": 1, "who": {"name": "ada"}, "age": "36"}),
            json!({"id": 2, "who": {"name": "bob"}, "age": 17}),
        ];
        let mapped = run(
            "Map fields",
            &vars(json!({"fields": {"name": "who.name", "key": "id"}})),
            input.clone(),
        )
        .unwrap();
        assert_eq!(
            mapped,
            vec![
                json!({"name": "ada", "key": 1}),
                json!({"name": "bob", "key": 2})
            ]
        );
        let adults = run(
            "Filter records",
            &vars(json!({"field": "age", "operator": "greaterThan", "value": "18"})),
            input,
        )
        .unwrap();
        assert_eq!(adults.len(), 1);
        assert!(
            run(
                "Filter records",
                &vars(json!({"field": "age", "operator": "like"})),
                vec![json!({})]
            )
            .unwrap_err()
            .contains("operator 'like'")
        );
    }

    #[test]
    fn csv_and_json_round_trip() {
        let records = vec![json!({"a": "1", "b": "x, y"}), json!({"a": "2", "b": "z"})];
        let csv = run("Format CSV", &Map::new(), records.clone()).unwrap();
        assert_eq!(csv[0]["content"], "a,b\n1,\"x, y\"\n2,z\n");
        assert_eq!(run("Parse CSV", &Map::new(), csv).unwrap(), records);
        let json_text = run("Format JSON", &Map::new(), records.clone()).unwrap();
        assert_eq!(run("Parse JSON", &Map::new(), json_text).unwrap(), records);
        let bad = run(
            "Parse CSV",
            &Map::new(),
            vec![json!({"content": "a,b\n1,2,3\n"})],
        )
        .unwrap_err();
        assert!(bad.starts_with("record 1: "), "{bad}");
    }
}
