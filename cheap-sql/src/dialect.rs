//! The differences between the SQL databases, in one place. The defaults are the SQLite and
//! PostgreSQL forms (`ON CONFLICT`, double-quoted identifiers); each backend overrides what its
//! database spells otherwise.

use uuid::Uuid;

use crate::conn::{Arg, Value};
use crate::schema::ColumnType;
use cheap_core::model::{PropertyDef, PropertyType};
use cheap_core::value::PropertyValue;
use cheap_core::{CheapError, Result};

/// How one SQL database differs from the others. Every method has the SQLite/PostgreSQL answer
/// as its default.
pub trait Dialect: Send + Sync {
    /// Quotes an identifier (a mapped table or column name).
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// The tail of an INSERT that, on a duplicate of `keys`, updates `update` to the new values,
    /// or keeps the old row when `update` is empty.
    fn on_conflict(&self, keys: &[&str], update: &[&str]) -> String {
        if update.is_empty() {
            return format!("ON CONFLICT ({}) DO NOTHING", keys.join(", "));
        }
        let set: Vec<String> = update
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            "ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            set.join(", ")
        )
    }

    /// Most parameters in one multi-row statement.
    fn max_params(&self) -> usize {
        4000
    }

    /// Most items in one `IN (...)` list.
    fn in_chunk(&self) -> usize {
        900
    }

    /// The ORDER BY of a catalog's hierarchies (their insertion order), over table alias `h`.
    fn hierarchy_order(&self) -> &'static str {
        "h.hierarchy_order IS NULL, h.hierarchy_order, h.name"
    }

    /// A statement (and its argument) that serializes the writers of one catalog for the rest
    /// of the transaction, when beginning a write transaction does not already.
    fn lock_catalog(&self, catalog: Uuid) -> Option<(&'static str, Arg<'static>)> {
        let _ = catalog;
        None
    }

    /// Whether value rows are written with one array-parameter `UNNEST` statement per chunk
    /// (PostgreSQL) instead of multi-row VALUES.
    fn unnest_values(&self) -> bool {
        false
    }

    /// The column type of an id column in a mapped table.
    fn id_type(&self) -> &'static str {
        "TEXT"
    }

    /// The column type of a property in a mapped table.
    fn column_type(&self, t: PropertyType) -> &'static str {
        match t {
            PropertyType::Integer | PropertyType::Boolean => "INTEGER",
            PropertyType::Float => "REAL",
            PropertyType::Blob => "BLOB",
            _ => "TEXT",
        }
    }

    /// The placeholder of a property value written to a mapped column (PostgreSQL adds a cast).
    fn value_placeholder(&self, t: PropertyType) -> String {
        let _ = t;
        "?".into()
    }

    /// How a property value is bound for a mapped column.
    fn bind_value<'a>(&self, t: PropertyType, v: Option<&'a PropertyValue>) -> Arg<'a> {
        let _ = t;
        match v {
            None => Arg::Null,
            Some(PropertyValue::Integer(i)) => Arg::Int(*i),
            Some(PropertyValue::Float(f)) => Arg::Real(*f),
            Some(PropertyValue::Boolean(b)) => Arg::Bool(*b),
            Some(PropertyValue::Blob(b)) => Arg::Bytes(b.as_slice().into()),
            Some(other) => other.to_text().map_or(Arg::Null, |t| Arg::Text(t.into())),
        }
    }

    /// The select expression reading mapped column `col` (already quoted) of alias `t`.
    fn select_value(&self, col: &str, t: PropertyType) -> String {
        let _ = t;
        format!("t.{col}")
    }

    /// The column that identifies a row of a table without an entity id column, if the
    /// database has one (SQLite's `rowid`); otherwise rows are numbered by position.
    fn row_key(&self) -> Option<&'static str> {
        None
    }

    /// The ORDER BY that keeps the rows of an id-less table in a stable order, if any.
    fn natural_order(&self) -> Option<&'static str> {
        None
    }

    /// How the schema's column type `t` is spelled.
    fn schema_type(&self, t: ColumnType) -> String {
        match t {
            ColumnType::Id
            | ColumnType::Name
            | ColumnType::Key(_)
            | ColumnType::Text
            | ColumnType::LongText
            | ColumnType::Code(_) => "TEXT".into(),
            ColumnType::Bytes => "BLOB".into(),
            ColumnType::Int | ColumnType::BigInt | ColumnType::Flag => "INTEGER".into(),
        }
    }

    /// A flag's literal in a column default.
    fn flag_literal(&self, v: bool) -> &'static str {
        if v {
            "TRUE"
        } else {
            "FALSE"
        }
    }

    /// Whether flag columns need a `CHECK (x IN (0, 1))` (the database has no boolean type).
    fn flag_check(&self) -> bool {
        false
    }

    /// What follows a CREATE TABLE's column list (engine, character set).
    fn table_options(&self) -> &'static str {
        ""
    }

    /// What follows `CREATE TABLE` of a table stored in its primary key's order
    /// ([`Table::clustered`](crate::schema::Table::clustered)), where that is a choice.
    fn clustered_table_options(&self) -> &'static str {
        ""
    }

    /// Whether a foreign key's cascade follows chains of any length (InnoDB stops at 15).
    fn deep_cascades(&self) -> bool {
        true
    }

    /// Column `col` (of type `t`) in an index's column list.
    fn index_column(&self, col: &str, t: ColumnType) -> String {
        let _ = t;
        col.to_owned()
    }

    /// A statement that refreshes the planner's statistics of the content tables, run after a
    /// save of many rows when the database does not do it soon enough by itself (PostgreSQL:
    /// before autovacuum gets to a freshly loaded table it plans with no statistics, and sorts a
    /// whole hierarchy for a first page).
    fn refresh_statistics(&self) -> Option<&'static str> {
        None
    }

    /// A statement whose one row says whether this server is a usable member of a cluster
    /// (read by [`cluster_health`](Self::cluster_health)); `None` for a database without one.
    fn cluster_health_sql(&self) -> Option<&'static str> {
        None
    }

    /// Reads the row of [`cluster_health_sql`](Self::cluster_health_sql).
    fn cluster_health(
        &self,
        row: &mut crate::conn::Row,
    ) -> cheap_core::Result<cheap_core::dao::Health> {
        let _ = row;
        Ok(cheap_core::dao::Health::up())
    }

    /// Statements (take, release) that serialize schema creation between processes, if the
    /// database needs them.
    fn schema_lock(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// Tables this database needs beyond [`TABLES`](crate::schema::TABLES).
    fn extra_ddl(&self) -> &'static [&'static str] {
        &[]
    }

    /// Lists the user tables (one text column, ordered by name).
    fn list_tables_sql(&self) -> &'static str;

    /// The columns of table `?`: name, declared type, nullable (one row each, in order).
    fn table_columns_sql(&self) -> &'static str;
}

/// Converts a stored column value to a value of `pd`'s type, whatever form the database kept it
/// in (typed, or text to parse).
pub fn read_value(owner: &str, pd: &PropertyDef, v: Value) -> Result<Option<PropertyValue>> {
    let t = pd.property_type();
    let invalid = |message: String| CheapError::InvalidValue {
        aspect_def: owner.to_owned(),
        property: pd.name().to_owned(),
        expected: t.name().to_owned(),
        message,
    };
    let value = match v {
        Value::Null => return Ok(None),
        Value::Int(i) => match t {
            PropertyType::Boolean => PropertyValue::Boolean(i != 0),
            PropertyType::Integer
            | PropertyType::Float
            | PropertyType::BigInteger
            | PropertyType::BigDecimal => PropertyValue::Integer(i),
            _ => PropertyValue::String(i.to_string()),
        },
        Value::Real(f) => match t {
            PropertyType::Float | PropertyType::BigDecimal => PropertyValue::Float(f),
            _ => PropertyValue::String(cheap_core::value::java_double(f)),
        },
        Value::Bool(b) => match t {
            PropertyType::Boolean => PropertyValue::Boolean(b),
            _ => PropertyValue::String(b.to_string()),
        },
        Value::Uuid(u) => match t {
            PropertyType::Uuid => PropertyValue::Uuid(u),
            _ => PropertyValue::String(u.to_string()),
        },
        Value::Bytes(b) => match t {
            PropertyType::Blob => PropertyValue::Blob(b),
            _ => PropertyValue::String(
                String::from_utf8(b).map_err(|_| invalid("stored bytes are not UTF-8".into()))?,
            ),
        },
        Value::Text(s) => match t {
            PropertyType::String | PropertyType::Text | PropertyType::Clob => {
                PropertyValue::String(s)
            }
            _ => PropertyValue::from_sql_text(t, &s).map_err(invalid)?,
        },
    };
    pd.coerce(owner, Some(value))
}
