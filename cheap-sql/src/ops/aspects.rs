//! Aspects of an aspect map: upsert, delete and query by entity.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::changes::{bump_to, record_aspect_changes, Touch};
use super::*;
use crate::batch::{self, placeholders};
use crate::content::{self, Window};
use crate::mapping;
use indexmap::IndexMap;

use crate::group::{Item, Job};
use crate::table_mapping::AspectTableMapping;
use cheap_core::dao::rules::{
    check_read_only, check_upsert, has_read_only, no_entity_ids, plan_upsert,
};
use cheap_core::dao::UpsertOutcome;
use cheap_core::model::{Aspect, AspectDef, AspectMap, HierarchyType};
use cheap_core::Result;

/// Checks an upsert before it joins a group, so that an invalid one fails alone: the def
/// exists and every aspect is complete and of it. The group's transaction checks each aspect
/// again against the def it finds then, so the def may come from a cached entry of any
/// version here, at no statement.
pub(crate) async fn check_upsert_request(
    b: &Engine<'_>,
    catalog: Uuid,
    aspect_def: &str,
    aspects: &[Aspect],
) -> Result<()> {
    writable(aspect_def, b)?;
    if let Some(def) = cached_def(b, catalog, aspect_def) {
        if check_upsert(&def, aspect_def, aspects).is_ok() {
            return Ok(());
        }
    }
    // Nothing cached, or refused by what may be an old def: decide on the current one.
    let def = current_def(b, catalog, aspect_def).await?;
    check_upsert(&def, aspect_def, aspects)
}

/// Checks a merge before it joins a group: the def exists (the patches are applied in the
/// group's transaction, against the def current then).
pub(crate) async fn check_merge_request(
    b: &Engine<'_>,
    catalog: Uuid,
    aspect_def: &str,
) -> Result<()> {
    writable(aspect_def, b)?;
    if cached_def(b, catalog, aspect_def).is_none() {
        current_def(b, catalog, aspect_def).await?;
    }
    Ok(())
}

/// Refuses granular writes to a def stored in a table without entity ids.
pub(super) fn writable(aspect_def: &str, b: &Engine<'_>) -> Result<()> {
    if b.mapping_registry()
        .get(aspect_def)
        .is_some_and(|m| !m.has_entity_id())
    {
        return Err(no_entity_ids(aspect_def));
    }
    Ok(())
}

/// The def from the catalog's latest cached metadata, of whatever version.
fn cached_def(b: &Engine<'_>, catalog: Uuid, aspect_def: &str) -> Option<Arc<AspectDef>> {
    b.meta
        .latest(catalog)
        .and_then(|m| meta_def(&m, catalog, aspect_def).ok())
}

/// The def as stored now.
async fn current_def(b: &Engine<'_>, catalog: Uuid, aspect_def: &str) -> Result<Arc<AspectDef>> {
    let (_, meta) = latest_meta(b, catalog).await?;
    meta_def(&meta, catalog, aspect_def)
}

/// Runs queued writes of `catalog` in one transaction and sends each its reply. When the
/// transaction fails, a group of several is run again one by one.
pub(crate) async fn run_group(e: &Engine<'_>, catalog: Uuid, jobs: Vec<Job>) {
    let mut written = None;
    let result: Result<Vec<Vec<Result<UpsertOutcome>>>> = async {
        write_txn!(e, catalog, conn => apply_group(e, conn, catalog, &jobs, &mut written).await)
    }
    .await;
    match result {
        Ok(replies) => {
            if let Some(v) = written {
                // Committed, and no metadata changed: the cached entry holds at the new version.
                e.meta.advance(catalog, v);
            }
            for (job, reply) in jobs.into_iter().zip(replies) {
                // A caller that went away no longer waits; its write stands.
                let _ = job.reply.send(Ok(reply));
            }
        }
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                Box::pin(run_group(e, catalog, vec![job])).await;
            }
        }
        Err(err) => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(err));
            }
        }
    }
}

/// Where one item's outcome comes from once the group is written.
enum Slot {
    Done(Result<UpsertOutcome>),
    Wrote(Uuid),
}

/// Applies every job's items, def by def, in the order they came: a patch goes over what the
/// items before it left, and each entity is written once, as its last state.
pub(super) async fn apply_group(
    e: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    jobs: &[Job],
    written: &mut Option<i64>,
) -> Result<Vec<Vec<Result<UpsertOutcome>>>> {
    let d = e.dialect();
    let maps = e.mapping_registry().snapshot();
    let (info, meta) = catalog_meta(e, conn, catalog, View::Snapshot).await?;
    // The version was read under the catalog's write lock: this write makes the next one.
    let v = info.version + 1;
    let mut slots: Vec<Vec<Slot>> = jobs
        .iter()
        .map(|j| Vec::with_capacity(j.items.len()))
        .collect();
    let mut names: Vec<&str> = Vec::new();
    for j in jobs {
        if !names.contains(&j.aspect_def.as_str()) {
            names.push(&j.aspect_def);
        }
    }
    let mut created: HashMap<(usize, Uuid), bool> = HashMap::new();
    for (n, name) in names.iter().enumerate() {
        let def = meta_def(&meta, catalog, name)?;
        let mapping = e.mapping_registry().get(name);
        if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
            return Err(no_entity_ids(name));
        }
        let members: Vec<usize> = (0..jobs.len())
            .filter(|&j| jobs[j].aspect_def == *name)
            .collect();
        // What is stored is read for patches, and for replacements when read-only values
        // must be compared with it.
        let read_only = has_read_only(&def);
        let mut patched: Vec<Uuid> = Vec::new();
        for &j in &members {
            for item in &jobs[j].items {
                if matches!(item, Item::Patch(_)) || read_only {
                    let id = item.entity_id();
                    if !patched.contains(&id) {
                        patched.push(id);
                    }
                }
            }
        }
        let stored = if patched.is_empty() {
            AspectMap::new(def.clone())
        } else {
            content::read_aspects_of(conn, d, catalog, def.clone(), &maps, &patched).await?
        };
        let mut current: IndexMap<Uuid, Aspect> = IndexMap::new();
        for &j in &members {
            for item in &jobs[j].items {
                let id = item.entity_id();
                let next = match item {
                    // Checked before joining, against a def that may have changed since.
                    Item::Replace(a) => check_upsert(&def, name, std::slice::from_ref(a))
                        .and_then(|()| {
                            check_read_only(current.get(&id).or_else(|| stored.get(id)), a)
                        })
                        .map(|()| a.clone()),
                    Item::Patch(p) => p.apply(&def, current.get(&id).or_else(|| stored.get(id))),
                };
                slots[j].push(match next {
                    Ok(a) => {
                        current.insert(id, a);
                        Slot::Wrote(id)
                    }
                    Err(err) => Slot::Done(Err(err)),
                });
            }
        }
        if current.is_empty() {
            continue;
        }
        let aspects: Vec<Aspect> = current.into_values().collect();
        for o in write_aspects(conn, d, catalog, &def, mapping.as_deref(), &aspects, v).await? {
            created.insert((n, o.entity_id), o.created);
        }
        *written = Some(v);
    }
    // An entity is created by the first item that wrote it; later ones update it.
    let mut first: std::collections::HashSet<(usize, Uuid)> = std::collections::HashSet::new();
    Ok(slots
        .into_iter()
        .enumerate()
        .map(|(j, items)| {
            let n = names
                .iter()
                .position(|x| *x == jobs[j].aspect_def)
                .unwrap_or(0);
            items
                .into_iter()
                .map(|slot| match slot {
                    Slot::Done(r) => r,
                    Slot::Wrote(id) => Ok(UpsertOutcome {
                        entity_id: id,
                        created: first.insert((n, id))
                            && created.get(&(n, id)).copied().unwrap_or(false),
                    }),
                })
                .collect()
        })
        .collect())
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
    // Only aspects already in the map have values to replace; new ones need their rows.
    let replaced: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|e| existing.contains_key(e))
        .collect();
    let items = plan_upsert(aspects, &existing, last + 1);
    let fresh: Vec<(&Aspect, i64)> = items
        .iter()
        .filter(|(a, _)| !existing.contains_key(&a.entity_id()))
        .copied()
        .collect();
    // Rows are kept where they exist, which the positions read above (under the catalog's
    // write lock) says they do not; a database written by another program may differ.
    content::insert_aspect_rows(conn, d, catalog, def, &fresh, true).await?;
    if !replaced.is_empty() {
        let id_args = uuid_args(&replaced);
        batch::execute_in(conn, d, &[Arg::Uuid(catalog), Arg::Uuid(def.id())], &id_args, |ph| {
            format!("DELETE FROM property_value WHERE catalog_id = ? AND aspect_def_id = ? AND entity_id IN ({ph})")
        })
        .await?;
    }
    match mapping {
        Some(m) => {
            let unique: Vec<&Aspect> = items.iter().map(|(a, _)| *a).collect();
            mapping::write(conn, d, catalog, m, &unique).await?;
        }
        None => content::insert_values(conn, d, catalog, def, &items).await?,
    }
    let created = ids.iter().filter(|e| !existing.contains_key(e)).count() as i64;
    bump_to(conn, d, catalog, v, &[Touch::changed(name, created)]).await?;
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
    let (n, v) = write_txn!(b, catalog, conn => delete_aspects_in(b, conn, catalog, aspect_def, entities).await)?;
    b.meta.advance(catalog, v);
    Ok(n)
}

/// [`delete_aspects`] in the caller's write transaction; also returns the version it wrote.
pub(crate) async fn delete_aspects_in(
    b: &Engine<'_>,
    conn: &mut dyn SqlConn,
    catalog: Uuid,
    aspect_def: &str,
    entities: &[Uuid],
) -> Result<(u64, i64)> {
    let mapping = b.mapping_registry().get(aspect_def);
    if mapping.as_ref().is_some_and(|m| !m.has_entity_id()) {
        return Err(no_entity_ids(aspect_def));
    }
    let d = b.dialect();
    let (info, meta) = catalog_meta(b, conn, catalog, View::Snapshot).await?;
    let def = meta_def(&meta, catalog, aspect_def)?;
    if let Some(m) = &mapping {
        mapping::delete(conn, d, catalog, m, entities).await?;
    }
    let ids = uuid_args(entities);
    let n = delete_in(
        conn,
        d,
        "hierarchy_aspect_map",
        "entity_id",
        catalog,
        aspect_def,
        &ids,
    )
    .await?;
    delete_aspect_rows(conn, d, catalog, def.id(), &ids).await?;
    let v = info.version + 1;
    let touched = if n > 0 {
        vec![Touch::changed(aspect_def, -(n as i64))]
    } else {
        vec![]
    };
    bump_to(conn, d, catalog, v, &touched).await?;
    if n > 0 {
        record_aspect_changes(conn, d, catalog, aspect_def, entities, v, true).await?;
    }
    Ok((n, v))
}

pub(crate) async fn query_aspects(
    b: &Engine<'_>,
    catalog: Uuid,
    entities: &[Uuid],
    aspect_defs: &[String],
) -> Result<Vec<AspectMap>> {
    Ok(versioned_query_aspects(b, catalog, entities, aspect_defs)
        .await?
        .0)
}

/// The aspects and the catalog version of the snapshot they were read in.
pub(crate) async fn versioned_query_aspects(
    b: &Engine<'_>,
    catalog: Uuid,
    entities: &[Uuid],
    aspect_defs: &[String],
) -> Result<(Vec<AspectMap>, i64)> {
    let d = b.dialect();
    let maps = b.mapping_registry().snapshot();
    if let Some(found) = query_cached(b, catalog, entities, aspect_defs, &maps).await? {
        return Ok(found);
    }
    let mut conn = b.connect(TxMode::Read).await?;
    let conn: &mut dyn SqlConn = &mut *conn;
    let (info, meta) = catalog_meta(b, conn, catalog, View::Snapshot).await?;
    let names = queried_maps(&meta, aspect_defs);
    let mut out = Vec::with_capacity(names.len());
    for name in names.into_iter().map(str::to_owned) {
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
    Ok((out, info.version))
}

/// The aspect maps a query reads: those it names, or every aspect map of the catalog.
fn queried_maps<'a>(meta: &'a CatalogMeta, aspect_defs: &'a [String]) -> Vec<&'a str> {
    if aspect_defs.is_empty() {
        meta.hierarchies
            .iter()
            .filter(|(_, k)| *k == HierarchyType::AspectMap)
            .map(|(n, _)| n.as_str())
            .collect()
    } else {
        aspect_defs.iter().map(String::as_str).collect()
    }
}

/// A query of some entities with the cached metadata, no transaction: each statement reads the
/// catalog's stamp beside its rows, and the answer stands only when every statement saw the
/// stamp the metadata is of (then all saw one version, and the defs used are that version's).
/// `None` when that cannot be done or did not hold: the caller reads on a snapshot.
async fn query_cached(
    b: &Engine<'_>,
    catalog: Uuid,
    entities: &[Uuid],
    aspect_defs: &[String],
    maps: &crate::mapping::Mappings,
) -> Result<Option<(Vec<AspectMap>, i64)>> {
    if entities.is_empty() {
        return Ok(None);
    }
    let Some((stamp, meta)) = b.meta.latest_stamped(catalog) else {
        return Ok(None);
    };
    let names = queried_maps(&meta, aspect_defs);
    let mut defs = Vec::with_capacity(names.len());
    for name in names {
        // A name the cached metadata lacks, or a mapped table: the snapshot path decides.
        match meta_def(&meta, catalog, name) {
            Ok(def) if !maps.contains_key(name) => defs.push(def),
            _ => return Ok(None),
        }
    }
    let mut conn = b.connect(TxMode::None).await?;
    let mut out = Vec::with_capacity(defs.len());
    for def in defs {
        let (map, seen) =
            content::read_entities_stamped(&mut *conn, b.dialect(), catalog, def, entities).await?;
        if seen.is_empty() || seen.iter().any(|s| *s != stamp) {
            return Ok(None);
        }
        out.push(map);
    }
    Ok(Some((out, stamp.version)))
}
