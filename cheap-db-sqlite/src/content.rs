//! Writing and reading hierarchy contents: the five content tables, aspects and their values.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::batch;
use crate::defs::parse_uuid;
use crate::error::map_err;
use crate::mapping::{self, Mappings};
use cheap_core::sql::{encode_aspect, flatten_tree, AspectAssembler, TreeRow, ValueRow};
use cheap_core::{
    Aspect, AspectDef, AspectMap, EntityDirectory, EntityList, EntitySet, EntityTree, Hierarchy,
    HierarchyContent, Result,
};

/// Appends list entries starting at `first_order`.
pub(crate) async fn insert_list(
    conn: &mut SqliteConnection,
    cat: &str,
    name: &str,
    ids: &[Uuid],
    first_order: i64,
) -> Result<u64> {
    let rows: Vec<(String, i64)> = ids
        .iter()
        .enumerate()
        .map(|(i, e)| (e.to_string(), first_order + i as i64))
        .collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_list (catalog_id, hierarchy_name, entity_id, list_order)",
        4,
        "",
        &rows,
        |a, (e, o)| {
            a.bind(cat).bind(name).bind(e).bind(*o);
        },
    )
    .await
}

/// Adds set members not yet present, ordered after `first_order`; returns how many were new.
pub(crate) async fn insert_set(
    conn: &mut SqliteConnection,
    cat: &str,
    name: &str,
    ids: &[Uuid],
    first_order: i64,
) -> Result<u64> {
    let rows: Vec<(String, i64)> = ids
        .iter()
        .enumerate()
        .map(|(i, e)| (e.to_string(), first_order + i as i64))
        .collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_set (catalog_id, hierarchy_name, entity_id, set_order)",
        4,
        "ON CONFLICT DO NOTHING",
        &rows,
        |a, (e, o)| {
            a.bind(cat).bind(name).bind(e).bind(*o);
        },
    )
    .await
}

/// Writes directory entries; existing keys keep their position and take the new entity.
pub(crate) async fn upsert_directory(
    conn: &mut SqliteConnection,
    cat: &str,
    name: &str,
    entries: &[(&str, Uuid)],
    first_order: i64,
) -> Result<u64> {
    let rows: Vec<(&str, String, i64)> = entries
        .iter()
        .enumerate()
        .map(|(i, (k, e))| (*k, e.to_string(), first_order + i as i64))
        .collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_directory (catalog_id, hierarchy_name, entity_key, entity_id, dir_order)",
        5,
        "ON CONFLICT (catalog_id, hierarchy_name, entity_key) DO UPDATE SET entity_id = excluded.entity_id",
        &rows,
        |a, (k, e, o)| {
            a.bind(cat).bind(name).bind(*k).bind(e).bind(*o);
        },
    )
    .await
}

struct TreeInsert<'a> {
    id: String,
    parent: Option<String>,
    entity: Option<String>,
    row: &'a TreeRow,
}

/// Inserts tree node rows (parents before children).
pub(crate) async fn insert_tree_rows(
    conn: &mut SqliteConnection,
    cat: &str,
    name: &str,
    rows: &[TreeRow],
) -> Result<u64> {
    let rows: Vec<TreeInsert<'_>> = rows
        .iter()
        .map(|r| TreeInsert {
            id: r.node_id.to_string(),
            parent: r.parent.map(|p| p.to_string()),
            entity: r.entity.map(|e| e.to_string()),
            row: r,
        })
        .collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_tree_node (node_id, catalog_id, hierarchy_name, parent_node_id, node_key, entity_id, node_path, tree_order)",
        8,
        "",
        &rows,
        |a, t| {
            a.bind(&t.id)
                .bind(cat)
                .bind(name)
                .bind(t.parent.as_deref())
                .bind(t.row.key.as_str())
                .bind(t.entity.as_deref())
                .bind(t.row.path.as_str())
                .bind(t.row.order);
        },
    )
    .await
}

struct ValueInsert<'a> {
    entity: &'a str,
    row: ValueRow,
}

/// Inserts aspects at the given map positions: their `aspect` and `hierarchy_aspect_map` rows
/// and, `with_values`, their value rows. The entities must have no aspect of this def in the
/// catalog yet.
pub(crate) async fn insert_aspects(
    conn: &mut SqliteConnection,
    cat: &str,
    def: &AspectDef,
    items: &[(&Aspect, i64)],
    with_values: bool,
) -> Result<()> {
    let aspects: Vec<&Aspect> = items.iter().map(|(a, _)| *a).collect();
    let def_id = def.id().to_string();
    let name = def.name();
    let entities: Vec<String> = aspects.iter().map(|a| a.entity_id().to_string()).collect();
    let mut sorted: Vec<&String> = entities.iter().collect();
    sorted.sort_unstable();
    batch::insert(
        conn,
        "INSERT INTO aspect (entity_id, aspect_def_id, catalog_id, hierarchy_name)",
        4,
        "",
        &sorted,
        |a, e| {
            a.bind(e).bind(&def_id).bind(cat).bind(name);
        },
    )
    .await?;
    let mut ordered: Vec<(&String, i64)> =
        entities.iter().zip(items.iter().map(|(_, o)| *o)).collect();
    ordered.sort_unstable();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_aspect_map (catalog_id, hierarchy_name, entity_id, aspect_def_id, map_order)",
        5,
        "",
        &ordered,
        |a, (e, o)| {
            a.bind(cat).bind(name).bind(*e).bind(&def_id).bind(*o);
        },
    )
    .await?;
    if !with_values {
        return Ok(());
    }
    let mut values: Vec<ValueInsert<'_>> = aspects
        .iter()
        .zip(&entities)
        .flat_map(|(a, e)| {
            encode_aspect(a)
                .into_iter()
                .map(move |row| ValueInsert { entity: e, row })
        })
        .collect();
    // In key order, every index of the value table grows at its end instead of at random
    // places (the keys start with random entity ids).
    values.sort_unstable_by(|a, b| {
        (a.entity, &a.row.property_name, a.row.value_index).cmp(&(
            b.entity,
            &b.row.property_name,
            b.row.value_index,
        ))
    });
    batch::insert(
        conn,
        "INSERT INTO property_value (entity_id, aspect_def_id, catalog_id, property_name, property_index, value_index, value_text, value_binary)",
        8,
        "",
        &values,
        |a, v| {
            a.bind(v.entity)
                .bind(&def_id)
                .bind(cat)
                .bind(v.row.property_name.as_str())
                .bind(v.row.property_index)
                .bind(v.row.value_index)
                .bind(v.row.text.as_deref())
                .bind(v.row.binary.as_deref());
        },
    )
    .await?;
    Ok(())
}

/// Writes a whole hierarchy's contents (its `hierarchy` row exists, its contents are empty).
pub(crate) async fn write_content(
    conn: &mut SqliteConnection,
    cat: &str,
    h: &Hierarchy,
    maps: &Mappings,
) -> Result<()> {
    let name = h.name();
    match &h.content {
        HierarchyContent::List(l) => {
            insert_list(conn, cat, name, &l.0, 0).await?;
        }
        HierarchyContent::Set(s) => {
            let ids: Vec<Uuid> = s.iter().collect();
            insert_set(conn, cat, name, &ids, 0).await?;
        }
        HierarchyContent::Directory(d) => {
            let entries: Vec<(&str, Uuid)> = d.iter().collect();
            upsert_directory(conn, cat, name, &entries, 0).await?;
        }
        HierarchyContent::Tree(t) => {
            insert_tree_rows(conn, cat, name, &flatten_tree(t)).await?;
        }
        HierarchyContent::AspectMap(m) => {
            let aspects: Vec<&Aspect> = m.iter().collect();
            let items: Vec<(&Aspect, i64)> = m.iter().zip(0..).collect();
            match maps.get(name) {
                // Membership and order stay in the aspect map tables; values go to the table.
                Some(mapping) => {
                    if mapping.has_entity_id() {
                        insert_aspects(conn, cat, m.def(), &items, false).await?;
                    }
                    mapping::write(conn, cat, mapping, &aspects).await?;
                }
                None => insert_aspects(conn, cat, m.def(), &items, true).await?,
            }
        }
    }
    Ok(())
}

/// Which rows of a hierarchy's contents to read.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub offset: i64,
    /// -1 for no limit.
    pub limit: i64,
}

impl Window {
    pub const ALL: Window = Window {
        offset: 0,
        limit: -1,
    };
}

/// Reads entity ids of a list or set, grouped by hierarchy name, in order. With `only`, one
/// hierarchy and the window; otherwise every hierarchy of the catalog.
async fn read_ids(
    conn: &mut SqliteConnection,
    table: &str,
    order: &str,
    cat: &str,
    only: Option<&str>,
    w: Window,
) -> Result<HashMap<String, Vec<Uuid>>> {
    let sql = match only {
        Some(_) => format!("SELECT hierarchy_name, entity_id FROM {table} WHERE catalog_id = ? AND hierarchy_name = ? ORDER BY {order} LIMIT ? OFFSET ?"),
        None => format!("SELECT hierarchy_name, entity_id FROM {table} WHERE catalog_id = ? ORDER BY hierarchy_name, {order}"),
    };
    let mut q = sqlx::query(&sql).bind(cat);
    if let Some(n) = only {
        q = q.bind(n).bind(w.limit).bind(w.offset);
    }
    let mut out: HashMap<String, Vec<Uuid>> = HashMap::new();
    let mut rows = q.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        out.entry(r.get(0))
            .or_default()
            .push(parse_uuid(r.get::<&str, _>(1))?);
    }
    Ok(out)
}

async fn read_directories(
    conn: &mut SqliteConnection,
    cat: &str,
    only: Option<&str>,
    w: Window,
) -> Result<HashMap<String, EntityDirectory>> {
    let sql = match only {
        Some(_) => "SELECT hierarchy_name, entity_key, entity_id FROM hierarchy_entity_directory WHERE catalog_id = ? AND hierarchy_name = ? ORDER BY dir_order LIMIT ? OFFSET ?",
        None => "SELECT hierarchy_name, entity_key, entity_id FROM hierarchy_entity_directory WHERE catalog_id = ? ORDER BY hierarchy_name, dir_order",
    };
    let mut q = sqlx::query(sql).bind(cat);
    if let Some(n) = only {
        q = q.bind(n).bind(w.limit).bind(w.offset);
    }
    let mut out: HashMap<String, EntityDirectory> = HashMap::new();
    let mut rows = q.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        out.entry(r.get(0))
            .or_default()
            .put(r.get::<String, _>(1), parse_uuid(r.get::<&str, _>(2))?);
    }
    Ok(out)
}

async fn read_trees(
    conn: &mut SqliteConnection,
    cat: &str,
    only: Option<&str>,
) -> Result<HashMap<String, EntityTree>> {
    let sql = match only {
        Some(_) => "SELECT hierarchy_name, node_id, parent_node_id, node_key, entity_id, node_path, tree_order FROM hierarchy_entity_tree_node WHERE catalog_id = ? AND hierarchy_name = ?",
        None => "SELECT hierarchy_name, node_id, parent_node_id, node_key, entity_id, node_path, tree_order FROM hierarchy_entity_tree_node WHERE catalog_id = ?",
    };
    let mut q = sqlx::query(sql).bind(cat);
    if let Some(n) = only {
        q = q.bind(n);
    }
    let mut rows_by: HashMap<String, Vec<TreeRow>> = HashMap::new();
    let mut rows = q.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        let opt = |s: Option<&str>| s.map(parse_uuid).transpose();
        rows_by.entry(r.get(0)).or_default().push(TreeRow {
            node_id: parse_uuid(r.get::<&str, _>(1))?,
            parent: opt(r.get(2))?,
            key: r.get::<Option<String>, _>(3).unwrap_or_default(),
            entity: opt(r.get(4))?,
            path: r.get::<Option<String>, _>(5).unwrap_or_default(),
            order: r.get(6),
        });
    }
    rows_by
        .into_iter()
        .map(|(k, rows)| Ok((k, cheap_core::sql::build_tree(rows)?)))
        .collect()
}

/// Reads aspect maps: for each AM hierarchy (or just `only`, windowed) its entities in order and
/// their values in one ordered scan.
async fn read_aspect_maps(
    conn: &mut SqliteConnection,
    cat: &str,
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
        let m = &maps[name];
        out.insert(
            name.clone(),
            mapping::read(conn, cat, m, &defs[name], w.offset, w.limit, entities).await?,
        );
    }
    if only.is_some_and(|o| maps.contains_key(o)) {
        return Ok(out);
    }
    let mut order: HashMap<String, Vec<Uuid>> = HashMap::new();
    match entities {
        Some(list) => {
            let name = only.unwrap_or_default();
            order.insert(name.to_owned(), Vec::new());
            for chunk in list.chunks(batch::IN_CHUNK) {
                let sql = format!(
                    "SELECT entity_id FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({}) ORDER BY map_order",
                    batch::placeholders(chunk.len())
                );
                let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
                let mut q = sqlx::query(&sql).bind(cat).bind(name);
                for id in &ids {
                    q = q.bind(id);
                }
                for r in q.fetch_all(&mut *conn).await.map_err(map_err)? {
                    order
                        .entry(name.to_owned())
                        .or_default()
                        .push(parse_uuid(r.get::<&str, _>(0))?);
                }
            }
        }
        None => {
            for (k, v) in read_ids(conn, "hierarchy_aspect_map", "map_order", cat, only, w).await? {
                order.insert(k, v);
            }
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
            .ok_or_else(|| {
                cheap_core::CheapError::not_found(format!("aspect def '{name}' of catalog {cat}"))
            })?
            .clone();
        let def_id = def.id().to_string();
        let mut asm: HashMap<Uuid, AspectAssembler> = HashMap::with_capacity(ids.len());
        // One ordered scan of the def's values; a window or entity filter narrows it.
        let windowed = only.is_some() && (w.limit >= 0 || w.offset > 0 || entities.is_some());
        if windowed {
            for chunk in ids.chunks(batch::IN_CHUNK) {
                let sql = format!(
                    "SELECT entity_id, property_name, value_index, value_text, value_binary FROM property_value WHERE catalog_id = ? AND aspect_def_id = ? AND entity_id IN ({}) ORDER BY entity_id, property_index, value_index",
                    batch::placeholders(chunk.len())
                );
                let binds: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
                scan_values(conn, &sql, cat, &def_id, &binds, &def, &mut asm).await?;
            }
        } else {
            let sql = "SELECT entity_id, property_name, value_index, value_text, value_binary FROM property_value WHERE catalog_id = ? AND aspect_def_id = ? ORDER BY entity_id, property_index, value_index";
            scan_values(conn, sql, cat, &def_id, &[], &def, &mut asm).await?;
        }
        let mut map = AspectMap::new(def.clone());
        for e in ids {
            let a = match asm.remove(&e) {
                Some(a) => a.finish()?,
                None => Aspect::from_values(def.clone(), e, Vec::<(String, _)>::new())?,
            };
            map.put(a)?;
        }
        out.insert(name, map);
    }
    Ok(out)
}

async fn scan_values(
    conn: &mut SqliteConnection,
    sql: &str,
    cat: &str,
    def_id: &str,
    entity_binds: &[String],
    def: &Arc<AspectDef>,
    asm: &mut HashMap<Uuid, AspectAssembler>,
) -> Result<()> {
    let mut q = sqlx::query(sql).bind(cat).bind(def_id);
    for b in entity_binds {
        q = q.bind(b);
    }
    let mut rows = q.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        let e = parse_uuid(r.get::<&str, _>(0))?;
        asm.entry(e)
            .or_insert_with(|| AspectAssembler::new(def.clone(), e))
            .push(r.get::<&str, _>(1), r.get(2), r.get(3), r.get(4))?;
    }
    Ok(())
}

/// A hierarchy's summary row.
pub(crate) struct HierarchyRow {
    pub name: String,
    pub code: String,
    pub version: i64,
}

/// Reads the contents of `hierarchies` (all of a catalog's, or one windowed) into hierarchies.
pub(crate) async fn read_hierarchies(
    conn: &mut SqliteConnection,
    cat: &str,
    hierarchies: &[HierarchyRow],
    defs: &HashMap<String, Arc<AspectDef>>,
    maps: &Mappings,
    only: Option<&str>,
    w: Window,
) -> Result<Vec<Hierarchy>> {
    let has = |code: &str| hierarchies.iter().any(|h| h.code == code);
    let mut lists = if has("EL") {
        read_ids(conn, "hierarchy_entity_list", "list_order", cat, only, w).await?
    } else {
        HashMap::new()
    };
    let mut sets = if has("ES") {
        read_ids(conn, "hierarchy_entity_set", "set_order", cat, only, w).await?
    } else {
        HashMap::new()
    };
    let mut dirs = if has("ED") {
        read_directories(conn, cat, only, w).await?
    } else {
        HashMap::new()
    };
    let mut trees = if has("ET") {
        read_trees(conn, cat, only).await?
    } else {
        HashMap::new()
    };
    let mut maps = if has("AM") {
        read_aspect_maps(conn, cat, defs, maps, only, w, None).await?
    } else {
        HashMap::new()
    };
    hierarchies
        .iter()
        .map(|h| {
            let content = match h.code.as_str() {
                "EL" => {
                    HierarchyContent::List(EntityList(lists.remove(&h.name).unwrap_or_default()))
                }
                "ES" => HierarchyContent::Set(EntitySet(lists_to_set(sets.remove(&h.name)))),
                "ED" => HierarchyContent::Directory(dirs.remove(&h.name).unwrap_or_default()),
                "ET" => HierarchyContent::Tree(trees.remove(&h.name).unwrap_or_default()),
                _ => HierarchyContent::AspectMap(match maps.remove(&h.name) {
                    Some(m) => m,
                    None => AspectMap::new(defs.get(&h.name).cloned().ok_or_else(|| {
                        cheap_core::CheapError::not_found(format!(
                            "aspect def '{}' of catalog {cat}",
                            h.name
                        ))
                    })?),
                }),
            };
            let mut out = Hierarchy::with_content(h.name.clone(), content)?;
            out.version = h.version;
            Ok(out)
        })
        .collect()
}

fn lists_to_set(ids: Option<Vec<Uuid>>) -> indexmap::IndexSet<Uuid> {
    ids.unwrap_or_default().into_iter().collect()
}

/// Aspects of `entities` in one aspect map.
pub(crate) async fn read_aspects_of(
    conn: &mut SqliteConnection,
    cat: &str,
    def: Arc<AspectDef>,
    maps: &Mappings,
    entities: &[Uuid],
) -> Result<AspectMap> {
    let name = def.name().to_owned();
    let defs = HashMap::from([(name.clone(), def.clone())]);
    let mut maps = read_aspect_maps(
        conn,
        cat,
        &defs,
        maps,
        Some(&name),
        Window::ALL,
        Some(entities),
    )
    .await?;
    Ok(maps.remove(&name).unwrap_or_else(|| AspectMap::new(def)))
}
