//! Writing and reading hierarchy contents: the five content tables, aspects and their values.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::batch;
use crate::error::map_err;
use crate::mapping::{self, Mappings};
use cheap_core::sql::{encode_aspect, flatten_tree, AspectAssembler, TreeRow, ValueRow};
use cheap_core::{
    Aspect, AspectDef, AspectMap, CheapError, EntityDirectory, EntityList, EntitySet, EntityTree,
    Hierarchy, HierarchyContent, Result,
};

/// Appends list entries starting at `first_order`.
pub(crate) async fn insert_list(
    conn: &mut PgConnection,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
    first_order: i32,
) -> Result<u64> {
    let rows: Vec<(Uuid, i32)> = ids
        .iter()
        .zip(first_order..)
        .map(|(e, o)| (*e, o))
        .collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_list (catalog_id, hierarchy_name, entity_id, list_order)",
        4,
        "",
        &rows,
        |a, (e, o)| {
            a.bind(cat).bind(name).bind(*e).bind(*o);
        },
    )
    .await
}

/// Adds set members not yet present, ordered after `first_order`; returns how many were new.
pub(crate) async fn insert_set(
    conn: &mut PgConnection,
    cat: Uuid,
    name: &str,
    ids: &[Uuid],
    first_order: i32,
) -> Result<u64> {
    // A duplicate inside one statement would make ON CONFLICT fail; keep the first.
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<(Uuid, i32)> = ids
        .iter()
        .filter(|e| seen.insert(**e))
        .zip(first_order..)
        .map(|(e, o)| (*e, o))
        .collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_set (catalog_id, hierarchy_name, entity_id, set_order)",
        4,
        "ON CONFLICT DO NOTHING",
        &rows,
        |a, (e, o)| {
            a.bind(cat).bind(name).bind(*e).bind(*o);
        },
    )
    .await
}

/// Writes directory entries; existing keys keep their position and take the new entity.
pub(crate) async fn upsert_directory(
    conn: &mut PgConnection,
    cat: Uuid,
    name: &str,
    entries: &[(&str, Uuid)],
    first_order: i32,
) -> Result<u64> {
    // The last entry for a key wins, as repeated puts would.
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (k, _)) in entries.iter().enumerate() {
        last.insert(*k, i);
    }
    let rows: Vec<(&str, Uuid, i32)> = entries
        .iter()
        .enumerate()
        .filter(|(i, (k, _))| last[k] == *i)
        .zip(first_order..)
        .map(|((_, (k, e)), o)| (*k, *e, o))
        .collect();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_directory (catalog_id, hierarchy_name, entity_key, entity_id, dir_order)",
        5,
        "ON CONFLICT (catalog_id, hierarchy_name, entity_key) DO UPDATE SET entity_id = excluded.entity_id",
        &rows,
        |a, (k, e, o)| {
            a.bind(cat).bind(name).bind(*k).bind(*e).bind(*o);
        },
    )
    .await
}

/// Inserts tree node rows (parents before children).
pub(crate) async fn insert_tree_rows(
    conn: &mut PgConnection,
    cat: Uuid,
    name: &str,
    rows: &[TreeRow],
) -> Result<u64> {
    batch::insert(
        conn,
        "INSERT INTO hierarchy_entity_tree_node (node_id, catalog_id, hierarchy_name, parent_node_id, node_key, entity_id, node_path, tree_order)",
        8,
        "",
        rows,
        |a, t| {
            a.bind(t.node_id)
                .bind(cat)
                .bind(name)
                .bind(t.parent)
                .bind(t.key.as_str())
                .bind(t.entity)
                .bind(t.path.as_str())
                .bind(t.order);
        },
    )
    .await
}

/// Rows per UNNEST statement.
const UNNEST_ROWS: usize = 50_000;

struct ValueInsert {
    entity: Uuid,
    row: ValueRow,
}

/// Inserts aspects at the given map positions: their `aspect`, `hierarchy_aspect_map` and value
/// rows. The entities must have no aspect of this def in the catalog yet.
pub(crate) async fn insert_aspects(
    conn: &mut PgConnection,
    cat: Uuid,
    def: &AspectDef,
    items: &[(&Aspect, i32)],
    with_values: bool,
) -> Result<()> {
    let def_id = def.id();
    let name = def.name();
    let mut entities: Vec<Uuid> = items.iter().map(|(a, _)| a.entity_id()).collect();
    entities.sort_unstable();
    batch::insert(
        conn,
        "INSERT INTO aspect (entity_id, aspect_def_id, catalog_id, hierarchy_name)",
        4,
        "",
        &entities,
        |a, e| {
            a.bind(*e).bind(def_id).bind(cat).bind(name);
        },
    )
    .await?;
    let mut ordered: Vec<(Uuid, i32)> = items.iter().map(|(a, o)| (a.entity_id(), *o)).collect();
    ordered.sort_unstable();
    batch::insert(
        conn,
        "INSERT INTO hierarchy_aspect_map (catalog_id, hierarchy_name, entity_id, aspect_def_id, map_order)",
        5,
        "",
        &ordered,
        |a, (e, o)| {
            a.bind(cat).bind(name).bind(*e).bind(def_id).bind(*o);
        },
    )
    .await?;
    if !with_values {
        return Ok(());
    }
    // In key order, the value table's indexes grow at their ends (the keys start with random
    // entity ids).
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
    // One UNNEST statement per chunk: a handful of array parameters however many rows, so no
    // parameter limit, and no per-row planning of a huge VALUES list.
    for chunk in values.chunks(UNNEST_ROWS) {
        let entities: Vec<Uuid> = chunk.iter().map(|v| v.entity).collect();
        let names: Vec<&str> = chunk.iter().map(|v| v.row.property_name.as_str()).collect();
        let pidx: Vec<i32> = chunk.iter().map(|v| v.row.property_index).collect();
        let vidx: Vec<i32> = chunk.iter().map(|v| v.row.value_index).collect();
        let texts: Vec<Option<&str>> = chunk.iter().map(|v| v.row.text.as_deref()).collect();
        let bins: Vec<Option<&[u8]>> = chunk.iter().map(|v| v.row.binary.as_deref()).collect();
        sqlx::query(
            "INSERT INTO property_value (entity_id, aspect_def_id, catalog_id, property_name, property_index, value_index, value_text, value_binary)
             SELECT u.e, $2, $3, u.n, u.pi, u.vi, u.t, u.b
             FROM UNNEST($1::uuid[], $4::text[], $5::int4[], $6::int4[], $7::text[], $8::bytea[]) AS u(e, n, pi, vi, t, b)",
        )
        .bind(&entities)
        .bind(def_id)
        .bind(cat)
        .bind(&names)
        .bind(&pidx)
        .bind(&vidx)
        .bind(&texts)
        .bind(&bins)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// Writes a whole hierarchy's contents (its `hierarchy` row exists, its contents are empty).
pub(crate) async fn write_content(
    conn: &mut PgConnection,
    cat: Uuid,
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
            let items: Vec<(&Aspect, i32)> = m.iter().zip(0..).collect();
            match maps.get(name) {
                // Membership and order stay in the aspect map tables; values go to the table.
                Some(mapping) => {
                    if mapping.has_entity_id() {
                        insert_aspects(conn, cat, m.def(), &items, false).await?;
                    }
                    let aspects: Vec<&Aspect> = m.iter().collect();
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
    /// `None` for no limit.
    pub limit: Option<i64>,
}

impl Window {
    pub const ALL: Window = Window {
        offset: 0,
        limit: None,
    };
}

async fn read_ids(
    conn: &mut PgConnection,
    table: &str,
    order: &str,
    cat: Uuid,
    only: Option<&str>,
    w: Window,
) -> Result<HashMap<String, Vec<Uuid>>> {
    let sql = match only {
        Some(_) => format!("SELECT hierarchy_name, entity_id FROM {table} WHERE catalog_id = $1 AND hierarchy_name = $2 ORDER BY {order} LIMIT $3 OFFSET $4"),
        None => format!("SELECT hierarchy_name, entity_id FROM {table} WHERE catalog_id = $1 ORDER BY hierarchy_name, {order}"),
    };
    let mut q = sqlx::query(&sql).bind(cat);
    if let Some(n) = only {
        q = q.bind(n).bind(w.limit).bind(w.offset);
    }
    let mut out: HashMap<String, Vec<Uuid>> = HashMap::new();
    let mut rows = q.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        out.entry(r.get(0)).or_default().push(r.get(1));
    }
    Ok(out)
}

async fn read_directories(
    conn: &mut PgConnection,
    cat: Uuid,
    only: Option<&str>,
    w: Window,
) -> Result<HashMap<String, EntityDirectory>> {
    let sql = match only {
        Some(_) => "SELECT hierarchy_name, entity_key, entity_id FROM hierarchy_entity_directory WHERE catalog_id = $1 AND hierarchy_name = $2 ORDER BY dir_order LIMIT $3 OFFSET $4",
        None => "SELECT hierarchy_name, entity_key, entity_id FROM hierarchy_entity_directory WHERE catalog_id = $1 ORDER BY hierarchy_name, dir_order",
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
            .put(r.get::<String, _>(1), r.get::<Uuid, _>(2));
    }
    Ok(out)
}

async fn read_trees(
    conn: &mut PgConnection,
    cat: Uuid,
    only: Option<&str>,
) -> Result<HashMap<String, EntityTree>> {
    let sql = match only {
        Some(_) => "SELECT hierarchy_name, node_id, parent_node_id, node_key, entity_id, node_path, tree_order FROM hierarchy_entity_tree_node WHERE catalog_id = $1 AND hierarchy_name = $2",
        None => "SELECT hierarchy_name, node_id, parent_node_id, node_key, entity_id, node_path, tree_order FROM hierarchy_entity_tree_node WHERE catalog_id = $1",
    };
    let mut q = sqlx::query(sql).bind(cat);
    if let Some(n) = only {
        q = q.bind(n);
    }
    let mut rows_by: HashMap<String, Vec<TreeRow>> = HashMap::new();
    let mut rows = q.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        rows_by.entry(r.get(0)).or_default().push(TreeRow {
            node_id: r.get(1),
            parent: r.get(2),
            key: r.get::<Option<String>, _>(3).unwrap_or_default(),
            entity: r.get(4),
            path: r.get::<Option<String>, _>(5).unwrap_or_default(),
            order: r.get(6),
        });
    }
    rows_by
        .into_iter()
        .map(|(k, rows)| Ok((k, cheap_core::sql::build_tree(rows)?)))
        .collect()
}

async fn scan_values(
    conn: &mut PgConnection,
    cat: Uuid,
    def: &Arc<AspectDef>,
    entities: Option<&[Uuid]>,
    asm: &mut HashMap<Uuid, AspectAssembler>,
) -> Result<()> {
    let mut sql = "SELECT entity_id, property_name, value_index, value_text, value_binary FROM property_value WHERE catalog_id = $1 AND aspect_def_id = $2".to_owned();
    if entities.is_some() {
        sql.push_str(" AND entity_id = ANY($3)");
    }
    sql.push_str(" ORDER BY entity_id, property_index, value_index");
    let mut q = sqlx::query(&sql).bind(cat).bind(def.id());
    if let Some(e) = entities {
        q = q.bind(e);
    }
    let mut rows = q.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await.map_err(map_err)? {
        let e: Uuid = r.get(0);
        asm.entry(e)
            .or_insert_with(|| AspectAssembler::new(def.clone(), e))
            .push(r.get::<&str, _>(1), r.get(2), r.get(3), r.get(4))?;
    }
    Ok(())
}

/// Reads aspect maps: for each AM hierarchy (or just `only`, windowed, or just some entities)
/// its entities in order and their values in one ordered scan per def.
async fn read_aspect_maps(
    conn: &mut PgConnection,
    cat: Uuid,
    defs: &HashMap<String, Arc<AspectDef>>,
    maps: &Mappings,
    only: Option<&str>,
    w: Window,
    entities: Option<&[Uuid]>,
) -> Result<HashMap<String, AspectMap>> {
    let mut out = HashMap::new();
    for (name, def) in defs {
        if let Some(m) = maps.get(name) {
            if only.is_none_or(|o| o == name) {
                out.insert(
                    name.clone(),
                    mapping::read(conn, cat, m, def, w.offset, w.limit, entities).await?,
                );
            }
        }
    }
    if only.is_some_and(|o| maps.contains_key(o)) {
        return Ok(out);
    }
    let mut order: HashMap<String, Vec<Uuid>> = match entities {
        Some(list) => {
            let name = only.unwrap_or_default();
            let rows: Vec<(Uuid,)> = sqlx::query_as("SELECT entity_id FROM hierarchy_aspect_map WHERE catalog_id = $1 AND hierarchy_name = $2 AND entity_id = ANY($3) ORDER BY map_order")
                .bind(cat)
                .bind(name)
                .bind(list)
                .fetch_all(&mut *conn)
                .await
                .map_err(map_err)?;
            HashMap::from([(name.to_owned(), rows.into_iter().map(|(e,)| e).collect())])
        }
        None => read_ids(conn, "hierarchy_aspect_map", "map_order", cat, only, w).await?,
    };
    if let Some(n) = only {
        order.entry(n.to_owned()).or_default();
    }
    for (name, ids) in order {
        if maps.contains_key(&name) {
            continue;
        }
        let def = defs
            .get(&name)
            .ok_or_else(|| CheapError::not_found(format!("aspect def '{name}' of catalog {cat}")))?
            .clone();
        let mut asm: HashMap<Uuid, AspectAssembler> = HashMap::with_capacity(ids.len());
        let narrowed = only.is_some() && (w.limit.is_some() || w.offset > 0 || entities.is_some());
        if narrowed {
            for chunk in ids.chunks(batch::IN_CHUNK) {
                scan_values(conn, cat, &def, Some(chunk), &mut asm).await?;
            }
        } else {
            scan_values(conn, cat, &def, None, &mut asm).await?;
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

/// A hierarchy's summary row.
pub(crate) struct HierarchyRow {
    pub name: String,
    pub code: String,
    pub version: i64,
}

/// Reads the contents of `hierarchies` (all of a catalog's, or one windowed).
pub(crate) async fn read_hierarchies(
    conn: &mut PgConnection,
    cat: Uuid,
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
                "ES" => HierarchyContent::Set(EntitySet(
                    sets.remove(&h.name)
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                )),
                "ED" => HierarchyContent::Directory(dirs.remove(&h.name).unwrap_or_default()),
                "ET" => HierarchyContent::Tree(trees.remove(&h.name).unwrap_or_default()),
                _ => HierarchyContent::AspectMap(match maps.remove(&h.name) {
                    Some(m) => m,
                    None => AspectMap::new(defs.get(&h.name).cloned().ok_or_else(|| {
                        CheapError::not_found(format!("aspect def '{}' of catalog {cat}", h.name))
                    })?),
                }),
            };
            let mut out = Hierarchy::with_content(h.name.clone(), content)?;
            out.version = h.version;
            Ok(out)
        })
        .collect()
}

/// Aspects of `entities` in one aspect map.
pub(crate) async fn read_aspects_of(
    conn: &mut PgConnection,
    cat: Uuid,
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
