//! Aspect defs of a catalog: each one is also the catalog's aspect map of the same name.

use uuid::Uuid;

use super::changes::{bump, forget_changes, record_rewrite, Touch};
use super::*;
use crate::mapping::{self, Mappings};
use std::sync::Arc;

use cheap_core::model::{AspectDef, CatalogDef, HierarchyDef, HierarchyType};
use cheap_core::{CheapError, Result};

pub(crate) async fn put_aspect_def(b: &Engine<'_>, catalog: Uuid, def: &AspectDef) -> Result<bool> {
    write_txn!(b, catalog, conn => put_aspect_def_in(b, conn, catalog, def).await)
}

/// [`put_aspect_def`] in the caller's write transaction.
pub(crate) async fn put_aspect_def_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    def: &AspectDef,
) -> Result<bool> {
    let d = b.dialect();
    {
        match find_hierarchy(conn, catalog, def.name()).await? {
            Some(HierarchyType::AspectMap) => {
                let stored = defs::catalog_def(conn, catalog, def.name()).await?;
                if stored.as_deref() == Some(def) {
                    return Ok(false);
                }
                let what = stored
                    .as_deref()
                    .and_then(|s| def.difference(s))
                    .unwrap_or_else(|| "its properties".into());
                Err(CheapError::conflict(format!("catalog {catalog} already has a different aspect def named '{}': it differs in {what}", def.name())))
            }
            Some(_) => Err(CheapError::conflict(format!(
                "catalog {catalog} already has a hierarchy named '{}'",
                def.name()
            ))),
            None => {
                defs::store_def(conn, d, catalog, def).await?;
                insert_hierarchy_row(conn, catalog, def.name(), HierarchyType::AspectMap).await?;
                let v = bump(conn, d, catalog, &[Touch::exactly(def.name(), 0)]).await?;
                forget_changes(conn, catalog, def.name()).await?;
                record_rewrite(conn, d, catalog, def.name(), v).await?;
                Ok(true)
            }
        }
    }
}

pub(crate) async fn get_aspect_def(b: &Engine<'_>, catalog: Uuid, name: &str) -> Result<AspectDef> {
    let (_, meta) = latest_meta(b, catalog).await?;
    Ok((*meta_def(&meta, catalog, name)?).clone())
}

pub(crate) async fn list_aspect_defs(b: &Engine<'_>, catalog: Uuid) -> Result<Vec<AspectDef>> {
    let (_, meta) = latest_meta(b, catalog).await?;
    Ok(aspect_defs_in_order(&meta))
}

pub(crate) async fn delete_aspect_def(b: &Engine<'_>, catalog: Uuid, name: &str) -> Result<bool> {
    write_txn!(b, catalog, conn => delete_aspect_def_in(b, conn, catalog, name).await)
}

/// [`delete_aspect_def`] in the caller's write transaction.
pub(crate) async fn delete_aspect_def_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    name: &str,
) -> Result<bool> {
    let d = b.dialect();
    if find_hierarchy(conn, catalog, name).await? != Some(HierarchyType::AspectMap) {
        return Ok(false);
    }
    let maps = b.mapping_registry().snapshot();
    remove_aspect_map(conn, d, catalog, name, &maps).await?;
    forget_changes(conn, catalog, name).await?;
    bump(conn, d, catalog, &[Touch::unknown(name)]).await?;
    Ok(true)
}

/// Removes an aspect map hierarchy with its aspects, values, mapped rows and def link.
pub(super) async fn remove_aspect_map(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    name: &str,
    maps: &Mappings,
) -> Result<()> {
    let def = defs::catalog_def(conn, catalog, name).await?;
    if let Some(m) = maps.get(name) {
        mapping::clear(conn, d, catalog, m).await?;
    }
    let args = [Arg::Uuid(catalog), Arg::text(name)];
    if let Some(def) = &def {
        for table in ["property_value", "aspect"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE catalog_id = ? AND aspect_def_id = ?"),
                &[Arg::Uuid(catalog), Arg::Uuid(def.id())],
            )
            .await?;
        }
    }
    conn.execute(
        "DELETE FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ?",
        &args,
    )
    .await?;
    conn.execute(
        "DELETE FROM hierarchy WHERE catalog_id = ? AND name = ?",
        &args,
    )
    .await?;
    if let Some(def) = def {
        conn.execute(
            "DELETE FROM catalog_aspect_def WHERE catalog_id = ? AND aspect_def_id = ?",
            &[Arg::Uuid(catalog), Arg::Uuid(def.id())],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn catalog_def(b: &Engine<'_>, catalog: Uuid) -> Result<CatalogDef> {
    Ok(versioned_catalog_def(b, catalog).await?.0)
}

/// The catalog's def and the version it is of: the metadata agrees with the catalog row it was
/// read or cached with.
pub(crate) async fn versioned_catalog_def(
    b: &Engine<'_>,
    catalog: Uuid,
) -> Result<(CatalogDef, i64)> {
    let (info, meta) = latest_meta(b, catalog).await?;
    let def = CatalogDef::from_parts(
        aspect_defs_in_order(&meta).into_iter().map(Arc::new),
        meta.hierarchies
            .iter()
            .map(|(n, k)| HierarchyDef::new(n.clone(), *k)),
    );
    Ok((def, info.version))
}

/// The aspect maps' defs, in the catalog's hierarchy order.
pub(super) fn aspect_defs_in_order(meta: &CatalogMeta) -> Vec<AspectDef> {
    meta.hierarchies
        .iter()
        .filter(|(_, k)| *k == HierarchyType::AspectMap)
        .filter_map(|(n, _)| meta.defs.get(n))
        .map(|d| (**d).clone())
        .collect()
}
