//! What the file blocks share: folders, names and patterns from variables.

use crate::ConnectorError;
use canvas_blocks::{BlockContext, BlockError, RecordWriter, Variables};
use canvas_formats::FileFormat;

/// `a/b/` → `/a/b`: absolute, no trailing slash (except the root).
pub(crate) fn normalize_dir(dir: &str) -> String {
    let trimmed = dir.trim();
    match trimmed.trim_end_matches('/') {
        "" if trimmed.starts_with('/') => "/".to_string(),
        // Relative to the login folder, as the server resolves it.
        kept => kept.to_string(),
    }
}

pub(crate) fn folder(vars: &Variables, name: &str) -> Result<String, BlockError> {
    let dir = normalize_dir(vars.text(name)?.unwrap_or("/"));
    if dir.split('/').any(|part| part == "..") {
        return Err(BlockError::Permanent(format!(
            "variable '{name}': '..' is not allowed in a folder"
        )));
    }
    Ok(dir)
}

/// `name` in `dir`: absolute when `dir` is, else relative to the login
/// folder (an empty `dir` is the login folder itself).
pub(crate) fn join(dir: &str, name: &str) -> String {
    match dir {
        "/" => format!("/{name}"),
        "" => name.to_string(),
        dir => format!("{dir}/{name}"),
    }
}

/// `base`, with the format's extension when it has none
/// (`Employees_2024-01-31` → `Employees_2024-01-31.csv`).
pub(crate) fn with_extension(base: &str, format: &FileFormat) -> String {
    if base.contains('.') {
        base.to_string()
    } else {
        format!("{base}.{}", format.extension())
    }
}

/// Where an upload goes: a folder and a file name.
pub(crate) struct FileTarget {
    pub dir: String,
    pub name: String,
}

impl FileTarget {
    /// `name_variable` holds the file name; without an extension the
    /// format's is added (`Employees_2024-01-31` → `Employees_2024-01-31.csv`).
    pub fn from_variables(
        vars: &Variables,
        name_variable: &str,
        format: &FileFormat,
    ) -> Result<Self, BlockError> {
        let name = vars.required_text(name_variable)?;
        if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
            return Err(BlockError::Permanent(format!(
                "variable '{name_variable}': '{name}' must be a file name, not a path (put folders in 'filepath')"
            )));
        }
        let name = with_extension(name, format);
        Ok(Self {
            dir: folder(vars, "filepath")?,
            name,
        })
    }

    pub fn path(&self) -> String {
        join(&self.dir, &self.name)
    }

    /// The name written to before the rename; the same on every try, so a
    /// try after a crash overwrites what the crashed one left.
    pub fn temporary_path(&self) -> String {
        join(&self.dir, &format!(".{}.part", self.name))
    }
}

/// Shell-style wildcards: `*` any run of characters, `?` one character;
/// letters compare without case.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            back = Some((pi, ni));
            pi += 1;
        } else if let Some((star, at)) = back {
            pi = star + 1;
            ni = at + 1;
            back = Some((star, at + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Copies `from` into `to` like `tokio::io::copy`, but a read that brings
/// nothing for `stall` fails the transfer as transient: a server that stops
/// sending must not hold the block until the run's time limit.
pub(crate) async fn copy_watching<R, W>(
    from: &mut R,
    to: &mut W,
    (path, stall): (&str, std::time::Duration),
) -> Result<u64, ConnectorError>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lost = |what: String| ConnectorError::Transient(format!("reading {path}: {what}"));
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = tokio::time::timeout(stall, from.read(&mut buf))
            .await
            .map_err(|_| lost(format!("no data for {} s", stall.as_secs())))?
            .map_err(|e| lost(e.to_string()))?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])
            .await
            .map_err(|e| lost(format!("the local copy: {e}")))?;
        total += n as u64;
    }
    to.flush()
        .await
        .map_err(|e| lost(format!("the local copy: {e}")))?;
    Ok(total)
}

/// Files up to this size are kept beside the records as they came.
const KEEP_FILE_MAX: u64 = 16 << 20;

/// A file on its way in: copied to a temporary file as it arrives, then
/// read back as records batch by batch, so memory holds one batch whatever
/// the file's size.
pub(crate) struct Spool {
    file: std::fs::File,
    writer: tokio::fs::File,
}

fn local_error(e: std::io::Error) -> BlockError {
    BlockError::Transient(format!("the temporary file: {e}"))
}

impl Spool {
    pub fn new() -> Result<Self, BlockError> {
        let file = tempfile::tempfile().map_err(local_error)?;
        let writer = tokio::fs::File::from_std(file.try_clone().map_err(local_error)?);
        Ok(Self { file, writer })
    }

    /// Where the file's bytes go as they arrive.
    pub fn writer(&mut self) -> &mut tokio::fs::File {
        &mut self.writer
    }

    /// The file `name` (`size` bytes) as records in `output`, and the file
    /// itself beside them when it is small enough; how many records.
    pub async fn into_records(
        self,
        (name, size): (&str, u64),
        format: &FileFormat,
        cx: &mut BlockContext,
        output: &mut RecordWriter,
    ) -> Result<usize, BlockError> {
        let mut writer = self.writer;
        tokio::io::AsyncWriteExt::flush(&mut writer)
            .await
            .map_err(local_error)?;
        drop(writer);
        let mut local = self.file;
        std::io::Seek::rewind(&mut local).map_err(local_error)?;
        if size <= KEEP_FILE_MAX {
            let mut bytes = Vec::with_capacity(size as usize);
            std::io::Read::read_to_end(&mut local, &mut bytes).map_err(local_error)?;
            std::io::Seek::rewind(&mut local).map_err(local_error)?;
            output.put_file(name, bytes.into()).await?;
        } else {
            cx.log(format!(
                "{name} is larger than 16 MiB: its records are kept, not the file"
            ));
        }
        let mut records = 0;
        for batch in format.batches(name, std::io::BufReader::new(local)) {
            cx.cancel.check()?;
            let batch = batch.map_err(|e| BlockError::Permanent(e.to_string()))?;
            records += batch.len();
            output.write_values(&batch).await?;
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_a_shell() {
        assert!(matches("*.csv", "orders.CSV"));
        assert!(matches("orders_??.csv", "orders_01.csv"));
        assert!(matches("*", "x"));
        assert!(matches("a*b*c", "aXbYbc"));
        assert!(!matches("*.csv", "orders.csv.part"));
        assert!(!matches("orders_?.csv", "orders_10.csv"));
    }

    #[test]
    fn folders_are_relative_to_the_login_folder_unless_absolute_and_stay_inside() {
        assert_eq!(normalize_dir("out/"), "out");
        assert_eq!(normalize_dir(" /out/ "), "/out");
        assert_eq!(normalize_dir("/"), "/");
        assert_eq!(join("", "a.csv"), "a.csv");
        assert_eq!(join("/", "a.csv"), "/a.csv");
        assert_eq!(join("out", "a.csv"), "out/a.csv");
        let vars = serde_json::json!({"filepath": "/a/../../etc"});
        let vars = Variables::new(vars.as_object().unwrap().clone(), &[]);
        assert!(folder(&vars, "filepath").is_err());
    }
}
