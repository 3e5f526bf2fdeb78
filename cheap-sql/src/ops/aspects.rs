//! Aspects of an aspect map: upsert, delete and query by entity.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::changes::{bump_to, record_aspect_changes};
use super::*;
use crate::batch::{self, placeholders};
use crate::content::{self, Window};
use crate::mapping;
use crate::table_mapping::AspectTableMapping;
use cheap_core::dao::rules::{check_upsert, no_entity_ids, plan_upsert, touched};
use cheap_core::dao::{AspectPatch, UpsertOutcome};
use cheap_core::model::{Aspect, AspectDef, AspectMap, HierarchyType};
use cheap_core::{CheapError, Result};

pub(crate) async fn upsert_aspects(
    b: &Engine<'_>,
    catalog: Uuid,
    aspect_def: &str,
    aspects: &[Aspect],
) -> Result<Vec<UpsertOutcome>> {
    let mapping = b.mapping_registry().get(aspect_def);
    if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
        return Err(no_entity_ids(aspect_def));
    }
    let d = b.dialect();
    let mut written = None;
    let outcomes = write_txn!(b, catalog, conn => async {
        let (info, meta) = catalog_meta(b, conn, catalog, View::Snapshot).await?;
        let def = meta_def(&meta, catalog, aspect_def)?;
        check_upsert(&def, aspect_def, aspects)?;
        if aspects.is_empty() {
            return Ok::<_, CheapError>(vec![]);
        }
        let v = info.version + 1;
        let out = write_aspects(conn, d, catalog, &def, mapping.as_deref(), aspects, v).await?;
        written = Some(v);
        Ok(out)
    }.await)?;
    if let Some(v) = written {
        // Committed, and no metadata changed: the cached entry holds at the new version.
        b.meta.advance(catalog, v);
    }
    Ok(outcomes)
}

pub(crate) async fn merge_aspects(
    b: &Engine<'_>,
    catalog: Uuid,
    aspect_def: &str,
    patches: &[AspectPatch],
) -> Result<Vec<Result<UpsertOutcome>>> {
    let mapping = b.mapping_registry().get(aspect_def);
    if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
        return Err(no_entity_ids(aspect_def));
    }
    let d = b.dialect();
    let maps = b.mapping_registry().snapshot();
    let mut written = None;
    let outcomes = write_txn!(b, catalog, conn => async {
        let (info, meta) = catalog_meta(b, conn, catalog, View::Snapshot).await?;
        let def = meta_def(&meta, catalog, aspect_def)?;
        let ids: Vec<Uuid> = patches.iter().map(|p| p.entity_id).collect();
        // Read under the write lock: no other writer can come between this read and the write.
        let stored = if ids.is_empty() {
            AspectMap::new(def.clone())
        } else {
            content::read_aspects_of(conn, d, catalog, def.clone(), &maps, &ids).await?
        };
        let merged: Vec<Result<Aspect>> = patches
            .iter()
            .map(|p| p.apply(&def, stored.get(p.entity_id)))
            .collect();
        let valid: Vec<Aspect> = merged.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        if valid.is_empty() {
            // Every patch failed: nothing to write, no version to advance.
            return Ok::<_, CheapError>(merged.into_iter().filter_map(Result::err).map(Err).collect());
        }
        let v = info.version + 1;
        let mut out = write_aspects(conn, d, catalog, &def, mapping.as_deref(), &valid, v).await?.into_iter();
        written = Some(v);
        Ok(merged
            .into_iter()
            .map(|r| r.and_then(|_| out.next().ok_or_else(|| CheapError::invalid("fewer outcomes than aspects"))))
            .collect())
    }.await)?;
    if let Some(v) = written {
        b.meta.advance(catalog, v);
    }
    Ok(outcomes)
}

/// Writes `aspects` (checked against `def`) as version `v`, which the caller read under the
/// catalog's write lock: replaced aspects keep their aspect and map rows, so their place, and
/// get their values written again; new ones go after the map's last.
async fn write_aspects(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    def: &Arc<AspectDef>,
    mapping: Option<&AspectTableMapping>,
    aspects: &[Aspect],
    v: i64,
) -> Result<Vec<UpsertOutcome>> {
    let name = def.name();
    let ids: Vec<Uuid> = aspects.iter().map(|a| a.entity_id()).collect();
    let (existing, last) = positions(conn, d, catalog, name, &ids).await?;
    let id_args = uuid_args(&ids);
    batch::execute_in(conn, d, &[Arg::Uuid(catalog), Arg::Uuid(def.id())], &id_args, |ph| {
        format!("DELETE FROM property_value WHERE catalog_id = ? AND aspect_def_id = ? AND entity_id IN ({ph})")
    })
    .await?;
    let items = plan_upsert(aspects, &existing, last + 1);
    match mapping {
        Some(m) => {
            content::insert_aspects(conn, d, catalog, def, &items, false, true).await?;
            let unique: Vec<&Aspect> = items.iter().map(|(a, _)| *a).collect();
            mapping::write(conn, d, catalog, m, &unique).await?;
        }
        None => content::insert_aspects(conn, d, catalog, def, &items, true, true).await?,
    }
    bump_to(conn, d, catalog, v, &[name]).await?;
    record_aspect_changes(conn, d, catalog, name, &ids, v, false).await?;
    Ok(aspects
        .iter()
        .map(|a| UpsertOutcome {
            entity_id: a.entity_id(),
            created: !existing.contains_key(&a.entity_id()),
        })
        .collect())
}

/// The map positions of those of `ids` already in aspect map `name`, and the last position
/// used (-1 for an empty map), one statement per chunk of ids.
async fn positions(
    conn: &mut dyn SqlConn,
    d: &dyn Dialect,
    catalog: Uuid,
    name: &str,
    ids: &[Uuid],
) -> Result<(HashMap<Uuid, i64>, i64)> {
    let mut existing = HashMap::new();
    let mut last = -1;
    for chunk in ids.chunks(d.in_chunk()) {
        let sql = format!(
            "SELECT entity_id, map_order FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({}) \
             UNION ALL SELECT NULL, MAX(map_order) FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ?",
            placeholders(chunk.len())
        );
        let mut args = vec![Arg::Uuid(catalog), Arg::text(name)];
        args.extend(uuid_args(chunk));
        args.extend([Arg::Uuid(catalog), Arg::text(name)]);
        conn.for_each(&sql, &args, &mut |r| {
            match (r.opt_uuid(0)?, r.opt_int(1)?) {
                (Some(e), Some(o)) => {
                    existing.insert(e, o);
                }
                (None, Some(max)) => last = last.max(max),
                _ => {}
            }
            Ok(())
        })
        .await?;
    }
    Ok((existing, last))
}

pub(crate) async fn delete_aspects(
    b: &Engine<'_>,
    catalog: Uuid,
    aspect_def: &str,
    entities: &[Uuid],
) -> Result<u64> {
    let mapping = b.mapping_registry().get(aspect_def);
    if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
        return Err(no_entity_ids(aspect_def));
    }
    let d = b.dialect();
    let mut written = None;
    let n = write_txn!(b, catalog, conn => async {
        let (info, meta) = catalog_meta(b, conn, catalog, View::Snapshot).await?;
        let def = meta_def(&meta, catalog, aspect_def)?;
        if let Some(m) = &mapping {
            mapping::delete(conn, d, catalog, m, entities).await?;
        }
        let ids = uuid_args(entities);
        let n = delete_in(conn, d, "hierarchy_aspect_map", "entity_id", catalog, aspect_def, &ids).await?;
        delete_aspect_rows(conn, d, catalog, def.id(), &ids).await?;
        let v = info.version + 1;
        bump_to(conn, d, catalog, v, &touched(n, aspect_def)).await?;
        if n > 0 {
            record_aspect_changes(conn, d, catalog, aspect_def, entities, v, true).await?;
        }
        written = Some(v);
        Ok::<_, CheapError>(n)
    }.await)?;
    if let Some(v) = written {
        b.meta.advance(catalog, v);
    }
    Ok(n)
}

pub(crate) async fn query_aspects(
    b: &Engine<'_>,
    catalog: Uuid,
    entities: &[Uuid],
    aspect_defs: &[String],
) -> Result<Vec<AspectMap>> {
    let d = b.dialect();
    let maps = b.mapping_registry().snapshot();
    let mut conn = b.connect(TxMode::Read).await?;
    let conn: &mut dyn SqlConn = &mut *conn;
    let (_, meta) = catalog_meta(b, conn, catalog, View::Snapshot).await?;
    let names: Vec<String> = if aspect_defs.is_empty() {
        meta.hierarchies
            .iter()
            .filter(|(_, k)| *k == HierarchyType::AspectMap)
            .map(|(n, _)| n.clone())
            .collect()
    } else {
        aspect_defs.to_vec()
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let def = meta_def(&meta, catalog, &name)?;
        let map = if entities.is_empty() {
            let rows = hierarchy_rows(conn, d, catalog, Some(&name)).await?;
            let defs = HashMap::from([(name.clone(), def.clone())]);
            content::read_hierarchies(
                conn,
                d,
                catalog,
                &rows,
                &defs,
                &maps,
                Some(&name),
                Window::ALL,
            )
            .await?
            .pop()
            .and_then(|h| h.as_aspect_map().cloned())
            .unwrap_or_else(|| AspectMap::new(def.clone()))
        } else {
            content::read_aspects_of(conn, d, catalog, def, &maps, entities).await?
        };
        out.push(map);
    }
    Ok(out)
}
