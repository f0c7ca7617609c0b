//! Reading a file as batches of records without holding it whole: CSV and
//! NDJSON stream from any reader; JSON, XML and XLSX (one document each)
//! are read whole, then handed out in batches.

use crate::text::Latin1Reader;
use crate::{CsvOptions, Encoding, FileFormat, ParseError};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read};

/// Records handed out at once.
pub const BATCH: usize = 1000;

/// The records of one file, batch by batch.
pub struct Batches {
    file: String,
    source: Source,
}

enum Source {
    Csv {
        reader: Box<csv::Reader<Box<dyn Read + Send>>>,
        columns: Option<Vec<String>>,
        header: bool,
    },
    Lines {
        reader: Box<dyn BufRead + Send>,
        line: usize,
    },
    Whole(std::vec::IntoIter<Value>),
    Failed(Option<ParseError>),
}

impl FileFormat {
    /// The records of `reader` (the file named `file`), batch by batch.
    pub fn batches(&self, file: &str, reader: impl Read + Send + 'static) -> Batches {
        let source = match self {
            Self::Csv(options) => csv_source(options, Box::new(reader)),
            Self::Ndjson => Source::Lines {
                reader: Box::new(BufReader::new(reader)),
                line: 0,
            },
            whole => {
                let mut bytes = Vec::new();
                let mut reader = reader;
                match reader.read_to_end(&mut bytes) {
                    Ok(_) => match whole.parse(file, &bytes) {
                        Ok(records) => Source::Whole(records.into_iter()),
                        Err(e) => Source::Failed(Some(e)),
                    },
                    Err(e) => {
                        Source::Failed(Some(ParseError::new(file, String::new(), e.to_string())))
                    }
                }
            }
        };
        Batches {
            file: file.to_string(),
            source,
        }
    }
}

fn csv_source(options: &CsvOptions, reader: Box<dyn Read + Send>) -> Source {
    let reader: Box<dyn Read + Send> = match options.encoding {
        Encoding::Utf8 => reader,
        Encoding::Latin1 => Box::new(Latin1Reader::new(reader)),
    };
    let reader = csv::ReaderBuilder::new()
        .delimiter(options.delimiter)
        .quote(options.quote)
        .has_headers(false)
        .flexible(false)
        .from_reader(reader);
    Source::Csv {
        reader: Box::new(reader),
        columns: None,
        header: options.header,
    }
}

impl Iterator for Batches {
    type Item = Result<Vec<Value>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match &mut self.source {
            Source::Failed(e) => return e.take().map(Err),
            Source::Whole(records) => Ok(records.by_ref().take(BATCH).collect()),
            Source::Lines { reader, line } => next_lines(&self.file, reader, line),
            Source::Csv {
                reader,
                columns,
                header,
            } => next_rows(&self.file, reader, columns, *header),
        };
        match batch {
            Ok(records) if records.is_empty() => None,
            other => Some(other),
        }
    }
}

fn next_lines(
    file: &str,
    reader: &mut Box<dyn BufRead + Send>,
    line: &mut usize,
) -> Result<Vec<Value>, ParseError> {
    let mut out = Vec::new();
    let mut text = String::new();
    while out.len() < BATCH {
        text.clear();
        let read = reader
            .read_line(&mut text)
            .map_err(|e| ParseError::new(file, format!("line {}: ", *line + 1), e.to_string()))?;
        if read == 0 {
            break;
        }
        *line += 1;
        let trimmed = text.trim_start_matches('\u{feff}');
        if trimmed.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(trimmed).map_err(|e| {
            let problem = e.to_string();
            let problem = problem
                .rsplit_once(" at line ")
                .map_or(problem.as_str(), |(p, _)| p)
                .to_string();
            ParseError::new(
                file,
                format!("line {line}, column {}: ", e.column()),
                problem,
            )
        })?;
        out.push(value);
    }
    Ok(out)
}

fn csv_error(file: &str, e: csv::Error) -> ParseError {
    let line = e.position().map_or(0, |p| p.line());
    let (location, problem) = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => (
            format!("line {line}: "),
            format!("{len} columns where the header has {expected_len}"),
        ),
        csv::ErrorKind::Utf8 { err, .. } => (
            format!("line {line}, column {}: ", err.field() + 1),
            "the bytes are not UTF-8 (is the file ISO-8859-1? set 'encoding')".to_string(),
        ),
        _ => (format!("line {line}: "), e.to_string()),
    };
    ParseError::new(file, location, problem)
}

fn next_rows(
    file: &str,
    reader: &mut csv::Reader<Box<dyn Read + Send>>,
    columns: &mut Option<Vec<String>>,
    header: bool,
) -> Result<Vec<Value>, ParseError> {
    let mut out = Vec::new();
    let mut row = csv::StringRecord::new();
    while out.len() < BATCH {
        if !reader
            .read_record(&mut row)
            .map_err(|e| csv_error(file, e))?
        {
            break;
        }
        if columns.is_none() {
            let names = if header {
                row.iter()
                    .map(|c| c.trim_start_matches('\u{feff}').to_string())
                    .collect()
            } else {
                (1..=row.len()).map(|i| format!("column{i}")).collect()
            };
            *columns = Some(names);
            if header {
                continue;
            }
        }
        let names = columns.as_deref().unwrap_or_default();
        let object: Map<String, Value> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let name = names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("column{}", i + 1));
                (name, Value::String(cell.to_string()))
            })
            .collect();
        out.push(Value::Object(object));
    }
    Ok(out)
}
