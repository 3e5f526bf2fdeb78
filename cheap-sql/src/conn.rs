//! What the shared SQL engine needs from a driver: statements with positional arguments, rows
//! of plain values, and transactions. Each backend crate implements [`SqlConn`] over its driver
//! and [`SqlBackend`] over its pool; the engine does the rest (see [`SqlDao`](crate::SqlDao)).

use std::borrow::Cow;

use async_trait::async_trait;
use uuid::Uuid;

use super::dialect::Dialect;
use crate::table_mapping::MappingRegistry;
use cheap_core::{CheapError, Result};

/// A statement argument. The SQL always uses `?` placeholders; a driver with another syntax
/// (PostgreSQL's `$1`) rewrites them.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    /// SQL NULL of no particular type.
    Null,
    /// SQL NULL of a type (databases that type their parameters need it for NULL ids and bytes).
    NullOf(SqlType),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Real(f64),
    /// A boolean (an integer 0/1 where the database has no boolean type).
    Bool(bool),
    /// Text.
    Text(Cow<'a, str>),
    /// Bytes.
    Bytes(Cow<'a, [u8]>),
    /// An id: native where the database has a UUID type, else its hyphenated lower-case text.
    Uuid(Uuid),
    /// An array of ids (only for dialects with array parameters).
    UuidArray(Vec<Uuid>),
    /// An array of optional texts (only for dialects with array parameters).
    TextArray(Vec<Option<&'a str>>),
    /// An array of 32-bit integers (only for dialects with array parameters).
    IntArray(Vec<i32>),
    /// An array of optional byte strings (only for dialects with array parameters).
    BytesArray(Vec<Option<&'a [u8]>>),
}

impl<'a> Arg<'a> {
    /// Borrowed text.
    pub fn text(s: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(s))
    }

    /// Optional borrowed text (NULL for `None`).
    pub fn opt_text(s: Option<&'a str>) -> Self {
        s.map_or(Arg::NullOf(SqlType::Text), Arg::text)
    }

    /// Optional id (NULL for `None`).
    pub fn opt_uuid(u: Option<Uuid>) -> Self {
        u.map_or(Arg::NullOf(SqlType::Uuid), Arg::Uuid)
    }

    /// Optional borrowed bytes (NULL for `None`).
    pub fn opt_bytes(b: Option<&'a [u8]>) -> Self {
        b.map_or(Arg::NullOf(SqlType::Bytes), |b| Arg::Bytes(b.into()))
    }
}

/// The type of a typed NULL argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlType {
    /// Integer.
    Int,
    /// Double.
    Real,
    /// Boolean.
    Bool,
    /// Text.
    Text,
    /// Bytes.
    Bytes,
    /// UUID.
    Uuid,
}

/// A value read from a result column.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    /// SQL NULL.
    #[default]
    Null,
    /// Any integer column.
    Int(i64),
    /// Any floating-point column.
    Real(f64),
    /// A boolean column (databases with a boolean type).
    Bool(bool),
    /// Any text column.
    Text(String),
    /// A binary column.
    Bytes(Vec<u8>),
    /// A native UUID column.
    Uuid(Uuid),
}

/// One result row. Accessors convert leniently between the forms drivers use for the same
/// logical type (an id as text or native, a flag as boolean or integer) and report a stored
/// value of the wrong kind as an error, never a panic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row(pub Vec<Value>);

fn bad(i: usize, want: &str, got: &Value) -> CheapError {
    CheapError::invalid(format!(
        "stored column {i} is not {want}: {}",
        match got {
            Value::Null => "NULL".to_owned(),
            v => format!("{v:?}"),
        }
    ))
}

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| CheapError::invalid(format!("result row has no column {i}")))
    }

    /// Takes column `i` out of the row (leaving NULL).
    pub fn take(&mut self, i: usize) -> Value {
        self.0.get_mut(i).map(std::mem::take).unwrap_or_default()
    }

    /// Whether column `i` is NULL (or missing).
    pub fn is_null(&self, i: usize) -> bool {
        matches!(self.0.get(i), None | Some(Value::Null))
    }

    /// An integer (booleans count as 0/1; integer text is parsed).
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.at(i)? {
            Value::Int(n) => Ok(*n),
            Value::Bool(b) => Ok(i64::from(*b)),
            Value::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| bad(i, "an integer", &Value::Text(s.clone()))),
            v => Err(bad(i, "an integer", v)),
        }
    }

    /// An optional integer.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        if self.is_null(i) {
            return Ok(None);
        }
        self.int(i).map(Some)
    }

    /// A flag: a boolean, or an integer where nonzero is true.
    pub fn bool(&self, i: usize) -> Result<bool> {
        match self.at(i)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            v => Err(bad(i, "a boolean", v)),
        }
    }

    /// Text, taken out of the row.
    pub fn string(&mut self, i: usize) -> Result<String> {
        match self.take(i) {
            Value::Text(s) => Ok(s),
            Value::Uuid(u) => Ok(u.to_string()),
            Value::Int(n) => Ok(n.to_string()),
            Value::Bytes(b) => String::from_utf8(b)
                .map_err(|_| CheapError::invalid(format!("stored column {i} is not UTF-8 text"))),
            v => Err(bad(i, "text", &v)),
        }
    }

    /// Optional text, taken out of the row.
    pub fn opt_string(&mut self, i: usize) -> Result<Option<String>> {
        if self.is_null(i) {
            return Ok(None);
        }
        self.string(i).map(Some)
    }

    /// Borrowed text.
    pub fn str(&self, i: usize) -> Result<&str> {
        match self.at(i)? {
            Value::Text(s) => Ok(s),
            v => Err(bad(i, "text", v)),
        }
    }

    /// An id, native or as text.
    pub fn uuid(&self, i: usize) -> Result<Uuid> {
        match self.at(i)? {
            Value::Uuid(u) => Ok(*u),
            Value::Text(s) => Uuid::parse_str(s)
                .map_err(|_| CheapError::invalid(format!("stored id '{s}' is not a UUID"))),
            Value::Bytes(b) if b.len() == 16 => {
                Uuid::from_slice(b).map_err(|_| bad(i, "a UUID", &Value::Bytes(b.clone())))
            }
            v => Err(bad(i, "a UUID", v)),
        }
    }

    /// An optional id.
    pub fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>> {
        if self.is_null(i) {
            return Ok(None);
        }
        self.uuid(i).map(Some)
    }

    /// Optional bytes, taken out of the row.
    pub fn opt_bytes(&mut self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.take(i) {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b)),
            Value::Text(s) => Ok(Some(s.into_bytes())),
            v => Err(bad(i, "bytes", &v)),
        }
    }
}

/// A connection, inside a transaction or not, as the engine uses it.
#[async_trait]
pub trait SqlConn: Send {
    /// Runs a statement; returns the rows it affected.
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64>;

    /// Runs a query and hands each row to `f` as it arrives (so a large scan is not held in
    /// memory twice).
    async fn for_each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()>;

    /// Commits the transaction (a no-op outside one). Dropping the connection without
    /// committing rolls the transaction back.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Inside an atomic batch, the batch's state: the engine stamps every write of the batch
    /// with one version and sets the catalog's version once, at the end. `None` for a
    /// backend's own connections.
    #[doc(hidden)]
    fn batch(&mut self) -> Option<&mut BatchState> {
        None
    }
}

/// What the engine tracks while it runs an atomic batch (see [`SqlConn::batch`]).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchState {
    /// The version every write of the batch is stamped with.
    pub version: i64,
    /// True once a write stamped something (the batch changed the catalog).
    pub stamped: bool,
    /// The index of the operation running now.
    pub op: usize,
    /// Every hierarchy a write of the batch stamped, with the index of the operation that
    /// did: which position indexes the batch's noted steps describe whole.
    pub touched: Vec<(usize, String)>,
}

impl dyn SqlConn + '_ {
    /// All rows of a query.
    pub async fn fetch_all(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        self.for_each(sql, args, &mut |r| {
            out.push(r);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// The first row of a query, if any.
    pub async fn fetch_optional(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>> {
        Ok(self.fetch_all(sql, args).await?.into_iter().next())
    }

    /// The first row of a query that always returns one.
    pub async fn fetch_one(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Row> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or_else(|| CheapError::backend("sql", "the query returned no row"))
    }

    /// The integer in the first column of the first row.
    pub async fn fetch_int(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<i64> {
        self.fetch_one(sql, args).await?.int(0)
    }
}

/// How a connection is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// No transaction: each statement on its own.
    None,
    /// A read transaction: one consistent snapshot for several queries.
    Read,
    /// A write transaction (the backend takes whatever lock its writers need up front).
    Write,
}

/// A SQL backend as the shared engine sees it: a dialect, a pool of [`SqlConn`]s and the table
/// mappings. For any type implementing it, [`SqlDao`](crate::SqlDao) of that type is a
/// [`CheapDao`](cheap_core::CheapDao): every operation is the engine's, written once for all
/// SQL databases.
#[async_trait]
pub trait SqlBackend: Send + Sync + std::fmt::Debug + 'static {
    /// The backend's name in errors and metrics (`sqlite`, `postgres`, `mariadb`).
    fn name(&self) -> &'static str;

    /// The SQL differences of this database.
    fn dialect(&self) -> &dyn Dialect;

    /// The aspect table mappings registered with this backend.
    fn mapping_registry(&self) -> &MappingRegistry;

    /// A connection from the pool, in a transaction of the given mode.
    async fn connect(&self, mode: TxMode) -> Result<Box<dyn SqlConn>>;

    /// Closes the pool.
    async fn close_pool(&self) -> Result<()>;

    /// Starts telling `wake` of every change to a catalog committed by any process, when the
    /// database can notify (PostgreSQL's LISTEN), and returns the task doing it; it ends when
    /// it can no longer listen, and is started again at the next look. `None` (this default)
    /// when the database cannot: watchers then poll.
    fn notify_changes(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let _ = wake;
        None
    }
}
