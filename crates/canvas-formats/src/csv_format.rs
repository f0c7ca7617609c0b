//! CSV with a chosen delimiter, quote, header line and encoding.

use crate::{CsvOptions, Encoding, cell_text};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Where the csv writer puts its bytes; shared so `take` can empty it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) struct CsvWriter {
    options: CsvOptions,
    writer: csv::Writer<Shared>,
    written: Shared,
    /// The columns, from the first record's fields.
    columns: Option<Vec<String>>,
    out: Vec<u8>,
}

impl CsvWriter {
    pub fn new(options: CsvOptions) -> Self {
        let written = Shared::default();
        let writer = csv::WriterBuilder::new()
            .delimiter(options.delimiter)
            .quote(options.quote)
            .from_writer(written.clone());
        Self {
            options,
            writer,
            written,
            columns: None,
            out: Vec::new(),
        }
    }

    pub fn write(&mut self, record: &Value) -> Result<(), String> {
        let Value::Object(fields) = record else {
            return Err(format!(
                "a CSV row needs a record (an object), got {record}"
            ));
        };
        if self.columns.is_none() {
            let names: Vec<String> = fields.keys().cloned().collect();
            if self.options.header {
                self.writer
                    .write_record(&names)
                    .map_err(|e| e.to_string())?;
            }
            self.columns = Some(names);
        }
        let columns = self.columns.as_deref().unwrap_or_default();
        let row: Vec<String> = columns
            .iter()
            .map(|c| fields.get(c).map(cell_text).unwrap_or_default())
            .collect();
        if self.options.encoding == Encoding::Latin1 {
            // Checked here so the error names this record, not a later flush.
            for (column, cell) in columns.iter().zip(&row) {
                if let Some(c) = cell.chars().find(|c| u32::from(*c) > 0xFF) {
                    return Err(format!(
                        "field '{column}': the character '{c}' cannot be written in ISO-8859-1"
                    ));
                }
            }
        }
        self.writer.write_record(&row).map_err(|e| e.to_string())
    }

    /// Moves what the csv writer produced into `out`, re-encoded.
    fn flush_into_out(&mut self) -> Result<(), String> {
        self.writer.flush().map_err(|e| e.to_string())?;
        let written =
            std::mem::take(&mut *self.written.0.lock().unwrap_or_else(|e| e.into_inner()));
        if self.options.encoding == Encoding::Utf8 {
            self.out.extend_from_slice(&written);
            return Ok(());
        }
        let text = std::str::from_utf8(&written).map_err(|e| e.to_string())?;
        self.options.encoding.encode(text, &mut self.out)
    }

    pub fn take(&mut self) -> Vec<u8> {
        let _ = self.flush_into_out();
        std::mem::take(&mut self.out)
    }

    pub fn finish(mut self) -> Vec<u8> {
        let _ = self.flush_into_out();
        self.out
    }
}
