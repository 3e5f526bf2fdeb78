//! [`SpeciesDao`]: a local store that acts on each catalog's species.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::{now_ms, Replica};
use futures::stream::BoxStream;

use crate::dao::{
    catalog_pages, AspectChanges, AspectPatch, Batch, BatchOutcome, CatalogAssembler, CatalogInfo,
    CatalogPart, Changes, CheapDao, CursorPage, HierarchyInfo, HierarchySlice, PageCursor,
    SyncMark, UpsertOutcome,
};
use crate::error::{CheapError, Result};
use crate::model::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogDef, CatalogSpecies, Hierarchy, HierarchyDef,
};

/// A [`CheapDao`] over a local store whose catalogs behave by species:
///
/// - MIRROR: every write is refused ([`CheapError::NotAllowed`]); the catalog changes only by
///   [`Replica::pull`].
/// - CACHE: reads are served locally, after a pull when the last sync is older than the TTL;
///   writes go to the upstream first and then locally (write-through).
/// - Every other species (and catalogs this store does not hold): plain local reads and writes.
#[derive(Clone)]
pub struct SpeciesDao {
    local: Arc<dyn CheapDao>,
    upstream: Option<Arc<dyn CheapDao>>,
    ttl: Duration,
}

impl std::fmt::Debug for SpeciesDao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeciesDao")
            .field("local", &self.local.backend_name())
            .field(
                "upstream",
                &self.upstream.as_ref().map(|u| u.backend_name()),
            )
            .field("ttl", &self.ttl)
            .finish()
    }
}

enum Route {
    Local,
    WriteThrough(Arc<dyn CheapDao>),
}

impl SpeciesDao {
    /// Species rules over `local`, with no upstream: MIRROR writes are refused; a CACHE cannot
    /// be written or refreshed (its writes fail with `NotAllowed`).
    pub fn new(local: Arc<dyn CheapDao>) -> Self {
        SpeciesDao {
            local,
            upstream: None,
            ttl: Duration::from_secs(60),
        }
    }

    /// The upstream CACHE catalogs refresh from and write through to.
    pub fn with_upstream(mut self, upstream: Arc<dyn CheapDao>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// How old a CACHE's last sync may be before a read pulls first (default 60 s).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    async fn species(&self, catalog: Uuid) -> Result<Option<CatalogSpecies>> {
        match self.local.catalog_info(catalog).await {
            Ok(i) => Ok(Some(i.species)),
            Err(CheapError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Where a write to `catalog` goes.
    async fn route(&self, catalog: Uuid) -> Result<Route> {
        match self.species(catalog).await? {
            Some(CatalogSpecies::Mirror) => Err(CheapError::NotAllowed(format!(
                "catalog {catalog} is a MIRROR: it changes only by pulling from its upstream"
            ))),
            Some(CatalogSpecies::Cache) => match &self.upstream {
                Some(u) => Ok(Route::WriteThrough(u.clone())),
                None => Err(CheapError::NotAllowed(format!(
                    "catalog {catalog} is a CACHE and this store has no upstream to write through to"
                ))),
            },
            _ => Ok(Route::Local),
        }
    }

    /// Pulls a CACHE whose last sync is older than the TTL.
    async fn fresh(&self, catalog: Uuid) -> Result<()> {
        if self.species(catalog).await? == Some(CatalogSpecies::Cache) {
            self.pull_if_stale(catalog).await?;
        }
        Ok(())
    }

    /// Pulls CACHE catalog `catalog` when its last sync is older than the TTL; true if it did.
    async fn pull_if_stale(&self, catalog: Uuid) -> Result<bool> {
        let Some(upstream) = &self.upstream else {
            return Ok(false);
        };
        let replica = Replica::new(self.local.clone(), upstream.clone(), catalog);
        let stale = match replica.mark().await? {
            Some(m) => now_ms().saturating_sub(m.synced_at_ms) >= self.ttl.as_millis() as i64,
            None => true,
        };
        if stale {
            replica.pull().await?;
        }
        Ok(stale)
    }
}

/// A write: refused on a MIRROR, sent upstream first on a CACHE, else local.
macro_rules! write {
    ($self:ident, $catalog:expr, $d:ident => $call:expr) => {{
        if let Route::WriteThrough(up) = $self.route($catalog).await? {
            let $d: &dyn CheapDao = &*up;
            $call.await?;
        }
        let $d: &dyn CheapDao = &*$self.local;
        $call.await
    }};
}

/// A read of one catalog: refreshed first when it is a stale CACHE.
macro_rules! read {
    ($self:ident, $catalog:expr, $d:ident => $call:expr) => {{
        $self.fresh($catalog).await?;
        let $d: &dyn CheapDao = &*$self.local;
        $call.await
    }};
}

#[async_trait]
impl CheapDao for SpeciesDao {
    fn backend_name(&self) -> &'static str {
        self.local.backend_name()
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        if let Route::WriteThrough(up) = self.route(catalog.id()).await? {
            // The upstream keeps its own species: only the contents go through.
            let info = up.catalog_info(catalog.id()).await?;
            let mut theirs = catalog.clone();
            theirs.set_species(info.species, info.upstream)?;
            up.save_catalog(&theirs).await?;
        }
        self.local.save_catalog(catalog).await
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        read!(self, id, d => d.load_catalog(id))
    }

    async fn import_catalog(&self, parts: BoxStream<'_, Result<CatalogPart>>) -> Result<i64> {
        use futures::{StreamExt, TryStreamExt};
        let mut parts = parts;
        let first = parts
            .try_next()
            .await?
            .ok_or_else(|| CheapError::invalid("an import with no catalog header"))?;
        let CatalogPart::Header(header) = &first else {
            return Err(CheapError::invalid(
                "catalog parts out of order: the header must come first",
            ));
        };
        let whole = futures::stream::iter([Ok(first.clone())]).chain(parts);
        match self.route(header.id).await? {
            Route::Local => self.local.import_catalog(whole.boxed()).await,
            // Write-through needs the catalog twice (upstream, then here): assembled once.
            Route::WriteThrough(_) => {
                let mut assembler = CatalogAssembler::new();
                let mut whole = whole.boxed();
                while let Some(part) = whole.try_next().await? {
                    assembler.push(part)?;
                }
                self.save_catalog(&assembler.finish()?).await
            }
        }
    }

    fn watch(&self, catalog: Uuid, since: i64) -> BoxStream<'_, Result<crate::dao::ChangeEvent>> {
        // What the local copy shows: a replica's events are its own syncs and writes.
        self.local.watch(catalog, since)
    }

    fn export_catalog(&self, id: Uuid) -> BoxStream<'_, Result<CatalogPart>> {
        use futures::{StreamExt, TryStreamExt};
        futures::stream::once(async move { self.fresh(id).await })
            .map_ok(move |()| self.local.export_catalog(id))
            .try_flatten()
            .boxed()
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        // Dropping a local replica is allowed for every species; it does not touch upstream.
        self.local.delete_catalog(id).await
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        self.local.catalog_exists(id).await
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        read!(self, id, d => d.catalog_info(id))
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        self.local.list_catalog_ids().await
    }

    async fn catalog_count(&self) -> Result<u64> {
        self.local.catalog_count().await
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        self.local.list_catalogs_page(offset, limit).await
    }

    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        let mut page = self.local.load_catalogs_page(offset, limit).await?;
        // The page is the local store's fast path; only CACHE catalogs that a pull refreshed
        // are read again.
        for c in &mut page {
            if c.species() == CatalogSpecies::Cache && self.pull_if_stale(c.id()).await? {
                *c = self.local.load_catalog(c.id()).await?;
            }
        }
        Ok(page)
    }

    fn catalogs(&self, page_size: u64) -> BoxStream<'_, Result<Catalog>> {
        match self.upstream {
            // Nothing to refresh: the local store's own stream.
            None => self.local.catalogs(page_size),
            Some(_) => catalog_pages(self, page_size),
        }
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        write!(self, catalog, d => d.put_aspect_def(catalog, def))
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        read!(self, catalog, d => d.get_aspect_def(catalog, name))
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        read!(self, catalog, d => d.list_aspect_defs(catalog))
    }

    async fn catalog_def(&self, catalog: Uuid) -> Result<CatalogDef> {
        read!(self, catalog, d => d.catalog_def(catalog))
    }

    async fn versioned_catalog_def(&self, catalog: Uuid) -> Result<(CatalogDef, i64)> {
        read!(self, catalog, d => d.versioned_catalog_def(catalog))
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        write!(self, catalog, d => d.delete_aspect_def(catalog, name))
    }

    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()> {
        write!(self, catalog, d => d.create_hierarchy(catalog, def))
    }

    async fn replace_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<bool> {
        write!(self, catalog, d => d.replace_hierarchy(catalog, def))
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        write!(self, catalog, d => d.delete_hierarchy(catalog, name))
    }

    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
        read!(self, catalog, d => d.list_hierarchies(catalog))
    }

    async fn list_hierarchy_defs(&self, catalog: Uuid) -> Result<Vec<HierarchyDef>> {
        read!(self, catalog, d => d.list_hierarchy_defs(catalog))
    }

    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy> {
        read!(self, catalog, d => d.get_hierarchy(catalog, name))
    }

    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice> {
        read!(self, catalog, d => d.read_hierarchy_page(catalog, name, offset, limit))
    }

    async fn read_hierarchy_page_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&PageCursor>,
        limit: u64,
    ) -> Result<CursorPage> {
        read!(self, catalog, d => d.read_hierarchy_page_after(catalog, name, after, limit))
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        write!(self, catalog, d => d.add_entities(catalog, hierarchy, ids))
    }

    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64> {
        write!(self, catalog, d => d.insert_entities(catalog, hierarchy, index, ids))
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        write!(self, catalog, d => d.remove_entities(catalog, hierarchy, ids))
    }

    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64> {
        write!(self, catalog, d => d.put_directory_entries(catalog, hierarchy, entries))
    }

    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64> {
        write!(self, catalog, d => d.remove_directory_keys(catalog, hierarchy, keys))
    }

    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64> {
        write!(self, catalog, d => d.remove_directory_entities(catalog, hierarchy, ids))
    }

    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64> {
        write!(self, catalog, d => d.add_tree_nodes(catalog, hierarchy, parent_path, nodes))
    }

    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64> {
        write!(self, catalog, d => d.remove_tree_nodes(catalog, hierarchy, paths))
    }

    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>> {
        write!(self, catalog, d => d.upsert_aspects(catalog, aspect_def, aspects))
    }

    async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        patches: &[AspectPatch],
    ) -> Result<Vec<Result<UpsertOutcome>>> {
        write!(self, catalog, d => d.merge_aspects(catalog, aspect_def, patches))
    }

    async fn versioned_query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<(Vec<AspectMap>, i64)> {
        read!(self, catalog, d => d.versioned_query_aspects(catalog, entities, aspect_defs))
    }

    async fn apply_batch(&self, catalog: Uuid, batch: &Batch) -> Result<BatchOutcome> {
        if let Route::WriteThrough(up) = self.route(catalog).await? {
            // The upstream is the authority: the condition is checked there; the local copy
            // follows it.
            up.apply_batch(catalog, batch).await?;
            let mut local = batch.clone();
            local.expected_version = None;
            return self.local.apply_batch(catalog, &local).await;
        }
        self.local.apply_batch(catalog, batch).await
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        write!(self, catalog, d => d.delete_aspects(catalog, aspect_def, entities))
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        read!(self, catalog, d => d.query_aspects(catalog, entities, aspect_defs))
    }

    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes> {
        self.local.changes_since(catalog, version).await
    }

    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        self.local
            .aspect_changes_since(catalog, aspect_def, version)
            .await
    }

    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMark>> {
        self.local.sync_mark(catalog).await
    }

    async fn set_sync_mark(&self, catalog: Uuid, mark: SyncMark) -> Result<()> {
        self.local.set_sync_mark(catalog, mark).await
    }

    async fn put_task(&self, task: &crate::dao::TaskRecord) -> Result<()> {
        self.local.put_task(task).await
    }

    async fn get_task(&self, id: Uuid) -> Result<Option<crate::dao::TaskRecord>> {
        self.local.get_task(id).await
    }

    async fn health(&self) -> Result<crate::dao::Health> {
        self.local.health().await
    }

    async fn health_check(&self) -> Result<()> {
        self.local.health_check().await
    }

    async fn close(&self) -> Result<()> {
        self.local.close().await
    }

    fn statements_run(&self) -> Option<u64> {
        self.local.statements_run()
    }
}
