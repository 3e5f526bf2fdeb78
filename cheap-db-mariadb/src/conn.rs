//! The shared SQL engine's connection over mysql_async, and MariaDB's dialect.

use async_trait::async_trait;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Transaction, Value as MyValue};
use uuid::Uuid;

use crate::error::map_err;
use cheap_core::{CheapError, PropertyType, PropertyValue, Result};
use cheap_sql::schema::ColumnType as Col;
use cheap_sql::{Arg, Dialect, Row, SqlConn, Value};

/// MariaDB's SQL: backtick quoting, `ON DUPLICATE KEY UPDATE`, a lock row per catalog for
/// writers, and `LEFT`/`CONCAT` where the others use `substr`/`||`.
pub(crate) struct MariaDbDialect;

/// Where we differ from the reference's MariaDB script, and why:
/// - Every table uses the binary collation `utf8mb4_bin`, so keys compare exactly: `Admin` and
///   `admin` are two directory keys (the reference's `utf8mb4_unicode_ci` makes them collide).
/// - Ids are `CHAR(36)` in the ascii charset; names are `VARCHAR(255)`, directory keys
///   `VARCHAR(500)` (whole-column keys instead of the reference's 255-character prefixes, which
///   made two long keys with one prefix collide). A longer name or key is refused as invalid
///   input.
/// - Values are `LONGTEXT`/`LONGBLOB`, so a value is not cut at 64 KiB.
/// - Foreign keys are optional (on by default), and the tree node's parent key is left out:
///   InnoDB cascades at most 15 levels deep, and trees go deeper. Subtrees are removed by path.
/// - A lock row per catalog serializes its writers.
impl Dialect for MariaDbDialect {
    fn schema_type(&self, t: Col) -> String {
        match t {
            Col::Id => "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin".into(),
            Col::Name => "VARCHAR(255)".into(),
            Col::Key(n) => format!("VARCHAR({n})"),
            Col::Text => "TEXT".into(),
            Col::LongText => "LONGTEXT".into(),
            Col::Bytes => "LONGBLOB".into(),
            Col::Int => "INT".into(),
            Col::BigInt => "BIGINT".into(),
            Col::Flag => "BOOLEAN".into(),
            Col::Code(values) => format!(
                "VARCHAR({})",
                values.iter().map(|v| v.len()).max().unwrap_or(1)
            ),
            _ => "TEXT".into(),
        }
    }

    fn table_options(&self) -> &'static str {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    }

    fn deep_cascades(&self) -> bool {
        false
    }

    fn index_column(&self, col: &str, t: Col) -> String {
        // A TEXT column is indexed by a prefix.
        match t {
            Col::Text => format!("{col}(255)"),
            _ => col.to_owned(),
        }
    }

    fn cluster_health_sql(&self) -> Option<&'static str> {
        Some(
            "SELECT @@wsrep_on, \
             (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY'), \
             (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE'), \
             (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'), \
             (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_STATUS'), \
             (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE')",
        )
    }

    /// A Galera node serves when it is ready, synced (local state 4) and in the primary
    /// component; a server without wsrep is not a cluster node and always serves.
    fn cluster_health(
        &self,
        row: &mut cheap_sql::Row,
    ) -> cheap_core::Result<cheap_core::dao::Health> {
        if row.opt_int(0)?.unwrap_or(0) == 0 {
            return Ok(cheap_core::dao::Health::up());
        }
        let mut details = Vec::new();
        for (i, name) in [
            "wsrep_ready",
            "wsrep_local_state",
            "wsrep_local_state_comment",
            "wsrep_cluster_status",
            "wsrep_cluster_size",
        ]
        .iter()
        .enumerate()
        {
            details.push((name.to_string(), row.opt_string(i + 1)?.unwrap_or_default()));
        }
        let value = |name: &str| {
            details
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let up = value("wsrep_ready").eq_ignore_ascii_case("ON")
            && value("wsrep_local_state") == "4"
            && value("wsrep_cluster_status").eq_ignore_ascii_case("Primary");
        Ok(cheap_core::dao::Health::new(up, details))
    }

    fn schema_lock(&self) -> Option<(&'static str, &'static str)> {
        Some((
            "SELECT GET_LOCK('cheap_init_schema', 60)",
            "SELECT RELEASE_LOCK('cheap_init_schema')",
        ))
    }

    fn extra_ddl(&self) -> &'static [&'static str] {
        &["CREATE TABLE IF NOT EXISTS cheap_catalog_lock (
            catalog_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            writes BIGINT NOT NULL DEFAULT 0) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
          // One row per write transaction on a Galera node, written inside it: whether it
          // committed can be asked afterwards (see `Committing`). Rows go after ten minutes.
          "CREATE TABLE IF NOT EXISTS cheap_commit (
            token CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            at_ms BIGINT NOT NULL, INDEX cheap_commit_at (at_ms)) ENGINE=InnoDB DEFAULT CHARSET=ascii"]
    }

    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }

    fn on_conflict(&self, keys: &[&str], update: &[&str]) -> String {
        match update {
            // A no-op update: unlike INSERT IGNORE it turns no other error into a warning.
            [] => {
                let k = keys.first().copied().unwrap_or("catalog_id");
                format!("ON DUPLICATE KEY UPDATE {k} = {k}")
            }
            cols => format!(
                "ON DUPLICATE KEY UPDATE {}",
                cols.iter()
                    .map(|c| format!("{c} = VALUES({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn max_params(&self) -> usize {
        // ~1,000 rows of 8 columns: the measured sweet spot, far below the 65,535 placeholders
        // and the 16 MiB packet.
        8000
    }

    fn in_chunk(&self) -> usize {
        1000
    }

    fn lock_catalog(&self, catalog: Uuid) -> Option<(&'static str, Arg<'static>)> {
        // Updating the catalog's lock row holds its exclusive row lock until commit, whether or
        // not the catalog exists yet.
        Some((
            "INSERT INTO cheap_catalog_lock (catalog_id, writes) VALUES (?, 1) ON DUPLICATE KEY UPDATE writes = writes + 1",
            Arg::Uuid(catalog),
        ))
    }

    fn id_type(&self) -> &'static str {
        "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin"
    }

    fn column_type(&self, t: PropertyType) -> &'static str {
        match t {
            PropertyType::Integer => "BIGINT",
            PropertyType::Float => "DOUBLE",
            PropertyType::Boolean => "BOOLEAN",
            PropertyType::DateTime => "DATETIME(6)",
            PropertyType::Uuid => "CHAR(36)",
            PropertyType::Blob => "LONGBLOB",
            PropertyType::Text | PropertyType::Clob => "LONGTEXT",
            _ => "TEXT",
        }
    }

    fn bind_value<'a>(&self, t: PropertyType, v: Option<&'a PropertyValue>) -> Arg<'a> {
        match (t, v) {
            // DATETIME keeps no offset: the instant is stored in UTC.
            (_, Some(PropertyValue::DateTime(dt))) => Arg::Text(
                dt.to_utc()
                    .format("%Y-%m-%d %H:%M:%S%.6f")
                    .to_string()
                    .into(),
            ),
            (_, Some(PropertyValue::Integer(i))) => Arg::Int(*i),
            (_, Some(PropertyValue::Float(f))) => Arg::Real(*f),
            (_, Some(PropertyValue::Boolean(b))) => Arg::Bool(*b),
            (_, Some(PropertyValue::Blob(b))) => Arg::Bytes(b.as_slice().into()),
            (_, Some(v)) => v.to_text().map_or(Arg::Null, |s| Arg::Text(s.into())),
            (_, None) => Arg::Null,
        }
    }

    fn list_tables_sql(&self) -> &'static str {
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name"
    }

    fn table_columns_sql(&self) -> &'static str {
        "SELECT column_name, column_type, is_nullable = 'YES' FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position"
    }
}

/// A pooled connection, in a transaction or not. Dropping a transaction unfinished returns its
/// connection to the pool, which rolls it back.
/// Write transactions found rolled back by the server just before their commit (and run
/// again), in this process.
pub(crate) static ABORTED_BEFORE_COMMIT: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

pub(crate) enum MyConn {
    /// A read transaction.
    Tx(Transaction<'static>),
    /// A write transaction on a plain server: checked to be alive before it commits.
    Write(Transaction<'static>),
    /// A write transaction on a Galera node.
    Galera(GaleraWrite),
    Plain(Conn),
}

/// A write transaction on a Galera node, run with `autocommit=0` and a commit token.
///
/// A node can roll a local transaction back when a replicated write conflicts with it (a
/// brute-force abort) without reporting it to any statement of ours. With autocommit on, the
/// statements after that would each commit on their own: part of a write would land. With it
/// off they open a new, implicit transaction instead, which commits nothing unless we commit
/// it; before committing, the transaction looks for its own token row, written first, and
/// rolls back when the row is gone. After the COMMIT, the token settles what the node
/// answered (see [`Committing`]).
pub(crate) struct GaleraWrite {
    conn: Conn,
    committing: Committing,
}

impl GaleraWrite {
    /// Begins a read-committed write transaction with autocommit off and writes its token.
    pub(crate) async fn begin(mut conn: Conn, pool: &mysql_async::Pool) -> Result<GaleraWrite> {
        // Until the transaction is finished cleanly, the connection goes back to the pool
        // through COM_RESET_CONNECTION: that rolls back whatever is open and restores
        // autocommit (and, through the pool's setup commands, our session variables).
        conn.reset_connection(true);
        conn.query_drop("SET autocommit = 0")
            .await
            .map_err(map_err)?;
        conn.query_drop("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(map_err)?;
        conn.query_drop("START TRANSACTION")
            .await
            .map_err(map_err)?;
        let committing = Committing::begin(&mut conn, pool).await?;
        Ok(GaleraWrite { conn, committing })
    }

    async fn commit(self) -> Result<()> {
        let GaleraWrite {
            mut conn,
            committing,
        } = self;
        let own: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM cheap_commit WHERE token = ?",
                (committing.token.as_str(),),
            )
            .await
            .map_err(map_err)?;
        if own != Some(1) {
            // Dropped here, the connection is reset: the implicit transaction is rolled back.
            ABORTED_BEFORE_COMMIT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                "MariaDB rolled the write transaction back before its commit; running it again"
            );
            return Err(aborted_before_commit());
        }
        let result = conn.query_drop("COMMIT").await.map_err(map_err);
        let result = committing.settle(result).await;
        if result.is_ok() && conn.query_drop("SET autocommit = 1").await.is_ok() {
            // Clean: back to the pool without a reset, keeping its prepared statements.
            conn.reset_connection(false);
        }
        result
    }
}

/// A write transaction's commit token on a Galera node. A node can report a transaction it
/// committed as failed (a deadlock error after its write set was certified and ordered) and,
/// the cluster test suggests, the other way round; the engine's retry would then apply a
/// write twice, or not at all. The token row is written inside the transaction, so after an
/// error its presence says the transaction committed, and after an OK its absence says it did
/// not.
pub(crate) struct Committing {
    pub token: String,
    pub pool: mysql_async::Pool,
}

static COMMITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Committing {
    /// Writes the token inside the transaction open on `tx`.
    pub(crate) async fn begin(tx: &mut Conn, pool: &mysql_async::Pool) -> Result<Committing> {
        let token = Uuid::new_v4().to_string();
        tx.exec_drop(
            "INSERT INTO cheap_commit (token, at_ms) VALUES (?, ?)",
            (token.as_str(), now_ms()),
        )
        .await
        .map_err(map_err)?;
        Ok(Committing {
            token,
            pool: pool.clone(),
        })
    }

    /// Whether the token's transaction committed, asked on another connection; `None` when
    /// the node cannot say.
    async fn committed(&self) -> Option<bool> {
        let mut conn = self.pool.get_conn().await.ok()?;
        let n: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM cheap_commit WHERE token = ?",
                (self.token.as_str(),),
            )
            .await
            .ok()?;
        // Now and then, the tokens nobody will ask about again.
        if COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000 == 999 {
            let _ = conn
                .exec_drop(
                    "DELETE FROM cheap_commit WHERE at_ms < ?",
                    (now_ms() - 600_000,),
                )
                .await;
        }
        n.map(|n| n > 0)
    }

    /// The outcome of a commit that answered `result`, checked against the token.
    async fn settle(&self, result: Result<()>) -> Result<()> {
        match (result, self.committed().await) {
            (Ok(()), Some(false)) => {
                MISREPORTED_COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!("MariaDB answered OK to a COMMIT that did not commit; running the transaction again");
                Err(CheapError::Contention(
                    "the transaction did not commit although MariaDB answered OK".into(),
                ))
            }
            (Err(e), Some(true)) if e.is_transient() => {
                MISREPORTED_COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %e, "MariaDB reported a failed COMMIT for a transaction that committed; not running it again");
                Ok(())
            }
            (result, _) => result,
        }
    }
}

fn aborted_before_commit() -> CheapError {
    CheapError::Contention(
        "MariaDB rolled the transaction back before it committed (a conflicting replicated write)"
            .into(),
    )
}

/// Commits whose answer the commit token contradicted, in this process.
pub(crate) static MISREPORTED_COMMITS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

fn params(args: &[Arg<'_>]) -> Result<Params> {
    if args.is_empty() {
        return Ok(Params::Empty);
    }
    args.iter()
        .map(|a| {
            Ok(match a {
                Arg::Null | Arg::NullOf(_) => MyValue::NULL,
                Arg::Int(i) => MyValue::Int(*i),
                Arg::Real(f) => MyValue::Double(*f),
                Arg::Bool(b) => MyValue::Int(i64::from(*b)),
                Arg::Text(s) => MyValue::Bytes(s.as_bytes().to_vec()),
                Arg::Bytes(b) => MyValue::Bytes(b.to_vec()),
                Arg::Uuid(u) => MyValue::Bytes(u.hyphenated().to_string().into_bytes()),
                other => {
                    return Err(CheapError::invalid(format!(
                        "MariaDB has no array parameters ({other:?})"
                    )))
                }
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Params::Positional)
}

/// Binary collation/charset number: the column holds bytes, not text.
const BINARY_CHARSET: u16 = 63;

fn row(r: mysql_async::Row) -> Row {
    // The columns are shared by every row of a result; a flag per cell is read from them
    // rather than collected per row.
    let columns = r.columns();
    let binary = |i: usize| {
        columns.get(i).is_some_and(|c| {
            c.character_set() == BINARY_CHARSET
                && matches!(
                    c.column_type(),
                    ColumnType::MYSQL_TYPE_BLOB
                        | ColumnType::MYSQL_TYPE_TINY_BLOB
                        | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
                        | ColumnType::MYSQL_TYPE_LONG_BLOB
                        | ColumnType::MYSQL_TYPE_VARCHAR
                        | ColumnType::MYSQL_TYPE_VAR_STRING
                        | ColumnType::MYSQL_TYPE_STRING
                )
        })
    };
    Row(r
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v, binary(i)))
        .map(|(v, binary)| match v {
            MyValue::NULL => Value::Null,
            MyValue::Int(i) => Value::Int(i),
            MyValue::UInt(u) => Value::Int(i64::try_from(u).unwrap_or(i64::MAX)),
            MyValue::Float(f) => Value::Real(f64::from(f)),
            MyValue::Double(f) => Value::Real(f),
            MyValue::Bytes(b) if binary => Value::Bytes(b),
            MyValue::Bytes(b) => match String::from_utf8(b) {
                Ok(s) => Value::Text(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            },
            MyValue::Date(y, mo, d, h, mi, s, us) => Value::Text(format!(
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"
            )),
            MyValue::Time(neg, days, h, mi, s, us) => Value::Text(format!(
                "{}{:02}:{mi:02}:{s:02}.{us:06}",
                if neg { "-" } else { "" },
                u64::from(days) * 24 + u64::from(h)
            )),
        })
        .collect())
}

macro_rules! on_conn {
    ($self:ident, $c:ident => $body:expr) => {
        match $self {
            MyConn::Tx($c) | MyConn::Write($c) => $body,
            MyConn::Galera(GaleraWrite { conn: $c, .. }) => $body,
            MyConn::Plain($c) => $body,
        }
    };
}

impl MyConn {
    async fn execute_here(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let p = params(args)?;
        on_conn!(self, c => {
            let result = c.exec_iter(sql, p).await.map_err(map_err)?;
            let n = result.affected_rows();
            result.drop_result().await.map_err(map_err)?;
            Ok(n)
        })
    }

    async fn for_each_here(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()> {
        let p = params(args)?;
        on_conn!(self, c => {
            let mut result = c.exec_iter(sql, p).await.map_err(map_err)?;
            let mut failed = None;
            while let Some(r) = result.next().await.map_err(map_err)? {
                if failed.is_none() {
                    if let Err(e) = f(row(r)) {
                        failed = Some(e);
                    }
                }
            }
            result.drop_result().await.map_err(map_err)?;
            failed.map_or(Ok(()), Err)
        })
    }

    /// `e`, unless this is a Galera write whose transaction the node has rolled back: then
    /// the statement failed only because it ran outside it (a duplicate key of the write that
    /// won, say), and the answer is contention, so the engine runs the transaction again.
    async fn explain(&mut self, e: CheapError) -> CheapError {
        let MyConn::Galera(g) = self else {
            return e;
        };
        if matches!(e, CheapError::Contention(_)) {
            return e;
        }
        let own: std::result::Result<Option<i64>, _> = g
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM cheap_commit WHERE token = ?",
                (g.committing.token.as_str(),),
            )
            .await;
        match own {
            Ok(Some(1)) => e,
            Ok(_) => {
                ABORTED_BEFORE_COMMIT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %e, "a statement failed after MariaDB rolled the write transaction back; running it again");
                aborted_before_commit()
            }
            Err(_) => e,
        }
    }
}

#[async_trait]
impl SqlConn for MyConn {
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        match self.execute_here(sql, args).await {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    async fn for_each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()> {
        match self.for_each_here(sql, args, f).await {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        match *self {
            MyConn::Tx(tx) => tx.commit().await.map_err(map_err),
            MyConn::Write(mut tx) => {
                // A plain server does not roll a transaction back behind our back, but a
                // Galera node not yet known as one (or one that joined a cluster since we
                // connected) can: so the server is asked whether the transaction is still open.
                let open: Option<i64> = tx
                    .query_first("SELECT @@in_transaction")
                    .await
                    .map_err(map_err)?;
                if open != Some(1) {
                    ABORTED_BEFORE_COMMIT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!("MariaDB rolled the write transaction back before its commit; running it again");
                    return Err(aborted_before_commit());
                }
                tx.commit().await.map_err(map_err)
            }
            MyConn::Galera(g) => g.commit().await,
            MyConn::Plain(_) => Ok(()),
        }
    }
}
