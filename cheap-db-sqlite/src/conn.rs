//! The shared SQL engine's connection over sqlx's SQLite driver, and SQLite's dialect.

use sqlx::sqlite::{SqliteArguments, SqliteQueryResult, SqliteRow};
use sqlx::{Arguments, Row as _, Sqlite, TypeInfo, ValueRef};

use crate::error::map_err;
use cheap_core::{CheapError, Result};
use cheap_sql::sqlx_conn::SqlxDriver;
use cheap_sql::{Arg, Dialect, Row, Value};

/// SQLite's SQL: the engine's defaults, plus `rowid` for row order and identity.
pub(crate) struct SqliteDialect;

impl Dialect for SqliteDialect {
    // SQLite has no boolean type: flags are checked integers.
    fn flag_literal(&self, v: bool) -> &'static str {
        if v {
            "1"
        } else {
            "0"
        }
    }

    fn flag_check(&self) -> bool {
        true
    }

    fn hierarchy_order(&self) -> &'static str {
        // rowid keeps the insertion order of databases the reference wrote (no order column).
        "h.hierarchy_order IS NULL, h.hierarchy_order, h.rowid"
    }

    // One tree instead of a table and a key index of almost the same width.
    fn clustered_table_options(&self) -> &'static str {
        " WITHOUT ROWID"
    }

    fn row_key(&self) -> Option<&'static str> {
        Some("rowid")
    }

    fn list_tables_sql(&self) -> &'static str {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    }

    fn table_columns_sql(&self) -> &'static str {
        "SELECT name, type, \"notnull\" = 0 FROM pragma_table_info(?) ORDER BY cid"
    }
}

/// sqlx's SQLite driver under the shared connection layer.
#[derive(Debug, Clone, Copy)]
pub struct SqliteDriver;

impl SqlxDriver for SqliteDriver {
    type Db = Sqlite;

    const NAME: &'static str = "sqlite";

    // BEGIN IMMEDIATE: concurrent writers wait on the busy timeout instead of failing with
    // "database is locked" when a read lock is upgraded.
    const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");

    const CHECK_BEFORE_ACQUIRE: bool = false;

    fn dialect() -> &'static dyn Dialect {
        &SqliteDialect
    }

    fn arguments<'q>(args: &'q [Arg<'q>]) -> Result<SqliteArguments<'q>> {
        arguments(args)
    }

    fn row(r: &SqliteRow) -> Result<Row> {
        row(r)
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn map_err(e: sqlx::Error) -> CheapError {
        map_err(e)
    }
}

fn arguments<'q>(args: &'q [Arg<'q>]) -> Result<SqliteArguments<'q>> {
    let mut out = SqliteArguments::default();
    for a in args {
        let r = match a {
            Arg::Null | Arg::NullOf(_) => out.add(None::<i64>),
            Arg::Int(i) => out.add(*i),
            Arg::Real(f) => out.add(*f),
            Arg::Bool(b) => out.add(*b),
            Arg::Text(s) => out.add(s.as_ref()),
            Arg::Bytes(b) => out.add(b.as_ref()),
            Arg::Uuid(u) => out.add(u.to_string()),
            other => {
                return Err(CheapError::invalid(format!(
                    "SQLite has no array parameters ({other:?})"
                )))
            }
        };
        r.map_err(|e| CheapError::invalid(format!("cannot bind a value: {e}")))?;
    }
    Ok(out)
}

/// A row's columns by their stored class (SQLite types values, not columns).
fn row(r: &SqliteRow) -> Result<Row> {
    let mut out = Vec::with_capacity(r.columns().len());
    for i in 0..r.columns().len() {
        let raw = r.try_get_raw(i).map_err(map_err)?;
        if raw.is_null() {
            out.push(Value::Null);
            continue;
        }
        let kind = raw.type_info();
        out.push(match kind.name() {
            "INTEGER" | "BOOLEAN" => Value::Int(r.try_get(i).map_err(map_err)?),
            "REAL" => Value::Real(r.try_get(i).map_err(map_err)?),
            "BLOB" => Value::Bytes(r.try_get(i).map_err(map_err)?),
            _ => Value::Text(r.try_get(i).map_err(map_err)?),
        });
    }
    Ok(Row(out))
}
