//! Built-in utility blocks: map/rename fields, filter records, parse and
//! format CSV and JSON. They need no application, run in-process, and go
//! batch by batch: memory holds one batch (the Format blocks, which make one
//! file of their whole input, hold that file).

use crate::block::{BlockContext, BlockError, BlockFuture, NativeBlock};
use crate::datasets::{RecordReader, RecordWriter};
use canvas_domain::catalog::{BlockDef, VariableDef};
use serde_json::{Map, Value};
use std::sync::Arc;

type Res<T> = Result<T, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Map,
    Filter,
    ParseCsv,
    FormatCsv,
    ParseJson,
    FormatJson,
}

impl Kind {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "Map fields" => Self::Map,
            "Filter records" => Self::Filter,
            "Parse CSV" => Self::ParseCsv,
            "Format CSV" => Self::FormatCsv,
            "Parse JSON" => Self::ParseJson,
            "Format JSON" => Self::FormatJson,
            _ => return None,
        })
    }
}

struct Utility {
    def: &'static BlockDef,
    kind: Kind,
}

/// Every utility block the catalog lists.
pub fn blocks() -> Vec<Arc<dyn NativeBlock>> {
    canvas_catalog::Catalog::builtin()
        .utility_blocks()
        .iter()
        .filter_map(|def| {
            let kind = Kind::of(&def.name)?;
            Some(Arc::new(Utility { def, kind }) as Arc<dyn NativeBlock>)
        })
        .collect()
}

impl NativeBlock for Utility {
    fn name(&self) -> &str {
        &self.def.name
    }

    fn variables(&self) -> &[VariableDef] {
        &self.def.variables
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            match self.kind {
                Kind::FormatCsv | Kind::FormatJson => {
                    let mut file = FileFormatter::new(self.kind, &cx.variables)
                        .map_err(BlockError::Permanent)?;
                    while let Some(values) = input.next_values().await? {
                        cx.cancel.check()?;
                        file.add(&values).map_err(BlockError::Permanent)?;
                    }
                    let record = file.finish().map_err(BlockError::Permanent)?;
                    let default = if self.kind == Kind::FormatCsv {
                        "data.csv"
                    } else {
                        "data.json"
                    };
                    let name = text(&cx.variables, "fileName", default).to_string();
                    crate::datasets::check_file_name(&name)
                        .map_err(|e| BlockError::Permanent(format!("variable 'fileName': {e}")))?;
                    let content = record["content"].as_str().unwrap_or_default().to_string();
                    output.put_file(&name, content.into()).await?;
                    output.write_values(&[record]).await?;
                }
                kind => {
                    let mut first = 1;
                    while let Some(values) = input.next_values().await? {
                        cx.cancel.check()?;
                        let n = values.len();
                        let out = per_batch(kind, &cx.variables, values, first)
                            .map_err(BlockError::Permanent)?;
                        output.write_values(&out).await?;
                        first += n;
                    }
                }
            }
            Ok(())
        })
    }
}

/// One batch through a record-by-record block; `first` numbers its first record in messages.
fn per_batch(
    kind: Kind,
    vars: &Map<String, Value>,
    input: Vec<Value>,
    first: usize,
) -> Res<Vec<Value>> {
    match kind {
        Kind::Map => map_fields(vars, input),
        Kind::Filter => filter(vars, input),
        Kind::ParseCsv => parse_csv(vars, input, first),
        Kind::ParseJson => parse_json(vars, input, first),
        Kind::FormatCsv | Kind::FormatJson => {
            Err("a Format block makes one file of its whole input".into())
        }
    }
}

/// The Format blocks: the whole input as one file in one record's `content`.
enum FileFormatter {
    Csv {
        writer: Box<csv::Writer<Vec<u8>>>,
        headers: Option<Vec<String>>,
    },
    Json(String),
}

impl FileFormatter {
    fn new(kind: Kind, vars: &Map<String, Value>) -> Res<Self> {
        Ok(if kind == Kind::FormatCsv {
            let writer = csv::WriterBuilder::new()
                .delimiter(delimiter(vars)?)
                .from_writer(Vec::new());
            Self::Csv {
                writer: Box::new(writer),
                headers: None,
            }
        } else {
            Self::Json(String::from("["))
        })
    }

    fn add(&mut self, records: &[Value]) -> Res<()> {
        match self {
            Self::Csv { writer, headers } => {
                for record in records {
                    let headers = headers.get_or_insert_with(|| {
                        let names: Vec<String> = record
                            .as_object()
                            .map(|m| m.keys().cloned().collect())
                            .unwrap_or_default();
                        if !names.is_empty() {
                            let _ = writer.write_record(&names);
                        }
                        names
                    });
                    let row: Vec<String> = headers
                        .iter()
                        .map(|h| record.get(h).map(plain).unwrap_or_default())
                        .collect();
                    writer.write_record(&row).map_err(|e| e.to_string())?;
                }
            }
            Self::Json(text) => {
                for record in records {
                    if text.len() > 1 {
                        text.push(',');
                    }
                    text.push_str(&record.to_string());
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Res<Value> {
        let content = match self {
            Self::Csv { writer, .. } => {
                let bytes = writer.into_inner().map_err(|e| e.to_string())?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Self::Json(mut text) => {
                text.push(']');
                text
            }
        };
        Ok(serde_json::json!({ "content": content }))
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

fn parse_csv(vars: &Map<String, Value>, input: Vec<Value>, first: usize) -> Res<Vec<Value>> {
    let field = text(vars, "field", "content");
    let delimiter = delimiter(vars)?;
    let mut out = Vec::new();
    for (i, record) in input.iter().enumerate() {
        let csv_text = at(record, field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("record {}: field '{field}' is not text", i + first))?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(csv_text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| format!("record {}: {e}", i + first))?
            .clone();
        for row in reader.records() {
            let row = row.map_err(|e| format!("record {}: {e}", i + first))?;
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

fn parse_json(vars: &Map<String, Value>, input: Vec<Value>, first: usize) -> Res<Vec<Value>> {
    let field = text(vars, "field", "content");
    let mut out = Vec::new();
    for (i, record) in input.iter().enumerate() {
        let json_text = at(record, field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("record {}: field '{field}' is not text", i + first))?;
        match serde_json::from_str(json_text).map_err(|e| format!("record {}: {e}", i + first))? {
            Value::Array(items) => out.extend(items),
            Value::Object(o) => out.push(Value::Object(o)),
            _ => {
                return Err(format!(
                    "record {}: the JSON is neither an array nor an object",
                    i + first
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

    /// A whole input as one batch through the block `name`.
    fn run(name: &str, vars: &Map<String, Value>, input: Vec<Value>) -> Res<Vec<Value>> {
        match Kind::of(name).unwrap() {
            kind @ (Kind::FormatCsv | Kind::FormatJson) => {
                let mut file = FileFormatter::new(kind, vars)?;
                file.add(&input)?;
                Ok(vec![file.finish()?])
            }
            kind => per_batch(kind, vars, input, 1),
        }
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
