//! `SQL Query`: bind the parameters, stream the rows, turn each into a record.

use super::{Db, Dialect, classify};
use base64::Engine as _;
use canvas_blocks::{BlockError, CancelToken, RecordWriter};
use futures::TryStreamExt;
use serde_json::{Map, Number, Value};
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

/// Rows handed on at once.
pub(crate) const ROWS_PER_BATCH: usize = 1000;

/// How a column's values become JSON, decided once per query from its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    UInt,
    Float4,
    Float8,
    /// Exact decimals, as text so no digit is lost.
    Decimal,
    Text,
    Uuid,
    Json,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    /// Binary, as base64 text.
    Bytes,
    Unknown,
}

impl Kind {
    /// The kind of a column from its type's name as the database reports it.
    pub fn of(dialect: Dialect, type_name: &str) -> Self {
        let name = type_name.to_ascii_uppercase();
        match dialect {
            Dialect::Postgres => match name.as_str() {
                "BOOL" => Self::Bool,
                "INT2" => Self::Int2,
                "INT4" => Self::Int4,
                "INT8" => Self::Int8,
                "FLOAT4" => Self::Float4,
                "FLOAT8" => Self::Float8,
                "NUMERIC" => Self::Decimal,
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "CHAR" => Self::Text,
                "UUID" => Self::Uuid,
                "JSON" | "JSONB" => Self::Json,
                "DATE" => Self::Date,
                "TIME" => Self::Time,
                "TIMESTAMP" => Self::Timestamp,
                "TIMESTAMPTZ" => Self::TimestampTz,
                "BYTEA" => Self::Bytes,
                _ => Self::Unknown,
            },
            // SQL Server rows are read by tiberius, cell by cell (`mssql.rs`).
            Dialect::MsSql => Self::Unknown,
            Dialect::MySql => match name.as_str() {
                "BOOLEAN" => Self::Bool,
                "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" | "YEAR" => Self::Int8,
                n if n.ends_with(" UNSIGNED") => Self::UInt,
                "FLOAT" => Self::Float4,
                "DOUBLE" => Self::Float8,
                "DECIMAL" => Self::Decimal,
                "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" => Self::Text,
                "JSON" => Self::Json,
                "DATE" => Self::Date,
                "TIME" => Self::Time,
                "DATETIME" => Self::Timestamp,
                "TIMESTAMP" => Self::TimestampTz,
                "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY"
                | "BIT" => Self::Bytes,
                _ => Self::Unknown,
            },
        }
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Column `i` of a row as JSON; one arm per kind for each driver.
macro_rules! decode {
    ($row:expr, $i:expr, $kind:expr, $unsigned:ty) => {{
        let row = $row;
        let i = $i;
        if row.try_get_raw(i)?.is_null() {
            return Ok(Value::Null);
        }
        Ok(match $kind {
            Kind::Bool => Value::Bool(row.try_get::<bool, _>(i)?),
            Kind::Int2 => Value::from(row.try_get::<i16, _>(i)?),
            Kind::Int4 => Value::from(row.try_get::<i32, _>(i)?),
            Kind::Int8 => Value::from(row.try_get::<i64, _>(i)?),
            Kind::UInt => Value::from(row.try_get::<$unsigned, _>(i)?),
            Kind::Float4 => float(f64::from(row.try_get::<f32, _>(i)?)),
            Kind::Float8 => float(row.try_get::<f64, _>(i)?),
            Kind::Decimal => Value::String(row.try_get::<sqlx::types::Decimal, _>(i)?.to_string()),
            Kind::Text | Kind::Unknown => Value::String(row.try_get::<String, _>(i)?),
            Kind::Uuid => Value::String(row.try_get::<uuid::Uuid, _>(i)?.to_string()),
            Kind::Json => row.try_get::<sqlx::types::Json<Value>, _>(i)?.0,
            Kind::Date => Value::String(row.try_get::<chrono::NaiveDate, _>(i)?.to_string()),
            Kind::Time => Value::String(row.try_get::<chrono::NaiveTime, _>(i)?.to_string()),
            Kind::Timestamp => Value::String(
                row.try_get::<chrono::NaiveDateTime, _>(i)?
                    .format("%Y-%m-%dT%H:%M:%S%.f")
                    .to_string(),
            ),
            Kind::TimestampTz => Value::String(
                row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)?
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ),
            Kind::Bytes => Value::String(
                base64::engine::general_purpose::STANDARD.encode(row.try_get::<Vec<u8>, _>(i)?),
            ),
        })
    }};
}

fn pg_value(row: &PgRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    // PostgreSQL has no unsigned integers.
    decode!(row, i, kind, i64)
}

fn my_value(row: &MySqlRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    decode!(row, i, kind, u64)
}

/// The columns of a result: names and kinds, from its first row.
struct Columns(Vec<(String, Kind)>);

impl Columns {
    fn of<R: Row>(dialect: Dialect, row: &R) -> Self {
        Self(
            row.columns()
                .iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        Kind::of(dialect, c.type_info().name()),
                    )
                })
                .collect(),
        )
    }

    fn record(
        &self,
        value: impl Fn(usize, Kind) -> Result<Value, sqlx::Error>,
    ) -> Result<Value, BlockError> {
        let mut record = Map::with_capacity(self.0.len());
        for (i, (name, kind)) in self.0.iter().enumerate() {
            let v = value(i, *kind).map_err(|e| {
                BlockError::Permanent(format!(
                    "column '{name}': {e} (cast it to text in the query to read it)"
                ))
            })?;
            record.insert(name.clone(), v);
        }
        Ok(Value::Object(record))
    }
}

/// Binds a JSON parameter as the closest SQL value.
macro_rules! bind_json {
    ($query:expr, $value:expr) => {{
        let q = $query;
        match $value {
            Value::Null => q.bind(None::<String>),
            Value::Bool(b) => q.bind(*b),
            Value::Number(n) if n.is_i64() => q.bind(n.as_i64()),
            Value::Number(n) if n.is_u64() => q.bind(n.as_f64()),
            Value::Number(n) => q.bind(n.as_f64()),
            Value::String(s) => q.bind(s.clone()),
            other => q.bind(other.to_string()),
        }
    }};
}

/// Where a query's rows go.
pub(crate) enum Sink<'a> {
    /// A block's output, batch by batch.
    Output(&'a mut RecordWriter, &'a CancelToken),
    /// A script's result: at most `limit` rows.
    Collect { rows: Vec<Value>, limit: usize },
}

impl Sink<'_> {
    /// Takes a batch; `false` once no more rows are wanted.
    pub(crate) async fn push(&mut self, batch: Vec<Value>) -> Result<bool, BlockError> {
        match self {
            Self::Output(out, cancel) => {
                cancel.check()?;
                out.write_values(&batch).await?;
                Ok(true)
            }
            Self::Collect { rows, limit } => {
                if rows.len() + batch.len() > *limit {
                    return Err(BlockError::Permanent(format!(
                        "the query returned more than {limit} rows; use the SQL Query block for large results"
                    )));
                }
                rows.extend(batch);
                Ok(true)
            }
        }
    }
}

/// Runs `sql` with `params` bound and hands the rows to `sink` in batches
/// of [`ROWS_PER_BATCH`].
pub(crate) async fn stream(
    db: &mut Db,
    sql: &str,
    params: &[Value],
    sink: &mut Sink<'_>,
) -> Result<(), BlockError> {
    let fail = |dialect: Dialect| move |e| BlockError::from(classify(dialect.name(), e));
    let mut batch = Vec::with_capacity(ROWS_PER_BATCH);
    let mut columns: Option<Columns> = None;
    macro_rules! drain {
        ($conn:expr, $dialect:expr, $value:ident) => {{
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
            for p in params {
                query = bind_json!(query, p);
            }
            let mut rows = query.fetch($conn);
            while let Some(row) = rows.try_next().await.map_err(fail($dialect))? {
                let cols = columns.get_or_insert_with(|| Columns::of($dialect, &row));
                batch.push(cols.record(|i, k| $value(&row, i, k))?);
                if batch.len() == ROWS_PER_BATCH && !sink.push(std::mem::take(&mut batch)).await? {
                    return Ok(());
                }
            }
        }};
    }
    match db {
        Db::Pg(c) => drain!(&mut *c, Dialect::Postgres, pg_value),
        Db::My(c) => drain!(&mut *c, Dialect::MySql, my_value),
        Db::Ms(c) => return super::mssql::stream(c, sql, params, sink).await,
    }
    if !batch.is_empty() {
        sink.push(batch).await?;
    }
    Ok(())
}

/// Runs a statement that returns no rows; how many rows it changed.
pub(crate) async fn execute(db: &mut Db, sql: &str, params: &[Value]) -> Result<u64, BlockError> {
    macro_rules! run {
        ($conn:expr) => {{
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
            for p in params {
                query = bind_json!(query, p);
            }
            query
                .execute($conn)
                .await
                .map_err(|e| BlockError::from(classify("the database", e)))?
                .rows_affected()
        }};
    }
    Ok(match db {
        Db::Pg(c) => run!(&mut *c),
        Db::My(c) => run!(&mut *c),
        Db::Ms(c) => super::mssql::execute(c, sql, params).await?,
    })
}
