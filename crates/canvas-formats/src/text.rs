//! Character encodings of text files, and where a byte offset falls.

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

/// ISO-8859-1 bytes read as UTF-8: each byte is the character of that code point.
pub(crate) struct Latin1Reader<R> {
    inner: R,
    /// UTF-8 bytes made but not yet read.
    pending: Vec<u8>,
    at: usize,
}

impl<R: std::io::Read> Latin1Reader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            at: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Latin1Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            let mut raw = [0u8; 8192];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.pending.clear();
            self.at = 0;
            let text: String = raw[..n].iter().map(|&b| b as char).collect();
            self.pending.extend_from_slice(text.as_bytes());
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
