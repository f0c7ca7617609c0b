//! File Hub (CMAF): `Send email` — the input records as an attachment,
//! through the server's SMTP configuration — and each account's own file
//! space in the blob store: `Store file` and `Read file`.

use crate::BlockServices;
use canvas_blocks::{
    AccountFiles, BlockContext, BlockError, BlockFuture, Datasets, NativeBlock, NativeBlocks,
    RecordReader, RecordWriter,
};
use canvas_domain::account::Email;
use canvas_formats::FileFormat;
use canvas_mail::{AttachmentMail, MailError, Mailer};
use serde_json::json;
use std::sync::Arc;

pub(crate) fn register(blocks: &mut NativeBlocks, services: &BlockServices, app: &str) {
    blocks.add(
        app,
        Arc::new(SendEmail {
            mailer: services.mailer.clone(),
        }),
    );
    let space = Arc::new(FileSpace {
        datasets: services.datasets.clone(),
    });
    blocks.add(app, Arc::new(StoreFile(space.clone())));
    blocks.add(app, Arc::new(ReadFile(space)));
}

struct FileSpace {
    datasets: Datasets,
}

impl FileSpace {
    fn of(&self, cx: &BlockContext) -> Result<AccountFiles, BlockError> {
        let account = cx.account_id.ok_or_else(|| {
            BlockError::Permanent("File Hub blocks need the workflow's account".into())
        })?;
        Ok(self.datasets.account_files(account))
    }
}

struct StoreFile(Arc<FileSpace>);
struct ReadFile(Arc<FileSpace>);

impl NativeBlock for StoreFile {
    fn name(&self) -> &str {
        "Store file"
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let permanent = |e: &dyn ToString| BlockError::Permanent(e.to_string());
            let format =
                FileFormat::from_variables(cx.variables.raw()).map_err(|e| permanent(&e))?;
            let base = cx.variables.required_text("fileName")?;
            let name = crate::files::with_extension(base, &format);
            canvas_blocks::check_file_name(&name)
                .map_err(|e| BlockError::Permanent(format!("variable 'fileName': {e}")))?;
            let files = self.0.of(cx)?;
            let (content, records) = render(cx, input, &format).await?;
            let size = content.len();
            files.write(&name, content.into()).await?;
            cx.log(format!("stored {name} ({records} records, {size} bytes)"));
            output
                .write_values(&[json!({"fileName": name, "records": records, "size": size})])
                .await?;
            Ok(())
        })
    }
}

impl NativeBlock for ReadFile {
    fn name(&self) -> &str {
        "Read file"
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        _input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let format = FileFormat::from_variables(cx.variables.raw())
                .map_err(|e| BlockError::Permanent(e.to_string()))?;
            let pattern = cx.variables.required_text("fileName")?.to_string();
            let files = self.0.of(cx)?;
            let names: Vec<String> = files
                .list()
                .await?
                .into_iter()
                .map(|f| f.name)
                .filter(|n| crate::files::matches(&pattern, n))
                .collect();
            if names.is_empty() {
                return Err(BlockError::Permanent(format!(
                    "no file of this account's File Hub matches '{pattern}'"
                )));
            }
            for name in names {
                cx.cancel.check()?;
                let mut spool = crate::files::Spool::new()?;
                let size = files.copy_to(&name, spool.writer()).await?;
                let records = spool
                    .into_records((&name, size), &format, cx, output)
                    .await?;
                cx.log(format!("read {name}: {records} records"));
            }
            Ok(())
        })
    }
}

/// The whole input rendered as one file.
async fn render(
    cx: &BlockContext,
    input: &mut RecordReader,
    format: &FileFormat,
) -> Result<(Vec<u8>, usize), BlockError> {
    let permanent = |e: &dyn ToString| BlockError::Permanent(e.to_string());
    let mut file = format.writer();
    let mut content = Vec::new();
    while let Some(values) = input.next_values().await? {
        cx.cancel.check()?;
        file.write(&values).map_err(|e| permanent(&e))?;
        content.extend(file.take());
    }
    let records = file.records();
    content.extend(file.finish().map_err(|e| permanent(&e))?);
    Ok((content, records))
}

struct SendEmail {
    mailer: Option<Mailer>,
}

impl NativeBlock for SendEmail {
    fn name(&self) -> &str {
        "Send email"
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let permanent = |e: &dyn ToString| BlockError::Permanent(e.to_string());
            let Some(mailer) = &self.mailer else {
                return Err(BlockError::Permanent(
                    "no SMTP server is configured for this Canvas server ([smtp] in canvas.toml)"
                        .into(),
                ));
            };
            let subject = cx.variables.required_text("subject")?.to_string();
            let to = recipients(cx)?;
            let format =
                FileFormat::from_variables(cx.variables.raw()).map_err(|e| permanent(&e))?;
            let base = cx.variables.text("fileName")?.unwrap_or("Data");
            let file_name = crate::files::with_extension(base, &format);
            let (content, records) = render(cx, input, &format).await?;
            let size = content.len();
            let note = cx.variables.text("note")?.unwrap_or_default().to_string();
            mailer
                .send_attachment(AttachmentMail {
                    to: &to,
                    subject: &subject,
                    note: &note,
                    file_name: &file_name,
                    content_type: format.content_type(),
                    content,
                })
                .await
                .map_err(|e| match e {
                    MailError::Send(_) => BlockError::Transient(format!("sending the email: {e}")),
                    other => permanent(&other),
                })?;
            cx.log(format!(
                "sent {file_name} ({records} records, {size} bytes) to {}",
                to.join(", ")
            ));
            let record = json!({"to": to, "subject": subject, "fileName": file_name, "records": records, "size": size});
            output.write_values(&[record]).await?;
            Ok(())
        })
    }
}

/// The `to` variable's addresses, else the account's notification address.
fn recipients(cx: &BlockContext) -> Result<Vec<String>, BlockError> {
    let listed: Vec<String> = cx
        .variables
        .text("to")?
        .unwrap_or_default()
        .split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !listed.is_empty() {
        return Ok(listed);
    }
    let no_recipient = "set the variable 'to' or the account's defaultNotificationEmail";
    match cx.account_email.clone() {
        None => Err(BlockError::Permanent(format!(
            "no recipient: {no_recipient}"
        ))),
        Some(address) if Email::is_placeholder(&address) => Err(BlockError::Permanent(format!(
            "no recipient: the account's email {address} is the placeholder `canvas init` made \
             (no mail reaches it); {no_recipient}"
        ))),
        Some(address) => Ok(vec![address]),
    }
}
