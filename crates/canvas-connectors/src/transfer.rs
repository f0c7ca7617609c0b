//! `FTP Upload` / `SFTP Upload` and `FTP Download` / `SFTP Download`, and
//! what scripts call on `apps.FTP` / `apps.SFTP`: the same blocks over
//! either protocol.

use crate::files::{self, FileTarget};
use crate::remote::{Protocol, Remote};
use crate::{BlockServices, ConnectorError};
use canvas_blocks::{
    AppAccess, AppOperations, BlockContext, BlockError, BlockFuture, CallFuture, CancelToken,
    NativeBlock, NativeBlocks, RecordReader, RecordWriter,
};
use canvas_formats::FileFormat;
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) fn register(
    blocks: &mut NativeBlocks,
    services: &BlockServices,
    protocol: Protocol,
    app: &str,
) {
    let ftp = Arc::new(Ftp {
        services: services.clone(),
        app: app.to_string(),
        protocol,
        upload: format!("{} Upload", protocol.label()),
        download: format!("{} Download", protocol.label()),
    });
    blocks.add(app, Arc::new(Upload(ftp.clone())));
    blocks.add(app, Arc::new(Download(ftp.clone())));
    blocks.add_operations(app, ftp);
}

/// A file server application: its protocol and its blocks' names.
struct Ftp {
    services: BlockServices,
    app: String,
    protocol: Protocol,
    upload: String,
    download: String,
}

impl Ftp {
    async fn session(&self, app: Option<&AppAccess>) -> Result<Remote, ConnectorError> {
        let app =
            app.ok_or_else(|| ConnectorError::Invalid(format!("no {} application", self.app)))?;
        Remote::open(self.protocol, &app.credentials, &self.services).await
    }
}

struct Upload(Arc<Ftp>);
struct Download(Arc<Ftp>);

impl NativeBlock for Upload {
    fn name(&self) -> &str {
        &self.0.upload
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let format = FileFormat::from_variables(cx.variables.raw()).map_err(invalid)?;
            let target = FileTarget::from_variables(&cx.variables, "filename", &format)?;
            let mut session = self.0.session(cx.application.as_ref()).await?;
            if let Some(key) = session.host_key() {
                cx.log(format!("SSH host key {key}"));
            }
            let written = upload(&mut session, &target, &format, cx, input).await;
            if written.is_err() {
                let _ = session.remove(&target.temporary_path()).await;
            }
            session.quit().await;
            let (records, bytes) = written?;
            cx.log(format!(
                "uploaded {} ({records} records, {bytes} bytes)",
                target.path()
            ));
            let record = json!({"fileName": target.name, "path": target.path(), "records": records, "size": bytes});
            output.write_values(&[record]).await?;
            Ok(())
        })
    }
}

/// Streams the input as a file to a temporary name beside the target, then
/// renames it: the target is never seen half written.
async fn upload(
    session: &mut Remote,
    target: &FileTarget,
    format: &FileFormat,
    cx: &BlockContext,
    input: &mut RecordReader,
) -> Result<(usize, u64), BlockError> {
    let temporary = target.temporary_path();
    session.ensure_dir(&target.dir).await;
    let mut upload = session.upload(&temporary).await?;
    let mut file = format.writer();
    let mut bytes = 0u64;
    while let Some(values) = input.next_values().await? {
        cx.cancel.check()?;
        file.write(&values)
            .map_err(|e| BlockError::Permanent(e.to_string()))?;
        let chunk = file.take();
        bytes += chunk.len() as u64;
        upload.write(&chunk).await?;
    }
    let records = file.records();
    let last = file
        .finish()
        .map_err(|e| BlockError::Permanent(e.to_string()))?;
    bytes += last.len() as u64;
    upload.write(&last).await?;
    upload.finish().await?;
    session.rename(&temporary, &target.path()).await?;
    Ok((records, bytes))
}

impl NativeBlock for Download {
    fn name(&self) -> &str {
        &self.0.download
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        _input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let format = FileFormat::from_variables(cx.variables.raw()).map_err(invalid)?;
            let dir = files::folder(&cx.variables, "filepath")?;
            let pattern = cx.variables.text("pattern")?.unwrap_or("*").to_string();
            let move_to = match cx.variables.text("moveTo")? {
                Some(_) => Some(files::folder(&cx.variables, "moveTo")?),
                None => None,
            };
            let mut session = self.0.session(cx.application.as_ref()).await?;
            if let Some(key) = session.host_key() {
                cx.log(format!("SSH host key {key}"));
            }
            let mut names: Vec<String> = session
                .names(&dir)
                .await?
                .into_iter()
                .filter(|n| files::matches(&pattern, n))
                .collect();
            names.sort();
            for name in &names {
                cx.cancel.check()?;
                let path = files::join(&dir, name);
                let (records, size) =
                    download(&mut session, (&path, name), &format, cx, output).await?;
                cx.log(format!("read {path}: {records} records, {size} bytes"));
            }
            if names.is_empty() {
                cx.log(format!("no file in {dir} matches '{pattern}'"));
            }
            // Moved only once every file was read, so a failed try reads them all again.
            if let Some(to) = move_to {
                session.ensure_dir(&to).await;
                for name in &names {
                    session
                        .rename(&files::join(&dir, name), &files::join(&to, name))
                        .await?;
                }
            }
            session.quit().await;
            Ok(())
        })
    }
}

/// One file, spooled to a temporary file as it arrives, then read as records.
async fn download(
    session: &mut Remote,
    (path, name): (&str, &str),
    format: &FileFormat,
    cx: &mut BlockContext,
    output: &mut RecordWriter,
) -> Result<(usize, u64), BlockError> {
    let mut spool = files::Spool::new()?;
    let size = session.download_to(path, spool.writer()).await?;
    let records = spool.into_records((name, size), format, cx, output).await?;
    Ok((records, size))
}

fn invalid(e: impl ToString) -> BlockError {
    BlockError::Permanent(e.to_string())
}

/// `apps.FTP.upload(path, text)`, `apps.FTP.download(path)` (text),
/// `apps.FTP.list(folder)` (names), `apps.FTP.remove(path)`.
impl AppOperations for Ftp {
    fn operations(&self) -> &[&'static str] {
        &["upload", "download", "list", "remove"]
    }

    fn call<'a>(
        &'a self,
        app: &'a AppAccess,
        operation: &'a str,
        args: Vec<Value>,
        _cancel: CancelToken,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            let arg = |i: usize, name: &str| -> Result<String, BlockError> {
                match args.get(i) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(BlockError::Permanent(format!(
                        "apps.{}.{operation}: argument {} ({name}) must be text",
                        app.short_name,
                        i + 1
                    ))),
                }
            };
            let mut session = self.session(Some(app)).await?;
            let result = match operation {
                "upload" => {
                    let (path, content) = (arg(0, "path")?, arg(1, "content")?);
                    let temporary = format!("{path}.part");
                    let mut upload = session.upload(&temporary).await?;
                    upload.write(content.as_bytes()).await?;
                    upload.finish().await?;
                    session.rename(&temporary, &path).await?;
                    json!({"path": path, "size": content.len()})
                }
                "download" => {
                    let bytes = session.download(&arg(0, "path")?).await?;
                    Value::String(String::from_utf8_lossy(&bytes).into_owned())
                }
                "list" => json!(
                    session
                        .names(&arg(0, "folder").unwrap_or("/".into()))
                        .await?
                ),
                "remove" => {
                    session.remove(&arg(0, "path")?).await?;
                    Value::Null
                }
                other => {
                    return Err(BlockError::Permanent(format!(
                        "apps.{} has no operation '{other}'",
                        app.short_name
                    )));
                }
            };
            session.quit().await;
            Ok(result)
        })
    }
}
