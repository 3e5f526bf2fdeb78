//! The shared SQL engine's connection over sqlx's SQLite driver, and SQLite's dialect.

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row as _, Sqlite, SqliteConnection, Transaction, TypeInfo, ValueRef};

use crate::error::map_err;
use cheap_core::{CheapError, Result};
use cheap_sql::{Arg, Dialect, Row, SqlConn, Value};

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

/// A pooled connection, in a transaction or not.
pub(crate) enum SqliteConn {
    Tx(Transaction<'static, Sqlite>),
    Plain(PoolConnection<Sqlite>),
}

impl SqliteConn {
    fn conn(&mut self) -> &mut SqliteConnection {
        match self {
            SqliteConn::Tx(tx) => tx,
            SqliteConn::Plain(c) => c,
        }
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

#[async_trait]
impl SqlConn for SqliteConn {
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let a = arguments(args)?;
        Ok(sqlx::query_with(sql, a)
            .execute(self.conn())
            .await
            .map_err(map_err)?
            .rows_affected())
    }

    async fn for_each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()> {
        let a = arguments(args)?;
        let mut rows = sqlx::query_with(sql, a).fetch(self.conn());
        while let Some(r) = rows.try_next().await.map_err(map_err)? {
            f(row(&r)?)?;
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        match *self {
            SqliteConn::Tx(tx) => tx.commit().await.map_err(map_err),
            SqliteConn::Plain(_) => Ok(()),
        }
    }
}
