//! Whole catalogs: save (which replaces), load, delete and the listings; the health check.

use std::str::FromStr;

use uuid::Uuid;

use super::*;
use crate::content::{self, Window};
use crate::mapping::{self, Mappings};
use cheap_core::dao::CatalogInfo;
use cheap_core::model::{Catalog, CatalogSpecies};
use cheap_core::Result;

pub(super) async fn load(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    id: Uuid,
    maps: &Mappings,
) -> Result<Catalog> {
    let info = require_catalog(conn, id).await?;
    let mut catalog = Catalog::with_id(id, info.species, info.upstream)?;
    catalog.uri = info.uri;
    catalog.version = info.version;
    let defs = defs::catalog_defs(conn, id).await?;
    let rows = hierarchy_rows(conn, d, id, None).await?;
    for h in content::read_hierarchies(conn, d, id, &rows, &defs, maps, None, Window::ALL).await? {
        catalog.add_hierarchy(h)?;
    }
    // A linked def without an aspect map still belongs to the catalog (by name, so that
    // every load gives the same order).
    let mut defs: Vec<_> = defs.into_values().collect();
    defs.sort_by(|a, b| a.name().cmp(b.name()));
    for def in defs {
        if catalog.hierarchy(def.name()).is_none() {
            catalog.extend(def)?;
        }
    }
    Ok(catalog)
}

pub(super) async fn clear_mapped(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    names: &[String],
    maps: &Mappings,
) -> Result<()> {
    for name in names {
        if let Some(m) = maps.get(name) {
            mapping::clear(conn, d, cat, m).await?;
        }
    }
    Ok(())
}

/// Deletes a catalog's contents table by table, children first. Explicit rather than through
/// cascades, so that databases created without the foreign keys (older reference schemas,
/// MariaDB without the optional script) are cleaned as well.
pub(super) async fn clear_catalog(conn: &mut dyn SqlConn, cat: Uuid) -> Result<()> {
    for table in [
        "property_value",
        "hierarchy_aspect_map",
        "aspect",
        "hierarchy_entity_list",
        "hierarchy_entity_set",
        "hierarchy_entity_directory",
        "hierarchy_entity_tree_node",
        "hierarchy",
        "catalog_aspect_def",
        "cheap_aspect_change",
        "cheap_hierarchy_rewrite",
    ] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE catalog_id = ?"),
            &[Arg::Uuid(cat)],
        )
        .await?;
    }
    Ok(())
}

/// Entries in one save past which the planner's statistics are refreshed.
const MANY_ROWS: u64 = 10_000;

pub(crate) async fn save_catalog(b: &Engine<'_>, catalog: &Catalog) -> Result<i64> {
    for h in catalog.hierarchies() {
        if let Some(m) = h.as_aspect_map() {
            for a in m.iter() {
                a.check_complete()?;
            }
        }
    }
    let maps = b.mapping_registry().snapshot();
    let d = b.dialect();
    let (v, rows) =
        write_txn!(b, catalog.id(), conn => super::imports::save(conn, d, catalog, &maps).await)?;
    refresh_statistics(b, rows).await;
    Ok(v)
}

/// After a write of `rows` entries, refreshes the planner's statistics when they were many
/// (a freshly loaded table is otherwise planned without them).
pub(super) async fn refresh_statistics(b: &Engine<'_>, rows: u64) {
    let Some(sql) = b
        .dialect()
        .refresh_statistics()
        .filter(|_| rows >= MANY_ROWS)
    else {
        return;
    };
    // The write is committed; statistics are an optimisation, so a failure only logs.
    match b.connect(TxMode::None).await {
        Ok(mut conn) => {
            if let Err(e) = conn.execute(sql, &[]).await {
                tracing::warn!(error = %e, "refreshing planner statistics after a large write failed");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "refreshing planner statistics after a large write failed")
        }
    }
}

pub(crate) async fn load_catalog(b: &Engine<'_>, id: Uuid) -> Result<Catalog> {
    // A read transaction gives the load one consistent snapshot.
    let mut conn = b.connect(TxMode::Read).await?;
    load(
        &mut *conn,
        b.dialect(),
        id,
        &b.mapping_registry().snapshot(),
    )
    .await
}

pub(crate) async fn delete_catalog(b: &Engine<'_>, id: Uuid) -> Result<bool> {
    let maps = b.mapping_registry().snapshot();
    let d = b.dialect();
    let deleted = write_txn!(b, id, conn => async {
        let names = hierarchy_names(conn, d, id).await?;
        clear_mapped(conn, d, id, &names, &maps).await?;
        clear_catalog(conn, id).await?;
        conn.execute("DELETE FROM cheap_hierarchy_tombstone WHERE catalog_id = ?", &[Arg::Uuid(id)]).await?;
        conn.execute("DELETE FROM cheap_sync_mark WHERE catalog_id = ?", &[Arg::Uuid(id)]).await?;
        let n = conn.execute("DELETE FROM catalog WHERE catalog_id = ?", &[Arg::Uuid(id)]).await?;
        Ok::<_, cheap_core::CheapError>(n > 0)
    }.await);
    // Not needed for correctness (a new catalog row has a new epoch), only to free the entry.
    b.meta.forget(id);
    deleted
}

pub(crate) async fn catalog_exists(b: &Engine<'_>, id: Uuid) -> Result<bool> {
    let mut conn = b.connect(TxMode::None).await?;
    Ok(find_catalog(&mut *conn, id).await?.is_some())
}

pub(crate) async fn catalog_info(b: &Engine<'_>, id: Uuid) -> Result<CatalogInfo> {
    let mut conn = b.connect(TxMode::None).await?;
    require_catalog(&mut *conn, id).await
}

pub(crate) async fn list_catalog_ids(b: &Engine<'_>) -> Result<Vec<Uuid>> {
    let mut conn = b.connect(TxMode::None).await?;
    conn.fetch_all("SELECT catalog_id FROM catalog ORDER BY catalog_id", &[])
        .await?
        .iter()
        .map(|r| r.uuid(0))
        .collect()
}

pub(crate) async fn catalog_count(b: &Engine<'_>) -> Result<u64> {
    let mut conn = b.connect(TxMode::None).await?;
    Ok(conn
        .fetch_int("SELECT COUNT(*) FROM catalog", &[])
        .await?
        .max(0) as u64)
}

pub(crate) async fn list_catalogs_page(
    b: &Engine<'_>,
    offset: u64,
    limit: u64,
) -> Result<Vec<CatalogInfo>> {
    let w = Window::page(offset, limit);
    let mut conn = b.connect(TxMode::None).await?;
    conn.fetch_all(
        "SELECT catalog_id, species, uri, upstream_catalog_id, version_number FROM catalog ORDER BY catalog_id LIMIT ? OFFSET ?",
        &[Arg::Int(w.limit), Arg::Int(w.offset)],
    )
    .await?
    .into_iter()
    .map(|mut r| {
        Ok(CatalogInfo {
            id: r.uuid(0)?,
            species: CatalogSpecies::from_str(r.str(1)?)?,
            uri: r.opt_string(2)?,
            upstream: r.opt_uuid(3)?,
            version: r.int(4)?,
        })
    })
    .collect()
}

pub(crate) async fn load_catalogs_page(
    b: &Engine<'_>,
    offset: u64,
    limit: u64,
) -> Result<Vec<Catalog>> {
    let maps = b.mapping_registry().snapshot();
    let w = Window::page(offset, limit);
    let mut conn = b.connect(TxMode::Read).await?;
    let ids: Vec<Uuid> = conn
        .fetch_all(
            "SELECT catalog_id FROM catalog ORDER BY catalog_id LIMIT ? OFFSET ?",
            &[Arg::Int(w.limit), Arg::Int(w.offset)],
        )
        .await?
        .iter()
        .map(|r| r.uuid(0))
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(load(&mut *conn, b.dialect(), id, &maps).await?);
    }
    Ok(out)
}

pub(crate) async fn health_check(b: &Engine<'_>) -> Result<()> {
    let h = health(b).await?;
    if h.up {
        return Ok(());
    }
    let why: Vec<String> = h.details.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Err(cheap_core::CheapError::Unavailable(format!(
        "the database answers but is not ready: {}",
        why.join(", ")
    )))
}

/// `SELECT 1`, and on a cluster node whether the node may serve (a Galera node outside the
/// primary component answers `SELECT 1` but refuses every table).
pub(crate) async fn health(b: &Engine<'_>) -> Result<cheap_core::dao::Health> {
    let mut conn = b.connect(TxMode::None).await?;
    conn.fetch_one("SELECT 1", &[]).await?;
    match b.dialect().cluster_health_sql() {
        Some(sql) => {
            let mut row = conn.fetch_one(sql, &[]).await?;
            b.dialect().cluster_health(&mut row)
        }
        None => Ok(cheap_core::dao::Health::up()),
    }
}
