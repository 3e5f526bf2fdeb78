//! Multi-row statements: rows go to SQLite a few thousand parameters at a time, through at most
//! two statement shapes per table (full chunks and the remainder), so prepared statements are
//! reused from sqlx's cache.

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Encode, Sqlite, SqliteConnection, Type};

use crate::error::map_err;
use cheap_core::{CheapError, Result};

/// Arguments of one statement; values borrow from the rows for `'a`.
pub(crate) struct Args<'a> {
    inner: SqliteArguments<'a>,
    error: Option<String>,
}

impl<'a> Args<'a> {
    /// Binds the next value.
    pub(crate) fn bind<T: Encode<'a, Sqlite> + Type<Sqlite> + 'a>(&mut self, v: T) -> &mut Self {
        if let Err(e) = self.inner.add(v) {
            self.error.get_or_insert_with(|| e.to_string());
        }
        self
    }
}

/// Parameters per statement; SQLite allows 32766, smaller statements measured faster.
const PARAMS_PER_STATEMENT: usize = 4000;

fn values_sql(head: &str, ncols: usize, nrows: usize, tail: &str) -> String {
    let one = format!("({})", vec!["?"; ncols].join(","));
    let mut sql = String::with_capacity(head.len() + tail.len() + nrows * (one.len() + 1) + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..nrows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&one);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// Inserts `rows` with `head` (`INSERT INTO t (a, b)`) and `tail` (such as an `ON CONFLICT`
/// clause); `bind` binds one row's `ncols` values. Returns the rows affected.
pub(crate) async fn insert<'a, R>(
    conn: &mut SqliteConnection,
    head: &str,
    ncols: usize,
    tail: &str,
    rows: &'a [R],
    bind: impl Fn(&mut Args<'a>, &'a R),
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let per = (PARAMS_PER_STATEMENT / ncols).max(1);
    let full_sql = values_sql(head, ncols, per.min(rows.len()), tail);
    let mut affected = 0;
    for chunk in rows.chunks(per) {
        let rest_sql;
        let sql = if chunk.len() == per.min(rows.len()) {
            &full_sql
        } else {
            rest_sql = values_sql(head, ncols, chunk.len(), tail);
            &rest_sql
        };
        let mut args = Args {
            inner: SqliteArguments::default(),
            error: None,
        };
        for r in chunk {
            bind(&mut args, r);
        }
        if let Some(e) = args.error {
            return Err(CheapError::invalid(format!("cannot bind a value: {e}")));
        }
        affected += sqlx::query_with(sql, args.inner)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?
            .rows_affected();
    }
    Ok(affected)
}

/// `?, ?, ?` for an `IN (...)` list of `n` items.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// Largest `IN (...)` list per statement.
pub(crate) const IN_CHUNK: usize = 900;
