//! `SQL Write`: records into a table, in batches of one transaction each.
//! Column names come from the records but must be the table's own; every
//! value is bound as text and converted by the database to the column's type.

use super::statement::InsertShape;
use super::{Db, Dialect, classify};
use canvas_blocks::BlockError;
use serde_json::Value;
use sqlx::{Connection, Row};

/// Bind parameters per statement stay under PostgreSQL's and MySQL's limit (65,535)...
const MAX_PARAMETERS: usize = 60_000;
/// ...and SQL Server's (2,100).
const MSSQL_MAX_PARAMETERS: usize = 2_000;

/// A table and its columns, read from the database's catalog.
pub(crate) struct Table {
    dialect: Dialect,
    /// Quoted, schema-qualified when given so.
    quoted: String,
    name: String,
    /// (name, type) in table order.
    columns: Vec<(String, String)>,
    keys: Vec<String>,
}

impl Table {
    /// `table` may be `schema.table`; `keys` name the columns of a unique key for upserts.
    pub async fn open(
        db: &mut Db,
        dialect: Dialect,
        table: &str,
        keys: Vec<String>,
    ) -> Result<Self, BlockError> {
        let (schema, name) = match table.split_once('.') {
            Some((s, n)) => (Some(s.to_string()), n.to_string()),
            None => (None, table.to_string()),
        };
        let columns = columns(db, dialect, schema.as_deref(), &name).await?;
        if columns.is_empty() {
            return Err(BlockError::Permanent(format!(
                "variable 'table': the table '{table}' does not exist (or this login cannot see it)"
            )));
        }
        let quoted = match &schema {
            Some(s) => format!("{}.{}", dialect.quote(s), dialect.quote(&name)),
            None => dialect.quote(&name),
        };
        let table = Self {
            dialect,
            quoted,
            name: table.to_string(),
            columns,
            keys,
        };
        for key in &table.keys {
            table
                .column(key)
                .map_err(|e| BlockError::Permanent(format!("variable 'keyColumns': {e}")))?;
        }
        Ok(table)
    }

    fn shape<'a>(&'a self, columns: &'a [&'a (String, String)]) -> InsertShape<'a> {
        InsertShape {
            dialect: self.dialect,
            table: &self.quoted,
            columns,
            keys: &self.keys,
        }
    }

    fn column(&self, name: &str) -> Result<&(String, String), String> {
        self.columns
            .iter()
            .find(|(c, _)| c == name)
            .ok_or_else(|| format!("the table '{}' has no column '{name}'", self.name))
    }

    /// Inserts (or upserts) `records` in one transaction; `first` numbers the
    /// first record in messages.
    pub async fn write(
        &self,
        db: &mut Db,
        records: &[Value],
        first: usize,
    ) -> Result<(), BlockError> {
        let names = field_names(records);
        let mut columns = Vec::with_capacity(names.len());
        for name in &names {
            columns.push(self.column(name).map_err(BlockError::Permanent)?);
        }
        let limit = if self.dialect == Dialect::MsSql {
            MSSQL_MAX_PARAMETERS
        } else {
            MAX_PARAMETERS
        };
        let rows_per_statement = (limit / columns.len().max(1)).max(1);
        let label = format!("records {first}–{}", first + records.len() - 1);
        let fail = |e| match classify(self.dialect.name(), e) {
            crate::ConnectorError::Failed(m) => BlockError::Permanent(format!("{label}: {m}")),
            other => BlockError::from(other),
        };
        macro_rules! in_transaction {
            ($conn:expr) => {{
                let mut tx = $conn.begin().await.map_err(fail)?;
                for chunk in records.chunks(rows_per_statement) {
                    let sql = self.shape(&columns).sql(chunk.len());
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for record in chunk {
                        for (name, ty) in &columns {
                            let value = text(self.dialect, ty, record.get(name.as_str()));
                            query = query.bind(value);
                        }
                    }
                    query.execute(&mut *tx).await.map_err(fail)?;
                }
                tx.commit().await.map_err(fail)?;
            }};
        }
        match db {
            Db::Pg(c) => in_transaction!(c),
            Db::My(c) => in_transaction!(c),
            Db::Ms(c) => {
                let statements = records
                    .chunks(rows_per_statement)
                    .map(|chunk| {
                        (
                            self.shape(&columns).sql(chunk.len()),
                            self.parameters(&columns, chunk),
                        )
                    })
                    .collect();
                super::mssql::in_transaction(c, statements)
                    .await
                    .map_err(|e| match super::mssql::classify(self.dialect.name(), e) {
                        crate::ConnectorError::Failed(m) => {
                            BlockError::Permanent(format!("{label}: {m}"))
                        }
                        other => BlockError::from(other),
                    })?;
            }
        }
        Ok(())
    }

    /// The chunk's values, row by row, as the text each column takes.
    fn parameters(&self, columns: &[&(String, String)], chunk: &[Value]) -> Vec<Option<String>> {
        chunk
            .iter()
            .flat_map(|record| {
                columns
                    .iter()
                    .map(|(name, ty)| text(self.dialect, ty, record.get(name.as_str())))
            })
            .collect()
    }
}

/// Every field name of the batch, in first-seen order.
fn field_names(records: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for record in records {
        if let Value::Object(fields) = record {
            for key in fields.keys() {
                if !names.iter().any(|n| n == key) {
                    names.push(key.clone());
                }
            }
        }
    }
    names
}

/// A value as the text the database converts to the column's type. An
/// empty cell (CSV has no null) is NULL in a column that is not text: ''
/// is no number, date or boolean.
fn text(dialect: Dialect, column_type: &str, value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() && !holds_text(column_type) => None,
        Value::String(s) if dialect == Dialect::MySql => Some(mysql_time(column_type, s)),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) if dialect != Dialect::Postgres => Some(if *b { "1" } else { "0" }.into()),
        other => Some(other.to_string()),
    }
}

/// Whether a column type (PostgreSQL `udt_name`, MySQL or SQL Server
/// `data_type`) holds text, where an empty string is a value.
fn holds_text(column_type: &str) -> bool {
    let t = column_type.to_ascii_lowercase();
    t.contains("char")
        || t.contains("text")
        || t.contains("blob")
        || t.contains("binary")
        || matches!(
            t.as_str(),
            "name" | "citext" | "enum" | "set" | "bytea" | "xml"
        )
}

/// MySQL's date and time columns refuse ISO 8601 with an offset
/// (`2024-01-02T03:04:05Z`, what `SQL Query` gives for PostgreSQL's
/// `timestamptz`): such values go in as UTC in MySQL's own form.
fn mysql_time(column_type: &str, text: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) else {
        return text.to_string();
    };
    let utc = t.naive_utc();
    match column_type.to_ascii_lowercase().as_str() {
        "datetime" | "timestamp" => utc.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        "date" => utc.format("%Y-%m-%d").to_string(),
        _ => text.to_string(),
    }
}

async fn columns(
    db: &mut Db,
    dialect: Dialect,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<(String, String)>, BlockError> {
    let fail = |e| BlockError::from(classify(dialect.name(), e));
    let rows: Vec<(String, String)> = match db {
        Db::Pg(c) => sqlx::query(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns \
             WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 \
             ORDER BY ordinal_position",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(&mut *c)
        .await
        .map_err(fail)?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(fail)?,
        Db::My(c) => sqlx::query(
            "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR) FROM information_schema.columns \
             WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
             ORDER BY ordinal_position",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(&mut *c)
        .await
        .map_err(fail)?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(fail)?,
        Db::Ms(c) => super::mssql::columns(c, schema, table).await?,
    };
    Ok(rows)
}
