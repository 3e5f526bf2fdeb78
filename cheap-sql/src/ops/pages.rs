//! Pages read by cursor: the rows after the last order of the page before, along the index
//! of the hierarchy's order, so a page costs its size at any depth. Orders stay with their
//! entries (see [`lists`](super::lists)), so a cursor stays exact while entries come and go.
//! Trees (read whole) and aspect maps stored in tables of their own (no stored order) page by
//! entry number.

use uuid::Uuid;

use super::hierarchies::{entries_of, read_hierarchy_page};
use super::*;
use crate::content;
use crate::mapping::Mappings;
use cheap_core::dao::rules::{foreign_cursor, page_limit};
use cheap_core::dao::{CursorPage, CursorPosition, PageCursor};
use cheap_core::model::{
    AspectMap, EntityDirectory, EntityList, EntitySet, Hierarchy, HierarchyContent,
};
use cheap_core::{CheapError, Result};

pub(crate) async fn read_hierarchy_page_after(
    b: &Engine<'_>,
    catalog: Uuid,
    name: &str,
    after: Option<&PageCursor>,
    limit: u64,
) -> Result<CursorPage> {
    page_limit(limit)?;
    let position = after.map(PageCursor::position).transpose()?;
    let d = b.dialect();
    let maps = b.mapping_registry().snapshot();
    let mut guard = b.connect(TxMode::Read).await?;
    let t = hierarchy_type(&mut *guard, catalog, name).await?;
    let by_order = match t {
        HierarchyType::EntityTree => false,
        HierarchyType::AspectMap => !maps.contains_key(name),
        _ => true,
    };
    let after_order = match position {
        None => None,
        Some(CursorPosition::AfterOrder { order, version }) if by_order => Some((order, version)),
        Some(CursorPosition::AtOffset(n)) if !by_order => {
            drop(guard);
            return by_offset(b, catalog, name, n, limit).await;
        }
        Some(_) => return Err(foreign_cursor(after)),
    };
    if !by_order {
        drop(guard);
        return by_offset(b, catalog, name, 0, limit).await;
    }
    let conn: &mut dyn SqlConn = &mut *guard;
    if let Some((_, version)) = after_order {
        let rewritten = conn
            .fetch_optional(
                "SELECT version_number FROM cheap_hierarchy_rewrite WHERE catalog_id = ? AND name = ?",
                &[Arg::Uuid(catalog), Arg::text(name)],
            )
            .await?
            .map(|r| r.int(0))
            .transpose()?;
        if let Some(at) = rewritten.filter(|at| *at > version) {
            // Entries moved since the cursor was made: following it could skip or repeat.
            return Err(CheapError::PreconditionFailed {
                expected: version,
                actual: at,
            });
        }
    }
    let rows = hierarchy_rows(conn, d, catalog, Some(name)).await?;
    let row = rows
        .first()
        .ok_or_else(|| cheap_core::dao::rules::missing_hierarchy(catalog, name))?;
    let after = after_order.map(|(o, _)| o);
    let (content, last, more) =
        entries_after(conn, d, &maps, catalog, name, t, after, limit).await?;
    let next = more
        .then(|| last.map(|o| PageCursor::after_order(o, row.version)))
        .flatten();
    let total = entries_of(conn, d, catalog, name, t, Some(row), &maps).await?;
    let mut hierarchy = Hierarchy::with_content(name, content)?;
    hierarchy.version = row.version;
    Ok(CursorPage::new(hierarchy, total, next))
}

/// The page at entry number `offset`, with the cursor of the one after it.
async fn by_offset(
    b: &Engine<'_>,
    catalog: Uuid,
    name: &str,
    offset: u64,
    limit: u64,
) -> Result<CursorPage> {
    Ok(CursorPage::by_offset(
        read_hierarchy_page(b, catalog, name, offset, limit).await?,
    ))
}

/// Up to `limit` entries of list, set, directory or unmapped aspect map `name` (kind `t`)
/// stored after order `after` (from the first when `None`), in order: the entries, the last
/// order read, and whether more follow.
#[allow(clippy::too_many_arguments)]
pub(super) async fn entries_after(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    maps: &Mappings,
    catalog: Uuid,
    name: &str,
    t: HierarchyType,
    after: Option<i64>,
    limit: u64,
) -> Result<(HierarchyContent, Option<i64>, bool)> {
    let (table, order, key) = match t {
        HierarchyType::EntityList => ("hierarchy_entity_list", "list_order", ""),
        HierarchyType::EntitySet => ("hierarchy_entity_set", "set_order", ""),
        HierarchyType::EntityDirectory => {
            ("hierarchy_entity_directory", "dir_order", ", entity_key")
        }
        _ => ("hierarchy_aspect_map", "map_order", ""),
    };
    let bound = if after.is_some() {
        format!(" AND {order} > ?")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {order}, entity_id{key} FROM {table} WHERE catalog_id = ? AND hierarchy_name = ?{bound} ORDER BY {order} LIMIT ?"
    );
    let mut args = vec![Arg::Uuid(catalog), Arg::text(name)];
    args.extend(after.map(Arg::Int));
    // One row more than the page tells whether another page follows.
    args.push(Arg::Int(
        i64::try_from(limit)
            .unwrap_or(i64::MAX - 1)
            .saturating_add(1),
    ));
    let mut found: Vec<(i64, Uuid, Option<String>)> = Vec::new();
    conn.for_each(&sql, &args, &mut |mut r| {
        let k = if key.is_empty() {
            None
        } else {
            Some(r.string(2)?)
        };
        found.push((r.int(0)?, r.uuid(1)?, k));
        Ok(())
    })
    .await?;
    let more = found.len() as u64 > limit;
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let last = found.last().map(|(o, _, _)| *o);
    let ids: Vec<Uuid> = found.iter().map(|(_, e, _)| *e).collect();
    let content = match t {
        HierarchyType::EntityList => HierarchyContent::List(EntityList(ids)),
        HierarchyType::EntitySet => HierarchyContent::Set(EntitySet(ids.into_iter().collect())),
        HierarchyType::EntityDirectory => {
            let mut dir = EntityDirectory::default();
            for (_, e, k) in found {
                dir.put(k.unwrap_or_default(), e);
            }
            HierarchyContent::Directory(dir)
        }
        _ => {
            let def = crate::defs::catalog_def(conn, catalog, name)
                .await?
                .ok_or_else(|| cheap_core::dao::rules::missing_aspect_def(catalog, name))?;
            let stored =
                content::read_aspects_of(conn, d, catalog, def.clone(), maps, &ids).await?;
            let mut page = AspectMap::new(def);
            for e in &ids {
                if let Some(a) = stored.get(*e) {
                    page.put(a.clone())?;
                }
            }
            HierarchyContent::AspectMap(page)
        }
    };
    Ok((content, last, more))
}
