//! A complete in-process backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use indexmap::IndexMap;
use uuid::Uuid;

mod ops;

use super::rules::{missing_catalog, missing_hierarchy, touched};
use super::{
    AspectChanges, AspectPatch, Batch, BatchOutcome, CatalogInfo, Changes, CheapDao, HierarchyInfo,
    HierarchySlice, SyncMark, TaskRecord, UpsertOutcome,
};
use crate::error::{CheapError, NotFound, Result};
use crate::limits::{self, args};
use crate::model::{
    Aspect, AspectDef, AspectMap, Catalog, Hierarchy, HierarchyContent, HierarchyDef,
};

#[derive(Debug, Default)]
struct Stored {
    catalog: Catalog,
    /// Removed hierarchy name -> the version that removed it.
    tombstones: IndexMap<String, i64>,
    /// Aspect map name -> the version that last rewrote it whole.
    rewrites: HashMap<String, i64>,
    /// Aspect map name -> entity -> (version of its last write, whether that was a delete).
    aspect_log: HashMap<String, HashMap<Uuid, (i64, bool)>>,
    /// The replica's sync mark.
    mark: Option<SyncMark>,
}

/// What a mutation did to aspect maps, for [`CheapDao::aspect_changes_since`].
#[derive(Default)]
struct Log {
    /// Aspect maps written whole.
    rewritten: Vec<String>,
    /// (map, entity, deleted) per aspect written or deleted.
    aspects: Vec<(String, Uuid, bool)>,
}

#[derive(Debug, Default)]
struct State {
    catalogs: BTreeMap<Uuid, Stored>,
    tasks: BTreeMap<Uuid, TaskRecord>,
    closed: bool,
}

/// Catalogs kept in process memory: a real backend for tests and for a process-local cache.
/// Every operation holds one lock for its duration, so each is atomic and isolated.
#[derive(Debug, Default, Clone)]
pub struct MemoryDao {
    state: Arc<RwLock<State>>,
    /// Counts write locks taken, for watchers ([`CheapDao::watch`]): each one may have changed
    /// something, and a watcher that looks for nothing finds nothing.
    writes: Arc<Writes>,
}

#[derive(Debug)]
struct Writes(tokio::sync::watch::Sender<Option<u64>>);

impl Default for Writes {
    fn default() -> Self {
        Writes(tokio::sync::watch::Sender::new(Some(0)))
    }
}

/// The store's write lock; watchers are told when it is released.
struct Writing<'a> {
    guard: Option<RwLockWriteGuard<'a, State>>,
    writes: &'a Writes,
}

impl std::ops::Deref for Writing<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        // Present until dropped.
        self.guard.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Writing<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        // Released first, so a watcher that wakes can read at once.
        self.guard = None;
        self.writes
            .0
            .send_modify(|n| *n = n.map(|n| n.wrapping_add(1)));
    }
}

impl MemoryDao {
    /// An empty store.
    pub fn new() -> Self {
        MemoryDao::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>> {
        // A poisoned lock means a panic mid-operation; the state is still consistent because
        // every mutation validates before it changes anything.
        let g = self.state.read().unwrap_or_else(|e| e.into_inner());
        if g.closed {
            return Err(CheapError::Unavailable("the memory store is closed".into()));
        }
        Ok(g)
    }

    fn write(&self) -> Result<Writing<'_>> {
        let g = self.state.write().unwrap_or_else(|e| e.into_inner());
        if g.closed {
            return Err(CheapError::Unavailable("the memory store is closed".into()));
        }
        Ok(Writing {
            guard: Some(g),
            writes: &self.writes,
        })
    }

    fn with_catalog<R>(&self, id: Uuid, f: impl FnOnce(&Catalog) -> Result<R>) -> Result<R> {
        let g = self.read()?;
        let s = g.catalogs.get(&id).ok_or_else(|| missing_catalog(id))?;
        f(&s.catalog)
    }

    /// Runs a validated mutation; `f` returns its result, the hierarchies it touched (none
    /// means nothing changed and the version stays) and what happened to aspect maps.
    fn mutate_logged<R>(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut Catalog, &BTreeMap<Uuid, Stored>) -> Result<(R, Vec<String>, Log)>,
    ) -> Result<R> {
        self.mutate_versioned(id, f).map(|(r, _)| r)
    }

    /// [`mutate_logged`](Self::mutate_logged), also returning the catalog's version after it.
    fn mutate_versioned<R>(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut Catalog, &BTreeMap<Uuid, Stored>) -> Result<(R, Vec<String>, Log)>,
    ) -> Result<(R, i64)> {
        let mut g = self.write()?;
        let mut stored = g.catalogs.remove(&id).ok_or_else(|| missing_catalog(id))?;
        let outcome = f(&mut stored.catalog, &g.catalogs);
        if let Ok((_, touched, log)) = &outcome {
            if !touched.is_empty() {
                let v = stored.catalog.version + 1;
                stored.catalog.version = v;
                for name in touched {
                    match stored.catalog.hierarchy_mut(name) {
                        Some(h) => {
                            h.version = v;
                            stored.tombstones.shift_remove(name);
                        }
                        None => {
                            stored.tombstones.insert(name.clone(), v);
                            stored.rewrites.remove(name);
                            stored.aspect_log.remove(name);
                        }
                    }
                }
                for name in &log.rewritten {
                    stored.rewrites.insert(name.clone(), v);
                    stored.aspect_log.remove(name);
                }
                for (name, e, deleted) in &log.aspects {
                    stored
                        .aspect_log
                        .entry(name.clone())
                        .or_default()
                        .insert(*e, (v, *deleted));
                }
            }
        }
        let version = stored.catalog.version;
        g.catalogs.insert(id, stored);
        outcome.map(|(r, _, _)| (r, version))
    }
}

fn hierarchy_mut<'a>(c: &'a mut Catalog, name: &str) -> Result<&'a mut Hierarchy> {
    let id = c.id();
    c.hierarchy_mut(name)
        .ok_or_else(|| missing_hierarchy(id, name))
}

/// The def stored under `def`'s name or id by a catalog other than `except`, if it differs.
fn global_def_conflict(
    others: &BTreeMap<Uuid, Stored>,
    except: Uuid,
    def: &AspectDef,
) -> Result<()> {
    for (id, s) in others {
        if *id == except {
            continue;
        }
        for d in s.catalog.aspect_defs() {
            if (d.name() == def.name() || d.id() == def.id()) && **d != *def {
                return Err(CheapError::conflict(format!(
                    "aspect def '{}' differs from the one catalog {id} stores in {}",
                    def.name(),
                    def.difference(d).unwrap_or_else(|| "its properties".into())
                )));
            }
        }
    }
    Ok(())
}

/// The hierarchies a mutation touched, owned (see [`touched`]).
fn changed(n: u64, name: &str) -> Vec<String> {
    touched(n, name).into_iter().map(str::to_owned).collect()
}

/// A hierarchy holding entries `offset..offset+limit` of `h` (a tree whole).
pub(crate) fn slice_hierarchy(h: &Hierarchy, offset: u64, limit: u64) -> Result<HierarchySlice> {
    let (o, l) = (offset as usize, limit as usize);
    let content = match &h.content {
        HierarchyContent::List(x) => {
            HierarchyContent::List(crate::model::EntityList(x.iter().skip(o).take(l).collect()))
        }
        HierarchyContent::Set(x) => {
            HierarchyContent::Set(crate::model::EntitySet(x.iter().skip(o).take(l).collect()))
        }
        HierarchyContent::Directory(x) => {
            HierarchyContent::Directory(crate::model::EntityDirectory(
                x.iter()
                    .skip(o)
                    .take(l)
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            ))
        }
        HierarchyContent::Tree(t) => HierarchyContent::Tree(t.clone()),
        HierarchyContent::AspectMap(m) => {
            let mut page = AspectMap::new(m.def().clone());
            for a in m.iter().skip(o).take(l) {
                page.put(a.clone())?;
            }
            HierarchyContent::AspectMap(page)
        }
    };
    let mut hierarchy = Hierarchy::with_content(h.name(), content)?;
    hierarchy.version = h.version;
    Ok(HierarchySlice {
        hierarchy,
        offset,
        total: h.len() as u64,
    })
}

#[async_trait]
impl CheapDao for MemoryDao {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        limits::check_catalog(catalog)?;
        let mut g = self.write()?;
        for d in catalog.aspect_defs() {
            global_def_conflict(&g.catalogs, catalog.id(), d)?;
        }
        for h in catalog.hierarchies() {
            if let Some(m) = h.as_aspect_map() {
                for a in m.iter() {
                    a.check_complete()?;
                }
            }
        }
        let mut new = catalog.clone();
        let old = g.catalogs.remove(&catalog.id());
        let prev_version = old.as_ref().map_or(0, |s| s.catalog.version);
        let v = prev_version.max(catalog.version) + 1;
        new.version = v;
        let mut tombstones = old
            .as_ref()
            .map(|s| s.tombstones.clone())
            .unwrap_or_default();
        let mut rewrites = old.as_ref().map(|s| s.rewrites.clone()).unwrap_or_default();
        let mut aspect_log = old
            .as_ref()
            .map(|s| s.aspect_log.clone())
            .unwrap_or_default();
        for h in new.hierarchies_mut() {
            // An unchanged hierarchy keeps its version, so syncing skips it.
            let same = old
                .as_ref()
                .and_then(|s| s.catalog.hierarchy(h.name()))
                .filter(|o| o.content == h.content);
            h.version = same.map_or(v, |o| o.version);
            if same.is_none() {
                rewrites.insert(h.name().to_owned(), v);
                aspect_log.remove(h.name());
            }
            tombstones.shift_remove(h.name());
        }
        if let Some(old) = &old {
            for h in old.catalog.hierarchies() {
                if new.hierarchy(h.name()).is_none() {
                    tombstones.insert(h.name().to_owned(), v);
                    rewrites.remove(h.name());
                    aspect_log.remove(h.name());
                }
            }
        }
        g.catalogs.insert(
            catalog.id(),
            Stored {
                catalog: new,
                tombstones,
                rewrites,
                aspect_log,
                mark: old.as_ref().and_then(|s| s.mark),
            },
        );
        Ok(v)
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        self.with_catalog(id, |c| Ok(c.clone()))
    }

    fn watch(
        &self,
        catalog: Uuid,
        since: i64,
    ) -> futures::stream::BoxStream<'_, Result<super::ChangeEvent>> {
        // `None` is the store closed: the watch ends.
        let writes = futures::stream::unfold(self.writes.0.subscribe(), |mut rx| async move {
            rx.changed().await.ok()?;
            let open = rx.borrow_and_update().is_some();
            open.then_some((super::watch::Signal::Look, rx))
        });
        super::watch::follow(self, catalog, since, writes)
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        Ok(self.write()?.catalogs.remove(&id).is_some())
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        Ok(self.read()?.catalogs.contains_key(&id))
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        self.with_catalog(id, |c| Ok(CatalogInfo::from(c)))
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        Ok(self.read()?.catalogs.keys().copied().collect())
    }

    async fn catalog_count(&self) -> Result<u64> {
        Ok(self.read()?.catalogs.len() as u64)
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        Ok(self
            .read()?
            .catalogs
            .values()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|s| CatalogInfo::from(&s.catalog))
            .collect())
    }

    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        Ok(self
            .read()?
            .catalogs
            .values()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|s| s.catalog.clone())
            .collect())
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        self.mutate_logged(catalog, |c, others| ops::put_aspect_def(c, others, def))
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        args::lookup("aspect def name", name)?;
        self.with_catalog(catalog, |c| {
            c.aspect_def(name)
                .map(|d| (**d).clone())
                .ok_or_else(|| CheapError::NotFound(NotFound::aspect_def(catalog, name)))
        })
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        self.with_catalog(catalog, |c| {
            Ok(c.aspect_defs().map(|d| (**d).clone()).collect())
        })
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.mutate_logged(catalog, |c, _| ops::delete_aspect_def(c, name))
    }

    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()> {
        self.mutate_logged(catalog, |c, _| ops::create_hierarchy(c, def))
    }

    async fn replace_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<bool> {
        self.mutate_logged(catalog, |c, _| ops::replace_hierarchy(c, def))
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.mutate_logged(catalog, |c, _| ops::delete_hierarchy(c, name))
    }

    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
        self.with_catalog(catalog, |c| {
            Ok(c.hierarchies().map(HierarchyInfo::from).collect())
        })
    }

    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy> {
        args::lookup("hierarchy name", name)?;
        self.with_catalog(catalog, |c| {
            c.hierarchy(name)
                .cloned()
                .ok_or_else(|| missing_hierarchy(catalog, name))
        })
    }

    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice> {
        args::lookup("hierarchy name", name)?;
        self.with_catalog(catalog, |c| {
            let h = c
                .hierarchy(name)
                .ok_or_else(|| missing_hierarchy(catalog, name))?;
            slice_hierarchy(h, offset, limit)
        })
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| ops::add_entities(c, hierarchy, ids))
    }

    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| {
            ops::insert_entities(c, hierarchy, index, ids)
        })
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| {
            ops::remove_entities(c, hierarchy, ids, true)
        })
    }

    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| {
            ops::put_directory_entries(c, hierarchy, entries)
        })
    }

    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| {
            ops::remove_directory_keys(c, hierarchy, keys)
        })
    }

    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| {
            ops::remove_directory_entities(c, hierarchy, ids)
        })
    }

    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| {
            ops::add_tree_nodes(c, hierarchy, parent_path, nodes)
        })
    }

    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| ops::remove_tree_nodes(c, hierarchy, paths))
    }

    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>> {
        self.mutate_logged(catalog, |c, _| ops::upsert_aspects(c, aspect_def, aspects))
    }

    async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        patches: &[AspectPatch],
    ) -> Result<Vec<Result<UpsertOutcome>>> {
        self.mutate_logged(catalog, |c, _| ops::merge_aspects(c, aspect_def, patches))
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        self.mutate_logged(catalog, |c, _| ops::delete_aspects(c, aspect_def, entities))
    }

    async fn apply_batch(&self, catalog: Uuid, batch: &Batch) -> Result<BatchOutcome> {
        let (results, version) = self.mutate_versioned(catalog, |c, others| {
            if let Some(expected) = batch.expected_version {
                if c.version != expected {
                    return Err(CheapError::PreconditionFailed {
                        expected,
                        actual: c.version,
                    });
                }
            }
            // Applied to a copy, kept only when every operation succeeded.
            let mut work = c.clone();
            let mut results = Vec::with_capacity(batch.operations.len());
            let mut touched = Vec::new();
            let mut log = Log::default();
            for (index, op) in batch.operations.iter().enumerate() {
                let (r, t, l) =
                    ops::apply(&mut work, others, op).map_err(|e| CheapError::InBatch {
                        index,
                        source: Box::new(e),
                    })?;
                results.push(r);
                touched.extend(t);
                log.rewritten.extend(l.rewritten);
                log.aspects.extend(l.aspects);
            }
            *c = work;
            Ok((results, touched, log))
        })?;
        Ok(BatchOutcome { version, results })
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        args::lookups("aspect def name", aspect_defs)?;
        self.with_catalog(catalog, |c| {
            let maps: Vec<&AspectMap> = if aspect_defs.is_empty() {
                c.hierarchies()
                    .filter_map(Hierarchy::as_aspect_map)
                    .collect()
            } else {
                aspect_defs
                    .iter()
                    .map(|n| {
                        c.aspects(n)
                            .ok_or_else(|| CheapError::NotFound(NotFound::aspect_def(catalog, n)))
                    })
                    .collect::<Result<_>>()?
            };
            maps.into_iter()
                .map(|m| {
                    let mut out = AspectMap::new(m.def().clone());
                    if entities.is_empty() {
                        for a in m.iter() {
                            out.put(a.clone())?;
                        }
                    } else {
                        for e in entities {
                            if let Some(a) = m.get(*e) {
                                out.put(a.clone())?;
                            }
                        }
                    }
                    Ok(out)
                })
                .collect()
        })
    }

    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        args::lookup("aspect def name", aspect_def)?;
        let g = self.read()?;
        let s = g
            .catalogs
            .get(&catalog)
            .ok_or_else(|| missing_catalog(catalog))?;
        let mut out = AspectChanges {
            version: s.catalog.version,
            ..AspectChanges::default()
        };
        if s.catalog.aspects(aspect_def).is_none() {
            // Removed after `version` (or never there): a replica drops or refetches it whole.
            out.rewritten = s.tombstones.get(aspect_def).is_some_and(|v| *v > version);
            if out.rewritten {
                return Ok(out);
            }
            return Err(NotFound::aspect_def(catalog, aspect_def).into());
        }
        out.rewritten = s.rewrites.get(aspect_def).is_some_and(|v| *v > version);
        for (e, (v, deleted)) in s.aspect_log.get(aspect_def).into_iter().flatten() {
            if *v > version {
                if *deleted {
                    out.removed.push(*e);
                } else {
                    out.changed.push(*e);
                }
            }
        }
        Ok(out)
    }

    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMark>> {
        let g = self.read()?;
        let s = g
            .catalogs
            .get(&catalog)
            .ok_or_else(|| missing_catalog(catalog))?;
        Ok(s.mark)
    }

    async fn put_task(&self, task: &TaskRecord) -> Result<()> {
        // Kept like a server's history: the oldest go first beyond a bound.
        const KEPT: usize = 1000;
        let mut g = self.write()?;
        g.tasks.insert(task.status.task_id, task.clone());
        while g.tasks.len() > KEPT {
            let oldest = g
                .tasks
                .values()
                .min_by_key(|t| t.heartbeat_ms)
                .map(|t| t.status.task_id);
            match oldest {
                Some(id) => g.tasks.remove(&id),
                None => break,
            };
        }
        Ok(())
    }

    async fn get_task(&self, id: Uuid) -> Result<Option<TaskRecord>> {
        Ok(self.read()?.tasks.get(&id).cloned())
    }

    async fn set_sync_mark(&self, catalog: Uuid, mark: SyncMark) -> Result<()> {
        let mut g = self.write()?;
        let s = g
            .catalogs
            .get_mut(&catalog)
            .ok_or_else(|| missing_catalog(catalog))?;
        s.mark = Some(mark);
        Ok(())
    }

    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes> {
        let g = self.read()?;
        let s = g
            .catalogs
            .get(&catalog)
            .ok_or_else(|| missing_catalog(catalog))?;
        Ok(Changes {
            version: s.catalog.version,
            changed: s
                .catalog
                .hierarchies()
                .filter(|h| h.version > version)
                .map(HierarchyInfo::from)
                .collect(),
            removed: s
                .tombstones
                .iter()
                .filter(|(_, v)| **v > version)
                .map(|(k, _)| k.clone())
                .collect(),
        })
    }

    async fn health_check(&self) -> Result<()> {
        self.read().map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        self.state.write().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.writes.0.send_replace(None);
        Ok(())
    }
}
