//! Character encodings of text files, and where a byte offset falls.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// ISO-8859-1 (Latin-1): one byte per character, U+0000–U+00FF.
    Latin1,
}

impl Encoding {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Some(Self::Utf8),
            "iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" => Some(Self::Latin1),
            _ => None,
        }
    }

    /// The file's text; a UTF-8 byte order mark is dropped.
    pub fn decode<'a>(self, bytes: &'a [u8]) -> Result<Cow<'a, str>, String> {
        match self {
            Self::Latin1 => Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect())),
            Self::Utf8 => {
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
                    let (line, column) = line_column(bytes, e.valid_up_to());
                    format!("line {line}, column {column}: the bytes are not UTF-8 (is the file ISO-8859-1? set 'encoding')")
                })
            }
        }
    }

    /// `text` in this encoding; Latin-1 cannot hold every character.
    pub fn encode(self, text: &str, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Self::Utf8 => out.extend_from_slice(text.as_bytes()),
            Self::Latin1 => {
                for c in text.chars() {
                    let b = u8::try_from(u32::from(c)).map_err(|_| {
                        format!("the character '{c}' cannot be written in ISO-8859-1")
                    })?;
                    out.push(b);
                }
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `bytes`.
pub(crate) fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}
