//! Multi-row statements with PostgreSQL's numbered placeholders, a bounded number of
//! parameters each (far under the 65,535 limit), and at most two statement shapes per table.

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Encode, PgConnection, Postgres, Type};

use crate::error::map_err;
use cheap_core::{CheapError, Result};

/// Arguments of one statement; values borrow from the rows for `'a`.
pub(crate) struct Args<'a> {
    inner: PgArguments,
    error: Option<String>,
    _rows: std::marker::PhantomData<&'a ()>,
}

impl<'a> Args<'a> {
    /// Binds the next value.
    pub(crate) fn bind<T: Encode<'a, Postgres> + Type<Postgres> + 'a>(
        &mut self,
        v: T,
    ) -> &mut Self {
        if let Err(e) = self.inner.add(v) {
            self.error.get_or_insert_with(|| e.to_string());
        }
        self
    }
}

/// Parameters per statement.
const PARAMS_PER_STATEMENT: usize = 8000;

/// Rewrites `?` placeholders as `$1, $2, ...` (our SQL has no `?` inside literals).
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

fn values_sql(head: &str, ncols: usize, nrows: usize, tail: &str) -> String {
    values_sql_cast(head, &vec![String::new(); ncols], nrows, tail)
}

/// Like `values_sql`, with a cast suffix (such as `::BIGINT`) per column.
fn values_sql_cast(head: &str, casts: &[String], nrows: usize, tail: &str) -> String {
    let ncols = casts.len();
    let mut sql = String::with_capacity(head.len() + tail.len() + nrows * ncols * 6 + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut p = 0;
    for i in 0..nrows {
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        for (j, cast) in casts.iter().enumerate() {
            if j > 0 {
                sql.push(',');
            }
            p += 1;
            sql.push('$');
            sql.push_str(&p.to_string());
            sql.push_str(cast);
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// Inserts `rows` with `head` (`INSERT INTO t (a, b)`) and `tail` (such as an `ON CONFLICT`
/// clause); `bind` binds one row's `ncols` values. Returns the rows affected.
pub(crate) async fn insert<'a, R>(
    conn: &mut PgConnection,
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
            inner: PgArguments::default(),
            error: None,
            _rows: std::marker::PhantomData,
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

/// Largest `= ANY(...)` list per statement.
pub(crate) const IN_CHUNK: usize = 5000;

/// [`insert`] with a cast per column (`casts[i]` follows the i-th placeholder).
pub(crate) async fn insert_cast<'a, R>(
    conn: &mut PgConnection,
    head: &str,
    casts: &[String],
    tail: &str,
    rows: &'a [R],
    bind: impl Fn(&mut Args<'a>, &'a R),
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let per = (PARAMS_PER_STATEMENT / casts.len().max(1)).max(1);
    let mut affected = 0;
    for chunk in rows.chunks(per) {
        let sql = values_sql_cast(head, casts, chunk.len(), tail);
        let mut args = Args {
            inner: PgArguments::default(),
            error: None,
            _rows: std::marker::PhantomData,
        };
        for r in chunk {
            bind(&mut args, r);
        }
        if let Some(e) = args.error {
            return Err(CheapError::invalid(format!("cannot bind a value: {e}")));
        }
        affected += sqlx::query_with(&sql, args.inner)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?
            .rows_affected();
    }
    Ok(affected)
}
