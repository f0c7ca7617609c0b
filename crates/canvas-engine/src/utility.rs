//! Built-in utility blocks: map/rename fields, filter records, parse and
//! format CSV and JSON (through `canvas-formats`, as the connectors' files). They need no application, run in-process, and go
//! batch by batch: memory holds one batch (the Format blocks, which make one
//! file of their whole input, stream it to the store in parts).

use canvas_blocks::{BlockContext, BlockError, BlockFuture, NativeBlock};
use canvas_blocks::{RecordReader, RecordWriter};
use canvas_domain::catalog::BlockDef;
use canvas_formats::{CsvOptions, FileFormat};
use serde_json::{Map, Value, json};
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
/// The built-in utility blocks, registered under no application.
pub fn builtin_blocks() -> canvas_blocks::NativeBlocks {
    let mut registry = canvas_blocks::NativeBlocks::default();
    for block in blocks() {
        registry.add("", block);
    }
    registry
}

fn blocks() -> Vec<Arc<dyn NativeBlock>> {
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

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            match self.kind {
                Kind::FormatCsv | Kind::FormatJson => {
                    format_file(self.kind, cx, input, output).await?;
                }
                kind => {
                    let mut first = 1;
                    while let Some(values) = input.next_values().await? {
                        cx.cancel.check()?;
                        let n = values.len();
                        let out = per_batch(kind, cx.variables.raw(), values, first)
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

/// A Format block's file is carried in its record's `content` up to this
/// size; a larger one is only the stored file (the record says its name).
const CONTENT_IN_RECORD_MAX: usize = 1 << 20;

/// A Format block: its whole input as one file, streamed to the store as
/// it is made (memory holds a batch and a part, whatever the file's size),
/// then one record — the file's `content` when small, else its name and size.
async fn format_file(
    kind: Kind,
    cx: &mut BlockContext,
    input: &mut RecordReader,
    output: &mut RecordWriter,
) -> Result<(), BlockError> {
    let format = file_format(kind, cx.variables.raw()).map_err(BlockError::Permanent)?;
    let default = format!("data.{}", format.extension());
    let name = cx
        .variables
        .text("fileName")?
        .unwrap_or(&default)
        .to_string();
    canvas_blocks::check_file_name(&name)
        .map_err(|e| BlockError::Permanent(format!("variable 'fileName': {e}")))?;
    let mut file = output.file(&name)?;
    let mut head = Some(Vec::new());
    let written = write_formatted(&format, cx, input, &mut file, &mut head).await;
    if let Err(e) = written {
        file.abort().await;
        return Err(e);
    }
    let size = output.keep_file(file).await?;
    let record = match head {
        Some(content) => json!({ "content": String::from_utf8_lossy(&content) }),
        None => {
            cx.log(format!(
                "{name} is {size} bytes: stored as a file, not carried in the record"
            ));
            json!({ "fileName": name, "size": size })
        }
    };
    output.write_values(&[record]).await?;
    Ok(())
}

/// The input, formatted, into `file`; `head` keeps a copy while the file is small.
async fn write_formatted(
    format: &FileFormat,
    cx: &BlockContext,
    input: &mut RecordReader,
    file: &mut canvas_blocks::FileWriter,
    head: &mut Option<Vec<u8>>,
) -> Result<(), BlockError> {
    let failed = |e: canvas_formats::WriteError| BlockError::Permanent(e.to_string());
    let mut writer = format.writer();
    while let Some(values) = input.next_values().await? {
        cx.cancel.check()?;
        writer.write(&values).map_err(failed)?;
        put_chunk(file, head, writer.take()).await?;
    }
    put_chunk(file, head, writer.finish().map_err(failed)?).await
}

async fn put_chunk(
    file: &mut canvas_blocks::FileWriter,
    head: &mut Option<Vec<u8>>,
    chunk: Vec<u8>,
) -> Result<(), BlockError> {
    if let Some(copy) = head {
        copy.extend_from_slice(&chunk);
        if copy.len() > CONTENT_IN_RECORD_MAX {
            *head = None;
        }
    }
    Ok(file.write(chunk.into()).await?)
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

/// The Format blocks' file format: CSV with the block's delimiter, or a JSON array.
fn file_format(kind: Kind, vars: &Map<String, Value>) -> Res<FileFormat> {
    Ok(if kind == Kind::FormatCsv {
        FileFormat::Csv(CsvOptions {
            delimiter: delimiter(vars)?,
            ..CsvOptions::default()
        })
    } else {
        FileFormat::Json
    })
}

fn text<'a>(vars: &'a Map<String, Value>, name: &str, default: &'a str) -> &'a str {
    vars.get(name).and_then(Value::as_str).unwrap_or(default)
}

/// A field by path: the one syntax of `canvas_domain::path`.
fn at<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    canvas_domain::path::field(record, path)
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
    canvas_formats::cell_text(v)
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
    let format = file_format(Kind::FormatCsv, vars)?;
    parse_field(&format, vars, input, first)
}

fn parse_json(vars: &Map<String, Value>, input: Vec<Value>, first: usize) -> Res<Vec<Value>> {
    parse_field(&FileFormat::Json, vars, input, first)
}

/// Each record's text field (`field`, default `content`) parsed as a file.
fn parse_field(
    format: &FileFormat,
    vars: &Map<String, Value>,
    input: Vec<Value>,
    first: usize,
) -> Res<Vec<Value>> {
    let field = text(vars, "field", "content");
    let mut out = Vec::new();
    for (i, record) in input.iter().enumerate() {
        let content = at(record, field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("record {}: field '{field}' is not text", i + first))?;
        let records = format
            .parse(&format!("record {}", i + first), content.as_bytes())
            .map_err(|e| e.to_string())?;
        out.extend(records);
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
                let mut file = file_format(kind, vars)?.writer();
                file.write(&input).map_err(|e| e.to_string())?;
                let content = file.finish().map_err(|e| e.to_string())?;
                Ok(vec![
                    json!({ "content": String::from_utf8(content).unwrap() }),
                ])
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
    fn map_and_filter_name_fields_as_http_does_arrays_and_root_included() {
        let input = vec![json!({"lines": [{"sku": "A"}, {"sku": "B"}], "n": 2})];
        let mapped = run(
            "Map fields",
            &vars(json!({"fields": {"first": "lines.0.sku", "n": "$.n"}})),
            input.clone(),
        )
        .unwrap();
        assert_eq!(mapped, vec![json!({"first": "A", "n": 2})]);
        let kept = run(
            "Filter records",
            &vars(json!({"field": "lines.1.sku", "operator": "equals", "value": "B"})),
            input,
        )
        .unwrap();
        assert_eq!(kept.len(), 1);
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
