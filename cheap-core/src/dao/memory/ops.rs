//! The writes of [`MemoryDao`](super::MemoryDao), each over one catalog: checked whole before
//! they change anything, so a failed one leaves the catalog as it was. The trait methods run
//! one under the store's lock; a batch runs several over a copy.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::{changed, global_def_conflict, hierarchy_mut, Log, Stored};
use crate::dao::rules::{check_read_only, check_upsert, wrong_kind};
use crate::dao::{AspectPatch, BatchOp, BatchResult, UpsertOutcome};
use crate::error::{CheapError, NotFound, Result};
use crate::limits::{self, args};
use crate::model::{
    Aspect, AspectDef, AspectMap, Catalog, EntityDirectory, EntityTree, Hierarchy,
    HierarchyContent, HierarchyDef,
};

/// What a write returns, the hierarchies it touched (none: nothing changed) and its log.
pub(super) type Step<R> = (R, Vec<String>, Log);

fn plain<R>(r: R, touched: Vec<String>) -> Step<R> {
    (r, touched, Log::default())
}

fn count(n: usize, name: &str) -> Step<u64> {
    plain(n as u64, changed(n as u64, name))
}

pub(super) fn put_aspect_def(
    c: &mut Catalog,
    others: &BTreeMap<Uuid, Stored>,
    def: &AspectDef,
) -> Result<Step<bool>> {
    limits::check_aspect_def(def)?;
    let catalog = c.id();
    global_def_conflict(others, catalog, def)?;
    match c.hierarchy(def.name()) {
        Some(h) => match h.as_aspect_map() {
            Some(m) if **m.def() == *def => Ok(plain(false, vec![])),
            Some(m) => Err(CheapError::conflict(format!(
                "catalog {catalog} already has a different aspect def named '{}': it differs in {}",
                def.name(),
                def.difference(m.def())
                    .unwrap_or_else(|| "its properties".into())
            ))),
            None => Err(CheapError::conflict(format!(
                "catalog {catalog} already has a hierarchy named '{}'",
                def.name()
            ))),
        },
        None => {
            c.extend(Arc::new(def.clone()))?;
            let name = def.name().to_owned();
            let log = Log {
                rewritten: vec![name.clone()],
                ..Log::default()
            };
            Ok((true, vec![name], log))
        }
    }
}

pub(super) fn delete_aspect_def(c: &mut Catalog, name: &str) -> Result<Step<bool>> {
    args::lookup("aspect def name", name)?;
    if c.aspects(name).is_none() {
        return Ok(plain(false, vec![]));
    }
    c.remove_hierarchy(name);
    Ok(plain(true, vec![name.to_owned()]))
}

pub(super) fn create_hierarchy(c: &mut Catalog, def: &HierarchyDef) -> Result<Step<()>> {
    limits::check_name("hierarchy name", &def.name)?;
    if c.hierarchy(&def.name).is_some() {
        return Err(CheapError::conflict(format!(
            "catalog {} already has a hierarchy named '{}'",
            c.id(),
            def.name
        )));
    }
    c.add_hierarchy(Hierarchy::new(def.name.clone(), def.hierarchy_type)?)?;
    Ok(plain((), vec![def.name.clone()]))
}

pub(super) fn replace_hierarchy(c: &mut Catalog, def: &HierarchyDef) -> Result<Step<bool>> {
    limits::check_name("hierarchy name", &def.name)?;
    let fresh = Hierarchy::new(def.name.clone(), def.hierarchy_type)?;
    let replaced = match c.hierarchy(&def.name) {
        Some(h) if h.hierarchy_type() == crate::HierarchyType::AspectMap => {
            return Err(CheapError::conflict(format!(
                "'{}' is an aspect map and cannot be replaced",
                def.name
            )))
        }
        Some(_) => c.remove_hierarchy(&def.name).is_some(),
        None => false,
    };
    c.add_hierarchy(fresh)?;
    Ok(plain(replaced, vec![def.name.clone()]))
}

pub(super) fn delete_hierarchy(c: &mut Catalog, name: &str) -> Result<Step<bool>> {
    args::lookup("hierarchy name", name)?;
    Ok(match c.remove_hierarchy(name) {
        Some(_) => plain(true, vec![name.to_owned()]),
        None => plain(false, vec![]),
    })
}

pub(super) fn add_entities(c: &mut Catalog, hierarchy: &str, ids: &[Uuid]) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    let h = hierarchy_mut(c, hierarchy)?;
    let n = match &mut h.content {
        HierarchyContent::List(l) => {
            l.0.extend_from_slice(ids);
            ids.len()
        }
        HierarchyContent::Set(s) => ids.iter().filter(|id| s.add(**id)).count(),
        _ => {
            return Err(wrong_kind(
                hierarchy,
                h.hierarchy_type(),
                "an entity list or set",
            ))
        }
    };
    Ok(count(n, hierarchy))
}

pub(super) fn insert_entities(
    c: &mut Catalog,
    hierarchy: &str,
    index: u64,
    ids: &[Uuid],
) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    let h = hierarchy_mut(c, hierarchy)?;
    let kind = h.hierarchy_type();
    let Some(l) = h.as_list_mut() else {
        return Err(wrong_kind(hierarchy, kind, "an entity list"));
    };
    let i = usize::try_from(index).unwrap_or(usize::MAX);
    if i > l.len() {
        return Err(CheapError::invalid(format!(
            "index {index} is past the end of list '{hierarchy}' ({} entries)",
            l.len()
        )));
    }
    l.0.splice(i..i, ids.iter().copied());
    Ok(count(ids.len(), hierarchy))
}

pub(super) fn remove_entities(
    c: &mut Catalog,
    hierarchy: &str,
    ids: &[Uuid],
    every_occurrence: bool,
) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    let h = hierarchy_mut(c, hierarchy)?;
    let n = match &mut h.content {
        HierarchyContent::List(l) if every_occurrence => {
            ids.iter().map(|id| l.remove_all(*id)).sum()
        }
        HierarchyContent::List(l) => ids.iter().filter(|id| l.remove_first(**id)).count(),
        HierarchyContent::Set(s) => ids.iter().filter(|id| s.remove(**id)).count(),
        _ => {
            return Err(wrong_kind(
                hierarchy,
                h.hierarchy_type(),
                "an entity list or set",
            ))
        }
    };
    Ok(count(n, hierarchy))
}

pub(super) fn put_directory_entries(
    c: &mut Catalog,
    hierarchy: &str,
    entries: &[(String, Uuid)],
) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    args::directory_entries(entries)?;
    let d = directory_mut(c, hierarchy)?;
    if let Some((k, _)) = entries.iter().find(|(k, _)| k.is_empty()) {
        return Err(CheapError::invalid(format!(
            "directory key '{k}' must not be empty"
        )));
    }
    for (k, id) in entries {
        d.put(k.clone(), *id);
    }
    Ok(count(entries.len(), hierarchy))
}

pub(super) fn remove_directory_keys(
    c: &mut Catalog,
    hierarchy: &str,
    keys: &[String],
) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    args::lookups("directory key", keys)?;
    let d = directory_mut(c, hierarchy)?;
    let n = keys.iter().filter(|k| d.remove(k).is_some()).count();
    Ok(count(n, hierarchy))
}

pub(super) fn remove_directory_entities(
    c: &mut Catalog,
    hierarchy: &str,
    ids: &[Uuid],
) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    let d = directory_mut(c, hierarchy)?;
    let n = ids.iter().map(|id| d.remove_entity(*id)).sum::<usize>();
    Ok(count(n, hierarchy))
}

pub(super) fn add_tree_nodes(
    c: &mut Catalog,
    hierarchy: &str,
    parent_path: &str,
    nodes: &[(String, Option<Uuid>)],
) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    args::tree_nodes(parent_path, nodes)?;
    let t = tree_mut(c, hierarchy)?;
    // Validate everything first so a bad name adds nothing.
    let mut trial = t.clone();
    for (name, entity) in nodes {
        trial.add_node(parent_path, name, *entity)?;
    }
    *t = trial;
    Ok(count(nodes.len(), hierarchy))
}

pub(super) fn remove_tree_nodes(
    c: &mut Catalog,
    hierarchy: &str,
    paths: &[String],
) -> Result<Step<u64>> {
    args::lookup("hierarchy name", hierarchy)?;
    args::lookups("tree path", paths)?;
    let t = tree_mut(c, hierarchy)?;
    let mut trial = t.clone();
    let mut n = 0;
    for p in paths {
        n += trial.remove_subtree(p)?;
    }
    *t = trial;
    Ok(count(n, hierarchy))
}

fn directory_mut<'a>(c: &'a mut Catalog, hierarchy: &str) -> Result<&'a mut EntityDirectory> {
    let h = hierarchy_mut(c, hierarchy)?;
    let kind = h.hierarchy_type();
    h.as_directory_mut()
        .ok_or_else(|| wrong_kind(hierarchy, kind, "an entity directory"))
}

fn tree_mut<'a>(c: &'a mut Catalog, hierarchy: &str) -> Result<&'a mut EntityTree> {
    let h = hierarchy_mut(c, hierarchy)?;
    let kind = h.hierarchy_type();
    h.as_tree_mut()
        .ok_or_else(|| wrong_kind(hierarchy, kind, "an entity tree"))
}

fn aspect_map<'a>(c: &'a mut Catalog, aspect_def: &str) -> Result<&'a mut AspectMap> {
    let catalog = c.id();
    c.aspects_mut(aspect_def)
        .ok_or_else(|| CheapError::NotFound(NotFound::aspect_def(catalog, aspect_def)))
}

fn written(aspect_def: &str, out: Vec<UpsertOutcome>) -> Step<Vec<UpsertOutcome>> {
    let touched = changed(out.len() as u64, aspect_def);
    let log = Log {
        aspects: out
            .iter()
            .map(|o| (aspect_def.to_owned(), o.entity_id, false))
            .collect(),
        ..Log::default()
    };
    (out, touched, log)
}

/// Puts checked aspects into `map`, each sharing the stored def.
fn put_all(map: &mut AspectMap, aspects: &[Aspect]) -> Result<Vec<UpsertOutcome>> {
    let mut out = Vec::with_capacity(aspects.len());
    for a in aspects {
        let created = !map.contains(a.entity_id());
        // Share the stored def so the map holds one def instance.
        let a = Aspect::from_values(
            map.def().clone(),
            a.entity_id(),
            a.stored_values()
                .map(|(k, v)| (k.to_owned(), Some(v.clone())))
                .collect::<Vec<_>>(),
        )?;
        out.push(UpsertOutcome {
            entity_id: a.entity_id(),
            created,
        });
        map.put(a)?;
    }
    Ok(out)
}

pub(super) fn upsert_aspects(
    c: &mut Catalog,
    aspect_def: &str,
    aspects: &[Aspect],
) -> Result<Step<Vec<UpsertOutcome>>> {
    args::lookup("aspect def name", aspect_def)?;
    args::aspects(aspects)?;
    let map = aspect_map(c, aspect_def)?;
    check_upsert(map.def(), aspect_def, aspects)?;
    for a in aspects {
        check_read_only(map.get(a.entity_id()), a)?;
    }
    let out = put_all(map, aspects)?;
    Ok(written(aspect_def, out))
}

/// Each patch over the stored aspect, or its error; the valid ones are written.
pub(super) fn merge_aspects(
    c: &mut Catalog,
    aspect_def: &str,
    patches: &[AspectPatch],
) -> Result<Step<Vec<Result<UpsertOutcome>>>> {
    args::lookup("aspect def name", aspect_def)?;
    let map = aspect_map(c, aspect_def)?;
    let def = map.def().clone();
    let mut outcomes = Vec::with_capacity(patches.len());
    let mut out = Vec::new();
    for p in patches {
        let merged = p.apply(&def, map.get(p.entity_id)).and_then(|a| {
            args::aspects(std::slice::from_ref(&a))?;
            Ok(a)
        });
        match merged {
            Ok(a) => {
                // Written one by one, so a later patch of the same entity goes over this one.
                let o = put_all(map, std::slice::from_ref(&a))?;
                out.extend(o.iter().cloned());
                outcomes.push(Ok(o[0].clone()));
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    let (_, touched, log) = written(aspect_def, out);
    Ok((outcomes, touched, log))
}

pub(super) fn delete_aspects(
    c: &mut Catalog,
    aspect_def: &str,
    entities: &[Uuid],
) -> Result<Step<u64>> {
    args::lookup("aspect def name", aspect_def)?;
    let map = aspect_map(c, aspect_def)?;
    let gone: Vec<Uuid> = entities
        .iter()
        .copied()
        .filter(|e| map.remove(*e).is_some())
        .collect();
    let n = gone.len() as u64;
    let log = Log {
        aspects: gone
            .into_iter()
            .map(|e| (aspect_def.to_owned(), e, true))
            .collect(),
        ..Log::default()
    };
    Ok((n, changed(n, aspect_def), log))
}

/// One operation of a batch.
pub(super) fn apply(
    c: &mut Catalog,
    others: &BTreeMap<Uuid, Stored>,
    op: &BatchOp,
) -> Result<Step<BatchResult>> {
    fn map<R>(s: Step<R>, f: impl FnOnce(R) -> BatchResult) -> Step<BatchResult> {
        (f(s.0), s.1, s.2)
    }
    Ok(match op {
        BatchOp::UpsertAspects {
            aspect_def,
            aspects,
        } => map(
            upsert_aspects(c, aspect_def, aspects)?,
            BatchResult::Aspects,
        ),
        BatchOp::MergeAspects {
            aspect_def,
            patches,
        } => {
            let (outcomes, touched, log) = merge_aspects(c, aspect_def, patches)?;
            let outcomes = outcomes.into_iter().collect::<Result<Vec<_>>>()?;
            (BatchResult::Aspects(outcomes), touched, log)
        }
        BatchOp::DeleteAspects {
            aspect_def,
            entity_ids,
        } => map(
            delete_aspects(c, aspect_def, entity_ids)?,
            BatchResult::Count,
        ),
        BatchOp::AddEntities {
            hierarchy,
            entity_ids,
        } => map(add_entities(c, hierarchy, entity_ids)?, BatchResult::Count),
        BatchOp::InsertEntities {
            hierarchy,
            index,
            entity_ids,
        } => map(
            insert_entities(c, hierarchy, *index, entity_ids)?,
            BatchResult::Count,
        ),
        BatchOp::RemoveEntities {
            hierarchy,
            entity_ids,
            every_occurrence,
        } => map(
            remove_entities(c, hierarchy, entity_ids, *every_occurrence)?,
            BatchResult::Count,
        ),
        BatchOp::PutDirectoryEntries { hierarchy, entries } => map(
            put_directory_entries(c, hierarchy, entries)?,
            BatchResult::Count,
        ),
        BatchOp::RemoveDirectoryKeys { hierarchy, keys } => map(
            remove_directory_keys(c, hierarchy, keys)?,
            BatchResult::Count,
        ),
        BatchOp::RemoveDirectoryEntities {
            hierarchy,
            entity_ids,
        } => map(
            remove_directory_entities(c, hierarchy, entity_ids)?,
            BatchResult::Count,
        ),
        BatchOp::AddTreeNodes {
            hierarchy,
            parent_path,
            nodes,
        } => map(
            add_tree_nodes(c, hierarchy, parent_path, nodes)?,
            BatchResult::Count,
        ),
        BatchOp::RemoveTreeNodes { hierarchy, paths } => {
            map(remove_tree_nodes(c, hierarchy, paths)?, BatchResult::Count)
        }
        BatchOp::PutAspectDef { def } => map(put_aspect_def(c, others, def)?, BatchResult::Changed),
        BatchOp::DeleteAspectDef { name } => map(delete_aspect_def(c, name)?, BatchResult::Changed),
        BatchOp::CreateHierarchy { def } => map(create_hierarchy(c, def)?, |()| BatchResult::Done),
        BatchOp::ReplaceHierarchy { def } => map(replace_hierarchy(c, def)?, BatchResult::Changed),
        BatchOp::DeleteHierarchy { name } => map(delete_hierarchy(c, name)?, BatchResult::Changed),
    })
}
