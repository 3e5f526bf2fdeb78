//! Writing and reading hierarchy contents: the five content tables, aspects and their values.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::batch::{self, placeholders};
use super::conn::{Arg, SqlConn};
use super::dialect::Dialect;
use super::mapping::{self, Mappings};
use crate::codec::{build_tree, encode_aspect, flatten_tree, AspectAssembler, TreeRow, ValueRow};
use crate::meta::Stamp;
use cheap_core::model::{
    Aspect, AspectDef, AspectMap, EntityDirectory, EntityList, EntitySet, EntityTree, Hierarchy,
    HierarchyContent, HierarchyType,
};
use cheap_core::{CheapError, NotFound, Result};

/// Room left between the orders of list entries written together, for inserts between them.
pub(crate) const LIST_STRIDE: i64 = 1024;
/// Orders are 32-bit in the reference's schema.
pub(crate) const MAX_LIST_ORDER: i64 = i32::MAX as i64;

/// Orders for `n` entries after order `after` (from 0 when `None`), spaced by up to
/// [`LIST_STRIDE`]; `None` when they do not fit below [`MAX_LIST_ORDER`].
pub(crate) fn spaced_orders(after: Option<i64>, n: usize) -> Option<Vec<i64>> {
    let n = i64::try_from(n).ok()?;
    let base = after.unwrap_or(-1);
    let stride = LIST_STRIDE.min((MAX_LIST_ORDER - base) / (n + 1));
    if stride < 1 {
        return None;
    }
    let first = match after {
        Some(a) => a + stride,
        None => 0,
    };
    Some((0..n).map(|i| first + i * stride).collect())
}

/// Writes a whole list (or entries after order `after`), with room between the entries.
pub(crate) async fn insert_list(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
    after: Option<i64>,
) -> Result<u64> {
    let orders = spaced_orders(after, ids.len()).ok_or_else(|| {
        CheapError::invalid(format!("list '{name}' cannot hold {} entries", ids.len()))
    })?;
    let rows: Vec<(Uuid, i64)> = ids.iter().copied().zip(orders).collect();
    insert_list_rows(conn, d, cat, name, &rows).await
}

/// Writes list entries with the orders given; returns how many.
pub(crate) async fn insert_list_rows(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    rows: &[(Uuid, i64)],
) -> Result<u64> {
    batch::insert(
        conn,
        d,
        "INSERT INTO hierarchy_entity_list (catalog_id, hierarchy_name, entity_id, list_order)",
        4,
        "",
        rows,
        |a, (e, o)| a.extend([Arg::Uuid(cat), Arg::text(name), Arg::Uuid(*e), Arg::Int(*o)]),
    )
    .await
}

/// Adds set members not yet present, ordered after `first_order`; returns how many were new.
pub(crate) async fn insert_set(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
    first_order: i64,
) -> Result<u64> {
    // A duplicate inside one statement is not a conflict everywhere; keep the first.
    let mut seen = HashSet::new();
    let rows: Vec<(Uuid, i64)> = ids
        .iter()
        .copied()
        .filter(|e| seen.insert(*e))
        .zip(first_order..)
        .collect();
    let tail = d.on_conflict(&["catalog_id", "hierarchy_name", "entity_id"], &[]);
    batch::insert(
        conn,
        d,
        "INSERT INTO hierarchy_entity_set (catalog_id, hierarchy_name, entity_id, set_order)",
        4,
        &tail,
        &rows,
        |a, (e, o)| a.extend([Arg::Uuid(cat), Arg::text(name), Arg::Uuid(*e), Arg::Int(*o)]),
    )
    .await
}

/// Writes directory entries; existing keys keep their position and take the new entity.
pub(crate) async fn upsert_directory(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    entries: &[(&str, Uuid)],
    first_order: i64,
) -> Result<u64> {
    // The last entry for a key wins, as repeated puts would (and one statement must not touch
    // a row twice).
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (k, _)) in entries.iter().enumerate() {
        last.insert(*k, i);
    }
    let rows: Vec<(&str, Uuid, i64)> = entries
        .iter()
        .enumerate()
        .filter(|(i, (k, _))| last.get(k) == Some(i))
        .zip(first_order..)
        .map(|((_, (k, e)), o)| (*k, *e, o))
        .collect();
    let tail = d.on_conflict(
        &["catalog_id", "hierarchy_name", "entity_key"],
        &["entity_id"],
    );
    insert_directory_rows(conn, d, cat, name, &rows, &tail).await
}

/// Writes directory rows (key, entity, order); `tail` says what a key already there does
/// (empty: it is a conflict).
pub(crate) async fn insert_directory_rows(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    rows: &[(&str, Uuid, i64)],
    tail: &str,
) -> Result<u64> {
    batch::insert(
        conn,
        d,
        "INSERT INTO hierarchy_entity_directory (catalog_id, hierarchy_name, entity_key, entity_id, dir_order)",
        5,
        tail,
        rows,
        |a, (k, e, o)| {
            a.extend([
                Arg::Uuid(cat),
                Arg::text(name),
                Arg::text(k),
                Arg::Uuid(*e),
                Arg::Int(*o),
            ])
        },
    )
    .await
}

/// Inserts tree node rows (parents before children).
pub(crate) async fn insert_tree_rows(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    name: &str,
    rows: &[TreeRow],
) -> Result<u64> {
    batch::insert(
        conn,
        d,
        "INSERT INTO hierarchy_entity_tree_node (node_id, catalog_id, hierarchy_name, parent_node_id, node_key, entity_id, node_path, tree_order)",
        8,
        "",
        rows,
        |a, t| {
            a.extend([
                Arg::Uuid(t.node_id),
                Arg::Uuid(cat),
                Arg::text(name),
                Arg::opt_uuid(t.parent),
                Arg::text(&t.key),
                Arg::opt_uuid(t.entity),
                Arg::text(&t.path),
                Arg::Int(i64::from(t.order)),
            ])
        },
    )
    .await
}

struct ValueInsert {
    entity: Uuid,
    row: ValueRow,
}

/// Rows per UNNEST statement (dialects with array parameters).
const UNNEST_ROWS: usize = 50_000;

/// Inserts aspects at the given map positions: their `aspect` and `hierarchy_aspect_map` rows
/// and, `with_values`, their value rows. The entities must have no aspect of this def in the
/// catalog yet.
pub(crate) async fn insert_aspects(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    def: &AspectDef,
    items: &[(&Aspect, i64)],
    with_values: bool,
    keep_existing: bool,
) -> Result<()> {
    insert_aspect_rows(conn, d, cat, def, items, keep_existing).await?;
    if with_values {
        insert_values(conn, d, cat, def, items).await?;
    }
    Ok(())
}

/// The `aspect` and `hierarchy_aspect_map` rows of aspects at the given map positions;
/// `keep_existing`: rows already there stay as they are.
pub(crate) async fn insert_aspect_rows(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    def: &AspectDef,
    items: &[(&Aspect, i64)],
    keep_existing: bool,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let def_id = def.id();
    // An upsert keeps the aspect and map rows of the aspects it replaces (their values go).
    let (aspect_tail, map_tail) = if keep_existing {
        (
            d.on_conflict(&["entity_id", "aspect_def_id", "catalog_id"], &[]),
            d.on_conflict(&["catalog_id", "hierarchy_name", "entity_id"], &[]),
        )
    } else {
        (String::new(), String::new())
    };
    let name = def.name();
    // In key order, every index grows at its end instead of at random places (the keys start
    // with random entity ids).
    let mut ordered: Vec<(Uuid, i64)> = items.iter().map(|(a, o)| (a.entity_id(), *o)).collect();
    ordered.sort_unstable();
    batch::insert(
        conn,
        d,
        "INSERT INTO aspect (entity_id, aspect_def_id, catalog_id, hierarchy_name)",
        4,
        &aspect_tail,
        &ordered,
        |a, (e, _)| {
            a.extend([
                Arg::Uuid(*e),
                Arg::Uuid(def_id),
                Arg::Uuid(cat),
                Arg::text(name),
            ])
        },
    )
    .await?;
    batch::insert(
        conn,
        d,
        "INSERT INTO hierarchy_aspect_map (catalog_id, hierarchy_name, entity_id, aspect_def_id, map_order)",
        5,
        &map_tail,
        &ordered,
        |a, (e, o)| {
            a.extend([
                Arg::Uuid(cat),
                Arg::text(name),
                Arg::Uuid(*e),
                Arg::Uuid(def_id),
                Arg::Int(*o),
            ])
        },
    )
    .await?;
    Ok(())
}

/// The value rows of aspects that have none stored.
pub(crate) async fn insert_values(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    def: &AspectDef,
    items: &[(&Aspect, i64)],
) -> Result<()> {
    let def_id = def.id();
    let mut values: Vec<ValueInsert> = items
        .iter()
        .flat_map(|(a, _)| {
            encode_aspect(a).into_iter().map(move |row| ValueInsert {
                entity: a.entity_id(),
                row,
            })
        })
        .collect();
    values.sort_unstable_by(|a, b| {
        (a.entity, &a.row.property_name, a.row.value_index).cmp(&(
            b.entity,
            &b.row.property_name,
            b.row.value_index,
        ))
    });
    if d.unnest_values() {
        // A handful of array parameters however many rows: no parameter limit and no planning
        // of a huge VALUES list.
        for chunk in values.chunks(UNNEST_ROWS) {
            conn.execute(
                "INSERT INTO property_value (entity_id, aspect_def_id, catalog_id, property_name, property_index, value_index, value_text, value_binary)
                 SELECT u.e, ?, ?, u.n, u.pi, u.vi, u.t, u.b
                 FROM UNNEST(?::uuid[], ?::text[], ?::int4[], ?::int4[], ?::text[], ?::bytea[]) AS u(e, n, pi, vi, t, b)",
                &[
                    Arg::Uuid(def_id),
                    Arg::Uuid(cat),
                    Arg::UuidArray(chunk.iter().map(|v| v.entity).collect()),
                    Arg::TextArray(chunk.iter().map(|v| Some(v.row.property_name.as_str())).collect()),
                    Arg::IntArray(chunk.iter().map(|v| v.row.property_index).collect()),
                    Arg::IntArray(chunk.iter().map(|v| v.row.value_index).collect()),
                    Arg::TextArray(chunk.iter().map(|v| v.row.text.as_deref()).collect()),
                    Arg::BytesArray(chunk.iter().map(|v| v.row.binary.as_deref()).collect()),
                ],
            )
            .await?;
        }
        return Ok(());
    }
    batch::insert(
        conn,
        d,
        "INSERT INTO property_value (entity_id, aspect_def_id, catalog_id, property_name, property_index, value_index, value_text, value_binary)",
        8,
        "",
        &values,
        |a, v| {
            a.extend([
                Arg::Uuid(v.entity),
                Arg::Uuid(def_id),
                Arg::Uuid(cat),
                Arg::text(&v.row.property_name),
                Arg::Int(i64::from(v.row.property_index)),
                Arg::Int(i64::from(v.row.value_index)),
                Arg::opt_text(v.row.text.as_deref()),
                Arg::opt_bytes(v.row.binary.as_deref()),
            ])
        },
    )
    .await?;
    Ok(())
}

/// Writes a whole hierarchy's contents (its `hierarchy` row exists, its contents are empty).
pub(crate) async fn write_content(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    h: &Hierarchy,
    maps: &Mappings,
) -> Result<()> {
    let name = h.name();
    match &h.content {
        HierarchyContent::List(l) => {
            insert_list(conn, d, cat, name, &l.0, None).await?;
        }
        HierarchyContent::Set(s) => {
            let ids: Vec<Uuid> = s.iter().collect();
            insert_set(conn, d, cat, name, &ids, 0).await?;
        }
        HierarchyContent::Directory(dir) => {
            let entries: Vec<(&str, Uuid)> = dir.iter().collect();
            upsert_directory(conn, d, cat, name, &entries, 0).await?;
        }
        HierarchyContent::Tree(t) => {
            insert_tree_rows(conn, d, cat, name, &flatten_tree(t)).await?;
        }
        HierarchyContent::AspectMap(m) => {
            let aspects: Vec<&Aspect> = m.iter().collect();
            let items: Vec<(&Aspect, i64)> = m.iter().zip(0..).collect();
            match maps.get(name) {
                // Membership and order stay in the aspect map tables; values go to the table.
                Some(mapping) => {
                    if mapping.has_entity_id() {
                        insert_aspects(conn, d, cat, m.def(), &items, false, false).await?;
                    }
                    mapping::write(conn, d, cat, mapping, &aspects).await?;
                }
                None => insert_aspects(conn, d, cat, m.def(), &items, true, false).await?,
            }
        }
    }
    Ok(())
}

/// Which rows of a hierarchy's contents to read.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    /// Entries to step over (from `from` when it is set).
    pub offset: i64,
    pub limit: i64,
    /// The order to start from, found by the position index; `offset` counts from there.
    pub from: Option<i64>,
}

impl Window {
    pub const ALL: Window = Window {
        offset: 0,
        limit: i64::MAX,
        from: None,
    };

    /// A page; a limit past `i64::MAX` means no limit.
    pub fn page(offset: u64, limit: u64) -> Window {
        Window {
            offset: offset.min(i64::MAX as u64) as i64,
            limit: limit.min(i64::MAX as u64) as i64,
            from: None,
        }
    }

    /// The same page reached from order `from`, `offset` entries on.
    pub fn seeking(self, from: i64, offset: u64) -> Window {
        Window {
            offset: offset.min(i64::MAX as u64) as i64,
            from: Some(from),
            ..self
        }
    }

    fn is_all(&self) -> bool {
        self.offset == 0 && self.limit == i64::MAX && self.from.is_none()
    }

    /// The condition on the order column and its argument, when the window starts at an order.
    fn bound(&self, order: &str) -> (String, Option<Arg<'static>>) {
        match self.from {
            Some(o) => (format!(" AND {order} >= ?"), Some(Arg::Int(o))),
            None => (String::new(), None),
        }
    }
}

/// Reads entity ids of a list, set or aspect map, grouped by hierarchy name, in order. With
/// `only`, one hierarchy and the window; otherwise every hierarchy of the catalog.
async fn read_ids(
    conn: &mut dyn SqlConn,
    table: &str,
    order: &str,
    cat: Uuid,
    only: Option<&str>,
    w: Window,
) -> Result<HashMap<String, Vec<Uuid>>> {
    let (sql, args) = match only {
        Some(n) => {
            let (bound, from) = w.bound(order);
            let mut args = vec![Arg::Uuid(cat), Arg::text(n)];
            args.extend(from);
            args.extend([Arg::Int(w.limit), Arg::Int(w.offset)]);
            (
                format!("SELECT hierarchy_name, entity_id FROM {table} WHERE catalog_id = ? AND hierarchy_name = ?{bound} ORDER BY {order} LIMIT ? OFFSET ?"),
                args,
            )
        }
        None => (
            format!("SELECT hierarchy_name, entity_id FROM {table} WHERE catalog_id = ? ORDER BY hierarchy_name, {order}"),
            vec![Arg::Uuid(cat)],
        ),
    };
    let mut out: HashMap<String, Vec<Uuid>> = HashMap::new();
    conn.for_each(&sql, &args, &mut |mut r| {
        let e = r.uuid(1)?;
        out.entry(r.string(0)?).or_default().push(e);
        Ok(())
    })
    .await?;
    Ok(out)
}

async fn read_directories(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    only: Option<&str>,
    w: Window,
) -> Result<HashMap<String, EntityDirectory>> {
    let (sql, args) = match only {
        Some(n) => {
            let (bound, from) = w.bound("dir_order");
            let mut args = vec![Arg::Uuid(cat), Arg::text(n)];
            args.extend(from);
            args.extend([Arg::Int(w.limit), Arg::Int(w.offset)]);
            (
                format!("SELECT hierarchy_name, entity_key, entity_id FROM hierarchy_entity_directory WHERE catalog_id = ? AND hierarchy_name = ?{bound} ORDER BY dir_order LIMIT ? OFFSET ?"),
                args,
            )
        }
        None => (
            "SELECT hierarchy_name, entity_key, entity_id FROM hierarchy_entity_directory WHERE catalog_id = ? ORDER BY hierarchy_name, dir_order".to_owned(),
            vec![Arg::Uuid(cat)],
        ),
    };
    let mut out: HashMap<String, EntityDirectory> = HashMap::new();
    conn.for_each(&sql, &args, &mut |mut r| {
        let e = r.uuid(2)?;
        let key = r.string(1)?;
        out.entry(r.string(0)?).or_default().put(key, e);
        Ok(())
    })
    .await?;
    Ok(out)
}

async fn read_trees(
    conn: &mut dyn SqlConn,
    cat: Uuid,
    only: Option<&str>,
) -> Result<HashMap<String, EntityTree>> {
    const COLS: &str = "SELECT hierarchy_name, node_id, parent_node_id, node_key, entity_id, node_path, tree_order FROM hierarchy_entity_tree_node WHERE catalog_id = ?";
    let (sql, args) = match only {
        Some(n) => (
            format!("{COLS} AND hierarchy_name = ?"),
            vec![Arg::Uuid(cat), Arg::text(n)],
        ),
        None => (COLS.to_owned(), vec![Arg::Uuid(cat)]),
    };
    let mut rows_by: HashMap<String, Vec<TreeRow>> = HashMap::new();
    conn.for_each(&sql, &args, &mut |mut r| {
        let row = TreeRow {
            node_id: r.uuid(1)?,
            parent: r.opt_uuid(2)?,
            key: r.opt_string(3)?.unwrap_or_default(),
            entity: r.opt_uuid(4)?,
            path: r.opt_string(5)?.unwrap_or_default(),
            order: i32::try_from(r.int(6)?)
                .map_err(|_| CheapError::invalid("stored tree order is out of range"))?,
        };
        rows_by.entry(r.string(0)?).or_default().push(row);
        Ok(())
    })
    .await?;
    rows_by
        .into_iter()
        .map(|(k, rows)| Ok((k, build_tree(rows)?)))
        .collect()
}

/// Reads aspect maps: for each AM hierarchy (or just `only`, windowed) its entities in order
/// and their values in one ordered scan.
#[allow(clippy::too_many_arguments)]
async fn read_aspect_maps(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    defs: &HashMap<String, Arc<AspectDef>>,
    maps: &Mappings,
    only: Option<&str>,
    w: Window,
    entities: Option<&[Uuid]>,
) -> Result<HashMap<String, AspectMap>> {
    let mut out = HashMap::new();
    let mapped: Vec<&String> = defs
        .keys()
        .filter(|n| maps.contains_key(*n) && only.is_none_or(|o| o == n.as_str()))
        .collect();
    for name in mapped {
        if let Some(m) = maps.get(name) {
            out.insert(
                name.clone(),
                mapping::read(conn, d, cat, m, &defs[name], w, entities).await?,
            );
        }
    }
    if only.is_some_and(|o| maps.contains_key(o)) {
        return Ok(out);
    }
    let mut order: HashMap<String, Vec<Uuid>> = HashMap::new();
    match entities {
        Some(list) => {
            let name = only.unwrap_or_default();
            let mut found = Vec::new();
            for chunk in list.chunks(d.in_chunk()) {
                let sql = format!(
                    "SELECT entity_id FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({}) ORDER BY map_order",
                    placeholders(chunk.len())
                );
                let mut args = vec![Arg::Uuid(cat), Arg::text(name)];
                args.extend(chunk.iter().map(|e| Arg::Uuid(*e)));
                conn.for_each(&sql, &args, &mut |r| {
                    found.push(r.uuid(0)?);
                    Ok(())
                })
                .await?;
            }
            order.insert(name.to_owned(), found);
        }
        None => {
            order = read_ids(conn, "hierarchy_aspect_map", "map_order", cat, only, w).await?;
            if let Some(n) = only {
                order.entry(n.to_owned()).or_default();
            }
        }
    }
    for (name, ids) in order {
        if maps.contains_key(&name) {
            continue;
        }
        let def = defs
            .get(&name)
            .ok_or_else(|| CheapError::NotFound(NotFound::aspect_def(cat, name.clone())))?
            .clone();
        let mut asm = Assembled::new(def.clone(), ids.len());
        // One ordered scan of the def's values; a window or entity filter narrows it.
        let narrowed = only.is_some() && (!w.is_all() || entities.is_some());
        let cols = "SELECT entity_id, property_name, value_index, value_text, value_binary FROM property_value WHERE catalog_id = ? AND aspect_def_id = ?";
        let order_by = "ORDER BY entity_id, property_name, value_index";
        if narrowed {
            for chunk in ids.chunks(d.in_chunk()) {
                let sql = format!(
                    "{cols} AND entity_id IN ({}) {order_by}",
                    placeholders(chunk.len())
                );
                let mut args = vec![Arg::Uuid(cat), Arg::Uuid(def.id())];
                args.extend(chunk.iter().map(|e| Arg::Uuid(*e)));
                scan_values(conn, &sql, &args, &mut asm).await?;
            }
        } else {
            let sql = format!("{cols} {order_by}");
            scan_values(conn, &sql, &[Arg::Uuid(cat), Arg::Uuid(def.id())], &mut asm).await?;
        }
        let mut done = asm.finish()?;
        let mut map = AspectMap::new(def.clone());
        for e in ids {
            let a = match done.remove(&e) {
                Some(a) => a,
                None => Aspect::from_values(def.clone(), e, Vec::<(String, _)>::new())?,
            };
            map.put(a)?;
        }
        out.insert(name, map);
    }
    Ok(out)
}

/// The aspects of `entities` in an aspect map stored in the value table: each entity's map row
/// and its values in one statement per chunk of ids, in map order. With `stamps`, each
/// statement also reads the catalog's version and epoch, from the same snapshot as its rows,
/// and pushes them there (nothing when the catalog is missing).
async fn read_entities(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    def: Arc<AspectDef>,
    entities: &[Uuid],
    mut stamps: Option<&mut Vec<Stamp>>,
) -> Result<AspectMap> {
    let mut order: Vec<(i64, Uuid)> = Vec::new();
    let mut asm: HashMap<Uuid, AspectAssembler> = HashMap::new();
    for chunk in entities.chunks(d.in_chunk()) {
        let ids = placeholders(chunk.len());
        // Not ordered at all: by the map's order SQLite would walk the whole map along that
        // index rather than look the entities up, and MariaDB sorts in a temporary table for
        // any order (twice the statement's time). The entities are put in order below and
        // each list's elements by their index when the aspect is built.
        let (sql, mut args) = if stamps.is_some() {
            // From the catalog row, so that a row comes even when no entity matches.
            (
                format!(
                    "SELECT m.entity_id, v.property_name, v.value_index, v.value_text, v.value_binary, m.map_order, c.version_number, c.cheap_epoch \
                     FROM catalog c LEFT JOIN hierarchy_aspect_map m \
                     ON m.catalog_id = c.catalog_id AND m.hierarchy_name = ? AND m.entity_id IN ({ids}) \
                     LEFT JOIN property_value v \
                     ON v.catalog_id = m.catalog_id AND v.aspect_def_id = ? AND v.entity_id = m.entity_id \
                     WHERE c.catalog_id = ?"
                ),
                vec![Arg::text(def.name())],
            )
        } else {
            (
                format!(
                    "SELECT m.entity_id, v.property_name, v.value_index, v.value_text, v.value_binary, m.map_order \
                     FROM hierarchy_aspect_map m LEFT JOIN property_value v \
                     ON v.catalog_id = m.catalog_id AND v.aspect_def_id = ? AND v.entity_id = m.entity_id \
                     WHERE m.catalog_id = ? AND m.hierarchy_name = ? AND m.entity_id IN ({ids})"
                ),
                vec![Arg::Uuid(def.id()), Arg::Uuid(cat), Arg::text(def.name())],
            )
        };
        args.extend(chunk.iter().map(|e| Arg::Uuid(*e)));
        if stamps.is_some() {
            args.extend([Arg::Uuid(def.id()), Arg::Uuid(cat)]);
        }
        let mut seen: Option<Stamp> = None;
        conn.for_each(&sql, &args, &mut |mut r| {
            if stamps.is_some() && seen.is_none() {
                seen = Some(Stamp {
                    version: r.int(6)?,
                    epoch: r.opt_int(7)?,
                });
            }
            // The catalog's row alone: no entity matched.
            let Some(e) = r.opt_uuid(0)? else {
                return Ok(());
            };
            let at = r.int(5)?;
            let a = asm.entry(e).or_insert_with(|| {
                order.push((at, e));
                AspectAssembler::new(def.clone(), e)
            });
            // An aspect without stored values has one row of NULLs.
            if r.is_null(1) {
                return Ok(());
            }
            let index = i32::try_from(r.int(2)?)
                .map_err(|_| CheapError::invalid("stored value index is out of range"))?;
            let text = r.opt_string(3)?;
            let binary = r.opt_bytes(4)?;
            a.push(r.str(1)?, index, text.as_deref(), binary.as_deref())
        })
        .await?;
        if let (Some(out), Some(s)) = (stamps.as_deref_mut(), seen) {
            out.push(s);
        }
    }
    order.sort_unstable();
    let mut map = AspectMap::new(def);
    for (_, e) in order {
        if let Some(a) = asm.remove(&e) {
            map.put(a.finish()?)?;
        }
    }
    Ok(map)
}

/// The aspects of `entities` in aspect map `def` (stored in the value table, not a mapped
/// table) and the catalog's stamp each statement saw, for a read made without a transaction
/// that is checked against the stamp of the metadata it used.
pub(crate) async fn read_entities_stamped(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    def: Arc<AspectDef>,
    entities: &[Uuid],
) -> Result<(AspectMap, Vec<Stamp>)> {
    let mut stamps = Vec::new();
    let map = read_entities(conn, d, cat, def, entities, Some(&mut stamps)).await?;
    Ok((map, stamps))
}

async fn scan_values(
    conn: &mut dyn SqlConn,
    sql: &str,
    args: &[Arg<'_>],
    asm: &mut Assembled,
) -> Result<()> {
    conn.for_each(sql, args, &mut |mut r| {
        let e = r.uuid(0)?;
        let index = i32::try_from(r.int(2)?)
            .map_err(|_| CheapError::invalid("stored value index is out of range"))?;
        let text = r.opt_string(3)?;
        let binary = r.opt_bytes(4)?;
        asm.of(e)?
            .push(r.str(1)?, index, text.as_deref(), binary.as_deref())
    })
    .await
}

/// Aspects of one def assembled from value rows that come ordered by entity: the rows of an
/// entity are together, so one aspect is open at a time and goes into the map when the next
/// entity's rows begin (a lookup per aspect, not per row).
struct Assembled {
    def: Arc<AspectDef>,
    open: Option<AspectAssembler>,
    done: HashMap<Uuid, Aspect, foldhash::fast::RandomState>,
}

impl Assembled {
    fn new(def: Arc<AspectDef>, capacity: usize) -> Self {
        Assembled {
            def,
            open: None,
            done: HashMap::with_capacity_and_hasher(capacity, Default::default()),
        }
    }

    /// The assembler of `entity`'s aspect, closing the one before it.
    fn of(&mut self, entity: Uuid) -> Result<&mut AspectAssembler> {
        if self.open.as_ref().is_some_and(|a| a.entity() != entity) {
            self.close()?;
        }
        Ok(self
            .open
            .get_or_insert_with(|| AspectAssembler::new(self.def.clone(), entity)))
    }

    fn close(&mut self) -> Result<()> {
        if let Some(a) = self.open.take() {
            let e = a.entity();
            if self.done.insert(e, a.finish()?).is_some() {
                // Rows of one entity apart: the statement did not order them by entity.
                return Err(CheapError::backend(
                    "sql",
                    format!("the value rows of entity {e} did not come together"),
                ));
            }
        }
        Ok(())
    }

    /// Every aspect, by entity.
    fn finish(mut self) -> Result<HashMap<Uuid, Aspect, foldhash::fast::RandomState>> {
        self.close()?;
        Ok(self.done)
    }
}

/// A hierarchy's summary row.
pub(crate) struct HierarchyRow {
    pub name: String,
    pub kind: HierarchyType,
    pub version: i64,
    /// The stored number of entries, when known.
    pub entries: Option<i64>,
}

/// Reads the contents of `hierarchies` (all of a catalog's, or one windowed) into hierarchies.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn read_hierarchies(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    hierarchies: &[HierarchyRow],
    defs: &HashMap<String, Arc<AspectDef>>,
    maps: &Mappings,
    only: Option<&str>,
    w: Window,
) -> Result<Vec<Hierarchy>> {
    let has = |kind: HierarchyType| hierarchies.iter().any(|h| h.kind == kind);
    let mut lists = if has(HierarchyType::EntityList) {
        read_ids(conn, "hierarchy_entity_list", "list_order", cat, only, w).await?
    } else {
        HashMap::new()
    };
    let mut sets = if has(HierarchyType::EntitySet) {
        read_ids(conn, "hierarchy_entity_set", "set_order", cat, only, w).await?
    } else {
        HashMap::new()
    };
    let mut dirs = if has(HierarchyType::EntityDirectory) {
        read_directories(conn, cat, only, w).await?
    } else {
        HashMap::new()
    };
    let mut trees = if has(HierarchyType::EntityTree) {
        read_trees(conn, cat, only).await?
    } else {
        HashMap::new()
    };
    let mut aspect_maps = if has(HierarchyType::AspectMap) {
        read_aspect_maps(conn, d, cat, defs, maps, only, w, None).await?
    } else {
        HashMap::new()
    };
    hierarchies
        .iter()
        .map(|h| {
            let content = match h.kind {
                HierarchyType::EntityList => {
                    HierarchyContent::List(EntityList(lists.remove(&h.name).unwrap_or_default()))
                }
                HierarchyType::EntitySet => HierarchyContent::Set(EntitySet(
                    sets.remove(&h.name)
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                )),
                HierarchyType::EntityDirectory => {
                    HierarchyContent::Directory(dirs.remove(&h.name).unwrap_or_default())
                }
                HierarchyType::EntityTree => {
                    HierarchyContent::Tree(trees.remove(&h.name).unwrap_or_default())
                }
                HierarchyType::AspectMap => {
                    HierarchyContent::AspectMap(match aspect_maps.remove(&h.name) {
                        Some(m) => m,
                        None => AspectMap::new(defs.get(&h.name).cloned().ok_or_else(|| {
                            CheapError::NotFound(NotFound::aspect_def(cat, h.name.clone()))
                        })?),
                    })
                }
            };
            let mut out = Hierarchy::with_content(h.name.clone(), content)?;
            out.version = h.version;
            Ok(out)
        })
        .collect()
}

/// Aspects of `entities` in one aspect map.
pub(crate) async fn read_aspects_of(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    cat: Uuid,
    def: Arc<AspectDef>,
    maps: &Mappings,
    entities: &[Uuid],
) -> Result<AspectMap> {
    let name = def.name().to_owned();
    if !maps.contains_key(&name) {
        return read_entities(conn, d, cat, def, entities, None).await;
    }
    let defs = HashMap::from([(name.clone(), def.clone())]);
    let mut found = read_aspect_maps(
        conn,
        d,
        cat,
        &defs,
        maps,
        Some(&name),
        Window::ALL,
        Some(entities),
    )
    .await?;
    Ok(found.remove(&name).unwrap_or_else(|| AspectMap::new(def)))
}
