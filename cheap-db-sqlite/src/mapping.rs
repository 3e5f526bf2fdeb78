//! Aspect defs stored in plain typed tables ([`AspectTableMapping`]), and introspection of
//! existing tables.
//!
//! The four table shapes, and how this backend finds a catalog's rows (the reference empties
//! whole tables and so wipes other catalogs' rows; this does not):
//!
//! | columns | rows of a catalog | entity ids on load |
//! |---|---|---|
//! | none | the whole table, which one catalog owns (a second catalog using it is a conflict) | derived from the table and row id |
//! | `catalog_id` | `WHERE catalog_id = ?` | derived from the table, catalog and row id |
//! | `entity_id` | the entities of the catalog's aspect map | kept |
//! | both | `WHERE catalog_id = ?` | kept |
//!
//! Without an entity id column the ids cannot survive a save: each save rewrites the rows.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, SqliteConnection, TypeInfo, ValueRef};
use uuid::Uuid;

use crate::batch::{self, Args};
use crate::defs::parse_uuid;
use crate::error::map_err;
use cheap_core::sql::{property_type_for_column, row_entity_id, AspectTableMapping};
use cheap_core::{
    Aspect, AspectDef, AspectMap, CheapError, PropertyDef, PropertyType, PropertyValue, Result,
};

/// The registered mappings, by aspect def name.
pub(crate) type Mappings = HashMap<String, Arc<AspectTableMapping>>;

fn sql_type(t: PropertyType) -> &'static str {
    match t {
        PropertyType::Integer | PropertyType::Boolean => "INTEGER",
        PropertyType::Float => "REAL",
        PropertyType::Blob => "BLOB",
        _ => "TEXT",
    }
}

/// `CREATE TABLE IF NOT EXISTS` for a mapping (spec/db.md §3.3).
pub(crate) fn create_table_sql(m: &AspectTableMapping) -> Result<String> {
    m.validate()?;
    let mut cols = Vec::new();
    if m.has_catalog_id() {
        cols.push("catalog_id TEXT NOT NULL".to_owned());
    }
    if m.has_entity_id() {
        cols.push("entity_id TEXT NOT NULL".to_owned());
    }
    for (p, c) in m.columns() {
        let pd = m
            .def()
            .property_def(p)
            .ok_or_else(|| CheapError::invalid(format!("no property '{p}'")))?;
        let not_null = if pd.is_nullable() { "" } else { " NOT NULL" };
        cols.push(format!(
            "{} {}{not_null}",
            quoted(c),
            sql_type(pd.property_type())
        ));
    }
    match (m.has_catalog_id(), m.has_entity_id()) {
        (true, true) => cols.push("PRIMARY KEY (catalog_id, entity_id)".into()),
        (false, true) => cols.push("PRIMARY KEY (entity_id)".into()),
        _ => {}
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        quoted(m.table()),
        cols.join(", ")
    ))
}

fn bind_value<'a>(a: &mut Args<'a>, v: Option<&'a PropertyValue>) {
    match v {
        None => a.bind(None::<String>),
        Some(PropertyValue::Integer(i)) => a.bind(*i),
        Some(PropertyValue::Float(f)) => a.bind(*f),
        Some(PropertyValue::Boolean(b)) => a.bind(*b),
        Some(PropertyValue::Blob(b)) => a.bind(b.as_slice()),
        Some(other) => a.bind(other.to_text()),
    };
}

/// Reads one column of a row as a value of `pd`'s type, whatever SQLite stored.
fn read_value(
    row: &SqliteRow,
    idx: usize,
    owner: &str,
    pd: &PropertyDef,
) -> Result<Option<PropertyValue>> {
    let raw = row.try_get_raw(idx).map_err(map_err)?;
    if raw.is_null() {
        return Ok(None);
    }
    let kind = raw.type_info().name().to_owned();
    let t = pd.property_type();
    let value = match kind.as_str() {
        "INTEGER" => {
            let i: i64 = row.try_get(idx).map_err(map_err)?;
            match t {
                PropertyType::Boolean => PropertyValue::Boolean(i != 0),
                PropertyType::Integer
                | PropertyType::Float
                | PropertyType::BigInteger
                | PropertyType::BigDecimal => PropertyValue::Integer(i),
                _ => PropertyValue::String(i.to_string()),
            }
        }
        "REAL" => {
            let f: f64 = row.try_get(idx).map_err(map_err)?;
            match t {
                PropertyType::Float | PropertyType::BigDecimal => PropertyValue::Float(f),
                _ => PropertyValue::String(cheap_core::value::java_double(f)),
            }
        }
        "BLOB" => PropertyValue::Blob(row.try_get::<Vec<u8>, _>(idx).map_err(map_err)?),
        _ => {
            let text = row.try_get::<String, _>(idx).map_err(map_err)?;
            match t {
                PropertyType::DateTime => PropertyValue::from_sql_text(t, &text).map_err(|m| {
                    CheapError::InvalidValue {
                        aspect_def: owner.to_owned(),
                        property: pd.name().to_owned(),
                        expected: t.name().to_owned(),
                        message: m,
                    }
                })?,
                _ => PropertyValue::String(text),
            }
        }
    };
    pd.coerce(owner, Some(value))
}

fn values_of(
    row: &SqliteRow,
    first: usize,
    m: &AspectTableMapping,
    def: &AspectDef,
) -> Result<Vec<(String, Option<PropertyValue>)>> {
    m.columns()
        .enumerate()
        .filter_map(|(i, (p, _))| def.property_def(p).map(|pd| (i, p, pd)))
        .map(|(i, p, pd)| Ok((p.to_owned(), read_value(row, first + i, def.name(), pd)?)))
        .collect()
}

async fn members(
    conn: &mut SqliteConnection,
    cat: &str,
    m: &AspectTableMapping,
) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT entity_id FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ?",
    )
    .bind(cat)
    .bind(m.def().name())
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

/// Removes a catalog's rows from a mapped table (before a save rewrites them or a delete).
pub(crate) async fn clear(
    conn: &mut SqliteConnection,
    cat: &str,
    m: &AspectTableMapping,
) -> Result<()> {
    let t = quoted(m.table());
    if m.has_catalog_id() {
        sqlx::query(&format!("DELETE FROM {t} WHERE catalog_id = ?"))
            .bind(cat)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    } else if m.has_entity_id() {
        let ids = members(conn, cat, m).await?;
        for chunk in ids.chunks(batch::IN_CHUNK) {
            let sql = format!(
                "DELETE FROM {t} WHERE entity_id IN ({})",
                batch::placeholders(chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(&mut *conn).await.map_err(map_err)?;
        }
    } else {
        check_owner(conn, cat, m).await?;
        sqlx::query(&format!("DELETE FROM {t}"))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

/// A table without id columns cannot tell catalogs' rows apart, so one catalog owns it.
async fn check_owner(conn: &mut SqliteConnection, cat: &str, m: &AspectTableMapping) -> Result<()> {
    let other: Option<(String,)> = sqlx::query_as(
        "SELECT catalog_id FROM catalog_aspect_def WHERE aspect_def_id = ? AND catalog_id <> ? LIMIT 1",
    )
    .bind(m.def().id().to_string())
    .bind(cat)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    match other {
        Some((other,)) => Err(CheapError::conflict(format!(
            "table {} has no catalog_id or entity_id column and belongs to catalog {other}",
            m.table()
        ))),
        None => Ok(()),
    }
}

/// Writes aspects as rows of the mapped table (upserting on the key when there is one).
pub(crate) async fn write(
    conn: &mut SqliteConnection,
    cat: &str,
    m: &AspectTableMapping,
    aspects: &[&Aspect],
) -> Result<()> {
    if !m.has_catalog_id() && !m.has_entity_id() {
        check_owner(conn, cat, m).await?;
    }
    let mut cols: Vec<&str> = Vec::new();
    if m.has_catalog_id() {
        cols.push("catalog_id");
    }
    if m.has_entity_id() {
        cols.push("entity_id");
    }
    let mapped: Vec<(&str, String)> = m.columns().map(|(p, c)| (p, quoted(c))).collect();
    cols.extend(mapped.iter().map(|(_, c)| c.as_str()));
    let key = match (m.has_catalog_id(), m.has_entity_id()) {
        (true, true) => Some("catalog_id, entity_id"),
        (false, true) => Some("entity_id"),
        _ => None,
    };
    let tail = match key {
        Some(k) => format!(
            "ON CONFLICT ({k}) DO UPDATE SET {}",
            mapped
                .iter()
                .map(|(_, c)| format!("{c} = excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    let head = format!("INSERT INTO {} ({})", quoted(m.table()), cols.join(", "));
    let rows: Vec<(String, &Aspect)> = aspects
        .iter()
        .map(|a| (a.entity_id().to_string(), *a))
        .collect();
    batch::insert(conn, &head, cols.len(), &tail, &rows, |args, (e, a)| {
        if m.has_catalog_id() {
            args.bind(cat);
        }
        if m.has_entity_id() {
            args.bind(e.as_str());
        }
        for (p, _) in &mapped {
            bind_value(args, a.stored(p));
        }
    })
    .await?;
    Ok(())
}

/// Deletes the rows of `entities` (tables with an entity id only).
pub(crate) async fn delete(
    conn: &mut SqliteConnection,
    cat: &str,
    m: &AspectTableMapping,
    entities: &[String],
) -> Result<()> {
    let filter = if m.has_catalog_id() {
        "catalog_id = ? AND "
    } else {
        ""
    };
    for chunk in entities.chunks(batch::IN_CHUNK) {
        let sql = format!(
            "DELETE FROM {} WHERE {filter}entity_id IN ({})",
            quoted(m.table()),
            batch::placeholders(chunk.len())
        );
        let mut q = sqlx::query(&sql);
        if m.has_catalog_id() {
            q = q.bind(cat);
        }
        for e in chunk {
            q = q.bind(e);
        }
        q.execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}

/// Reads a catalog's aspects from the mapped table: with an entity id column in the order of
/// the catalog's aspect map (windowed), otherwise in row order.
pub(crate) async fn read(
    conn: &mut SqliteConnection,
    cat: &str,
    m: &AspectTableMapping,
    def: &Arc<AspectDef>,
    offset: i64,
    limit: i64,
    entities: Option<&[Uuid]>,
) -> Result<AspectMap> {
    let cols = m
        .columns()
        .map(|(_, c)| format!("t.{}", quoted(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let t = quoted(m.table());
    // The catalog's own def: a mapping is registered by def name, and its def may be another
    // instance (even another id) than the one the catalog stores.
    let def = def.clone();
    let mut map = AspectMap::new(def.clone());
    if m.has_entity_id() {
        let on_cat = if m.has_catalog_id() {
            " AND t.catalog_id = h.catalog_id"
        } else {
            ""
        };
        let mut sql = format!(
            "SELECT h.entity_id, {cols} FROM hierarchy_aspect_map h JOIN {t} t ON t.entity_id = h.entity_id{on_cat}
             WHERE h.catalog_id = ? AND h.hierarchy_name = ?"
        );
        let ids: Vec<String> = entities
            .unwrap_or_default()
            .iter()
            .map(Uuid::to_string)
            .collect();
        if entities.is_some() {
            sql.push_str(&format!(
                " AND h.entity_id IN ({})",
                batch::placeholders(ids.len().max(1))
            ));
        }
        sql.push_str(" ORDER BY h.map_order LIMIT ? OFFSET ?");
        let mut q = sqlx::query(&sql).bind(cat).bind(def.name());
        if entities.is_some() {
            if ids.is_empty() {
                return Ok(map);
            }
            for id in &ids {
                q = q.bind(id);
            }
        }
        let mut rows = q.bind(limit).bind(offset).fetch(&mut *conn);
        while let Some(r) = rows.try_next().await.map_err(map_err)? {
            let e = parse_uuid(r.get::<&str, _>(0))?;
            map.put(Aspect::from_values(
                def.clone(),
                e,
                values_of(&r, 1, m, &def)?,
            )?)?;
        }
    } else {
        let filter = if m.has_catalog_id() {
            "WHERE t.catalog_id = ?"
        } else {
            ""
        };
        let sql =
            format!("SELECT t.rowid, {cols} FROM {t} t {filter} ORDER BY t.rowid LIMIT ? OFFSET ?");
        let mut q = sqlx::query(&sql);
        if m.has_catalog_id() {
            q = q.bind(cat);
        }
        let mut rows = q.bind(limit).bind(offset).fetch(&mut *conn);
        while let Some(r) = rows.try_next().await.map_err(map_err)? {
            let e = row_entity_id(
                &format!("{}/{cat}", m.table()),
                &r.get::<i64, _>(0).to_string(),
            );
            if entities.is_some_and(|only| !only.contains(&e)) {
                continue;
            }
            map.put(Aspect::from_values(
                def.clone(),
                e,
                values_of(&r, 1, m, &def)?,
            )?)?;
        }
    }
    Ok(map)
}

/// Number of a catalog's rows in the mapped table.
pub(crate) async fn count(
    conn: &mut SqliteConnection,
    cat: &str,
    m: &AspectTableMapping,
) -> Result<u64> {
    let (n,): (i64,) = if m.has_entity_id() {
        let on_cat = if m.has_catalog_id() {
            " AND t.catalog_id = h.catalog_id"
        } else {
            ""
        };
        sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM hierarchy_aspect_map h JOIN {} t ON t.entity_id = h.entity_id{on_cat} WHERE h.catalog_id = ? AND h.hierarchy_name = ?",
            quoted(m.table())
        ))
        .bind(cat)
        .bind(m.def().name())
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?
    } else if m.has_catalog_id() {
        sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM {} WHERE catalog_id = ?",
            quoted(m.table())
        ))
        .bind(cat)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?
    } else {
        sqlx::query_as(&format!("SELECT COUNT(*) FROM {}", quoted(m.table())))
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?
    };
    Ok(n as u64)
}

// ---- introspection ----

/// The user tables of the database (cheap-rs's own tables included), by name.
pub(crate) async fn list_tables(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

fn quoted(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

/// A table's columns as a mutable aspect def named after the table: one single-valued,
/// readable and writable property per column, typed from the declared column type. The def's id
/// is derived from the table name, so it is the same every time.
pub(crate) async fn table_def(conn: &mut SqliteConnection, table: &str) -> Result<AspectDef> {
    let rows = sqlx::query("SELECT name, type, \"notnull\" FROM pragma_table_info(?) ORDER BY cid")
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    if rows.is_empty() {
        return Err(CheapError::not_found(format!("table '{table}'")));
    }
    AspectDef::builder(table)
        .id(row_entity_id(table, "#def"))
        .mutable()
        .properties(rows.iter().map(|r| {
            PropertyDef::new(
                r.get::<String, _>(0),
                property_type_for_column(r.get::<&str, _>(1)),
            )
            .nullable(r.get::<i64, _>(2) == 0)
        }))
        .build()
}

/// A table's rows (at most `max_rows`) as aspects of its [`table_def`]; entity ids are derived
/// from the table name and row id, so reloading gives the same ids.
pub(crate) async fn load_table(
    conn: &mut SqliteConnection,
    table: &str,
    max_rows: Option<u64>,
) -> Result<AspectMap> {
    let def = Arc::new(table_def(conn, table).await?);
    let limit = max_rows.map_or(-1, |n| n.min(i64::MAX as u64) as i64);
    let sql = format!(
        "SELECT rowid AS cheap_rowid, * FROM {} LIMIT ?",
        quoted(table)
    );
    let mut map = AspectMap::new(def.clone());
    let mut rows = sqlx::query(&sql).bind(limit).fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        let e = row_entity_id(table, &r.get::<i64, _>(0).to_string());
        let mut values = Vec::with_capacity(def.len());
        for (i, col) in r.columns().iter().enumerate().skip(1) {
            let Some(pd) = def.property_def(col.name()) else {
                continue;
            };
            values.push((col.name().to_owned(), read_value(&r, i, def.name(), pd)?));
        }
        map.put(Aspect::from_values(def.clone(), e, values)?)?;
    }
    Ok(map)
}
