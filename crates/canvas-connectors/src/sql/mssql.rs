//! Microsoft SQL Server through tiberius (TDS 7.3+): connect and log in,
//! rows to records, records to rows. SQL Server cannot run on this machine,
//! so its statements and type mapping are tested without a server (here and
//! in `statement.rs`); the connection path is not tested.

use super::query::{ROWS_PER_BATCH, Sink};
use crate::ConnectorError;
use crate::reach::Reach;
use base64::Engine as _;
use canvas_blocks::BlockError;
use canvas_domain::credentials::Credentials;
use futures::TryStreamExt;
use serde_json::{Map, Number, Value};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, FromSql, Query};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub(crate) type MsClient = Client<Compat<TcpStream>>;

const NAME: &str = "SQL Server";

fn config(c: &Credentials) -> Result<(Config, String), ConnectorError> {
    let port = crate::port(c, 1433)?;
    let host = c.get_str("address").unwrap_or_default().trim().to_string();
    let mut config = Config::new();
    config.host(&host);
    config.port(port);
    config.database(c.get_str("database").unwrap_or_default());
    config.authentication(AuthMethod::sql_server(
        c.get_str("username").unwrap_or_default(),
        c.get_str("password").unwrap_or_default(),
    ));
    // Without `encrypt` only the login is encrypted, as SQL Server clients do by default.
    config.encryption(if c.get_bool("encrypt").unwrap_or(false) {
        EncryptionLevel::Required
    } else {
        EncryptionLevel::Off
    });
    if c.get_bool("trustServerCertificate").unwrap_or(false) {
        config.trust_cert();
    }
    Ok((config, format!("the {NAME} at {host}:{port}")))
}

pub(crate) async fn connect(c: &Credentials, reach: &Reach) -> Result<MsClient, ConnectorError> {
    let (config, target) = config(c)?;
    let timeout = reach.timeout;
    let host = c.get_str("address").unwrap_or_default().trim().to_string();
    let port = crate::port(c, 1433)?;
    let address = reach.resolve(&host, port).await?;
    let connecting = async {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| ConnectorError::Unreachable(format!("{target}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        Client::connect(config, tcp.compat_write())
            .await
            .map_err(|e| classify(&target, e))
    };
    tokio::time::timeout(timeout, connecting)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectorError::Unreachable(format!(
                "{target}: no answer within {} s",
                timeout.as_secs()
            )))
        })
}

/// Login failed (18456) and unknown database (4060) are the credentials'
/// fault; deadlocks and throttling are worth a retry.
pub(crate) fn classify(target: &str, e: tiberius::error::Error) -> ConnectorError {
    use tiberius::error::Error;
    match e {
        Error::Server(token) => {
            let message = format!("{} ({})", token.message(), token.code());
            match token.code() {
                18456 | 4060 | 18486 | 18487 | 18488 => {
                    ConnectorError::Rejected(format!("{target} refused: {message}"))
                }
                1205 | 40501 | 40613 | 49918 | 49919 | 49920 => ConnectorError::Transient(message),
                _ => ConnectorError::Failed(message),
            }
        }
        Error::Io { message, .. } => ConnectorError::Unreachable(format!("{target}: {message}")),
        Error::Tls(m) => ConnectorError::Rejected(format!("{target}: TLS: {m}")),
        Error::Routing { host, port } => ConnectorError::Failed(format!(
            "{target} redirects to {host}:{port}; register that address"
        )),
        other => ConnectorError::Transient(format!("{target}: {other}")),
    }
}

fn fail(e: tiberius::error::Error) -> BlockError {
    BlockError::from(classify(NAME, e))
}

/// A cell as JSON: numbers and booleans as themselves, exact decimals and
/// dates as text, binary as base64.
pub(crate) fn value(data: &ColumnData<'static>) -> Result<Value, String> {
    let float = |f: f64| Number::from_f64(f).map_or(Value::Null, Value::Number);
    let text = |t: Option<String>| t.map_or(Value::Null, Value::String);
    Ok(match data {
        ColumnData::U8(v) => v.map_or(Value::Null, Value::from),
        ColumnData::I16(v) => v.map_or(Value::Null, Value::from),
        ColumnData::I32(v) => v.map_or(Value::Null, Value::from),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::from),
        ColumnData::F32(v) => v.map_or(Value::Null, |f| float(f64::from(f))),
        ColumnData::F64(v) => v.map_or(Value::Null, float),
        ColumnData::Bit(v) => v.map_or(Value::Null, Value::Bool),
        ColumnData::String(v) => text(v.as_ref().map(|s| s.to_string())),
        ColumnData::Guid(v) => text(v.map(|g| g.to_string())),
        ColumnData::Binary(v) => text(
            v.as_ref()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        ColumnData::Numeric(v) => text(v.map(|n| n.to_string())),
        ColumnData::Xml(v) => text(v.as_ref().map(|x| x.to_string())),
        ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_) => {
            let t = chrono::NaiveDateTime::from_sql(data).map_err(|e| e.to_string())?;
            text(t.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()))
        }
        ColumnData::Date(_) => text(
            chrono::NaiveDate::from_sql(data)
                .map_err(|e| e.to_string())?
                .map(|d| d.to_string()),
        ),
        ColumnData::Time(_) => text(
            chrono::NaiveTime::from_sql(data)
                .map_err(|e| e.to_string())?
                .map(|t| t.to_string()),
        ),
        ColumnData::DateTimeOffset(_) => {
            let t = chrono::DateTime::<chrono::FixedOffset>::from_sql(data)
                .map_err(|e| e.to_string())?;
            text(t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
        }
    })
}

/// Binds a JSON parameter as the closest SQL Server value.
pub(crate) fn bind(query: &mut Query<'_>, v: &Value) {
    match v {
        Value::Null => query.bind(Option::<String>::None),
        Value::Bool(b) => query.bind(*b),
        Value::Number(n) if n.is_i64() => query.bind(n.as_i64()),
        Value::Number(n) => query.bind(n.as_f64()),
        Value::String(s) => query.bind(s.clone()),
        other => query.bind(other.to_string()),
    }
}

pub(crate) async fn stream(
    client: &mut MsClient,
    sql: &str,
    params: &[Value],
    sink: &mut Sink<'_>,
) -> Result<(), BlockError> {
    let mut query = Query::new(sql.to_string());
    for p in params {
        bind(&mut query, p);
    }
    let mut rows = query.query(client).await.map_err(fail)?.into_row_stream();
    let mut batch = Vec::with_capacity(ROWS_PER_BATCH);
    while let Some(row) = rows.try_next().await.map_err(fail)? {
        let mut record = Map::with_capacity(row.len());
        for (column, data) in row.cells() {
            let v = value(data)
                .map_err(|e| BlockError::Permanent(format!("column '{}': {e}", column.name())))?;
            record.insert(column.name().to_string(), v);
        }
        batch.push(Value::Object(record));
        if batch.len() == ROWS_PER_BATCH {
            sink.push(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        sink.push(batch).await?;
    }
    Ok(())
}

pub(crate) async fn execute(
    client: &mut MsClient,
    sql: &str,
    params: &[Value],
) -> Result<u64, BlockError> {
    let mut query = Query::new(sql.to_string());
    for p in params {
        bind(&mut query, p);
    }
    Ok(query.execute(client).await.map_err(fail)?.total())
}

pub(crate) async fn columns(
    client: &mut MsClient,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<(String, String)>, BlockError> {
    let mut query = Query::new(
        "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(@P1, SCHEMA_NAME()) AND TABLE_NAME = @P2 ORDER BY ORDINAL_POSITION",
    );
    query.bind(schema.map(str::to_string));
    query.bind(table.to_string());
    let rows = query
        .query(client)
        .await
        .map_err(fail)?
        .into_first_result()
        .await
        .map_err(fail)?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get::<&str, _>(0)?.to_string(),
                r.get::<&str, _>(1)?.to_string(),
            ))
        })
        .collect())
}

/// Runs `statements` (SQL and its text parameters) in one transaction.
pub(crate) async fn in_transaction(
    client: &mut MsClient,
    statements: Vec<(String, Vec<Option<String>>)>,
) -> Result<(), tiberius::error::Error> {
    client
        .simple_query("BEGIN TRANSACTION")
        .await?
        .into_results()
        .await?;
    for (sql, params) in statements {
        let mut query = Query::new(sql);
        for p in params {
            query.bind(p);
        }
        if let Err(e) = query.execute(client).await {
            let _ = client.simple_query("IF @@TRANCOUNT > 0 ROLLBACK").await;
            return Err(e);
        }
    }
    client.simple_query("COMMIT").await?.into_results().await?;
    Ok(())
}

pub(crate) async fn check(c: &Credentials, reach: &Reach) -> Result<(), ConnectorError> {
    let mut client = connect(c, reach).await?;
    let checked = match client.simple_query("SELECT 1").await {
        Ok(stream) => stream.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    checked.map_err(|e| classify(NAME, e))?;
    let _ = client.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::borrow::Cow;
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime2, Time};

    #[test]
    fn cells_map_to_json_by_type() {
        assert_eq!(value(&ColumnData::I32(Some(-7))).unwrap(), json!(-7));
        assert_eq!(value(&ColumnData::I64(None)).unwrap(), Value::Null);
        assert_eq!(value(&ColumnData::Bit(Some(true))).unwrap(), json!(true));
        assert_eq!(value(&ColumnData::F64(Some(2.5))).unwrap(), json!(2.5));
        assert_eq!(
            value(&ColumnData::String(Some(Cow::from("Øre")))).unwrap(),
            json!("Øre")
        );
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(
                12345, 2
            ))))
            .unwrap(),
            json!("123.45")
        );
        assert_eq!(
            value(&ColumnData::Binary(Some(Cow::from(&b"hi"[..])))).unwrap(),
            json!("aGk=")
        );
        // 2024-01-02: days since 0001-01-01; 03:04:05 in 100 ns units at scale 7.
        let date = Date::new(738_886);
        assert_eq!(
            value(&ColumnData::Date(Some(date))).unwrap(),
            json!("2024-01-02")
        );
        let time = Time::new(110_450_000_000, 7);
        assert_eq!(
            value(&ColumnData::DateTime2(Some(DateTime2::new(date, time)))).unwrap(),
            json!("2024-01-02T03:04:05")
        );
    }

    #[test]
    fn parameters_bind_with_their_json_types() {
        let mut query = Query::new("SELECT @P1, @P2, @P3, @P4, @P5");
        for v in [json!(1), json!(2.5), json!(true), json!("x"), Value::Null] {
            bind(&mut query, &v);
        }
        let shown = format!("{query:?}");
        for expected in [
            "I64(Some(1))",
            "F64(Some(2.5))",
            "Bit(Some(true))",
            "String(Some(\"x\"))",
            "String(None)",
        ] {
            assert!(shown.contains(expected), "{expected} in {shown}");
        }
    }

    #[test]
    fn a_port_out_of_range_is_refused() {
        let c = Credentials::from_stored_json(
            &json!({"address": "127.0.0.1", "port": 99999, "database": "d", "username": "u", "password": "p"}).to_string(),
        )
        .unwrap();
        let Err(ConnectorError::Rejected(message)) = config(&c) else {
            panic!("a bad port is refused")
        };
        assert_eq!(message, "Port must be between 1 and 65535, got 99999.");
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Credentials::from_stored_json(
            &json!({"address": "127.0.0.1", "port": port, "database": "d", "username": "u", "password": "secret-pw"}).to_string(),
        )
        .unwrap();
        let reach = Reach {
            timeout: std::time::Duration::from_secs(2),
            egress: canvas_domain::egress::EgressPolicy::allowing(&["127.0.0.1"]).unwrap(),
        };
        let Err(ConnectorError::Unreachable(message)) = connect(&c, &reach).await else {
            panic!("nothing listens there")
        };
        let default = Reach {
            egress: Default::default(),
            ..reach
        };
        let Err(ConnectorError::NotAllowed(refused)) = connect(&c, &default).await else {
            panic!("loopback is internal")
        };
        assert!(
            refused.starts_with("address 127.0.0.1 is not allowed for connectors"),
            "{refused}"
        );
        assert!(
            message.starts_with(&format!("the SQL Server at 127.0.0.1:{port}: ")),
            "{message}"
        );
        assert!(!message.contains("secret-pw"));
    }
}
