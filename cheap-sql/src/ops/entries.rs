//! Entries of lists, sets, directories and trees, one operation at a time.

use uuid::Uuid;

use super::changes::{bump, record_rewrite, Touch};
use super::lists;
use super::*;
use crate::codec::flatten_tree;
use crate::content;
use crate::positions::{Edit, Ordered, Step};
use cheap_core::model::{check_depth, node_path, EntityTree, HierarchyType};
use cheap_core::{CheapError, NotFound, Result};

pub(crate) async fn add_entities(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    ids: &[Uuid],
) -> Result<u64> {
    let mut edit = Edit::default();
    let n = write_txn!(b, catalog, conn => {
        edit = Edit::tracking();
        add_entities_in(b, conn, catalog, hierarchy, ids, &mut edit).await
    })?;
    b.positions.commit(catalog, hierarchy, &edit);
    Ok(n)
}

/// [`add_entities`] in the caller's write transaction; `edit` notes what it did.
pub(crate) async fn add_entities_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    hierarchy: &str,
    ids: &[Uuid],
    edit: &mut Edit,
) -> Result<u64> {
    let d = b.dialect();
    let (t, stamp) = locate(conn, catalog, hierarchy).await?;
    edit.base = Some(stamp);
    let n = match t {
        HierarchyType::EntityList => {
            let w = lists::append(conn, d, catalog, hierarchy, ids).await?;
            return list_written(conn, d, catalog, hierarchy, w, edit).await;
        }
        HierarchyType::EntitySet => {
            let next = max_order(
                conn,
                "hierarchy_entity_set",
                "set_order",
                catalog,
                hierarchy,
            )
            .await?
                + 1;
            let n = content::insert_set(conn, d, catalog, hierarchy, ids, next).await?;
            // New members come after every other.
            edit.push(Step::Append { from: next, n });
            n
        }
        t => return Err(wrong_kind(hierarchy, t, "an entity list or set")),
    };
    stamp_if_changed(conn, d, catalog, hierarchy, n, n as i64, edit).await
}

pub(crate) async fn insert_entities(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    index: u64,
    ids: &[Uuid],
) -> Result<u64> {
    let mut edit = Edit::default();
    let n = write_txn!(b, catalog, conn => {
        edit = Edit::tracking();
        insert_entities_in(b, conn, catalog, hierarchy, index, ids, &mut edit).await
    })?;
    b.positions.commit(catalog, hierarchy, &edit);
    Ok(n)
}

/// [`insert_entities`] in the caller's write transaction; `edit` notes what it did.
pub(crate) async fn insert_entities_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    hierarchy: &str,
    index: u64,
    ids: &[Uuid],
    edit: &mut Edit,
) -> Result<u64> {
    let d = b.dialect();
    let stamp = require_located(
        conn,
        catalog,
        hierarchy,
        HierarchyType::EntityList,
        "an entity list",
    )
    .await?;
    edit.base = Some(stamp);
    let place = lists::Place {
        positions: b.positions,
        stamp,
        keep: edit.keeps,
    };
    let w = lists::insert_at(conn, d, catalog, hierarchy, index, ids, place).await?;
    list_written(conn, d, catalog, hierarchy, w, edit).await
}

/// Stamps a list write that added entries; one that moved others is also noted as a rewrite,
/// which outdates the cursors made before it.
async fn list_written(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    hierarchy: &str,
    w: lists::Written,
    edit: &mut Edit,
) -> Result<u64> {
    if w.entries == 0 {
        return Ok(0);
    }
    let v = bump(
        conn,
        d,
        catalog,
        &[Touch::changed(hierarchy, w.entries as i64)],
    )
    .await?;
    if w.moved {
        record_rewrite(conn, d, catalog, hierarchy, v).await?;
    }
    edit.steps.extend(w.steps);
    edit.version = Some(v);
    Ok(w.entries)
}

pub(crate) async fn remove_entities(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    ids: &[Uuid],
) -> Result<u64> {
    let mut edit = Edit::default();
    let n = write_txn!(b, catalog, conn => {
        edit = Edit::tracking();
        remove_entities_in(b, conn, catalog, hierarchy, ids, true, &mut edit).await
    })?;
    b.positions.commit(catalog, hierarchy, &edit);
    Ok(n)
}

/// [`remove_entities`] in the caller's write transaction; from a list, every occurrence of each
/// id or the first one per id given; `edit` notes what it did.
pub(crate) async fn remove_entities_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    hierarchy: &str,
    ids: &[Uuid],
    every_occurrence: bool,
    edit: &mut Edit,
) -> Result<u64> {
    let d = b.dialect();
    let (t, stamp) = locate(conn, catalog, hierarchy).await?;
    edit.base = Some(stamp);
    // The orders of what goes are read first only when an index of the hierarchy is kept.
    let tracked = edit.tracking && b.positions.holds(catalog, hierarchy);
    let n = match t {
        HierarchyType::EntityList => {
            let (n, gone) =
                lists::remove(conn, d, catalog, hierarchy, ids, every_occurrence, tracked).await?;
            edit.push(gone.map_or(Step::Reset, Step::Remove));
            n
        }
        HierarchyType::EntitySet => {
            let values = uuid_args(ids);
            let set = Ordered::of(t);
            if let Some(at) = set.filter(|_| tracked) {
                let gone =
                    orders_where(conn, d, at, "entity_id", catalog, hierarchy, &values).await?;
                edit.push(Step::Remove(gone));
            } else {
                edit.push(Step::Reset);
            }
            delete_in(
                conn,
                d,
                "hierarchy_entity_set",
                "entity_id",
                catalog,
                hierarchy,
                &values,
            )
            .await?
        }
        t => return Err(wrong_kind(hierarchy, t, "an entity list or set")),
    };
    stamp_if_changed(conn, d, catalog, hierarchy, n, -(n as i64), edit).await
}

/// The orders of the entries of one hierarchy whose `col` is one of `values`.
#[allow(clippy::too_many_arguments)]
async fn orders_where(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    at: Ordered,
    col: &str,
    catalog: Uuid,
    hierarchy: &str,
    values: &[Arg<'_>],
) -> Result<Vec<i64>> {
    let Ordered { table, order } = at;
    let mut out = Vec::new();
    for chunk in values.chunks(d.in_chunk()) {
        let sql = format!(
            "SELECT {order} FROM {table} WHERE catalog_id = ? AND hierarchy_name = ? AND {col} IN ({})",
            crate::batch::placeholders(chunk.len())
        );
        let mut args = vec![Arg::Uuid(catalog), Arg::text(hierarchy)];
        args.extend(chunk.iter().cloned());
        conn.for_each(&sql, &args, &mut |r| {
            out.push(r.int(0)?);
            Ok(())
        })
        .await?;
    }
    Ok(out)
}

pub(crate) async fn put_directory_entries(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    entries: &[(String, Uuid)],
) -> Result<u64> {
    let mut edit = Edit::default();
    let n = write_txn!(b, catalog, conn => {
        edit = Edit::tracking();
        put_directory_entries_in(b, conn, catalog, hierarchy, entries, &mut edit).await
    })?;
    b.positions.commit(catalog, hierarchy, &edit);
    Ok(n)
}

/// [`put_directory_entries`] in the caller's write transaction; `edit` notes what it did.
pub(crate) async fn put_directory_entries_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    hierarchy: &str,
    entries: &[(String, Uuid)],
    edit: &mut Edit,
) -> Result<u64> {
    if let Some((k, _)) = entries.iter().find(|(k, _)| k.is_empty()) {
        return Err(CheapError::invalid(format!(
            "directory key '{k}' must not be empty"
        )));
    }
    let d = b.dialect();
    let stamp = require_located(
        conn,
        catalog,
        hierarchy,
        HierarchyType::EntityDirectory,
        "an entity directory",
    )
    .await?;
    edit.base = Some(stamp);
    let next = max_order(
        conn,
        "hierarchy_entity_directory",
        "dir_order",
        catalog,
        hierarchy,
    )
    .await?
        + 1;
    let pairs: Vec<(&str, Uuid)> = entries.iter().map(|(k, e)| (k.as_str(), *e)).collect();
    let added = new_keys(conn, d, catalog, hierarchy, &pairs).await?;
    content::upsert_directory(conn, d, catalog, hierarchy, &pairs, next).await?;
    // A key already there keeps its place; new keys come after every other.
    edit.push(Step::Append {
        from: next,
        n: added.max(0) as u64,
    });
    let n = entries.len() as u64;
    stamp_if_changed(conn, d, catalog, hierarchy, n, added, edit).await
}

pub(crate) async fn remove_directory_keys(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    keys: &[String],
) -> Result<u64> {
    let args: Vec<Arg> = keys.iter().map(|k| Arg::text(k)).collect();
    remove_directory_rows(b, catalog, hierarchy, "entity_key", &args).await
}

pub(crate) async fn remove_directory_entities(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    ids: &[Uuid],
) -> Result<u64> {
    remove_directory_rows(b, catalog, hierarchy, "entity_id", &uuid_args(ids)).await
}

/// Removes the entries of a directory whose `column` is one of `values`.
async fn remove_directory_rows(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    column: &str,
    values: &[Arg<'_>],
) -> Result<u64> {
    let mut edit = Edit::default();
    let n = write_txn!(b, catalog, conn => {
        edit = Edit::tracking();
        remove_directory_rows_in(b, conn, catalog, hierarchy, column, values, &mut edit).await
    })?;
    b.positions.commit(catalog, hierarchy, &edit);
    Ok(n)
}

/// [`remove_directory_rows`] in the caller's write transaction; `edit` notes what it did.
pub(crate) async fn remove_directory_rows_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    hierarchy: &str,
    column: &str,
    values: &[Arg<'_>],
    edit: &mut Edit,
) -> Result<u64> {
    let d = b.dialect();
    let stamp = require_located(
        conn,
        catalog,
        hierarchy,
        HierarchyType::EntityDirectory,
        "an entity directory",
    )
    .await?;
    edit.base = Some(stamp);
    let dir = Ordered::of(HierarchyType::EntityDirectory);
    match dir.filter(|_| edit.tracking && b.positions.holds(catalog, hierarchy)) {
        Some(at) => {
            let gone = orders_where(conn, d, at, column, catalog, hierarchy, values).await?;
            edit.push(Step::Remove(gone));
        }
        None => edit.push(Step::Reset),
    }
    let n = delete_in(
        conn,
        d,
        "hierarchy_entity_directory",
        column,
        catalog,
        hierarchy,
        values,
    )
    .await?;
    stamp_if_changed(conn, d, catalog, hierarchy, n, -(n as i64), edit).await
}

pub(crate) async fn add_tree_nodes(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    parent_path: &str,
    nodes: &[(String, Option<Uuid>)],
) -> Result<u64> {
    write_txn!(b, catalog, conn => add_tree_nodes_in(b, conn, catalog, hierarchy, parent_path, nodes).await)
}

/// [`add_tree_nodes`] in the caller's write transaction.
pub(crate) async fn add_tree_nodes_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    hierarchy: &str,
    parent_path: &str,
    nodes: &[(String, Option<Uuid>)],
) -> Result<u64> {
    // Names are checked against an empty tree first so a bad one adds nothing.
    let mut probe = EntityTree::new();
    for (name, e) in nodes {
        probe.add_node("/", name, *e)?;
    }
    check_depth(parent_path)?;
    let d = b.dialect();
    require_kind(
        conn,
        catalog,
        hierarchy,
        HierarchyType::EntityTree,
        "an entity tree",
    )
    .await?;
    let parent = node_path(parent_path);
    let row = conn.fetch_optional(
            "SELECT node_id FROM hierarchy_entity_tree_node WHERE catalog_id = ? AND hierarchy_name = ? AND node_path = ? ORDER BY parent_node_id IS NULL LIMIT 1",
            &[Arg::Uuid(catalog), Arg::text(hierarchy), Arg::text(&parent)],
        ).await?;
    let Some(row) = row else {
        return Err(NotFound::tree_path(parent_path).into());
    };
    let parent_id = row.uuid(0)?;
    let mut replaced = 0;
    for (name, entity) in nodes {
        let path = format!("{parent}/{name}");
        // A child of the same name is replaced with its whole subtree.
        let existing = conn
            .fetch_optional(
                "SELECT 1 FROM hierarchy_entity_tree_node WHERE catalog_id = ? AND hierarchy_name = ? AND parent_node_id = ? AND node_key = ?",
                &[Arg::Uuid(catalog), Arg::text(hierarchy), Arg::Uuid(parent_id), Arg::text(name)],
            )
            .await?;
        if existing.is_some() {
            replaced += delete_subtree(conn, d, catalog, hierarchy, &path).await? as i64;
        }
        let order = conn.fetch_int(
                "SELECT COALESCE(MAX(tree_order), -1) + 1 FROM hierarchy_entity_tree_node WHERE parent_node_id = ?",
                &[Arg::Uuid(parent_id)],
            ).await?;
        let mut sub = EntityTree::new();
        sub.root.entity = *entity;
        let mut rows = flatten_tree(&sub);
        for r in &mut rows {
            r.parent = Some(parent_id);
            r.key = name.clone();
            r.path = path.clone();
            r.order = i32::try_from(order)
                .map_err(|_| CheapError::invalid("too many children in one tree node"))?;
        }
        content::insert_tree_rows(conn, d, catalog, hierarchy, &rows).await?;
    }
    let n = nodes.len() as u64;
    stamp_if_changed(
        conn,
        d,
        catalog,
        hierarchy,
        n,
        n as i64 - replaced,
        &mut Edit::default(),
    )
    .await
}

pub(crate) async fn remove_tree_nodes(
    b: &Engine<'_>,
    catalog: Uuid,
    hierarchy: &str,
    paths: &[String],
) -> Result<u64> {
    write_txn!(b, catalog, conn => remove_tree_nodes_in(b, conn, catalog, hierarchy, paths).await)
}

/// [`remove_tree_nodes`] in the caller's write transaction.
pub(crate) async fn remove_tree_nodes_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    hierarchy: &str,
    paths: &[String],
) -> Result<u64> {
    if paths.iter().any(|p| node_path(p).is_empty()) {
        return Err(CheapError::invalid("the root of a tree cannot be removed"));
    }
    let d = b.dialect();
    require_kind(
        conn,
        catalog,
        hierarchy,
        HierarchyType::EntityTree,
        "an entity tree",
    )
    .await?;
    let mut n = 0;
    for p in paths {
        n += delete_subtree(conn, d, catalog, hierarchy, &node_path(p)).await?;
    }
    stamp_if_changed(
        conn,
        d,
        catalog,
        hierarchy,
        n,
        -(n as i64),
        &mut Edit::default(),
    )
    .await
}

/// The node ids of the subtree at a node path, found from the node along the parent links
/// (both indexed), so that it costs the subtree's size, not the tree's.
const SUBTREE: &str = "WITH RECURSIVE sub (id) AS (\
        SELECT node_id FROM hierarchy_entity_tree_node WHERE catalog_id = ? AND hierarchy_name = ? AND node_path = ? \
        UNION ALL SELECT n.node_id FROM hierarchy_entity_tree_node n JOIN sub ON n.parent_node_id = sub.id) \
    SELECT id FROM sub";

/// Deletes the subtree at `path`; returns how many nodes went. The ids are read first and the
/// rows deleted by id: every planner then looks them up (MariaDB walked the whole tree for a
/// subquery), and the count is what was there, whether or not a cascade got to rows first.
pub(super) async fn delete_subtree(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    hierarchy: &str,
    path: &str,
) -> Result<u64> {
    let ids: Vec<Arg> = conn
        .fetch_all(
            SUBTREE,
            &[Arg::Uuid(catalog), Arg::text(hierarchy), Arg::text(path)],
        )
        .await?
        .iter()
        .map(|r| r.uuid(0).map(Arg::Uuid))
        .collect::<Result<_>>()?;
    // Where deletes cascade, a chunk may take rows of a later one with it; those are simply
    // gone when their chunk comes.
    crate::batch::execute_in(conn, d, &[], &ids, |ph| {
        format!("DELETE FROM hierarchy_entity_tree_node WHERE node_id IN ({ph})")
    })
    .await?;
    Ok(ids.len() as u64)
}

/// How many of the keys of `entries` the directory does not have yet.
async fn new_keys(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    hierarchy: &str,
    entries: &[(&str, Uuid)],
) -> Result<i64> {
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut present = 0;
    for chunk in keys.chunks(d.in_chunk()) {
        let sql = format!(
            "SELECT COUNT(*) FROM hierarchy_entity_directory WHERE catalog_id = ? AND hierarchy_name = ? AND entity_key IN ({})",
            crate::batch::placeholders(chunk.len())
        );
        let mut args = vec![Arg::Uuid(catalog), Arg::text(hierarchy)];
        args.extend(chunk.iter().map(|k| Arg::text(k)));
        present += conn.fetch_int(&sql, &args).await?;
    }
    Ok(keys.len() as i64 - present)
}

/// Advances the catalog's version for a write to `hierarchy` that changed `n` entries (none:
/// no new version) and left `by` more (or, negative, fewer) of them; returns `n`. The new
/// version goes into `edit`.
async fn stamp_if_changed(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    hierarchy: &str,
    n: u64,
    by: i64,
    edit: &mut Edit,
) -> Result<u64> {
    if n > 0 {
        edit.version = Some(bump(conn, d, catalog, &[Touch::changed(hierarchy, by)]).await?);
    }
    Ok(n)
}
