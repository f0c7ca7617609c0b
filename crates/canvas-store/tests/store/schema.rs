//! The two migration folders make the same schema: the same tables, each
//! with the same columns.

use crate::fixtures::{Backend, PG_URL, TestStore};
use sqlx::Connection;
use std::collections::BTreeMap;

type Schema = BTreeMap<String, Vec<String>>;

async fn sqlite_schema(t: &TestStore) -> Schema {
    let path = t_path(t);
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for table in tables {
        let sql = format!("SELECT name FROM pragma_table_info('{table}') ORDER BY name");
        let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut c)
            .await
            .unwrap();
        schema.insert(table, columns);
    }
    schema
}

fn t_path(t: &TestStore) -> std::path::PathBuf {
    t.sqlite_file().expect("a SQLite store")
}

async fn postgres_schema(t: &TestStore) -> Schema {
    let schema_name = t.schema.clone().expect("a PostgreSQL store");
    let mut c = sqlx::PgConnection::connect(PG_URL).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name NOT LIKE '_sqlx%' ORDER BY table_name, column_name",
    )
    .bind(&schema_name)
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (table, column) in rows {
        schema.entry(table).or_default().push(column);
    }
    schema
}

#[tokio::test]
async fn both_migration_folders_make_the_same_tables_and_columns() {
    let sqlite = TestStore::new(Backend::Sqlite).await;
    let postgres = TestStore::new(Backend::Postgres).await;

    let (lite, pg) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );

    assert!(!lite.is_empty() && lite.contains_key("runs"), "{lite:?}");
    assert_eq!(lite, pg);
    postgres.drop_schema().await;
}
