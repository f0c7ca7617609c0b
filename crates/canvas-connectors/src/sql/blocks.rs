//! `SQL Query` and `SQL Write`, and what scripts call on `apps.<SQL app>`.

use super::query::{self, Sink};
use super::write::Table;
use super::{Db, Dialect, connect};
use crate::reach::Reach;
use canvas_blocks::{
    AppAccess, AppOperations, BlockContext, BlockError, BlockFuture, CallFuture, CancelToken,
    NativeBlock, NativeBlocks, RecordReader, RecordWriter, Variables,
};
use serde_json::{Value, json};
use sqlx::Connection;
use std::sync::Arc;

/// Rows a script's `query` may return at once.
const SCRIPT_ROW_LIMIT: usize = 10_000;

pub(crate) fn register(blocks: &mut NativeBlocks, dialect: Dialect, app: &str, reach: Reach) {
    let sql = Arc::new(Sql {
        dialect,
        app: app.to_string(),
        reach,
    });
    blocks.add(app, Arc::new(QueryBlock(sql.clone())));
    blocks.add(app, Arc::new(WriteBlock(sql.clone())));
    blocks.add_operations(app, sql);
}

struct Sql {
    dialect: Dialect,
    app: String,
    reach: Reach,
}

impl Sql {
    async fn connect(&self, app: Option<&AppAccess>) -> Result<Db, BlockError> {
        let app =
            app.ok_or_else(|| BlockError::Permanent(format!("no {} application", self.app)))?;
        Ok(connect(self.dialect, &app.credentials, &self.reach).await?)
    }
}

async fn close(db: Db) {
    let _ = match db {
        Db::Pg(c) => c.close().await,
        Db::My(c) => c.close().await,
        Db::Ms(c) => {
            let _ = c.close().await;
            Ok(())
        }
    };
}

struct QueryBlock(Arc<Sql>);
struct WriteBlock(Arc<Sql>);

impl NativeBlock for QueryBlock {
    fn name(&self) -> &str {
        "SQL Query"
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        _input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let sql = cx.variables.required_text("query")?.to_string();
            let params = cx.variables.list("parameters")?.to_vec();
            let mut db = self.0.connect(cx.application.as_ref()).await?;
            let cancel = cx.cancel.clone();
            let result =
                query::stream(&mut db, &sql, &params, &mut Sink::Output(output, &cancel)).await;
            close(db).await;
            result
        })
    }
}

impl NativeBlock for WriteBlock {
    fn name(&self) -> &str {
        "SQL Write"
    }

    fn run<'a>(
        &'a self,
        cx: &'a mut BlockContext,
        input: &'a mut RecordReader,
        output: &'a mut RecordWriter,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            let table = cx.variables.required_text("table")?.to_string();
            let keys = key_columns(&cx.variables)?;
            let batch_size = cx.variables.whole_number("batchSize", 1..=100_000)?;
            let batch_size = batch_size.unwrap_or(1000) as usize;
            let mut db = self.0.connect(cx.application.as_ref()).await?;
            let written = write_all(
                &mut db,
                self.0.dialect,
                (&table, keys, batch_size),
                cx,
                input,
            )
            .await;
            close(db).await;
            let (rows, batches) = written?;
            cx.log(format!(
                "wrote {rows} records into {table} in {batches} transactions"
            ));
            output
                .write_values(&[json!({"table": table, "records": rows, "batches": batches})])
                .await?;
            Ok(())
        })
    }
}

/// The input in batches of `batch_size`, one transaction each.
async fn write_all(
    db: &mut Db,
    dialect: Dialect,
    (table, keys, batch_size): (&str, Vec<String>, usize),
    cx: &BlockContext,
    input: &mut RecordReader,
) -> Result<(usize, usize), BlockError> {
    let table = Table::open(db, dialect, table, keys).await?;
    let (mut pending, mut written, mut batches) = (Vec::new(), 0, 0);
    loop {
        let next = input.next_values().await?;
        let done = next.is_none();
        pending.extend(next.unwrap_or_default());
        while pending.len() >= batch_size || (done && !pending.is_empty()) {
            cx.cancel.check()?;
            let rest = pending.split_off(batch_size.min(pending.len()));
            table.write(db, &pending, written + 1).await?;
            written += pending.len();
            batches += 1;
            pending = rest;
        }
        if done {
            return Ok((written, batches));
        }
    }
}

/// `keyColumns`: declared an array of names; a comma-separated text, as
/// older workflows stored it, is read too.
fn key_columns(vars: &Variables) -> Result<Vec<String>, BlockError> {
    match vars.value("keyColumns") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    BlockError::Permanent("variable 'keyColumns' must list column names".into())
                })
            })
            .collect(),
        Some(other) => Err(BlockError::Permanent(format!(
            "variable 'keyColumns' must list column names, got {other}"
        ))),
    }
}

/// `apps.<SQL>.query(sql, params)` → rows (at most 10,000);
/// `apps.<SQL>.execute(sql, params)` → `{rowsAffected}`.
impl AppOperations for Sql {
    fn operations(&self) -> &[&'static str] {
        &["query", "execute"]
    }

    fn call<'a>(
        &'a self,
        app: &'a AppAccess,
        operation: &'a str,
        args: Vec<Value>,
        _cancel: CancelToken,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            let sql = args.first().and_then(Value::as_str).ok_or_else(|| {
                BlockError::Permanent(format!(
                    "apps.{}.{operation}: argument 1 (sql) must be text",
                    app.short_name
                ))
            })?;
            let params = match args.get(1) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items.clone(),
                Some(_) => {
                    return Err(BlockError::Permanent(format!(
                        "apps.{}.{operation}: argument 2 (parameters) must be an array",
                        app.short_name
                    )));
                }
            };
            let mut db = self.connect(Some(app)).await?;
            let result = match operation {
                "query" => {
                    let mut sink = Sink::Collect {
                        rows: Vec::new(),
                        limit: SCRIPT_ROW_LIMIT,
                    };
                    query::stream(&mut db, sql, &params, &mut sink)
                        .await
                        .map(|()| match sink {
                            Sink::Collect { rows, .. } => Value::Array(rows),
                            Sink::Output(..) => Value::Null,
                        })
                }
                "execute" => query::execute(&mut db, sql, &params)
                    .await
                    .map(|n| json!({"rowsAffected": n})),
                other => Err(BlockError::Permanent(format!(
                    "apps.{} has no operation '{other}'",
                    app.short_name
                ))),
            };
            close(db).await;
            result
        })
    }
}
