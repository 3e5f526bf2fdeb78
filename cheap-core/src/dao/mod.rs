//! The async storage contract every backend implements, and [`MemoryDao`].

mod batch;
mod cursor;
pub mod forward;
pub mod instrumented;
mod memory;
pub mod parts;
mod types;
pub mod watch;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{Aspect, AspectDef, AspectMap, Catalog, CatalogDef, Hierarchy, HierarchyDef};

pub use batch::{Batch, BatchOp, BatchOutcome, BatchResult};
pub use cursor::{CursorPage, CursorPosition, PageCursor};
pub use instrumented::{DaoMetrics, InstrumentedDao};
pub use memory::MemoryDao;
pub use parts::{CatalogAssembler, CatalogHeader, CatalogPart};
pub use types::{
    AspectChanges, AspectPatch, CatalogInfo, Changes, Health, HierarchyInfo, HierarchySlice,
    SyncMark, TaskRecord, UpsertOutcome,
};
pub use watch::{CatalogChanges, ChangeEvent};

/// Storage for catalogs, usable as `Arc<dyn CheapDao>`.
///
/// Semantics every backend shares (the `testkit` suite checks them):
/// - [`save_catalog`](Self::save_catalog) replaces: after it, [`load_catalog`](Self::load_catalog)
///   returns exactly what was saved (versions aside). It is atomic.
/// - Aspect defs are global by name, as in the reference schema: a catalog may not store a def
///   that differs from the one another catalog stores under the same name (or id)
///   ([`CheapError::Conflict`](crate::CheapError::Conflict)).
/// - Every mutation advances the catalog's version by at least one and sets each hierarchy it
///   touched to the new version; [`changes_since`](Self::changes_since) lists them. Aspect
///   writes that a SQL backend commits together as one group share that group's version.
/// - A rejected operation changes nothing.
/// - Missing catalogs and hierarchies are [`CheapError::NotFound`](crate::CheapError::NotFound).
#[async_trait]
pub trait CheapDao: Send + Sync {
    /// A short backend name (`memory`, `sqlite`, `postgres`, `mariadb`, `rest`).
    fn backend_name(&self) -> &'static str;

    // ---- whole catalogs ----

    /// Stores a catalog, replacing whatever was stored under its id, and returns its new version.
    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64>;

    /// Loads a whole catalog.
    async fn load_catalog(&self, id: Uuid) -> Result<Catalog>;

    /// Stores a catalog given as parts ([`parts`]), replacing whatever was stored under its id,
    /// and returns its new version: [`save_catalog`](Self::save_catalog) for a catalog that
    /// arrives piece by piece. Atomic: when a part is refused or the stream fails, the store
    /// keeps what it had. The SQL stores write each part as it comes, so memory does not grow
    /// with the catalog; the default collects the parts and saves the whole.
    async fn import_catalog(&self, parts: BoxStream<'_, Result<CatalogPart>>) -> Result<i64> {
        let mut parts = parts;
        let mut assembler = CatalogAssembler::new();
        while let Some(part) = parts.try_next().await? {
            assembler.push(part)?;
        }
        let catalog = assembler.finish()?;
        self.save_catalog(&catalog).await
    }

    /// A stored catalog as parts ([`parts`]), from one consistent state of it, with at most
    /// [`parts::ENTRIES_PER_PART`] entries per part: [`load_catalog`](Self::load_catalog) for a
    /// reader that writes it out as it goes. The SQL stores read it page by page inside one
    /// read transaction; the default loads the whole catalog first.
    fn export_catalog(&self, id: Uuid) -> BoxStream<'_, Result<CatalogPart>> {
        futures::stream::once(async move { self.load_catalog(id).await })
            .map_ok(|c| {
                futures::stream::iter(
                    parts::parts_of(&c, parts::ENTRIES_PER_PART)
                        .into_iter()
                        .map(Ok),
                )
            })
            .try_flatten()
            .boxed()
    }

    /// Deletes a catalog and everything in it; false if there was none.
    async fn delete_catalog(&self, id: Uuid) -> Result<bool>;

    /// Whether a catalog exists.
    async fn catalog_exists(&self, id: Uuid) -> Result<bool>;

    /// A catalog's metadata and version, without its contents.
    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo>;

    /// Every catalog id, in UUID order.
    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>>;

    /// Number of catalogs.
    async fn catalog_count(&self) -> Result<u64>;

    /// Catalog metadata for one page, in UUID order.
    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>>;

    /// Whole catalogs for one page, in UUID order.
    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        let mut out = Vec::new();
        for info in self.list_catalogs_page(offset, limit).await? {
            out.push(self.load_catalog(info.id).await?);
        }
        Ok(out)
    }

    /// Every catalog as a stream, loaded `page_size` at a time.
    fn catalogs(&self, page_size: u64) -> BoxStream<'_, Result<Catalog>> {
        catalog_pages(self, page_size)
    }

    // ---- aspect defs ----

    /// Adds an aspect def (and its empty aspect map) to a catalog; false if an identical def
    /// was already there.
    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool>;

    /// One of a catalog's aspect defs by name.
    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef>;

    /// A catalog's aspect defs, in hierarchy order.
    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>>;

    /// The catalog's structure in one call: every hierarchy def (aspect maps included) and
    /// every aspect def, in the catalog's order.
    async fn catalog_def(&self, catalog: Uuid) -> Result<CatalogDef> {
        let hierarchies = self.list_hierarchy_defs(catalog).await?;
        let defs = self.list_aspect_defs(catalog).await?;
        Ok(CatalogDef::from_parts(
            defs.into_iter().map(std::sync::Arc::new),
            hierarchies,
        ))
    }

    /// [`catalog_def`](Self::catalog_def) with the catalog's version, never newer than the def
    /// (an entity tag made from it can only be too old, which costs a refetch, never a stale
    /// hit). The SQL backends read both in one statement; this default reads the version
    /// first.
    async fn versioned_catalog_def(&self, catalog: Uuid) -> Result<(CatalogDef, i64)> {
        let version = self.catalog_info(catalog).await?.version;
        Ok((self.catalog_def(catalog).await?, version))
    }

    /// Removes an aspect def from a catalog with its aspect map; false if absent.
    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool>;

    // ---- hierarchies ----

    /// Creates an empty hierarchy (not an aspect map: use [`put_aspect_def`](Self::put_aspect_def)).
    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()>;

    /// Creates an empty list, set, directory or tree, replacing one of the same name (contents
    /// and all) in the same step, so concurrent readers and writers see the old hierarchy or
    /// the new one, never neither. An aspect map is never replaced
    /// ([`Conflict`](crate::CheapError::Conflict)).
    /// Returns whether one was replaced.
    ///
    /// The default deletes then creates, which is not atomic; every backend of this workspace
    /// overrides it.
    async fn replace_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<bool> {
        if def.hierarchy_type == crate::HierarchyType::AspectMap {
            return Err(crate::CheapError::invalid(
                "an aspect map hierarchy is created with put_aspect_def",
            ));
        }
        let existing = self.list_hierarchy_defs(catalog).await?;
        let replaced = match existing.iter().find(|h| h.name == def.name) {
            Some(h) if h.hierarchy_type == crate::HierarchyType::AspectMap => {
                return Err(crate::CheapError::conflict(format!(
                    "'{}' is an aspect map and cannot be replaced",
                    def.name
                )))
            }
            Some(_) => self.delete_hierarchy(catalog, &def.name).await?,
            None => false,
        };
        self.create_hierarchy(catalog, def).await?;
        Ok(replaced)
    }

    /// Deletes a hierarchy (an aspect map with its aspects); false if absent.
    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool>;

    /// Names, kinds, versions and sizes of a catalog's hierarchies, in order.
    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>>;

    /// Names and kinds of a catalog's hierarchies, in order: what `list_hierarchies` gives,
    /// without counting entries (backends override it with a cheaper query).
    async fn list_hierarchy_defs(&self, catalog: Uuid) -> Result<Vec<HierarchyDef>> {
        Ok(self
            .list_hierarchies(catalog)
            .await?
            .into_iter()
            .map(|h| HierarchyDef::new(h.name, h.hierarchy_type))
            .collect())
    }

    /// One whole hierarchy.
    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy>;

    /// One page of a hierarchy: entries `offset..offset+limit` of a list, set, directory or
    /// aspect map (in order); a tree is returned whole.
    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice>;

    /// Up to `limit` entries of a list, set, directory or aspect map after `after` (from the
    /// first when `None`), in order, with the cursor of the next page when there are more; a
    /// tree is returned whole. The SQL backends read after the last entry's stored order, so
    /// a page costs its size at any depth and an entry that stays while a reader pages through
    /// is read exactly once, whatever else comes and goes. This default pages by entry number
    /// ([`read_hierarchy_page`](Self::read_hierarchy_page)), where an insert or a removal
    /// before the cursor shifts what follows. A `limit` of 0 and a token no backend made are
    /// [`InvalidInput`](crate::CheapError::InvalidInput).
    async fn read_hierarchy_page_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&PageCursor>,
        limit: u64,
    ) -> Result<CursorPage> {
        rules::page_limit(limit)?;
        let offset = match after.map(PageCursor::position).transpose()? {
            None => 0,
            Some(CursorPosition::AtOffset(n)) => n,
            Some(_) => return Err(rules::foreign_cursor(after)),
        };
        let slice = self
            .read_hierarchy_page(catalog, name, offset, limit)
            .await?;
        Ok(CursorPage::by_offset(slice))
    }

    // ---- hierarchy entries ----

    /// Appends to an entity list, or adds to an entity set; returns how many were added.
    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64>;

    /// Inserts into an entity list at `index` (0..=len).
    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64>;

    /// Removes from a list (every occurrence) or a set; returns how many entries went.
    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64>;

    /// Sets directory entries (replacing existing keys); returns how many were written.
    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64>;

    /// Removes directory entries by key; returns how many went.
    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64>;

    /// Removes directory entries naming any of `ids`; returns how many went.
    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64>;

    /// Adds children under the node at `parent_path` ("/" is the root); a child with an existing
    /// name is replaced with its subtree. Returns how many nodes were added.
    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64>;

    /// Removes the subtrees at `paths`; returns how many nodes went, descendants included.
    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64>;

    // ---- aspects ----

    /// Inserts or replaces aspects of the def named `aspect_def`, all or none.
    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>>;

    /// Applies each patch over the stored aspect of its entity (see [`AspectPatch`]) and
    /// writes the results, one outcome per patch: a patch that does not make a valid aspect
    /// fails alone and the others are written. The SQL backends read and write in one
    /// transaction under the catalog's write lock, so concurrent patches of different
    /// properties of one aspect all land; this default reads, then writes.
    async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        patches: &[AspectPatch],
    ) -> Result<Vec<Result<UpsertOutcome>>> {
        let def = std::sync::Arc::new(self.get_aspect_def(catalog, aspect_def).await?);
        let ids: Vec<Uuid> = patches.iter().map(|p| p.entity_id).collect();
        let stored = if ids.is_empty() {
            Vec::new()
        } else {
            self.query_aspects(catalog, &ids, &[aspect_def.to_owned()])
                .await?
        };
        let stored = stored.first();
        let merged: Vec<Result<Aspect>> = patches
            .iter()
            .map(|p| p.apply(&def, stored.and_then(|m| m.get(p.entity_id))))
            .collect();
        let valid: Vec<Aspect> = merged
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let mut written = if valid.is_empty() {
            Vec::new()
        } else {
            self.upsert_aspects(catalog, aspect_def, &valid).await?
        }
        .into_iter();
        Ok(merged
            .into_iter()
            .map(|r| {
                r.and_then(|_| {
                    written.next().ok_or_else(|| {
                        crate::CheapError::invalid("the store reported fewer outcomes than aspects")
                    })
                })
            })
            .collect())
    }

    /// Deletes the aspects of `entities`; returns how many went.
    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64>;

    /// The aspects of `entities` (all entities when empty) for the defs named (all defs when
    /// empty), one map per def. Unknown def names are [`NotFound`](crate::CheapError::NotFound).
    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>>;

    /// [`query_aspects`](Self::query_aspects) with the catalog's version, never newer than
    /// the aspects (see [`versioned_catalog_def`](Self::versioned_catalog_def)). The SQL
    /// backends take it from the snapshot the aspects are read in; this default reads it first.
    async fn versioned_query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<(Vec<AspectMap>, i64)> {
        let version = self.catalog_info(catalog).await?.version;
        let maps = self.query_aspects(catalog, entities, aspect_defs).await?;
        Ok((maps, version))
    }

    // ---- batches ----

    /// Applies the batch's operations to `catalog` in order, atomically, with one version
    /// bump: when one fails, the error is [`CheapError::InBatch`](crate::CheapError::InBatch)
    /// with its index and nothing is written; when `expected_version` is set and the catalog is
    /// at another version, the error is
    /// [`CheapError::PreconditionFailed`](crate::CheapError::PreconditionFailed) and nothing is
    /// written. Each operation sees what the ones before it wrote.
    async fn apply_batch(&self, catalog: Uuid, batch: &Batch) -> Result<BatchOutcome>;

    // ---- versions ----

    /// What changed in a catalog after `version`: its current version, the hierarchies whose
    /// version is newer, and the hierarchies removed since.
    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes>;

    /// What changes in `catalog` after version `since`, as it changes ([`watch`]): each event
    /// says what changed since the one before, so nothing is missed however slowly the stream
    /// is read. The first item is [`CheapError::NotFound`](crate::CheapError::NotFound) when the
    /// catalog does not exist; [`ChangeEvent::Deleted`] ends the stream.
    ///
    /// This default looks every [`watch::DEFAULT_POLL_INTERVAL`], per watcher; the SQL stores
    /// share one look (a PostgreSQL notification, or one poll per store), MemoryDao looks after
    /// each write and RemoteDao reads the server's event stream.
    fn watch(&self, catalog: Uuid, since: i64) -> BoxStream<'_, Result<ChangeEvent>> {
        watch::follow(
            self,
            catalog,
            since,
            watch::every(watch::DEFAULT_POLL_INTERVAL),
        )
    }

    /// Which aspects of the aspect map `aspect_def` changed after `version`, so a replica can
    /// copy only those. This default reports the whole map as rewritten when it changed at all
    /// (correct, not incremental); the SQL backends and [`MemoryDao`] track single aspects.
    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        let changes = self.changes_since(catalog, version).await?;
        let rewritten = changes.changed.iter().any(|h| h.name == aspect_def)
            || changes.removed.iter().any(|n| n == aspect_def);
        Ok(AspectChanges {
            version: changes.version,
            rewritten,
            ..AspectChanges::default()
        })
    }

    /// The sync mark stored with a replica catalog (None before its first sync).
    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMark>> {
        let _ = catalog;
        Err(crate::CheapError::NotAllowed(format!(
            "the {} backend keeps no sync marks",
            self.backend_name()
        )))
    }

    /// Stores a replica catalog's sync mark (the catalog must exist). Not a mutation of the
    /// catalog: its version stays.
    async fn set_sync_mark(&self, catalog: Uuid, mark: SyncMark) -> Result<()> {
        let _ = (catalog, mark);
        Err(crate::CheapError::NotAllowed(format!(
            "the {} backend keeps no sync marks",
            self.backend_name()
        )))
    }

    // ---- background tasks ----

    /// Stores a background task's state (replacing what was stored for its id).
    async fn put_task(&self, task: &TaskRecord) -> Result<()> {
        let _ = task;
        Err(crate::CheapError::NotAllowed(format!(
            "the {} backend keeps no tasks",
            self.backend_name()
        )))
    }

    /// A stored background task, if there is one with this id.
    async fn get_task(&self, id: Uuid) -> Result<Option<TaskRecord>> {
        let _ = id;
        Ok(None)
    }

    // ---- lifecycle ----

    /// Checks that the backend answers.
    async fn health_check(&self) -> Result<()>;

    /// Whether the backend can serve requests, with details. A store that answers but must
    /// not be used (a Galera node outside the primary component, or still joining) is
    /// `up: false`, where [`health_check`](Self::health_check) would pass. The default is
    /// `health_check`'s answer.
    async fn health(&self) -> Result<Health> {
        self.health_check().await.map(|()| Health::up())
    }

    /// Releases connections; later calls fail with
    /// [`Unavailable`](crate::CheapError::Unavailable).
    async fn close(&self) -> Result<()>;

    /// How many database statements the store has run so far (BEGIN and COMMIT not counted),
    /// for metrics and benchmarks; `None` (this default) for a store that does not count them.
    fn statements_run(&self) -> Option<u64> {
        None
    }
}

/// Every catalog of `dao` as a stream, read with
/// [`load_catalogs_page`](CheapDao::load_catalogs_page), `page_size` at a time (what
/// [`CheapDao::catalogs`] does unless a backend has a better way).
pub fn catalog_pages<D: CheapDao + ?Sized>(
    dao: &D,
    page_size: u64,
) -> BoxStream<'_, Result<Catalog>> {
    let page_size = page_size.max(1);
    futures::stream::try_unfold(Some(0u64), move |offset| async move {
        let Some(offset) = offset else {
            return Ok::<_, crate::error::CheapError>(None);
        };
        let page = dao.load_catalogs_page(offset, page_size).await?;
        let next = (page.len() as u64 == page_size).then_some(offset + page_size);
        Ok(Some((
            futures::stream::iter(page.into_iter().map(Ok)),
            next,
        )))
    })
    .try_flatten()
    .boxed()
}

/// Error values and checks every backend reports the same way.
pub mod rules {
    use std::collections::HashMap;

    use uuid::Uuid;

    use crate::error::{CheapError, NotFound, Result};
    use crate::model::{Aspect, AspectDef, HierarchyType};

    /// A page of no entries would never end a paging loop: InvalidInput.
    pub fn page_limit(limit: u64) -> Result<()> {
        if limit == 0 {
            return Err(CheapError::invalid("a page holds at least 1 entry"));
        }
        Ok(())
    }

    /// InvalidInput for a cursor this backend does not make.
    pub fn foreign_cursor(cursor: Option<&super::PageCursor>) -> CheapError {
        CheapError::invalid(format!(
            "page cursor '{}' was not made by this store",
            cursor.map(|c| c.as_str()).unwrap_or_default()
        ))
    }

    /// NotFound for a catalog.
    pub fn missing_catalog(id: Uuid) -> CheapError {
        NotFound::catalog(id).into()
    }

    /// NotFound for a hierarchy of a catalog.
    pub fn missing_hierarchy(catalog: Uuid, name: &str) -> CheapError {
        NotFound::hierarchy(catalog, name).into()
    }

    /// NotFound for an aspect def of a catalog.
    pub fn missing_aspect_def(catalog: Uuid, name: &str) -> CheapError {
        NotFound::aspect_def(catalog, name).into()
    }

    /// InvalidInput for an operation on the wrong kind of hierarchy.
    pub fn wrong_kind(name: &str, t: HierarchyType, wanted: &str) -> CheapError {
        CheapError::invalid(format!(
            "hierarchy '{name}' is {} ({}), not {wanted}",
            t.java_name(),
            t.code()
        ))
    }

    /// NotAllowed for a granular write to an aspect def stored in a table without entity ids.
    pub fn no_entity_ids(aspect_def: &str) -> CheapError {
        CheapError::NotAllowed(format!(
            "aspect def '{aspect_def}' is mapped to a table without an entity_id column: its aspects can only be saved with the whole catalog"
        ))
    }

    /// The hierarchies an operation touched: `name` if it changed anything.
    pub fn touched(changed: u64, name: &str) -> Vec<&str> {
        if changed > 0 {
            vec![name]
        } else {
            vec![]
        }
    }

    /// Checks aspects before an upsert: each has the stored def and every required value.
    pub fn check_upsert(stored: &AspectDef, aspect_def: &str, aspects: &[Aspect]) -> Result<()> {
        for a in aspects {
            if **a.def() != *stored {
                return Err(CheapError::invalid(format!(
                    "aspect of entity {} has def '{}' ({}), not the stored def '{aspect_def}'",
                    a.entity_id(),
                    a.def().name(),
                    a.def().id()
                )));
            }
            a.check_complete()?;
        }
        Ok(())
    }

    /// Checks a replacing write of `next` over the stored aspect (if any): read-only values
    /// stay as they were created.
    pub fn check_read_only(stored: Option<&Aspect>, next: &Aspect) -> Result<()> {
        stored.map_or(Ok(()), |s| s.check_read_only_kept(next))
    }

    /// True when some value of `def`'s aspects is read-only (so a replacing write must be
    /// compared with what is stored).
    pub fn has_read_only(def: &AspectDef) -> bool {
        !def.is_writable() || def.property_defs().any(|p| !p.is_writable())
    }

    /// Plans an upsert into an aspect map: the last aspect given for an entity wins (as repeated
    /// puts would), replaced aspects keep their position, new ones follow from `next_order`.
    /// Returns each aspect to write with its position.
    pub fn plan_upsert<'a>(
        aspects: &'a [Aspect],
        existing: &HashMap<Uuid, i64>,
        next_order: i64,
    ) -> Vec<(&'a Aspect, i64)> {
        let mut last: HashMap<Uuid, usize> = HashMap::new();
        for (i, a) in aspects.iter().enumerate() {
            last.insert(a.entity_id(), i);
        }
        let mut fresh = next_order;
        aspects
            .iter()
            .enumerate()
            .filter(|(i, a)| last.get(&a.entity_id()) == Some(i))
            .map(|(_, a)| match existing.get(&a.entity_id()) {
                Some(o) => (a, *o),
                None => {
                    fresh += 1;
                    (a, fresh - 1)
                }
            })
            .collect()
    }
}
