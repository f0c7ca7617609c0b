//! XLSX: a header row of field names, then one row per record; read back
//! from the first sheet or a named one. Numbers and booleans keep their
//! type; dates read as ISO 8601 text.

use crate::{ParseError, cell_text};
use calamine::{Data, Reader, Xlsx};
use rust_xlsxwriter::{Workbook, XlsxError};
use serde_json::{Map, Number, Value};

/// Rows a sheet holds, the header included.
const MAX_ROWS: u32 = 1_048_576;

pub(crate) struct XlsxWriter {
    /// Rows go to a temporary file as they are written (constant memory).
    workbook: Workbook,
    columns: Option<Vec<String>>,
    next_row: u32,
    sheet: String,
}

impl XlsxWriter {
    pub fn new(sheet: Option<String>) -> Self {
        Self {
            workbook: Workbook::new(),
            columns: None,
            next_row: 0,
            sheet: sheet.unwrap_or_else(|| "Sheet1".into()),
        }
    }

    pub fn write(&mut self, record: &Value) -> Result<(), String> {
        let Value::Object(fields) = record else {
            return Err(format!(
                "a spreadsheet row needs a record (an object), got {record}"
            ));
        };
        if self.columns.is_none() {
            let sheet = self
                .workbook
                .add_worksheet_with_constant_memory()
                .map_err(text)?;
            sheet.set_name(&self.sheet).map_err(text)?;
            let names: Vec<String> = fields.keys().cloned().collect();
            for (c, name) in names.iter().enumerate() {
                sheet.write_string(0, c as u16, name).map_err(text)?;
            }
            self.columns = Some(names);
            self.next_row = 1;
        }
        if self.next_row >= MAX_ROWS {
            return Err(format!("a sheet holds at most {} records", MAX_ROWS - 1));
        }
        let sheet = self.workbook.worksheet_from_index(0).map_err(text)?;
        let columns = self.columns.as_deref().unwrap_or_default();
        for (c, name) in columns.iter().enumerate() {
            let (row, col) = (self.next_row, c as u16);
            match fields.get(name) {
                None | Some(Value::Null) => continue,
                Some(Value::Number(n)) => {
                    sheet.write_number(row, col, n.as_f64().unwrap_or_default())
                }
                Some(Value::Bool(b)) => sheet.write_boolean(row, col, *b),
                Some(other) => sheet.write_string(row, col, cell_text(other)),
            }
            .map_err(text)?;
        }
        self.next_row += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<Vec<u8>, String> {
        if self.columns.is_none() {
            self.workbook
                .add_worksheet()
                .set_name(&self.sheet)
                .map_err(text)?;
        }
        self.workbook.save_to_buffer().map_err(text)
    }
}

fn text(e: XlsxError) -> String {
    e.to_string()
}

/// The records of sheet `sheet` (the first when `None`).
pub(crate) fn parse(
    sheet: Option<&str>,
    file: &str,
    bytes: &[u8],
) -> Result<Vec<Value>, ParseError> {
    let whole = |problem: String| ParseError::new(file, String::new(), problem);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| whole(format!("not an XLSX workbook: {e}")))?;
    let name = match sheet {
        Some(name) => name.to_string(),
        None => workbook
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| whole("the workbook has no sheet".into()))?,
    };
    let range = workbook
        .worksheet_range(&name)
        .map_err(|e| whole(format!("sheet '{name}': {e}")))?;
    let first_row = range.start().map_or(0, |(r, _)| r) as usize;
    let mut rows = range.rows();
    let Some(header) = rows.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<String> = header.iter().map(|c| c.to_string()).collect();
    let mut out = Vec::new();
    for (i, row) in rows.enumerate() {
        let mut record = Map::new();
        for (c, cell) in row.iter().enumerate() {
            let value = cell_value(cell).map_err(|problem| {
                let at = format!(
                    "sheet '{name}', row {}, column {}: ",
                    first_row + i + 2,
                    column_letters(c)
                );
                ParseError::new(file, at, problem)
            })?;
            let key = columns
                .get(c)
                .filter(|n| !n.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("column{}", c + 1));
            record.insert(key, value);
        }
        out.push(Value::Object(record));
    }
    Ok(out)
}

fn cell_value(cell: &Data) -> Result<Value, String> {
    Ok(match cell {
        Data::Empty => Value::Null,
        Data::Int(i) => Value::from(*i),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Value::from(*f as i64),
        Data::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Value::String(s.clone()),
        Data::Bool(b) => Value::Bool(*b),
        Data::DateTime(d) => Value::String(excel_date(d.as_f64())),
        Data::Error(e) => return Err(format!("the cell holds the error {e}")),
    })
}

/// An Excel serial date (days since 1899-12-30) as ISO 8601.
fn excel_date(serial: f64) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let t = epoch + chrono::Duration::milliseconds((serial * 86_400_000.0).round() as i64);
    if serial.fract() == 0.0 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

/// 0 → A, 25 → Z, 26 → AA.
fn column_letters(mut c: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}
