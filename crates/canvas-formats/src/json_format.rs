//! JSON: one array of records, or one record per line (NDJSON).

use crate::ParseError;
use serde_json::Value;

pub(crate) struct JsonWriter {
    lines: bool,
    buf: Vec<u8>,
    started: bool,
}

impl JsonWriter {
    pub fn array() -> Self {
        Self {
            lines: false,
            buf: b"[".to_vec(),
            started: false,
        }
    }

    pub fn lines() -> Self {
        Self {
            lines: true,
            buf: Vec::new(),
            started: false,
        }
    }

    pub fn write(&mut self, record: &Value) -> Result<(), String> {
        if self.started && !self.lines {
            self.buf.push(b',');
        }
        self.started = true;
        serde_json::to_writer(&mut self.buf, record).map_err(|e| e.to_string())?;
        if self.lines {
            self.buf.push(b'\n');
        }
        Ok(())
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn finish(mut self) -> Vec<u8> {
        if !self.lines {
            self.buf.push(b']');
        }
        self.buf
    }
}

/// An array of records, or a single record.
pub(crate) fn parse_array(file: &str, bytes: &[u8]) -> Result<Vec<Value>, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| located(file, &e))?;
    match value {
        Value::Array(items) => Ok(items),
        Value::Object(o) => Ok(vec![Value::Object(o)]),
        _ => Err(ParseError::new(
            file,
            String::new(),
            "the JSON is neither an array of records nor a record",
        )),
    }
}

fn located(file: &str, e: &serde_json::Error) -> ParseError {
    let location = format!("line {}, column {}: ", e.line(), e.column());
    let problem = e.to_string();
    let problem = problem
        .rsplit_once(" at line ")
        .map_or(problem.as_str(), |(p, _)| p);
    ParseError::new(file, location, problem)
}
