//! Multi-row statements: rows go to the database a bounded number of parameters at a time,
//! through at most two statement shapes per call (full chunks and the remainder), so the
//! drivers' prepared-statement caches are reused.

use super::conn::{Arg, SqlConn};
use super::dialect::Dialect;
use cheap_core::Result;

/// `(?,?,?)` for `n` columns.
pub(crate) fn tuple(n: usize) -> String {
    format!("({})", vec!["?"; n].join(","))
}

/// `?,?,?` for an `IN (...)` list of `n` items.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn values_sql(head: &str, row: &str, nrows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + nrows * (row.len() + 1) + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..nrows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// An INSERT of many rows: `head` (`INSERT INTO t (a, b)`), the placeholder tuple of one row
/// (`(?,?)`, or with casts) holding `nparams` parameters, and a `tail` (such as a conflict clause).
pub(crate) struct Insert<'s> {
    pub head: &'s str,
    pub row: &'s str,
    pub nparams: usize,
    pub tail: &'s str,
}

impl Insert<'_> {
    /// Inserts `rows`; `bind` pushes one row's arguments. Returns the rows affected.
    pub(crate) async fn run<'a, R>(
        &self,
        conn: &mut dyn SqlConn,
        d: &dyn Dialect,
        rows: &'a [R],
        bind: impl Fn(&mut Vec<Arg<'a>>, &'a R),
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let per = (d.max_params() / self.nparams.max(1)).max(1);
        let full = per.min(rows.len());
        let full_sql = values_sql(self.head, self.row, full, self.tail);
        let mut affected = 0;
        let mut args = Vec::with_capacity(full * self.nparams);
        for chunk in rows.chunks(per) {
            let rest_sql;
            let sql = if chunk.len() == full {
                &full_sql
            } else {
                rest_sql = values_sql(self.head, self.row, chunk.len(), self.tail);
                &rest_sql
            };
            args.clear();
            for r in chunk {
                bind(&mut args, r);
            }
            affected += conn.execute(sql, &args).await?;
        }
        Ok(affected)
    }
}

/// [`Insert::run`] for plain `?` placeholders.
pub(crate) async fn insert<'a, R>(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    head: &str,
    ncols: usize,
    tail: &str,
    rows: &'a [R],
    bind: impl Fn(&mut Vec<Arg<'a>>, &'a R),
) -> Result<u64> {
    let row = tuple(ncols);
    Insert {
        head,
        row: &row,
        nparams: ncols,
        tail,
    }
    .run(conn, d, rows, bind)
    .await
}

/// Runs `sql_for(n)` (a statement with an `IN` list of `n` placeholders after the `fixed`
/// arguments) over `items` in chunks; returns the total rows affected.
pub(crate) async fn execute_in<'a>(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    fixed: &[Arg<'a>],
    items: &[Arg<'a>],
    sql_for: impl Fn(&str) -> String,
) -> Result<u64> {
    let mut n = 0;
    for chunk in items.chunks(d.in_chunk()) {
        let sql = sql_for(&placeholders(chunk.len()));
        let mut args = fixed.to_vec();
        args.extend_from_slice(chunk);
        n += conn.execute(&sql, &args).await?;
    }
    Ok(n)
}
