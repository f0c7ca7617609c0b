//! Dataset file formats. A [`FileFormat`] is read once from a block's
//! variables (`fileformat`, `delimiter`, `header`, `encoding`,
//! `recordElement`, `sheet`); it renders records into a file batch by batch
//! ([`FileWriter`]) and parses a file back into records, with errors that
//! name the file, the line or row, and the column.

mod batches;
mod csv_format;
mod json_format;
pub mod soap;
mod text;
mod xlsx_format;
mod xml_format;

use serde_json::{Map, Value};

pub use batches::{BATCH, Batches};
pub use text::Encoding;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFormat {
    Csv(CsvOptions),
    /// One JSON array of records.
    Json,
    /// One JSON record per line.
    Ndjson,
    Xml(XmlOptions),
    /// A workbook: the sheet to read or to write (the first / `Sheet1` when `None`).
    Xlsx {
        sheet: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    /// Whether the first line names the columns (otherwise `column1`, `column2`...).
    pub header: bool,
    pub quote: u8,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlOptions {
    /// The element of each record (`record` unless set).
    pub record_element: String,
    /// The document element around the records when writing.
    pub root_element: String,
}

/// A block's format variables were wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variable '{variable}': {problem}")]
pub struct OptionError {
    pub variable: &'static str,
    pub problem: String,
}

/// A file could not be read as its format; the message says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {location}{problem}")]
pub struct ParseError {
    pub file: String,
    /// `line 3, column 7: ` or `row 4: `; empty when the whole file is wrong.
    pub location: String,
    pub problem: String,
}

impl ParseError {
    fn new(file: &str, location: String, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            location,
            problem: problem.into(),
        }
    }
}

/// Records could not be written in the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record}: {problem}")]
pub struct WriteError {
    /// 1-based, counted over the whole file.
    pub record: usize,
    pub problem: String,
}

impl FileFormat {
    /// The format the variables describe; `fileformat` defaults to CSV.
    pub fn from_variables(vars: &Map<String, Value>) -> Result<Self, OptionError> {
        let name = text_var(vars, "fileformat")?.unwrap_or("csv");
        Ok(match name.to_ascii_lowercase().as_str() {
            "csv" => Self::Csv(CsvOptions::from_variables(vars)?),
            "json" => Self::Json,
            "ndjson" | "jsonl" => Self::Ndjson,
            "xml" => Self::Xml(XmlOptions::from_variables(vars)?),
            "xlsx" => Self::Xlsx {
                sheet: text_var(vars, "sheet")?.map(str::to_string),
            },
            other => {
                return Err(OptionError {
                    variable: "fileformat",
                    problem: format!("'{other}' is not one of csv, json, ndjson, xml, xlsx"),
                });
            }
        })
    }

    /// The usual file name extension, without the dot.
    pub fn extension(&self) -> &'static str {
        match self {
            Self::Csv(_) => "csv",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Xml(_) => "xml",
            Self::Xlsx { .. } => "xlsx",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Csv(o) if o.encoding == Encoding::Latin1 => "text/csv; charset=ISO-8859-1",
            Self::Csv(_) => "text/csv; charset=utf-8",
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Xml(_) => "application/xml",
            Self::Xlsx { .. } => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }

    /// A writer that renders records into this format.
    pub fn writer(&self) -> FileWriter {
        let inner = match self {
            Self::Csv(o) => Inner::Csv(Box::new(csv_format::CsvWriter::new(o.clone()))),
            Self::Json => Inner::Json(json_format::JsonWriter::array()),
            Self::Ndjson => Inner::Json(json_format::JsonWriter::lines()),
            Self::Xml(o) => Inner::Xml(xml_format::XmlWriter::new(o.clone())),
            Self::Xlsx { sheet } => {
                Inner::Xlsx(Box::new(xlsx_format::XlsxWriter::new(sheet.clone())))
            }
        };
        FileWriter { inner, records: 0 }
    }

    /// Every record of the file `file` (its name, for messages).
    pub fn parse(&self, file: &str, bytes: &[u8]) -> Result<Vec<Value>, ParseError> {
        match self {
            Self::Csv(_) | Self::Ndjson => {
                let mut records = Vec::new();
                for batch in self.batches(file, std::io::Cursor::new(bytes.to_vec())) {
                    records.extend(batch?);
                }
                Ok(records)
            }
            Self::Json => json_format::parse_array(file, bytes),
            Self::Xml(o) => xml_format::parse(o, file, bytes),
            Self::Xlsx { sheet } => xlsx_format::parse(sheet.as_deref(), file, bytes),
        }
    }
}

impl CsvOptions {
    fn from_variables(vars: &Map<String, Value>) -> Result<Self, OptionError> {
        Ok(Self {
            delimiter: one_byte(vars, "delimiter", b',')?,
            header: bool_var(vars, "header")?.unwrap_or(true),
            quote: one_byte(vars, "quote", b'"')?,
            encoding: match text_var(vars, "encoding")? {
                None => Encoding::Utf8,
                Some(name) => Encoding::from_name(name).ok_or_else(|| OptionError {
                    variable: "encoding",
                    problem: format!("'{name}' is not one of UTF-8, ISO-8859-1"),
                })?,
            },
        })
    }
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            header: true,
            quote: b'"',
            encoding: Encoding::Utf8,
        }
    }
}

impl XmlOptions {
    fn from_variables(vars: &Map<String, Value>) -> Result<Self, OptionError> {
        let element = |variable: &'static str, default: &str| -> Result<String, OptionError> {
            let name = text_var(vars, variable)?.unwrap_or(default);
            if xml_format::is_name(name) {
                Ok(name.to_string())
            } else {
                Err(OptionError {
                    variable,
                    problem: format!("'{name}' is not an XML element name"),
                })
            }
        };
        Ok(Self {
            record_element: element("recordElement", "record")?,
            root_element: element("rootElement", "records")?,
        })
    }
}

/// Renders records into a file batch by batch: `write` a batch, `take` the
/// bytes ready so far (to send them on), `finish` for the rest.
pub struct FileWriter {
    inner: Inner,
    records: usize,
}

enum Inner {
    Csv(Box<csv_format::CsvWriter>),
    Json(json_format::JsonWriter),
    Xml(xml_format::XmlWriter),
    Xlsx(Box<xlsx_format::XlsxWriter>),
}

impl FileWriter {
    pub fn write(&mut self, records: &[Value]) -> Result<(), WriteError> {
        for record in records {
            self.records += 1;
            let written = match &mut self.inner {
                Inner::Csv(w) => w.write(record),
                Inner::Json(w) => w.write(record),
                Inner::Xml(w) => w.write(record),
                Inner::Xlsx(w) => w.write(record),
            };
            written.map_err(|problem| WriteError {
                record: self.records,
                problem,
            })?;
        }
        Ok(())
    }

    /// The bytes rendered so far and not yet taken (none for XLSX, which
    /// is one zip archive made at the end).
    pub fn take(&mut self) -> Vec<u8> {
        match &mut self.inner {
            Inner::Csv(w) => w.take(),
            Inner::Json(w) => w.take(),
            Inner::Xml(w) => w.take(),
            Inner::Xlsx(_) => Vec::new(),
        }
    }

    /// The file's last bytes.
    pub fn finish(self) -> Result<Vec<u8>, WriteError> {
        let records = self.records;
        Ok(match self.inner {
            Inner::Csv(w) => w.finish(),
            Inner::Json(w) => w.finish(),
            Inner::Xml(w) => w.finish(),
            Inner::Xlsx(w) => w.finish().map_err(|problem| WriteError {
                record: records,
                problem,
            })?,
        })
    }

    pub fn records(&self) -> usize {
        self.records
    }
}

/// A value as one cell of text: strings as they are, null as nothing,
/// anything else as JSON.
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn text_var<'a>(
    vars: &'a Map<String, Value>,
    variable: &'static str,
) -> Result<Option<&'a str>, OptionError> {
    match vars.get(variable) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(OptionError {
            variable,
            problem: format!("must be text, got {other}"),
        }),
    }
}

fn bool_var(
    vars: &Map<String, Value>,
    variable: &'static str,
) -> Result<Option<bool>, OptionError> {
    match vars.get(variable) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(other) => Err(OptionError {
            variable,
            problem: format!("must be true or false, got {other}"),
        }),
    }
}

fn one_byte(
    vars: &Map<String, Value>,
    variable: &'static str,
    default: u8,
) -> Result<u8, OptionError> {
    let Some(text) = text_var(vars, variable)? else {
        return Ok(default);
    };
    let text = if text == "\\t" { "\t" } else { text };
    match text.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(OptionError {
            variable,
            problem: format!("must be one ASCII character, got '{text}'"),
        }),
    }
}

#[cfg(test)]
mod tests;
