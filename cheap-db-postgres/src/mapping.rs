//! Aspect defs stored in plain typed tables ([`AspectTableMapping`]), and introspection of
//! existing tables. The four table shapes find a catalog's rows as in the SQLite backend: by
//! `catalog_id`, by the entities of the catalog's aspect map, or (no id columns) in a table that
//! one catalog owns. Values travel as text with a cast to the column type (BLOB as bytes), so
//! every property type maps onto its natural PostgreSQL column.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::batch::{self, Args};
use crate::error::map_err;
use cheap_core::sql::{property_type_for_column, row_entity_id, AspectTableMapping};
use cheap_core::{
    Aspect, AspectDef, AspectMap, CheapError, PropertyDef, PropertyType, PropertyValue, Result,
};

/// One mapped column's value: text (cast in SQL) or bytes.
type ColumnValue = (Option<String>, Option<Vec<u8>>);

/// The registered mappings, by aspect def name.
pub(crate) type Mappings = HashMap<String, Arc<AspectTableMapping>>;

fn sql_type(t: PropertyType) -> &'static str {
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

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn prop<'a>(def: &'a AspectDef, p: &str) -> Result<&'a PropertyDef> {
    def.property_def(p).ok_or_else(|| {
        CheapError::invalid(format!("aspect def '{}' has no property '{p}'", def.name()))
    })
}

/// `CREATE TABLE IF NOT EXISTS` for a mapping (spec/db.md §3.3).
pub(crate) fn create_table_sql(m: &AspectTableMapping) -> Result<String> {
    m.validate()?;
    let mut cols = Vec::new();
    if m.has_catalog_id() {
        cols.push("catalog_id UUID NOT NULL".to_owned());
    }
    if m.has_entity_id() {
        cols.push("entity_id UUID NOT NULL".to_owned());
    }
    for (p, c) in m.columns() {
        let pd = prop(m.def(), p)?;
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

/// The select expression that reads a column as text (BLOB as bytes, date-times in ISO form).
fn select_expr(col: &str, t: PropertyType) -> String {
    match t {
        PropertyType::Blob => format!("t.{}", quoted(col)),
        PropertyType::DateTime => format!("to_json(t.{})#>>'{{}}'", quoted(col)),
        _ => format!("t.{}::text", quoted(col)),
    }
}

fn read_value(
    row: &PgRow,
    idx: usize,
    owner: &str,
    pd: &PropertyDef,
) -> Result<Option<PropertyValue>> {
    let t = pd.property_type();
    let value = if t == PropertyType::Blob {
        row.try_get::<Option<Vec<u8>>, _>(idx)
            .map_err(map_err)?
            .map(PropertyValue::Blob)
    } else {
        match row.try_get::<Option<String>, _>(idx).map_err(map_err)? {
            None => None,
            Some(text) => Some(PropertyValue::from_sql_text(t, &text).map_err(|message| {
                CheapError::InvalidValue {
                    aspect_def: owner.to_owned(),
                    property: pd.name().to_owned(),
                    expected: t.name().to_owned(),
                    message,
                }
            })?),
        }
    };
    pd.coerce(owner, value)
}

fn values_of(
    row: &PgRow,
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

async fn members(conn: &mut PgConnection, cat: Uuid, m: &AspectTableMapping) -> Result<Vec<Uuid>> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT entity_id FROM hierarchy_aspect_map WHERE catalog_id = $1 AND hierarchy_name = $2",
    )
    .bind(cat)
    .bind(m.def().name())
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

/// A table without id columns cannot tell catalogs' rows apart, so one catalog owns it.
async fn check_owner(conn: &mut PgConnection, cat: Uuid, m: &AspectTableMapping) -> Result<()> {
    let other: Option<(Uuid,)> = sqlx::query_as(
        "SELECT l.catalog_id FROM catalog_aspect_def l JOIN aspect_def d ON d.aspect_def_id = l.aspect_def_id WHERE d.name = $1 AND l.catalog_id <> $2 LIMIT 1",
    )
    .bind(m.def().name())
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

/// Removes a catalog's rows from a mapped table (before a save rewrites them, or a delete).
pub(crate) async fn clear(
    conn: &mut PgConnection,
    cat: Uuid,
    m: &AspectTableMapping,
) -> Result<()> {
    let t = quoted(m.table());
    if m.has_catalog_id() {
        sqlx::query(&format!("DELETE FROM {t} WHERE catalog_id = $1"))
            .bind(cat)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    } else if m.has_entity_id() {
        let ids = members(conn, cat, m).await?;
        sqlx::query(&format!("DELETE FROM {t} WHERE entity_id = ANY($1)"))
            .bind(&ids)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    } else {
        check_owner(conn, cat, m).await?;
        sqlx::query(&format!("DELETE FROM {t}"))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

/// Writes aspects as rows of the mapped table (upserting on the key when there is one).
pub(crate) async fn write(
    conn: &mut PgConnection,
    cat: Uuid,
    m: &AspectTableMapping,
    aspects: &[&Aspect],
) -> Result<()> {
    if !m.has_catalog_id() && !m.has_entity_id() {
        check_owner(conn, cat, m).await?;
    }
    let mut cols: Vec<String> = Vec::new();
    let mut casts: Vec<String> = Vec::new();
    if m.has_catalog_id() {
        cols.push("catalog_id".into());
        casts.push(String::new());
    }
    if m.has_entity_id() {
        cols.push("entity_id".into());
        casts.push(String::new());
    }
    let mapped: Vec<(&str, &str, PropertyType)> = m
        .columns()
        .map(|(p, c)| Ok((p, c, prop(m.def(), p)?.property_type())))
        .collect::<Result<_>>()?;
    for (_, c, t) in &mapped {
        cols.push(quoted(c));
        casts.push(if *t == PropertyType::Blob {
            String::new()
        } else {
            format!("::{}", sql_type(*t))
        });
    }
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
                .map(|(_, c, _)| format!("{0} = excluded.{0}", quoted(c)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    let head = format!("INSERT INTO {} ({})", quoted(m.table()), cols.join(", "));
    // Values as text (cast in SQL) or bytes, prepared per row.
    let rows: Vec<(Uuid, Vec<ColumnValue>)> = aspects
        .iter()
        .map(|a| {
            let vals = mapped
                .iter()
                .map(|(p, _, t)| match a.stored(p) {
                    None => (None, None),
                    Some(PropertyValue::Blob(b)) => (None, Some(b.clone())),
                    Some(v) if *t == PropertyType::Blob => (None, v.as_bytes().map(<[u8]>::to_vec)),
                    Some(v) => (v.to_text(), None),
                })
                .collect();
            (a.entity_id(), vals)
        })
        .collect();
    batch::insert_cast(
        conn,
        &head,
        &casts,
        &tail,
        &rows,
        |args: &mut Args<'_>, (e, vals)| {
            if m.has_catalog_id() {
                args.bind(cat);
            }
            if m.has_entity_id() {
                args.bind(*e);
            }
            for ((text, bytes), (_, _, t)) in vals.iter().zip(&mapped) {
                if *t == PropertyType::Blob {
                    args.bind(bytes.as_deref());
                } else {
                    args.bind(text.as_deref());
                }
            }
        },
    )
    .await?;
    Ok(())
}

/// Deletes the rows of `entities` (tables with an entity id only).
pub(crate) async fn delete(
    conn: &mut PgConnection,
    cat: Uuid,
    m: &AspectTableMapping,
    entities: &[Uuid],
) -> Result<()> {
    let t = quoted(m.table());
    if m.has_catalog_id() {
        let sql = format!("DELETE FROM {t} WHERE catalog_id = $1 AND entity_id = ANY($2)");
        sqlx::query(&sql)
            .bind(cat)
            .bind(entities)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    } else {
        let sql = format!("DELETE FROM {t} WHERE entity_id = ANY($1)");
        sqlx::query(&sql)
            .bind(entities)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

fn select_cols(m: &AspectTableMapping, def: &AspectDef) -> String {
    m.columns()
        .map(|(p, c)| {
            select_expr(
                c,
                def.property_def(p)
                    .map_or(PropertyType::Text, PropertyDef::property_type),
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a catalog's aspects from the mapped table: with an entity id column in the order of
/// the catalog's aspect map (windowed), otherwise in physical row order.
pub(crate) async fn read(
    conn: &mut PgConnection,
    cat: Uuid,
    m: &AspectTableMapping,
    def: &Arc<AspectDef>,
    offset: i64,
    limit: Option<i64>,
    entities: Option<&[Uuid]>,
) -> Result<AspectMap> {
    let cols = select_cols(m, def);
    let t = quoted(m.table());
    let mut map = AspectMap::new(def.clone());
    if m.has_entity_id() {
        let on_cat = if m.has_catalog_id() {
            " AND t.catalog_id = h.catalog_id"
        } else {
            ""
        };
        let filter = if entities.is_some() {
            " AND h.entity_id = ANY($5)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT h.entity_id, {cols} FROM hierarchy_aspect_map h JOIN {t} t ON t.entity_id = h.entity_id{on_cat}
             WHERE h.catalog_id = $1 AND h.hierarchy_name = $2{filter} ORDER BY h.map_order LIMIT $3 OFFSET $4"
        );
        let mut q = sqlx::query(&sql)
            .bind(cat)
            .bind(def.name())
            .bind(limit)
            .bind(offset);
        if let Some(e) = entities {
            q = q.bind(e);
        }
        let mut rows = q.fetch(&mut *conn);
        while let Some(r) = rows.try_next().await.map_err(map_err)? {
            let e: Uuid = r.get(0);
            map.put(Aspect::from_values(
                def.clone(),
                e,
                values_of(&r, 1, m, def)?,
            )?)?;
        }
    } else {
        let filter = if m.has_catalog_id() {
            "WHERE t.catalog_id = $3"
        } else {
            ""
        };
        let sql = format!("SELECT {cols} FROM {t} t {filter} ORDER BY t.ctid LIMIT $1 OFFSET $2");
        let mut q = sqlx::query(&sql).bind(limit).bind(offset);
        if m.has_catalog_id() {
            q = q.bind(cat);
        }
        let rows = q.fetch_all(&mut *conn).await.map_err(map_err)?;
        for (i, r) in rows.iter().enumerate() {
            let e = row_entity_id(
                &format!("{}/{cat}", m.table()),
                &(offset + i as i64).to_string(),
            );
            if entities.is_some_and(|only| !only.contains(&e)) {
                continue;
            }
            map.put(Aspect::from_values(
                def.clone(),
                e,
                values_of(r, 0, m, def)?,
            )?)?;
        }
    }
    Ok(map)
}

/// Number of a catalog's rows in the mapped table.
pub(crate) async fn count(
    conn: &mut PgConnection,
    cat: Uuid,
    m: &AspectTableMapping,
) -> Result<u64> {
    let t = quoted(m.table());
    let (n,): (i64,) = if m.has_entity_id() {
        let on_cat = if m.has_catalog_id() {
            " AND t.catalog_id = h.catalog_id"
        } else {
            ""
        };
        sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM hierarchy_aspect_map h JOIN {t} t ON t.entity_id = h.entity_id{on_cat} WHERE h.catalog_id = $1 AND h.hierarchy_name = $2"
        ))
        .bind(cat)
        .bind(m.def().name())
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?
    } else if m.has_catalog_id() {
        sqlx::query_as(&format!("SELECT COUNT(*) FROM {t} WHERE catalog_id = $1"))
            .bind(cat)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?
    } else {
        sqlx::query_as(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?
    };
    Ok(n as u64)
}

// ---- introspection ----

/// The tables of the current schema (cheap-rs's own included), by name.
pub(crate) async fn list_tables(conn: &mut PgConnection) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// A table's columns as a mutable aspect def named after the table (NotFound if missing).
pub(crate) async fn table_def(conn: &mut PgConnection, table: &str) -> Result<AspectDef> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
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
        .properties(rows.iter().map(|(name, t, nullable)| {
            PropertyDef::new(name.clone(), property_type_for_column(t)).nullable(nullable == "YES")
        }))
        .build()
}

/// A table's rows (at most `max_rows`) as aspects of its [`table_def`]; entity ids derive from
/// the table name and the row's position in physical order.
pub(crate) async fn load_table(
    conn: &mut PgConnection,
    table: &str,
    max_rows: Option<u64>,
) -> Result<AspectMap> {
    let def = Arc::new(table_def(conn, table).await?);
    let cols = def
        .property_defs()
        .map(|p| select_expr(p.name(), p.property_type()))
        .collect::<Vec<_>>()
        .join(", ");
    let limit = max_rows.map(|n| n.min(i64::MAX as u64) as i64);
    let sql = format!(
        "SELECT {cols} FROM {} t ORDER BY t.ctid LIMIT $1",
        quoted(table)
    );
    let rows = sqlx::query(&sql)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut map = AspectMap::new(def.clone());
    for (i, r) in rows.iter().enumerate() {
        let values = def
            .property_defs()
            .enumerate()
            .map(|(j, pd)| Ok((pd.name().to_owned(), read_value(r, j, def.name(), pd)?)))
            .collect::<Result<Vec<_>>>()?;
        map.put(Aspect::from_values(
            def.clone(),
            row_entity_id(table, &i.to_string()),
            values,
        )?)?;
    }
    Ok(map)
}
