//! Aspect defs are global by name in the reference schema: storing, comparing and loading them.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::batch;
use super::conn::{Arg, SqlConn};
use super::dialect::Dialect;
use crate::codec::{default_to_text, property_def_from_row};
use cheap_core::model::{AspectDef, PropertyDef};
use cheap_core::{CheapError, Result};

const DEF_COLS: &str = "d.aspect_def_id, d.name, d.is_readable, d.is_writable, d.can_add_properties, d.can_remove_properties";
const PROP_COLS: &str = "p.aspect_def_id, p.name, p.property_type, p.default_value, p.has_default_value, p.is_readable, p.is_writable, p.is_nullable, p.is_multivalued";

/// Loads the defs selected by `filter` (a WHERE clause over `d`, joined with `from`).
async fn load_defs(
    conn: &mut dyn SqlConn,
    from: &str,
    filter: &str,
    args: &[Arg<'_>],
) -> Result<Vec<AspectDef>> {
    let sql = format!("SELECT {DEF_COLS} FROM aspect_def d {from} WHERE {filter}");
    let mut defs = conn.fetch_all(&sql, args).await?;
    if defs.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {PROP_COLS} FROM property_def p JOIN aspect_def d ON d.aspect_def_id = p.aspect_def_id {from} WHERE {filter} ORDER BY p.aspect_def_id, p.property_index"
    );
    let mut names: HashMap<Uuid, String> = HashMap::new();
    for r in &mut defs {
        let id = r.uuid(0)?;
        names.insert(id, r.string(1)?);
    }
    let mut props: HashMap<Uuid, Vec<PropertyDef>> = HashMap::new();
    for mut r in conn.fetch_all(&sql, args).await? {
        let def_id = r.uuid(0)?;
        let owner = names.get(&def_id).map(String::as_str).unwrap_or_default();
        let name = r.string(1)?;
        let code = r.string(2)?;
        let default = r.opt_string(3)?;
        let pd = property_def_from_row(
            owner,
            &name,
            &code,
            default.as_deref(),
            r.bool(4)?,
            r.bool(5)?,
            r.bool(6)?,
            r.bool(7)?,
            r.bool(8)?,
        )?;
        props.entry(def_id).or_default().push(pd);
    }
    defs.iter()
        .map(|r| {
            let id = r.uuid(0)?;
            AspectDef::builder(names.get(&id).cloned().unwrap_or_default())
                .id(id)
                .readable(r.bool(2)?)
                .writable(r.bool(3)?)
                .can_add_properties(r.bool(4)?)
                .can_remove_properties(r.bool(5)?)
                .properties(props.remove(&id).unwrap_or_default())
                .build()
        })
        .collect()
}

/// The defs linked to a catalog, by name.
pub(crate) async fn catalog_defs(
    conn: &mut dyn SqlConn,
    catalog: Uuid,
) -> Result<HashMap<String, Arc<AspectDef>>> {
    Ok(load_defs(
        conn,
        "JOIN catalog_aspect_def l ON l.aspect_def_id = d.aspect_def_id",
        "l.catalog_id = ?",
        &[Arg::Uuid(catalog)],
    )
    .await?
    .into_iter()
    .map(|d| (d.name().to_owned(), Arc::new(d)))
    .collect())
}

/// The def named `name` linked to a catalog, if any (one def's rows, not the catalog's all).
pub(crate) async fn catalog_def(
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    name: &str,
) -> Result<Option<Arc<AspectDef>>> {
    Ok(load_defs(
        conn,
        "JOIN catalog_aspect_def l ON l.aspect_def_id = d.aspect_def_id",
        "l.catalog_id = ? AND d.name = ?",
        &[Arg::Uuid(catalog), Arg::text(name)],
    )
    .await?
    .into_iter()
    .next()
    .map(Arc::new))
}

/// Inserts `def`'s row unless one with its id exists; false when it did. Defs are shared by
/// catalogs whose writers hold different locks, so two of them may store the same new def at
/// once: the second insert waits for the first and then does nothing, instead of failing on
/// the primary key.
async fn insert_def_row(conn: &mut dyn SqlConn, d: &dyn Dialect, def: &AspectDef) -> Result<bool> {
    let tail = d.on_conflict(&["aspect_def_id"], &[]);
    let inserted = conn
        .execute(
            &format!("INSERT INTO aspect_def (aspect_def_id, name, hash_version, is_readable, is_writable, can_add_properties, can_remove_properties) VALUES (?, ?, ?, ?, ?, ?, ?) {tail}"),
            &[
                Arg::Uuid(def.id()),
                Arg::text(def.name()),
                Arg::Int(def.hash()),
                Arg::Bool(def.is_readable()),
                Arg::Bool(def.is_writable()),
                Arg::Bool(def.can_add_properties()),
                Arg::Bool(def.can_remove_properties()),
            ],
        )
        .await?;
    Ok(inserted > 0)
}

/// Makes `def` the stored def of its name for `catalog`. A stored def of the same name or id
/// that differs is replaced when no other catalog links it, and is a conflict otherwise.
/// Call after removing this catalog's own values of the def.
pub(crate) async fn store_def(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    def: &AspectDef,
) -> Result<()> {
    let id = def.id();
    let stored = load_defs(
        conn,
        "",
        "d.name = ? OR d.aspect_def_id = ?",
        &[Arg::text(def.name()), Arg::Uuid(id)],
    )
    .await?;
    let mut present = false;
    for s in stored {
        if s == *def {
            present = true;
            continue;
        }
        let sid = Arg::Uuid(s.id());
        let others = conn
            .fetch_optional(
                "SELECT 1 FROM catalog_aspect_def WHERE aspect_def_id = ? AND catalog_id <> ? LIMIT 1",
                &[sid.clone(), Arg::Uuid(catalog)],
            )
            .await?;
        if others.is_some() {
            return Err(CheapError::conflict(format!(
                "aspect def '{}' differs from the one another catalog stores in {}",
                def.name(),
                def.difference(&s)
                    .unwrap_or_else(|| "its properties".into())
            )));
        }
        // Children first, so that databases without cascading foreign keys are cleaned too.
        // The values by their key's (catalog, def) prefix: no index of theirs leads with the
        // def, and every value has its aspect.
        conn.execute(
            "DELETE FROM property_value WHERE catalog_id IN (SELECT catalog_id FROM aspect WHERE aspect_def_id = ?) AND aspect_def_id = ?",
            &[sid.clone(), sid.clone()],
        )
        .await?;
        for sql in [
            "DELETE FROM hierarchy_aspect_map WHERE aspect_def_id = ?",
            "DELETE FROM aspect WHERE aspect_def_id = ?",
            "DELETE FROM catalog_aspect_def WHERE aspect_def_id = ?",
            "DELETE FROM property_def WHERE aspect_def_id = ?",
            "DELETE FROM aspect_def WHERE aspect_def_id = ?",
        ] {
            conn.execute(sql, std::slice::from_ref(&sid)).await?;
        }
    }
    if !present && !insert_def_row(conn, d, def).await? {
        // A concurrent transaction stored a def with this id after we looked and committed
        // first (our insert waited for it): identical is fine, different is a conflict.
        match load_defs(conn, "", "d.aspect_def_id = ?", &[Arg::Uuid(id)]).await?.first() {
            Some(s) if s == def => present = true,
            Some(s) => {
                return Err(CheapError::conflict(format!(
                    "aspect def '{}' differs from the one another catalog stored at the same time in {}",
                    def.name(),
                    def.difference(s).unwrap_or_else(|| "its properties".into())
                )))
            }
            None => {
                return Err(CheapError::Contention(format!(
                    "aspect def '{}' was being stored by another transaction",
                    def.name()
                )))
            }
        }
    }
    if !present {
        let props: Vec<(usize, &PropertyDef, Option<String>)> = def
            .property_defs()
            .enumerate()
            .map(|(i, p)| (i, p, default_to_text(p)))
            .collect();
        batch::insert(
            conn,
            d,
            "INSERT INTO property_def (aspect_def_id, name, property_index, property_type, default_value, has_default_value, is_readable, is_writable, is_nullable, is_multivalued)",
            10,
            "",
            &props,
            |a, (i, p, dv)| {
                a.extend([
                    Arg::Uuid(id),
                    Arg::text(p.name()),
                    Arg::Int(*i as i64),
                    Arg::text(p.property_type().code()),
                    Arg::opt_text(dv.as_deref()),
                    Arg::Bool(p.has_default_value()),
                    Arg::Bool(p.is_readable()),
                    Arg::Bool(p.is_writable()),
                    Arg::Bool(p.is_nullable()),
                    Arg::Bool(p.is_multivalued()),
                ]);
            },
        )
        .await?;
    }
    let tail = d.on_conflict(&["catalog_id", "aspect_def_id"], &[]);
    conn.execute(
        &format!("INSERT INTO catalog_aspect_def (catalog_id, aspect_def_id) VALUES (?, ?) {tail}"),
        &[Arg::Uuid(catalog), Arg::Uuid(id)],
    )
    .await?;
    Ok(())
}
