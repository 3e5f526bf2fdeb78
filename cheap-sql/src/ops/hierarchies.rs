//! Hierarchies of a catalog: create, delete, list, and read (whole or a page).

use std::collections::HashMap;

use uuid::Uuid;

use super::aspect_defs::remove_aspect_map;
use super::changes::{bump, forget_changes, record_rewrite, Touch};
use super::*;
use crate::content::{self, Window};
use crate::mapping::{self, Mappings};
use crate::positions::{self, Ordered};
use cheap_core::dao::{HierarchyInfo, HierarchySlice};
use cheap_core::model::{Hierarchy, HierarchyDef, HierarchyType};
use cheap_core::{CheapError, Result};

/// What a list, set, directory or tree starts as; an aspect map is made from its def.
fn empty_of(def: &HierarchyDef) -> Result<Hierarchy> {
    if def.hierarchy_type == HierarchyType::AspectMap {
        return Err(CheapError::invalid(
            "an aspect map hierarchy is created with put_aspect_def",
        ));
    }
    Hierarchy::new(def.name.clone(), def.hierarchy_type)
}

/// Writes the rows of a new, empty hierarchy, in the caller's transaction.
async fn insert_empty(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    empty: &Hierarchy,
) -> Result<()> {
    let name = empty.name();
    insert_hierarchy_row(conn, catalog, name, empty.hierarchy_type()).await?;
    content::write_content(conn, d, catalog, empty, &Mappings::new()).await?;
    let v = bump(
        conn,
        d,
        catalog,
        &[Touch::exactly(name, empty.len() as i64)],
    )
    .await?;
    record_rewrite(conn, d, catalog, name, v).await
}

/// Removes a list, set, directory or tree (kind `t`) and its contents, in the caller's
/// transaction; the catalog's version is the caller's to advance.
async fn remove_entries_hierarchy(
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    name: &str,
    t: HierarchyType,
) -> Result<()> {
    let args = [Arg::Uuid(catalog), Arg::text(name)];
    conn.execute(
        &format!(
            "DELETE FROM {} WHERE catalog_id = ? AND hierarchy_name = ?",
            content_table(t)
        ),
        &args,
    )
    .await?;
    conn.execute(
        "DELETE FROM hierarchy WHERE catalog_id = ? AND name = ?",
        &args,
    )
    .await?;
    forget_changes(conn, catalog, name).await
}

pub(crate) async fn create_hierarchy(
    b: &Engine<'_>,
    catalog: Uuid,
    def: &HierarchyDef,
) -> Result<()> {
    write_txn!(b, catalog, conn => create_hierarchy_in(b, conn, catalog, def).await)
}

/// [`create_hierarchy`] in the caller's write transaction.
pub(crate) async fn create_hierarchy_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    def: &HierarchyDef,
) -> Result<()> {
    let empty = empty_of(def)?;
    if find_hierarchy(conn, catalog, &def.name).await?.is_some() {
        return Err(CheapError::conflict(format!(
            "catalog {catalog} already has a hierarchy named '{}'",
            def.name
        )));
    }
    insert_empty(conn, b.dialect(), catalog, &empty).await
}

/// Removes a list, set, directory or tree of `def`'s name, if there is one, and creates `def` in
/// the same transaction.
pub(crate) async fn replace_hierarchy(
    b: &Engine<'_>,
    catalog: Uuid,
    def: &HierarchyDef,
) -> Result<bool> {
    write_txn!(b, catalog, conn => replace_hierarchy_in(b, conn, catalog, def).await)
}

/// [`replace_hierarchy`] in the caller's write transaction.
pub(crate) async fn replace_hierarchy_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    def: &HierarchyDef,
) -> Result<bool> {
    let empty = empty_of(def)?;
    let replaced = match find_hierarchy(conn, catalog, &def.name).await? {
        Some(HierarchyType::AspectMap) => {
            return Err(CheapError::conflict(format!(
                "'{}' is an aspect map and cannot be replaced",
                def.name
            )));
        }
        Some(t) => {
            remove_entries_hierarchy(conn, catalog, &def.name, t).await?;
            true
        }
        None => false,
    };
    insert_empty(conn, b.dialect(), catalog, &empty).await?;
    Ok(replaced)
}

pub(crate) async fn delete_hierarchy(b: &Engine<'_>, catalog: Uuid, name: &str) -> Result<bool> {
    write_txn!(b, catalog, conn => delete_hierarchy_in(b, conn, catalog, name).await)
}

/// [`delete_hierarchy`] in the caller's write transaction.
pub(crate) async fn delete_hierarchy_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    name: &str,
) -> Result<bool> {
    let d = b.dialect();
    let Some(t) = find_hierarchy(conn, catalog, name).await? else {
        return Ok(false);
    };
    if t == HierarchyType::AspectMap {
        let maps = b.mapping_registry().snapshot();
        remove_aspect_map(conn, d, catalog, name, &maps).await?;
        forget_changes(conn, catalog, name).await?;
    } else {
        remove_entries_hierarchy(conn, catalog, name, t).await?;
    }
    bump(conn, d, catalog, &[Touch::unknown(name)]).await?;
    Ok(true)
}

pub(crate) async fn list_hierarchy_defs(
    b: &Engine<'_>,
    catalog: Uuid,
) -> Result<Vec<HierarchyDef>> {
    let (_, meta) = latest_meta(b, catalog).await?;
    Ok(meta
        .hierarchies
        .iter()
        .map(|(n, k)| HierarchyDef::new(n.clone(), *k))
        .collect())
}

pub(crate) async fn list_hierarchies(b: &Engine<'_>, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
    let mut conn = b.connect(TxMode::Read).await?;
    require_catalog(&mut *conn, catalog).await?;
    let counts: Vec<String> = HierarchyType::ALL
        .iter()
        .map(|t| {
            format!("WHEN '{}' THEN (SELECT COUNT(*) FROM {} x WHERE x.catalog_id = h.catalog_id AND x.hierarchy_name = h.name)", t.code(), content_table(*t))
        })
        .collect();
    let sql = format!(
        "SELECT h.name, h.hierarchy_type, h.version_number, CASE h.hierarchy_type {} ELSE 0 END FROM hierarchy h WHERE h.catalog_id = ? ORDER BY {}",
        counts.join(" "),
        b.dialect().hierarchy_order()
    );
    conn.fetch_all(&sql, &[Arg::Uuid(catalog)])
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(HierarchyInfo {
                name: r.string(0)?,
                hierarchy_type: HierarchyType::from_code(r.str(1)?)?,
                version: r.int(2)?,
                size: r.int(3)?.max(0) as u64,
            })
        })
        .collect()
}

pub(crate) async fn get_hierarchy(b: &Engine<'_>, catalog: Uuid, name: &str) -> Result<Hierarchy> {
    Ok(read_hierarchy_page(b, catalog, name, 0, u64::MAX)
        .await?
        .hierarchy)
}

pub(crate) async fn read_hierarchy_page(
    b: &Engine<'_>,
    catalog: Uuid,
    name: &str,
    offset: u64,
    limit: u64,
) -> Result<HierarchySlice> {
    let d = b.dialect();
    let mut conn = b.connect(TxMode::Read).await?;
    let conn: &mut dyn SqlConn = &mut *conn;
    let (t, stamp) = locate(conn, catalog, name).await?;
    let rows = hierarchy_rows(conn, d, catalog, Some(name)).await?;
    let defs = if t == HierarchyType::AspectMap {
        // Only this map's def, not every def of the catalog.
        defs::catalog_def(conn, catalog, name)
            .await?
            .into_iter()
            .map(|d| (name.to_owned(), d))
            .collect()
    } else {
        HashMap::new()
    };
    let maps = b.mapping_registry().snapshot();
    let mut w = Window::page(offset, limit);
    let ordered = Ordered::of(t).filter(|_| !maps.contains_key(name));
    if let Some(at) = ordered {
        // A read transaction: what it reads is the committed state at `stamp`.
        if let Some((from, rest)) =
            positions::seek(b.positions, conn, at, catalog, name, stamp, offset, true).await?
        {
            w = w.seeking(from, rest);
        }
    }
    let hierarchy = content::read_hierarchies(conn, d, catalog, &rows, &defs, &maps, Some(name), w)
        .await?
        .pop()
        .ok_or_else(|| missing_hierarchy(catalog, name))?;
    let total = entries_of(conn, d, catalog, name, t, rows.first(), &maps).await?;
    Ok(HierarchySlice {
        hierarchy,
        offset,
        total,
    })
}

/// A hierarchy's number of entries: kept in its row, or counted where it is not (and always
/// for an aspect map stored in a table of its own, which others may write).
pub(super) async fn entries_of(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    name: &str,
    t: HierarchyType,
    row: Option<&HierarchyRow>,
    maps: &Mappings,
) -> Result<u64> {
    if t == HierarchyType::AspectMap {
        if let Some(m) = maps.get(name) {
            return mapping::count(conn, d, catalog, m).await;
        }
    }
    if let Some(n) = row.and_then(|r| r.entries) {
        return Ok(n.max(0) as u64);
    }
    Ok(conn
        .fetch_int(
            &format!(
                "SELECT COUNT(*) FROM {} WHERE catalog_id = ? AND hierarchy_name = ?",
                content_table(t)
            ),
            &[Arg::Uuid(catalog), Arg::text(name)],
        )
        .await?
        .max(0) as u64)
}
