//! Aspect defs are global by name in the reference schema: storing, comparing and loading them.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::batch;
use crate::error::map_err;
use cheap_core::sql::{default_to_text, property_def_from_row};
use cheap_core::{AspectDef, CheapError, Result};

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| CheapError::invalid(format!("stored id '{s}' is not a UUID")))
}

const DEF_COLS: &str = "d.aspect_def_id, d.name, d.is_readable, d.is_writable, d.can_add_properties, d.can_remove_properties";
const PROP_COLS: &str = "p.aspect_def_id, p.name, p.property_type, p.default_value, p.has_default_value, p.is_readable, p.is_writable, p.is_nullable, p.is_multivalued";

/// Loads defs selected by `filter` (a WHERE clause over `d`, with `binds` bound in order),
/// keyed by id.
async fn load_defs(
    conn: &mut SqliteConnection,
    from: &str,
    filter: &str,
    binds: &[&str],
) -> Result<Vec<AspectDef>> {
    let sql = format!("SELECT {DEF_COLS} FROM aspect_def d {from} WHERE {filter}");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(*b);
    }
    let defs = q.fetch_all(&mut *conn).await.map_err(map_err)?;
    if defs.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {PROP_COLS} FROM property_def p JOIN aspect_def d ON d.aspect_def_id = p.aspect_def_id {from} WHERE {filter} ORDER BY p.aspect_def_id, p.property_index"
    );
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(*b);
    }
    let mut props: HashMap<String, Vec<cheap_core::PropertyDef>> = HashMap::new();
    let names: HashMap<String, String> = defs
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect();
    for r in q.fetch_all(&mut *conn).await.map_err(map_err)? {
        let def_id: String = r.get(0);
        let owner = names.get(&def_id).map(String::as_str).unwrap_or_default();
        let pd = property_def_from_row(
            owner,
            r.get::<&str, _>(1),
            r.get::<&str, _>(2),
            r.get::<Option<&str>, _>(3),
            r.get::<bool, _>(4),
            r.get::<bool, _>(5),
            r.get::<bool, _>(6),
            r.get::<bool, _>(7),
            r.get::<bool, _>(8),
        )?;
        props.entry(def_id).or_default().push(pd);
    }
    defs.iter()
        .map(|r| {
            let id: String = r.get(0);
            AspectDef::builder(r.get::<String, _>(1))
                .id(parse_uuid(&id)?)
                .readable(r.get(2))
                .writable(r.get(3))
                .can_add_properties(r.get(4))
                .can_remove_properties(r.get(5))
                .properties(props.remove(&id).unwrap_or_default())
                .build()
        })
        .collect()
}

/// The defs linked to a catalog.
pub(crate) async fn catalog_defs(
    conn: &mut SqliteConnection,
    catalog: &str,
) -> Result<Vec<Arc<AspectDef>>> {
    Ok(load_defs(
        conn,
        "JOIN catalog_aspect_def l ON l.aspect_def_id = d.aspect_def_id",
        "l.catalog_id = ?",
        &[catalog],
    )
    .await?
    .into_iter()
    .map(Arc::new)
    .collect())
}

/// Makes `def` the stored def of its name for `catalog`. A stored def of the same name or id
/// that differs is replaced when no other catalog links it, and is a conflict otherwise.
/// Call after removing this catalog's own values of the def.
pub(crate) async fn store_def(
    conn: &mut SqliteConnection,
    catalog: &str,
    def: &AspectDef,
) -> Result<()> {
    let id = def.id().to_string();
    let stored = load_defs(
        conn,
        "",
        "d.name = ? OR d.aspect_def_id = ?",
        &[def.name(), &id],
    )
    .await?;
    let mut present = false;
    for s in stored {
        if s == *def {
            present = true;
            continue;
        }
        let sid = s.id().to_string();
        let others: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM catalog_aspect_def WHERE aspect_def_id = ? AND catalog_id <> ? LIMIT 1",
        )
        .bind(&sid)
        .bind(catalog)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
        if others.is_some() {
            return Err(CheapError::conflict(format!(
                "aspect def '{}' ({}) differs from the def '{}' ({}) another catalog stores",
                def.name(),
                def.id(),
                s.name(),
                s.id()
            )));
        }
        // Values of the old def in this catalog must go before its property defs can.
        sqlx::query("DELETE FROM aspect WHERE aspect_def_id = ?")
            .bind(&sid)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM aspect_def WHERE aspect_def_id = ?")
            .bind(&sid)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    if !present {
        sqlx::query(
            "INSERT INTO aspect_def (aspect_def_id, name, hash_version, is_readable, is_writable, can_add_properties, can_remove_properties) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(def.name())
        .bind(def.hash())
        .bind(def.is_readable())
        .bind(def.is_writable())
        .bind(def.can_add_properties())
        .bind(def.can_remove_properties())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        let props: Vec<(usize, &cheap_core::PropertyDef, Option<String>)> = def
            .property_defs()
            .enumerate()
            .map(|(i, p)| (i, p, default_to_text(p)))
            .collect();
        batch::insert(
            conn,
            "INSERT INTO property_def (aspect_def_id, name, property_index, property_type, default_value, has_default_value, is_readable, is_writable, is_nullable, is_multivalued)",
            10,
            "",
            &props,
            |a, (i, p, d)| {
            a.bind(&id)
                    .bind(p.name())
                    .bind(*i as i64)
                    .bind(p.property_type().code())
                    .bind(d.as_deref())
                    .bind(p.has_default_value())
                    .bind(p.is_readable())
                    .bind(p.is_writable())
                    .bind(p.is_nullable())
                    .bind(p.is_multivalued());
        },
        )
        .await?;
    }
    sqlx::query("INSERT INTO catalog_aspect_def (catalog_id, aspect_def_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
        .bind(catalog)
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}
