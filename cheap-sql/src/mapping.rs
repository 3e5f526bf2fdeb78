//! Aspect defs stored in plain typed tables ([`AspectTableMapping`]), and introspection of
//! existing tables.
//!
//! The four table shapes, and how a catalog's rows are found (the reference empties whole
//! tables and so wipes other catalogs' rows; this does not):
//!
//! | columns | rows of a catalog | entity ids on load |
//! |---|---|---|
//! | none | the whole table, which one catalog owns (a second catalog using it is a conflict) | derived from the table and the row's key or position |
//! | `catalog_id` | `WHERE catalog_id = ?` | derived from the table, catalog and the row's key or position |
//! | `entity_id` | the entities of the catalog's aspect map | kept |
//! | both | `WHERE catalog_id = ?` | kept |
//!
//! Without an entity id column the ids cannot survive a save: each save rewrites the rows.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::batch::{self, placeholders, Insert};
use super::conn::{Arg, SqlConn};
use super::content::Window;
use super::dialect::{read_value, Dialect};
use crate::table_mapping::{property_type_for_column, row_entity_id, AspectTableMapping};
use cheap_core::model::{Aspect, AspectDef, AspectMap, PropertyDef, PropertyType};
use cheap_core::value::PropertyValue;
use cheap_core::{CheapError, NotFound, Result};

/// The registered mappings, by aspect def name.
pub(crate) type Mappings = HashMap<String, Arc<AspectTableMapping>>;

fn prop<'a>(def: &'a AspectDef, p: &str) -> Result<&'a PropertyDef> {
    def.property_def(p).ok_or_else(|| {
        CheapError::invalid(format!("aspect def '{}' has no property '{p}'", def.name()))
    })
}

/// `CREATE TABLE IF NOT EXISTS` for a mapping (spec/db.md §3.3).
pub(crate) fn create_table_sql(d: &dyn Dialect, m: &AspectTableMapping) -> Result<String> {
    m.validate()?;
    let id = d.id_type();
    let mut cols = Vec::new();
    if m.has_catalog_id() {
        cols.push(format!("catalog_id {id} NOT NULL"));
    }
    if m.has_entity_id() {
        cols.push(format!("entity_id {id} NOT NULL"));
    }
    for (p, c) in m.columns() {
        let pd = prop(m.def(), p)?;
        let not_null = if pd.is_nullable() { "" } else { " NOT NULL" };
        cols.push(format!(
            "{} {}{not_null}",
            d.quote(c),
            d.column_type(pd.property_type())
        ));
    }
    match (m.has_catalog_id(), m.has_entity_id()) {
        (true, true) => cols.push("PRIMARY KEY (catalog_id, entity_id)".into()),
        (false, true) => cols.push("PRIMARY KEY (entity_id)".into()),
        _ => {}
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        d.quote(m.table()),
        cols.join(", ")
    ))
}

fn values_of(
    row: &mut super::conn::Row,
    first: usize,
    m: &AspectTableMapping,
    def: &AspectDef,
) -> Result<Vec<(String, Option<PropertyValue>)>> {
    let mut out = Vec::with_capacity(def.len());
    for (i, (p, _)) in m.columns().enumerate() {
        if let Some(pd) = def.property_def(p) {
            out.push((
                p.to_owned(),
                read_value(def.name(), pd, row.take(first + i))?,
            ));
        }
    }
    Ok(out)
}

async fn members(conn: &mut dyn SqlConn, cat: Uuid, m: &AspectTableMapping) -> Result<Vec<Uuid>> {
    let mut out = Vec::new();
    conn.for_each(
        "SELECT entity_id FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ?",
        &[Arg::Uuid(cat), Arg::text(m.def().name())],
        &mut |r| {
            out.push(r.uuid(0)?);
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

/// A table without id columns cannot tell catalogs' rows apart, so one catalog owns it.
async fn check_owner(conn: &mut dyn SqlConn, cat: Uuid, m: &AspectTableMapping) -> Result<()> {
    let other = conn
        .fetch_optional(
            "SELECT l.catalog_id FROM catalog_aspect_def l JOIN aspect_def d ON d.aspect_def_id = l.aspect_def_id WHERE d.name = ? AND l.catalog_id <> ? LIMIT 1",
            &[Arg::text(m.def().name()), Arg::Uuid(cat)],
        )
        .await?;
    match other {
        Some(r) => Err(CheapError::conflict(format!(
            "table {} has no catalog_id or entity_id column and belongs to catalog {}",
            m.table(),
            r.uuid(0)?
        ))),
        None => Ok(()),
    }
}

/// Removes a catalog's rows from a mapped table (before a save rewrites them, or a delete).
pub(crate) async fn clear(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    m: &AspectTableMapping,
) -> Result<()> {
    let t = d.quote(m.table());
    if m.has_catalog_id() {
        conn.execute(
            &format!("DELETE FROM {t} WHERE catalog_id = ?"),
            &[Arg::Uuid(cat)],
        )
        .await?;
    } else if m.has_entity_id() {
        let ids: Vec<Arg> = members(conn, cat, m)
            .await?
            .into_iter()
            .map(Arg::Uuid)
            .collect();
        batch::execute_in(conn, d, &[], &ids, |ph| {
            format!("DELETE FROM {t} WHERE entity_id IN ({ph})")
        })
        .await?;
    } else {
        check_owner(conn, cat, m).await?;
        conn.execute(&format!("DELETE FROM {t}"), &[]).await?;
    }
    Ok(())
}

/// Writes aspects as rows of the mapped table (upserting on the key when there is one).
pub(crate) async fn write(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    m: &AspectTableMapping,
    aspects: &[&Aspect],
) -> Result<()> {
    if !m.has_catalog_id() && !m.has_entity_id() {
        check_owner(conn, cat, m).await?;
    }
    let mut cols: Vec<String> = Vec::new();
    let mut ph: Vec<String> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    if m.has_catalog_id() {
        cols.push("catalog_id".into());
        ph.push("?".into());
        keys.push("catalog_id");
    }
    if m.has_entity_id() {
        cols.push("entity_id".into());
        ph.push("?".into());
        keys.push("entity_id");
    }
    let mapped: Vec<(&str, PropertyType)> = m
        .columns()
        .map(|(p, _)| Ok((p, prop(m.def(), p)?.property_type())))
        .collect::<Result<_>>()?;
    let mut quoted_cols = Vec::with_capacity(mapped.len());
    for (p, c) in m.columns() {
        quoted_cols.push(d.quote(c));
        ph.push(d.value_placeholder(prop(m.def(), p)?.property_type()));
    }
    cols.extend(quoted_cols.iter().cloned());
    let tail = if m.has_entity_id() {
        let update: Vec<&str> = quoted_cols.iter().map(String::as_str).collect();
        d.on_conflict(&keys, &update)
    } else {
        String::new()
    };
    let head = format!("INSERT INTO {} ({})", d.quote(m.table()), cols.join(", "));
    let row = format!("({})", ph.join(","));
    Insert {
        head: &head,
        row: &row,
        nparams: cols.len(),
        tail: &tail,
    }
    .run(conn, d, aspects, |args, a| {
        if m.has_catalog_id() {
            args.push(Arg::Uuid(cat));
        }
        if m.has_entity_id() {
            args.push(Arg::Uuid(a.entity_id()));
        }
        for (p, t) in &mapped {
            args.push(d.bind_value(*t, a.stored(p)));
        }
    })
    .await?;
    Ok(())
}

/// Deletes the rows of `entities` (tables with an entity id only).
pub(crate) async fn delete(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    m: &AspectTableMapping,
    entities: &[Uuid],
) -> Result<()> {
    let t = d.quote(m.table());
    let ids: Vec<Arg> = entities.iter().map(|e| Arg::Uuid(*e)).collect();
    if m.has_catalog_id() {
        batch::execute_in(conn, d, &[Arg::Uuid(cat)], &ids, |ph| {
            format!("DELETE FROM {t} WHERE catalog_id = ? AND entity_id IN ({ph})")
        })
        .await?;
    } else {
        batch::execute_in(conn, d, &[], &ids, |ph| {
            format!("DELETE FROM {t} WHERE entity_id IN ({ph})")
        })
        .await?;
    }
    Ok(())
}

fn select_cols(d: &dyn Dialect, m: &AspectTableMapping) -> Result<String> {
    Ok(m.columns()
        .map(|(p, c)| Ok(d.select_value(&d.quote(c), prop(m.def(), p)?.property_type())))
        .collect::<Result<Vec<_>>>()?
        .join(", "))
}

/// Reads a catalog's aspects from the mapped table: with an entity id column in the order of
/// the catalog's aspect map (windowed), otherwise in row order.
pub(crate) async fn read(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    m: &AspectTableMapping,
    def: &Arc<AspectDef>,
    w: Window,
    entities: Option<&[Uuid]>,
) -> Result<AspectMap> {
    let cols = select_cols(d, m)?;
    let t = d.quote(m.table());
    // The catalog's own def: a mapping is registered by def name, and its def may be another
    // instance (even another id) than the one the catalog stores.
    let mut map = AspectMap::new(def.clone());
    let mut rows = Vec::new();
    if m.has_entity_id() {
        let on_cat = if m.has_catalog_id() {
            " AND t.catalog_id = h.catalog_id"
        } else {
            ""
        };
        let base = format!(
            "SELECT h.entity_id, {cols} FROM hierarchy_aspect_map h JOIN {t} t ON t.entity_id = h.entity_id{on_cat}
             WHERE h.catalog_id = ? AND h.hierarchy_name = ?"
        );
        let fixed = [Arg::Uuid(cat), Arg::text(def.name())];
        match entities {
            Some(list) => {
                for chunk in list.chunks(d.in_chunk()) {
                    let sql = format!(
                        "{base} AND h.entity_id IN ({}) ORDER BY h.map_order",
                        placeholders(chunk.len())
                    );
                    let mut args = fixed.to_vec();
                    args.extend(chunk.iter().map(|e| Arg::Uuid(*e)));
                    rows.extend(conn.fetch_all(&sql, &args).await?);
                }
            }
            None => {
                let sql = format!("{base} ORDER BY h.map_order LIMIT ? OFFSET ?");
                let mut args = fixed.to_vec();
                args.extend([Arg::Int(w.limit), Arg::Int(w.offset)]);
                rows = conn.fetch_all(&sql, &args).await?;
            }
        }
        for mut r in rows {
            let e = r.uuid(0)?;
            let values = values_of(&mut r, 1, m, def)?;
            map.put(Aspect::from_values(def.clone(), e, values)?)?;
        }
    } else {
        let filter = if m.has_catalog_id() {
            "WHERE t.catalog_id = ?"
        } else {
            ""
        };
        let (key, first) = match d.row_key() {
            Some(k) => (format!("t.{k}, "), 1),
            None => (String::new(), 0),
        };
        let order = d
            .row_key()
            .or(d.natural_order())
            .map(|o| format!("ORDER BY t.{o}"))
            .unwrap_or_default();
        let sql = format!("SELECT {key}{cols} FROM {t} t {filter} {order} LIMIT ? OFFSET ?");
        let mut args = Vec::new();
        if m.has_catalog_id() {
            args.push(Arg::Uuid(cat));
        }
        args.extend([Arg::Int(w.limit), Arg::Int(w.offset)]);
        let scope = format!("{}/{cat}", m.table());
        for (i, mut r) in conn.fetch_all(&sql, &args).await?.into_iter().enumerate() {
            let k = if first == 1 {
                r.int(0)?
            } else {
                w.offset + i as i64
            };
            let e = row_entity_id(&scope, &k.to_string());
            if entities.is_some_and(|only| !only.contains(&e)) {
                continue;
            }
            let values = values_of(&mut r, first, m, def)?;
            map.put(Aspect::from_values(def.clone(), e, values)?)?;
        }
    }
    Ok(map)
}

/// Number of a catalog's rows in the mapped table.
pub(crate) async fn count(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    m: &AspectTableMapping,
) -> Result<u64> {
    let t = d.quote(m.table());
    let n = if m.has_entity_id() {
        let on_cat = if m.has_catalog_id() {
            " AND t.catalog_id = h.catalog_id"
        } else {
            ""
        };
        conn.fetch_int(
            &format!("SELECT COUNT(*) FROM hierarchy_aspect_map h JOIN {t} t ON t.entity_id = h.entity_id{on_cat} WHERE h.catalog_id = ? AND h.hierarchy_name = ?"),
            &[Arg::Uuid(cat), Arg::text(m.def().name())],
        )
        .await?
    } else if m.has_catalog_id() {
        conn.fetch_int(
            &format!("SELECT COUNT(*) FROM {t} WHERE catalog_id = ?"),
            &[Arg::Uuid(cat)],
        )
        .await?
    } else {
        conn.fetch_int(&format!("SELECT COUNT(*) FROM {t}"), &[])
            .await?
    };
    Ok(n.max(0) as u64)
}

// ---- introspection ----

/// The database's tables (cheap-rs's own included), by name.
pub(crate) async fn list_tables(conn: &mut dyn SqlConn, d: &dyn Dialect) -> Result<Vec<String>> {
    conn.fetch_all(d.list_tables_sql(), &[])
        .await?
        .into_iter()
        .map(|mut r| r.string(0))
        .collect()
}

/// A table's columns as a mutable aspect def named after the table: one single-valued,
/// readable and writable property per column, typed from the declared column type. The def's
/// id is derived from the table name, so it is the same every time.
pub(crate) async fn table_def(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    table: &str,
) -> Result<AspectDef> {
    let rows = conn
        .fetch_all(d.table_columns_sql(), &[Arg::text(table)])
        .await?;
    if rows.is_empty() {
        return Err(NotFound::Table {
            name: table.to_owned(),
        }
        .into());
    }
    let mut props = Vec::with_capacity(rows.len());
    for mut r in rows {
        let nullable = r.bool(2)?;
        let name = r.string(0)?;
        let declared = r.string(1)?;
        props.push(PropertyDef::new(name, property_type_for_column(&declared)).nullable(nullable));
    }
    AspectDef::builder(table)
        .id(row_entity_id(table, "#def"))
        .mutable()
        .properties(props)
        .build()
}

/// A table's rows (at most `max_rows`) as aspects of its [`table_def`]; entity ids derive from
/// the table name and the row's key (or position), so reloading gives the same ids.
pub(crate) async fn load_table(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    table: &str,
    max_rows: Option<u64>,
) -> Result<AspectMap> {
    let def = Arc::new(table_def(conn, d, table).await?);
    let cols = def
        .property_defs()
        .map(|p| d.select_value(&d.quote(p.name()), p.property_type()))
        .collect::<Vec<_>>()
        .join(", ");
    let (key, first) = match d.row_key() {
        Some(k) => (format!("t.{k}, "), 1),
        None => (String::new(), 0),
    };
    let order = d
        .row_key()
        .or(d.natural_order())
        .map(|o| format!("ORDER BY t.{o}"))
        .unwrap_or_default();
    let limit = max_rows.map_or(i64::MAX, |n| n.min(i64::MAX as u64) as i64);
    let sql = format!(
        "SELECT {key}{cols} FROM {} t {order} LIMIT ?",
        d.quote(table)
    );
    let mut map = AspectMap::new(def.clone());
    for (i, mut r) in conn
        .fetch_all(&sql, &[Arg::Int(limit)])
        .await?
        .into_iter()
        .enumerate()
    {
        let k = if first == 1 { r.int(0)? } else { i as i64 };
        let mut values = Vec::with_capacity(def.len());
        for (j, pd) in def.property_defs().enumerate() {
            values.push((
                pd.name().to_owned(),
                read_value(def.name(), pd, r.take(first + j))?,
            ));
        }
        map.put(Aspect::from_values(
            def.clone(),
            row_entity_id(table, &k.to_string()),
            values,
        )?)?;
    }
    Ok(map)
}
