//! [`SqlDao`]: the one [`CheapDao`] of every SQL database. Each method is one operation of
//! the engine's `ops` module, run over the backend's connections and dialect.

use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use uuid::Uuid;

use crate::conn::SqlBackend;
use tokio::sync::oneshot;

use crate::engine::{Engine, Shared};
use crate::group::{Item, Job, Reply};
use crate::meta::MetaCache;
use crate::ops;
use cheap_core::dao::{
    AspectChanges, AspectPatch, Batch, BatchOutcome, CatalogInfo, CatalogPart, ChangeEvent,
    Changes, CursorPage, HierarchyInfo, HierarchySlice, PageCursor, SyncMark, UpsertOutcome,
};
use cheap_core::limits::{self, args};
use cheap_core::model::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogDef, Hierarchy, HierarchyDef,
};
use cheap_core::{CheapDao, CheapError, Result};

/// The shared SQL engine over one backend: `SqlDao<B>` is a [`CheapDao`] for any
/// [`SqlBackend`] `B` (connections and a dialect), so SQLite, PostgreSQL and MariaDB behave
/// alike by construction. Each backend crate wraps one (`SqliteDao`, `PostgresDao`,
/// `MariaDbDao`) and forwards to it.
///
/// It keeps a [metadata cache](crate::meta) (clones share it) and counts the statements its
/// operations run ([`statements`](Self::statements)).
#[derive(Debug, Clone)]
pub struct SqlDao<B> {
    backend: Arc<B>,
    shared: Arc<Shared>,
}

impl<B: SqlBackend> SqlDao<B> {
    /// The engine over `backend`, caching the metadata of up to
    /// [`DEFAULT_META_CAPACITY`](crate::meta::DEFAULT_META_CAPACITY) catalogs.
    pub fn new(backend: B) -> Self {
        Self::with_meta_capacity(backend, crate::meta::DEFAULT_META_CAPACITY)
    }

    /// The engine over `backend`, caching the metadata of up to `catalogs` catalogs.
    pub fn with_meta_capacity(backend: B, catalogs: usize) -> Self {
        SqlDao {
            backend: Arc::new(backend),
            shared: Arc::new(Shared {
                meta: MetaCache::new(catalogs),
                positions: Default::default(),
                statements: Default::default(),
                retries: Default::default(),
                groups: Default::default(),
                probe: Default::default(),
                watchers: Default::default(),
            }),
        }
    }

    /// The backend: its pool, dialect and table mappings.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Statements run so far by this store's operations (and its clones'), BEGIN and COMMIT
    /// not included: what tests and benchmarks count to pin an operation's cost.
    pub fn statements(&self) -> u64 {
        self.shared.statements.load(Ordering::Relaxed)
    }

    /// Transactions run again so far because they lost a race with a concurrent one (a
    /// deadlock, a serialization or certification failure).
    pub fn contention_retries(&self) -> u64 {
        self.shared.retries.load(Ordering::Relaxed)
    }

    /// How often watchers ([`CheapDao::watch`]) of this store look for changes made by other
    /// processes, when the database cannot notify them (SQLite, MariaDB): one statement per
    /// interval for all of this store's watchers. Default
    /// [`DEFAULT_POLL_INTERVAL`](cheap_core::dao::watch::DEFAULT_POLL_INTERVAL); this
    /// process's own writes are seen at once.
    pub fn set_watch_interval(&self, every: std::time::Duration) {
        self.shared.watchers.set_interval(every);
    }

    /// The metadata cache.
    pub fn meta_cache(&self) -> &MetaCache {
        &self.shared.meta
    }

    fn engine(&self) -> Engine<'_> {
        Engine::new(&*self.backend, &self.shared)
    }

    /// Queues a write of `items` to `catalog` for the next group transaction and waits for
    /// its outcomes (the `group` module says how groups form).
    async fn grouped(&self, catalog: Uuid, aspect_def: &str, items: Vec<Item>) -> Reply {
        let (reply, outcome) = oneshot::channel();
        let queue = self.shared.groups.queue(catalog);
        queue.push(Job {
            aspect_def: aspect_def.to_owned(),
            items,
            reply,
        });
        let backend = self.backend.clone();
        let shared = self.shared.clone();
        // The group runs in a task of its own, so a caller that goes away mid-write does not
        // cut short the transaction that carries the others' writes too.
        tokio::spawn(async move {
            let slot = queue.slot.lock().await;
            let jobs = queue.take();
            if !jobs.is_empty() {
                let engine = Engine::new(&*backend, &shared);
                // Boxed: every waiting request's task would otherwise hold a whole
                // transaction's state machine inline, though only one runs it.
                Box::pin(ops::aspects::run_group(&engine, catalog, jobs)).await;
            }
            drop(slot);
            shared.groups.release(catalog, &queue);
        });
        outcome.await.map_err(|_| {
            CheapError::Unavailable("the write's group task ended without an answer".into())
        })?
    }
}

impl<B> Deref for SqlDao<B> {
    type Target = B;

    fn deref(&self) -> &B {
        &self.backend
    }
}

#[async_trait]
impl<B: SqlBackend> CheapDao for SqlDao<B> {
    fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        limits::check_catalog(catalog)?;
        ops::catalogs::save_catalog(&self.engine(), catalog).await
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        ops::catalogs::load_catalog(&self.engine(), id).await
    }

    async fn import_catalog(&self, parts: BoxStream<'_, Result<CatalogPart>>) -> Result<i64> {
        ops::imports::import_catalog(&self.engine(), parts).await
    }

    fn export_catalog(&self, id: Uuid) -> BoxStream<'_, Result<CatalogPart>> {
        ops::exports::export_catalog(self.engine(), id)
    }

    fn watch(&self, catalog: Uuid, since: i64) -> BoxStream<'_, Result<ChangeEvent>> {
        use cheap_core::dao::watch;
        match self
            .shared
            .watchers
            .subscribe(&self.backend, &self.shared.statements, catalog)
        {
            Some(signals) => watch::follow(self, catalog, since, signals),
            // Outside a runtime there is no task to share: this watcher polls on its own.
            None => watch::follow(
                self,
                catalog,
                since,
                watch::every(watch::DEFAULT_POLL_INTERVAL),
            ),
        }
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        ops::catalogs::delete_catalog(&self.engine(), id).await
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        ops::catalogs::catalog_exists(&self.engine(), id).await
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        ops::catalogs::catalog_info(&self.engine(), id).await
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        ops::catalogs::list_catalog_ids(&self.engine()).await
    }

    async fn catalog_count(&self) -> Result<u64> {
        ops::catalogs::catalog_count(&self.engine()).await
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        ops::catalogs::list_catalogs_page(&self.engine(), offset, limit).await
    }

    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        ops::catalogs::load_catalogs_page(&self.engine(), offset, limit).await
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        limits::check_aspect_def(def)?;
        ops::aspect_defs::put_aspect_def(&self.engine(), catalog, def).await
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        args::lookup("aspect def name", name)?;
        ops::aspect_defs::get_aspect_def(&self.engine(), catalog, name).await
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        ops::aspect_defs::list_aspect_defs(&self.engine(), catalog).await
    }

    async fn catalog_def(&self, catalog: Uuid) -> Result<CatalogDef> {
        ops::aspect_defs::catalog_def(&self.engine(), catalog).await
    }

    async fn versioned_catalog_def(&self, catalog: Uuid) -> Result<(CatalogDef, i64)> {
        ops::aspect_defs::versioned_catalog_def(&self.engine(), catalog).await
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        args::lookup("aspect def name", name)?;
        ops::aspect_defs::delete_aspect_def(&self.engine(), catalog, name).await
    }

    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()> {
        limits::check_name("hierarchy name", &def.name)?;
        ops::hierarchies::create_hierarchy(&self.engine(), catalog, def).await
    }

    async fn replace_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<bool> {
        limits::check_name("hierarchy name", &def.name)?;
        ops::hierarchies::replace_hierarchy(&self.engine(), catalog, def).await
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        args::lookup("hierarchy name", name)?;
        ops::hierarchies::delete_hierarchy(&self.engine(), catalog, name).await
    }

    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
        ops::hierarchies::list_hierarchies(&self.engine(), catalog).await
    }

    async fn list_hierarchy_defs(&self, catalog: Uuid) -> Result<Vec<HierarchyDef>> {
        ops::hierarchies::list_hierarchy_defs(&self.engine(), catalog).await
    }

    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy> {
        args::lookup("hierarchy name", name)?;
        ops::hierarchies::get_hierarchy(&self.engine(), catalog, name).await
    }

    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice> {
        args::lookup("hierarchy name", name)?;
        ops::hierarchies::read_hierarchy_page(&self.engine(), catalog, name, offset, limit).await
    }

    async fn read_hierarchy_page_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&PageCursor>,
        limit: u64,
    ) -> Result<CursorPage> {
        args::lookup("hierarchy name", name)?;
        ops::pages::read_hierarchy_page_after(&self.engine(), catalog, name, after, limit).await
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        ops::entries::add_entities(&self.engine(), catalog, hierarchy, ids).await
    }

    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        ops::entries::insert_entities(&self.engine(), catalog, hierarchy, index, ids).await
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        ops::entries::remove_entities(&self.engine(), catalog, hierarchy, ids).await
    }

    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        args::directory_entries(entries)?;
        ops::entries::put_directory_entries(&self.engine(), catalog, hierarchy, entries).await
    }

    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        args::lookups("directory key", keys)?;
        ops::entries::remove_directory_keys(&self.engine(), catalog, hierarchy, keys).await
    }

    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        ops::entries::remove_directory_entities(&self.engine(), catalog, hierarchy, ids).await
    }

    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        args::tree_nodes(parent_path, nodes)?;
        ops::entries::add_tree_nodes(&self.engine(), catalog, hierarchy, parent_path, nodes).await
    }

    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64> {
        args::lookup("hierarchy name", hierarchy)?;
        args::lookups("tree path", paths)?;
        ops::entries::remove_tree_nodes(&self.engine(), catalog, hierarchy, paths).await
    }

    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>> {
        args::lookup("aspect def name", aspect_def)?;
        args::aspects(aspects)?;
        ops::aspects::check_upsert_request(&self.engine(), catalog, aspect_def, aspects).await?;
        if aspects.is_empty() {
            return Ok(Vec::new());
        }
        let items = aspects.iter().cloned().map(Item::Replace).collect();
        self.grouped(catalog, aspect_def, items)
            .await?
            .into_iter()
            .collect()
    }

    async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        patches: &[AspectPatch],
    ) -> Result<Vec<Result<UpsertOutcome>>> {
        args::lookup("aspect def name", aspect_def)?;
        args::patches(aspect_def, patches)?;
        ops::aspects::check_merge_request(&self.engine(), catalog, aspect_def).await?;
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let items = patches.iter().cloned().map(Item::Patch).collect();
        self.grouped(catalog, aspect_def, items).await
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        args::lookup("aspect def name", aspect_def)?;
        ops::aspects::delete_aspects(&self.engine(), catalog, aspect_def, entities).await
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        args::lookups("aspect def name", aspect_defs)?;
        ops::aspects::query_aspects(&self.engine(), catalog, entities, aspect_defs).await
    }

    async fn versioned_query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<(Vec<AspectMap>, i64)> {
        args::lookups("aspect def name", aspect_defs)?;
        ops::aspects::versioned_query_aspects(&self.engine(), catalog, entities, aspect_defs).await
    }

    async fn apply_batch(&self, catalog: Uuid, batch: &Batch) -> Result<BatchOutcome> {
        ops::batches::apply_batch(&self.engine(), catalog, batch).await
    }

    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes> {
        ops::changes::changes_since(&self.engine(), catalog, version).await
    }

    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        args::lookup("aspect def name", aspect_def)?;
        ops::changes::aspect_changes_since(&self.engine(), catalog, aspect_def, version).await
    }

    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMark>> {
        ops::changes::sync_mark(&self.engine(), catalog).await
    }

    async fn set_sync_mark(&self, catalog: Uuid, mark: SyncMark) -> Result<()> {
        ops::changes::set_sync_mark(&self.engine(), catalog, mark).await
    }

    async fn health_check(&self) -> Result<()> {
        ops::catalogs::health_check(&self.engine()).await
    }

    async fn put_task(&self, task: &cheap_core::dao::TaskRecord) -> Result<()> {
        ops::changes::put_task(&self.engine(), task).await
    }

    async fn get_task(&self, id: Uuid) -> Result<Option<cheap_core::dao::TaskRecord>> {
        ops::changes::get_task(&self.engine(), id).await
    }

    async fn health(&self) -> Result<cheap_core::dao::Health> {
        ops::catalogs::health(&self.engine()).await
    }

    async fn close(&self) -> Result<()> {
        // Watches end with the store.
        self.shared.watchers.close();
        self.backend.close_pool().await
    }

    fn statements_run(&self) -> Option<u64> {
        Some(self.statements())
    }
}
