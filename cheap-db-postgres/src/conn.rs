//! The shared SQL engine's connection over sqlx's PostgreSQL driver, and PostgreSQL's dialect.

use std::borrow::Cow;

use sqlx::postgres::{PgArguments, PgQueryResult, PgRow};
use sqlx::{Arguments, Postgres, Row as _, TypeInfo, ValueRef};
use uuid::Uuid;

use crate::error::map_err;
use cheap_core::{CheapError, PropertyType, PropertyValue, Result};
use cheap_sql::schema::ColumnType;
use cheap_sql::sqlx_conn::SqlxDriver;
use cheap_sql::{Arg, Dialect, Row, SqlType, Value};

/// PostgreSQL's SQL: native ids, typed mapped columns written as text with a cast, advisory
/// locks per catalog, and value rows written through `UNNEST`.
pub(crate) struct PgDialect;

fn pg_type(t: PropertyType) -> &'static str {
    match t {
        PropertyType::Integer => "BIGINT",
        PropertyType::Float => "DOUBLE PRECISION",
        PropertyType::Boolean => "BOOLEAN",
        PropertyType::DateTime => "TIMESTAMPTZ",
        PropertyType::Uuid => "UUID",
        PropertyType::Blob => "BYTEA",
        _ => "TEXT",
    }
}

impl Dialect for PgDialect {
    fn refresh_statistics(&self) -> Option<&'static str> {
        Some("ANALYZE property_value, aspect, hierarchy, hierarchy_aspect_map, hierarchy_entity_list, hierarchy_entity_set, hierarchy_entity_directory, hierarchy_entity_tree_node")
    }

    fn schema_type(&self, t: ColumnType) -> String {
        match t {
            ColumnType::Id => "UUID",
            ColumnType::Bytes => "BYTEA",
            ColumnType::Int => "INTEGER",
            ColumnType::BigInt => "BIGINT",
            ColumnType::Flag => "BOOLEAN",
            _ => "TEXT",
        }
        .into()
    }

    fn extra_ddl(&self) -> &'static [&'static str] {
        // Watchers in every process learn of a write at its commit (LISTEN on the channel):
        // every write changes its catalog's row, and NOTIFY is delivered at commit only.
        &["CREATE OR REPLACE FUNCTION cheap_catalog_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('cheap_catalog_changed', OLD.catalog_id::text);
  ELSE
    PERFORM pg_notify('cheap_catalog_changed', NEW.catalog_id::text);
  END IF;
  RETURN NULL;
END $$",
          "DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'cheap_catalog_notify' AND tgrelid = 'catalog'::regclass) THEN
    CREATE TRIGGER cheap_catalog_notify AFTER INSERT OR UPDATE OR DELETE ON catalog
      FOR EACH ROW EXECUTE PROCEDURE cheap_catalog_notify();
  END IF;
END $$"]
    }

    fn schema_lock(&self) -> Option<(&'static str, &'static str)> {
        Some((
            "SELECT pg_advisory_lock(727001)",
            "SELECT pg_advisory_unlock(727001)",
        ))
    }

    fn max_params(&self) -> usize {
        8000
    }

    fn in_chunk(&self) -> usize {
        5000
    }

    fn lock_catalog(&self, catalog: Uuid) -> Option<(&'static str, Arg<'static>)> {
        let (hi, lo) = catalog.as_u64_pair();
        Some((
            "SELECT pg_advisory_xact_lock(?)",
            Arg::Int((hi ^ lo) as i64),
        ))
    }

    fn unnest_values(&self) -> bool {
        true
    }

    fn id_type(&self) -> &'static str {
        "UUID"
    }

    fn column_type(&self, t: PropertyType) -> &'static str {
        pg_type(t)
    }

    fn value_placeholder(&self, t: PropertyType) -> String {
        match t {
            PropertyType::Blob => "?".into(),
            t => format!("?::{}", pg_type(t)),
        }
    }

    fn bind_value<'a>(&self, t: PropertyType, v: Option<&'a PropertyValue>) -> Arg<'a> {
        // Everything but bytes travels as text and is cast in SQL to the column type.
        match (t, v) {
            (PropertyType::Blob, None) => Arg::NullOf(SqlType::Bytes),
            (_, None) => Arg::NullOf(SqlType::Text),
            (_, Some(PropertyValue::Blob(b))) => Arg::Bytes(b.as_slice().into()),
            (_, Some(v)) => v
                .to_text()
                .map_or(Arg::NullOf(SqlType::Text), |s| Arg::Text(s.into())),
        }
    }

    fn select_value(&self, col: &str, t: PropertyType) -> String {
        match t {
            PropertyType::Blob => format!("t.{col}"),
            // ISO text with the offset, which the DateTime parser reads.
            PropertyType::DateTime => format!("to_json(t.{col})#>>'{{}}'"),
            _ => format!("t.{col}::text"),
        }
    }

    fn natural_order(&self) -> Option<&'static str> {
        Some("ctid")
    }

    fn list_tables_sql(&self) -> &'static str {
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
    }

    fn table_columns_sql(&self) -> &'static str {
        "SELECT column_name::text, data_type::text, is_nullable = 'YES' FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position"
    }
}

/// Rewrites `?` placeholders as `$1, $2, ...` (the engine's SQL has no `?` inside literals).
pub(crate) fn pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// sqlx's PostgreSQL driver under the shared connection layer. Writers of one catalog are
/// serialized by the engine through the dialect's advisory lock, taken right after BEGIN.
#[derive(Debug, Clone, Copy)]
pub struct PgDriver;

impl SqlxDriver for PgDriver {
    type Db = Postgres;

    const NAME: &'static str = "postgres";

    // PostgreSQL's default, read committed, gives each statement its own snapshot; repeatable
    // read gives the whole transaction the one taken at its first statement. A read-only
    // transaction at that level never fails to serialize.
    const BEGIN_READ: Option<&'static str> =
        Some("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");

    fn dialect() -> &'static dyn Dialect {
        &PgDialect
    }

    fn sql(sql: &str) -> Cow<'_, str> {
        Cow::Owned(pg(sql))
    }

    fn arguments<'q>(args: &'q [Arg<'q>]) -> Result<PgArguments> {
        arguments(args)
    }

    fn row(r: &PgRow) -> Result<Row> {
        row(r)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn map_err(e: sqlx::Error) -> CheapError {
        map_err(e)
    }

    /// Listens on [`CHANGES_CHANNEL`], which the catalog table's trigger notifies at each
    /// commit that changed a catalog row (every write bumps its version), from any process.
    fn notify_changes(
        pool: &sqlx::PgPool,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let pool = pool.clone();
        Some(tokio::spawn(async move {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot listen for catalog changes");
                    return;
                }
            };
            if let Err(e) = listener.listen(CHANGES_CHANNEL).await {
                tracing::debug!(error = %e, "cannot listen for catalog changes");
                return;
            }
            // Whatever happened before the LISTEN took effect is seen by this first look.
            wake.notify_one();
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => wake.notify_one(),
                    // The connection was lost and is made again at the next call:
                    // notifications in between are lost, so look.
                    Ok(None) => wake.notify_one(),
                    Err(e) => {
                        tracing::debug!(error = %e, "listening for catalog changes failed");
                        wake.notify_one();
                        return;
                    }
                }
            }
        }))
    }
}

/// The channel a PostgreSQL store notifies of catalog changes (the payload is the catalog id).
pub const CHANGES_CHANNEL: &str = "cheap_catalog_changed";

fn arguments(args: &[Arg<'_>]) -> Result<PgArguments> {
    let mut out = PgArguments::default();
    for a in args {
        let r = match a {
            Arg::Null | Arg::NullOf(SqlType::Text) => out.add(None::<String>),
            Arg::NullOf(SqlType::Uuid) => out.add(None::<Uuid>),
            Arg::NullOf(SqlType::Bytes) => out.add(None::<Vec<u8>>),
            Arg::NullOf(SqlType::Bool) => out.add(None::<bool>),
            Arg::NullOf(SqlType::Real) => out.add(None::<f64>),
            Arg::NullOf(_) => out.add(None::<i64>),
            Arg::Int(i) => out.add(*i),
            Arg::Real(f) => out.add(*f),
            Arg::Bool(b) => out.add(*b),
            Arg::Text(s) => out.add(s.as_ref()),
            Arg::Bytes(b) => out.add(b.as_ref()),
            Arg::Uuid(u) => out.add(*u),
            Arg::UuidArray(v) => out.add(v),
            Arg::TextArray(v) => out.add(v),
            Arg::IntArray(v) => out.add(v),
            Arg::BytesArray(v) => out.add(v),
        };
        r.map_err(|e| CheapError::invalid(format!("cannot bind a value: {e}")))?;
    }
    Ok(out)
}

fn row(r: &PgRow) -> Result<Row> {
    // Each value is decoded from the raw column it was read as: `try_get` would look the
    // column up again and check the type's compatibility once more, for every cell of a load.
    fn decode<'r, T: sqlx::Decode<'r, Postgres>>(raw: sqlx::postgres::PgValueRef<'r>) -> Result<T> {
        T::decode(raw).map_err(|e| map_err(sqlx::Error::Decode(e)))
    }
    let mut out = Vec::with_capacity(r.columns().len());
    for i in 0..r.columns().len() {
        let raw = r.try_get_raw(i).map_err(map_err)?;
        if raw.is_null() {
            out.push(Value::Null);
            continue;
        }
        let kind = match raw.type_info().name() {
            "INT2" => Kind::Int2,
            "INT4" => Kind::Int4,
            "INT8" => Kind::Int8,
            "FLOAT4" => Kind::Float4,
            "FLOAT8" => Kind::Float8,
            "BOOL" => Kind::Bool,
            "UUID" => Kind::Uuid,
            "BYTEA" => Kind::Bytes,
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Kind::Text,
            _ => Kind::Other,
        };
        out.push(match kind {
            Kind::Int2 => Value::Int(i64::from(decode::<i16>(raw)?)),
            Kind::Int4 => Value::Int(i64::from(decode::<i32>(raw)?)),
            Kind::Int8 => Value::Int(decode(raw)?),
            Kind::Float4 => Value::Real(f64::from(decode::<f32>(raw)?)),
            Kind::Float8 => Value::Real(decode(raw)?),
            Kind::Bool => Value::Bool(decode(raw)?),
            Kind::Uuid => Value::Uuid(decode(raw)?),
            Kind::Bytes => Value::Bytes(decode(raw)?),
            Kind::Text => Value::Text(decode(raw)?),
            // Checked for compatibility: a type that is not text is an error, not its bytes.
            Kind::Other => Value::Text(r.try_get(i).map_err(map_err)?),
        });
    }
    Ok(Row(out))
}

/// The column types a row's values are read as.
enum Kind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Uuid,
    Bytes,
    Text,
    Other,
}
