//! XML: a document element around one element per record; each field is a
//! child element (nested records nest, lists repeat the element).

use crate::{ParseError, XmlOptions, cell_text};
use quick_xml::Reader;
use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

pub(crate) struct XmlWriter {
    options: XmlOptions,
    buf: String,
}

impl XmlWriter {
    pub fn new(options: XmlOptions) -> Self {
        let buf = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{}>\n",
            options.root_element
        );
        Self { options, buf }
    }

    pub fn write(&mut self, record: &Value) -> Result<(), String> {
        let Value::Object(fields) = record else {
            return Err(format!("an XML record needs an object, got {record}"));
        };
        let tag = &self.options.record_element;
        self.buf.push_str(&format!("  <{tag}>"));
        for (name, value) in fields {
            element(&mut self.buf, &element_name(name), value);
        }
        self.buf.push_str(&format!("</{tag}>\n"));
        Ok(())
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf).into_bytes()
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf
            .push_str(&format!("</{}>\n", self.options.root_element));
        self.buf.into_bytes()
    }
}

fn element(buf: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| element(buf, name, v)),
        Value::Object(fields) => {
            buf.push_str(&format!("<{name}>"));
            for (child, v) in fields {
                element(buf, &element_name(child), v);
            }
            buf.push_str(&format!("</{name}>"));
        }
        Value::Null => buf.push_str(&format!("<{name}/>")),
        other => buf.push_str(&format!("<{name}>{}</{name}>", escape(cell_text(other)))),
    }
}

pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A field name as an element name: characters XML names cannot hold become `_`.
fn element_name(field: &str) -> String {
    if is_name(field) {
        return field.to_string();
    }
    let mut name: String = field
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name
}

/// An element being read: its fields so far and its text.
struct Open {
    name: String,
    fields: Map<String, Value>,
    text: String,
}

impl Open {
    fn new(start: &BytesStart<'_>) -> Result<Self, String> {
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let mut fields = Map::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| e.to_string())?;
            let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            let value = attr.unescape_value().map_err(|e| e.to_string())?;
            fields.insert(key, Value::String(value.into_owned()));
        }
        Ok(Self {
            name,
            fields,
            text: String::new(),
        })
    }

    fn into_value(self) -> Value {
        if self.fields.is_empty() {
            Value::String(self.text)
        } else {
            Value::Object(self.fields)
        }
    }
}

/// A repeated child becomes a list.
fn add_field(fields: &mut Map<String, Value>, name: String, value: Value) {
    match fields.get_mut(&name) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            fields.insert(name, value);
        }
    }
}

/// Every `record_element` of the document, wherever it is.
pub(crate) fn parse(
    options: &XmlOptions,
    file: &str,
    bytes: &[u8],
) -> Result<Vec<Value>, ParseError> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut records = Vec::new();
    let record_tag = options.record_element.as_bytes();
    loop {
        let at = reader.buffer_position() as usize;
        let fail = |problem: String| {
            let (line, column) = crate::text::line_column(bytes, at);
            ParseError::new(file, format!("line {line}, column {column}: "), problem)
        };
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| fail(e.to_string()))?;
        match event {
            Event::Start(e) if !open.is_empty() || e.name().as_ref() == record_tag => {
                open.push(Open::new(&e).map_err(fail)?);
            }
            Event::Empty(e) if !open.is_empty() || e.name().as_ref() == record_tag => {
                let element = Open::new(&e).map_err(fail)?;
                close(&mut open, &mut records, element);
            }
            Event::Text(t) => {
                if let Some(top) = open.last_mut() {
                    top.text
                        .push_str(&t.unescape().map_err(|e| fail(e.to_string()))?);
                }
            }
            Event::CData(t) => {
                if let Some(top) = open.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                if let Some(element) = open.pop() {
                    close(&mut open, &mut records, element);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(records)
}

/// An element ends: it becomes a field of its parent, or a record.
fn close(open: &mut [Open], records: &mut Vec<Value>, element: Open) {
    match open.last_mut() {
        Some(parent) => {
            let name = element.name.clone();
            add_field(&mut parent.fields, name, element.into_value());
        }
        None => records.push(Value::Object(element.fields)),
    }
}
