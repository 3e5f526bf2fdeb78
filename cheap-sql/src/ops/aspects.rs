//! Aspects of an aspect map: upsert, delete and query by entity.

use std::collections::HashMap;

use uuid::Uuid;

use super::changes::{bump, record_aspect_changes};
use super::*;
use crate::batch::{self, placeholders};
use crate::content::{self, Window};
use crate::mapping;
use cheap_core::dao::rules::{check_upsert, no_entity_ids, plan_upsert, touched};
use cheap_core::dao::UpsertOutcome;
use cheap_core::model::{Aspect, AspectMap, HierarchyType};
use cheap_core::Result;

pub(crate) async fn upsert_aspects(
    b: &dyn SqlBackend,
    catalog: Uuid,
    aspect_def: &str,
    aspects: &[Aspect],
) -> Result<Vec<UpsertOutcome>> {
    let mapping = b.mapping_registry().get(aspect_def);
    if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
        return Err(no_entity_ids(aspect_def));
    }
    let d = b.dialect();
    write_txn!(b, catalog, conn => async {
        let def = aspect_def_of(conn, catalog, aspect_def).await?;
        check_upsert(&def, aspect_def, aspects)?;
        if aspects.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<Uuid> = aspects.iter().map(|a| a.entity_id()).collect();
        let mut existing: HashMap<Uuid, i64> = HashMap::new();
        for chunk in ids.chunks(d.in_chunk()) {
            let sql = format!("SELECT entity_id, map_order FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({})", placeholders(chunk.len()));
            let mut args = vec![Arg::Uuid(catalog), Arg::text(aspect_def)];
            args.extend(uuid_args(chunk));
            for r in conn.fetch_all(&sql, &args).await? {
                existing.insert(r.uuid(0)?, r.int(1)?);
            }
        }
        // Replaced aspects keep their position: delete them and write them back in place.
        let id_args = uuid_args(&ids);
        batch::execute_in(conn, d, &[Arg::Uuid(catalog), Arg::text(aspect_def)], &id_args, |ph| {
            format!("DELETE FROM hierarchy_aspect_map WHERE catalog_id = ? AND hierarchy_name = ? AND entity_id IN ({ph})")
        }).await?;
        delete_aspect_rows(conn, d, catalog, def.id(), &id_args).await?;
        let next = max_order(conn, "hierarchy_aspect_map", "map_order", catalog, aspect_def).await? + 1;
        let items = plan_upsert(aspects, &existing, next);
        match &mapping {
            Some(m) => {
                content::insert_aspects(conn, d, catalog, &def, &items, false).await?;
                let unique: Vec<&Aspect> = items.iter().map(|(a, _)| *a).collect();
                mapping::write(conn, d, catalog, m, &unique).await?;
            }
            None => content::insert_aspects(conn, d, catalog, &def, &items, true).await?,
        }
        let v = bump(conn, d, catalog, &[aspect_def]).await?;
        record_aspect_changes(conn, d, catalog, aspect_def, &ids, v, false).await?;
        Ok(aspects.iter().map(|a| UpsertOutcome { entity_id: a.entity_id(), created: !existing.contains_key(&a.entity_id()) }).collect())
    }.await)
}

pub(crate) async fn delete_aspects(
    b: &dyn SqlBackend,
    catalog: Uuid,
    aspect_def: &str,
    entities: &[Uuid],
) -> Result<u64> {
    let mapping = b.mapping_registry().get(aspect_def);
    if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
        return Err(no_entity_ids(aspect_def));
    }
    let d = b.dialect();
    write_txn!(b, catalog, conn => async {
        let def = aspect_def_of(conn, catalog, aspect_def).await?;
        if let Some(m) = &mapping {
            mapping::delete(conn, d, catalog, m, entities).await?;
        }
        let ids = uuid_args(entities);
        let n = delete_in(conn, d, "hierarchy_aspect_map", "entity_id", catalog, aspect_def, &ids).await?;
        delete_aspect_rows(conn, d, catalog, def.id(), &ids).await?;
        let v = bump(conn, d, catalog, &touched(n, aspect_def)).await?;
        if n > 0 {
            record_aspect_changes(conn, d, catalog, aspect_def, entities, v, true).await?;
        }
        Ok(n)
    }.await)
}

pub(crate) async fn query_aspects(
    b: &dyn SqlBackend,
    catalog: Uuid,
    entities: &[Uuid],
    aspect_defs: &[String],
) -> Result<Vec<AspectMap>> {
    let d = b.dialect();
    let maps = b.mapping_registry().snapshot();
    let mut conn = b.connect(TxMode::Read).await?;
    let conn: &mut dyn SqlConn = &mut *conn;
    require_catalog(conn, catalog).await?;
    let names: Vec<String> = if aspect_defs.is_empty() {
        hierarchy_rows(conn, d, catalog, None)
            .await?
            .into_iter()
            .filter(|h| h.kind == HierarchyType::AspectMap)
            .map(|h| h.name)
            .collect()
    } else {
        aspect_defs.to_vec()
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let def = aspect_def_of(conn, catalog, &name).await?;
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
