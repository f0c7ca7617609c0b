//! SQL text for `SQL Write`, per dialect: identifiers quoted, every value a
//! bind parameter. Pure, so it is tested without a server (SQL Server's
//! included).

use super::Dialect;

/// The columns written and their types, as the table's catalog names them.
pub(crate) struct InsertShape<'a> {
    pub dialect: Dialect,
    /// The table, already quoted (and schema-qualified when given so).
    pub table: &'a str,
    pub columns: &'a [&'a (String, String)],
    /// Key columns for an upsert; empty for a plain insert.
    pub keys: &'a [String],
}

impl InsertShape<'_> {
    /// One statement for `rows` rows; parameters numbered row by row.
    pub fn sql(&self, rows: usize) -> String {
        match self.dialect {
            Dialect::MsSql if !self.keys.is_empty() => self.merge(rows),
            _ => self.insert(rows),
        }
    }

    fn names(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|(c, _)| self.dialect.quote(c))
            .collect()
    }

    fn placeholder(&self, n: usize, column_type: &str) -> String {
        match self.dialect {
            // Bound as text; PostgreSQL converts to the column's type only when told.
            Dialect::Postgres => format!("${n}::{}", self.dialect.quote(column_type)),
            Dialect::MySql => "?".into(),
            Dialect::MsSql => format!("@P{n}"),
        }
    }

    fn values(&self, rows: usize) -> String {
        let width = self.columns.len();
        (0..rows)
            .map(|row| {
                let cells: Vec<String> = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, ty))| self.placeholder(row * width + i + 1, ty))
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn insert(&self, rows: usize) -> String {
        let names = self.names();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table,
            names.join(", "),
            self.values(rows)
        );
        sql.push_str(&self.upsert_clause(&names));
        sql
    }

    fn keys_quoted(&self) -> Vec<String> {
        self.keys.iter().map(|k| self.dialect.quote(k)).collect()
    }

    /// PostgreSQL and MySQL: a row whose key exists is updated instead.
    fn upsert_clause(&self, names: &[String]) -> String {
        if self.keys.is_empty() {
            return String::new();
        }
        let keys = self.keys_quoted();
        let others: Vec<&String> = names.iter().filter(|n| !keys.contains(n)).collect();
        match self.dialect {
            Dialect::Postgres if others.is_empty() => {
                format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "))
            }
            Dialect::Postgres => {
                let set: Vec<String> = others
                    .iter()
                    .map(|c| format!("{c} = EXCLUDED.{c}"))
                    .collect();
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    keys.join(", "),
                    set.join(", ")
                )
            }
            Dialect::MySql => {
                let set: Vec<String> = match others.first() {
                    None => vec![format!("{0} = {0}", keys[0])],
                    Some(_) => others
                        .iter()
                        .map(|c| format!("{c} = VALUES({c})"))
                        .collect(),
                };
                format!(" ON DUPLICATE KEY UPDATE {}", set.join(", "))
            }
            Dialect::MsSql => String::new(),
        }
    }

    /// SQL Server's upsert: `MERGE` from the bound rows on the key columns.
    fn merge(&self, rows: usize) -> String {
        let names = self.names();
        let keys = self.keys_quoted();
        let on: Vec<String> = keys.iter().map(|k| format!("t.{k} = s.{k}")).collect();
        let others: Vec<&String> = names.iter().filter(|n| !keys.contains(n)).collect();
        let mut sql = format!(
            "MERGE INTO {} WITH (HOLDLOCK) AS t USING (VALUES {}) AS s ({}) ON {}",
            self.table,
            self.values(rows),
            names.join(", "),
            on.join(" AND ")
        );
        if !others.is_empty() {
            let set: Vec<String> = others.iter().map(|c| format!("t.{c} = s.{c}")).collect();
            sql.push_str(&format!(" WHEN MATCHED THEN UPDATE SET {}", set.join(", ")));
        }
        let sources: Vec<String> = names.iter().map(|c| format!("s.{c}")).collect();
        sql.push_str(&format!(
            " WHEN NOT MATCHED THEN INSERT ({}) VALUES ({});",
            names.join(", "),
            sources.join(", ")
        ));
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<(String, String)> {
        vec![
            ("id".into(), "int4".into()),
            ("na\"me]".into(), "text".into()),
        ]
    }

    fn shape<'a>(
        dialect: Dialect,
        cols: &'a [&'a (String, String)],
        keys: &'a [String],
    ) -> InsertShape<'a> {
        InsertShape {
            dialect,
            table: "T",
            columns: cols,
            keys,
        }
    }

    #[test]
    fn inserts_bind_every_value_and_quote_every_name() {
        let owned = columns();
        let cols: Vec<&(String, String)> = owned.iter().collect();
        assert_eq!(
            shape(Dialect::Postgres, &cols, &[]).sql(2),
            r#"INSERT INTO T ("id", "na""me]") VALUES ($1::"int4", $2::"text"), ($3::"int4", $4::"text")"#
        );
        assert_eq!(
            shape(Dialect::MySql, &cols, &[]).sql(1),
            "INSERT INTO T (`id`, `na\"me]`) VALUES (?, ?)"
        );
        assert_eq!(
            shape(Dialect::MsSql, &cols, &[]).sql(2),
            "INSERT INTO T ([id], [na\"me]]]) VALUES (@P1, @P2), (@P3, @P4)"
        );
    }

    #[test]
    fn upserts_update_the_other_columns() {
        let owned = columns();
        let cols: Vec<&(String, String)> = owned.iter().collect();
        let keys = ["id".to_string()];
        assert!(
            shape(Dialect::Postgres, &cols, &keys)
                .sql(1)
                .ends_with(r#" ON CONFLICT ("id") DO UPDATE SET "na""me]" = EXCLUDED."na""me]""#)
        );
        assert!(
            shape(Dialect::MySql, &cols, &keys)
                .sql(1)
                .ends_with(" ON DUPLICATE KEY UPDATE `na\"me]` = VALUES(`na\"me]`)")
        );
        assert_eq!(
            shape(Dialect::MsSql, &cols, &keys).sql(2),
            "MERGE INTO T WITH (HOLDLOCK) AS t USING (VALUES (@P1, @P2), (@P3, @P4)) AS s ([id], [na\"me]]]) \
             ON t.[id] = s.[id] WHEN MATCHED THEN UPDATE SET t.[na\"me]]] = s.[na\"me]]] \
             WHEN NOT MATCHED THEN INSERT ([id], [na\"me]]]) VALUES (s.[id], s.[na\"me]]]);"
        );
    }
}
