//! Every wrapper of a [`CheapDao`] forwards every method, the defaulted ones included, so a
//! wrapped backend keeps its own (faster) paths: a recording DAO under each wrapper sees each
//! method called on the wrapper.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use cheap_core::dao::forward::METHODS;
use cheap_core::dao::{
    AspectChanges, AspectPatch, CatalogInfo, CatalogPart, Changes, HierarchyInfo, HierarchySlice,
    InstrumentedDao, SyncMark, UpsertOutcome,
};
use cheap_core::sync::SpeciesDao;
use cheap_core::{
    Aspect, AspectDef, AspectMap, Catalog, CatalogDef, CheapDao, Hierarchy, HierarchyDef,
    HierarchyType, MemoryDao, PropertyDef, PropertyType, Result, Uuid,
};

/// A MemoryDao that notes the name of every method called on it.
#[derive(Default)]
struct Recorder {
    inner: MemoryDao,
    seen: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn note(&self, method: &'static str) {
        self.seen.lock().unwrap().push(method);
    }
}

#[async_trait]
impl CheapDao for Recorder {
    fn backend_name(&self) -> &'static str {
        self.note("backend_name");
        self.inner.backend_name()
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        self.note("save_catalog");
        self.inner.save_catalog(catalog).await
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        self.note("load_catalog");
        self.inner.load_catalog(id).await
    }

    async fn import_catalog(&self, parts: BoxStream<'_, Result<CatalogPart>>) -> Result<i64> {
        self.note("import_catalog");
        self.inner.import_catalog(parts).await
    }

    fn export_catalog(&self, id: Uuid) -> BoxStream<'_, Result<CatalogPart>> {
        self.note("export_catalog");
        self.inner.export_catalog(id)
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        self.note("delete_catalog");
        self.inner.delete_catalog(id).await
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        self.note("catalog_exists");
        self.inner.catalog_exists(id).await
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        self.note("catalog_info");
        self.inner.catalog_info(id).await
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        self.note("list_catalog_ids");
        self.inner.list_catalog_ids().await
    }

    async fn catalog_count(&self) -> Result<u64> {
        self.note("catalog_count");
        self.inner.catalog_count().await
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        self.note("list_catalogs_page");
        self.inner.list_catalogs_page(offset, limit).await
    }

    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        self.note("load_catalogs_page");
        self.inner.load_catalogs_page(offset, limit).await
    }

    fn catalogs(&self, page_size: u64) -> BoxStream<'_, Result<Catalog>> {
        self.note("catalogs");
        self.inner.catalogs(page_size)
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        self.note("put_aspect_def");
        self.inner.put_aspect_def(catalog, def).await
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        self.note("get_aspect_def");
        self.inner.get_aspect_def(catalog, name).await
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        self.note("list_aspect_defs");
        self.inner.list_aspect_defs(catalog).await
    }

    async fn catalog_def(&self, catalog: Uuid) -> Result<CatalogDef> {
        self.note("catalog_def");
        self.inner.catalog_def(catalog).await
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.note("delete_aspect_def");
        self.inner.delete_aspect_def(catalog, name).await
    }

    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()> {
        self.note("create_hierarchy");
        self.inner.create_hierarchy(catalog, def).await
    }

    async fn replace_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<bool> {
        self.note("replace_hierarchy");
        self.inner.replace_hierarchy(catalog, def).await
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.note("delete_hierarchy");
        self.inner.delete_hierarchy(catalog, name).await
    }

    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
        self.note("list_hierarchies");
        self.inner.list_hierarchies(catalog).await
    }

    async fn list_hierarchy_defs(&self, catalog: Uuid) -> Result<Vec<HierarchyDef>> {
        self.note("list_hierarchy_defs");
        self.inner.list_hierarchy_defs(catalog).await
    }

    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy> {
        self.note("get_hierarchy");
        self.inner.get_hierarchy(catalog, name).await
    }

    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice> {
        self.note("read_hierarchy_page");
        self.inner
            .read_hierarchy_page(catalog, name, offset, limit)
            .await
    }

    async fn read_hierarchy_page_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&cheap_core::dao::PageCursor>,
        limit: u64,
    ) -> Result<cheap_core::dao::CursorPage> {
        self.note("read_hierarchy_page_after");
        self.inner
            .read_hierarchy_page_after(catalog, name, after, limit)
            .await
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        self.note("add_entities");
        self.inner.add_entities(catalog, hierarchy, ids).await
    }

    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64> {
        self.note("insert_entities");
        self.inner
            .insert_entities(catalog, hierarchy, index, ids)
            .await
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        self.note("remove_entities");
        self.inner.remove_entities(catalog, hierarchy, ids).await
    }

    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64> {
        self.note("put_directory_entries");
        self.inner
            .put_directory_entries(catalog, hierarchy, entries)
            .await
    }

    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64> {
        self.note("remove_directory_keys");
        self.inner
            .remove_directory_keys(catalog, hierarchy, keys)
            .await
    }

    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64> {
        self.note("remove_directory_entities");
        self.inner
            .remove_directory_entities(catalog, hierarchy, ids)
            .await
    }

    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64> {
        self.note("add_tree_nodes");
        self.inner
            .add_tree_nodes(catalog, hierarchy, parent_path, nodes)
            .await
    }

    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64> {
        self.note("remove_tree_nodes");
        self.inner
            .remove_tree_nodes(catalog, hierarchy, paths)
            .await
    }

    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>> {
        self.note("upsert_aspects");
        self.inner
            .upsert_aspects(catalog, aspect_def, aspects)
            .await
    }

    async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        patches: &[AspectPatch],
    ) -> Result<Vec<Result<UpsertOutcome>>> {
        self.note("merge_aspects");
        self.inner.merge_aspects(catalog, aspect_def, patches).await
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        self.note("delete_aspects");
        self.inner
            .delete_aspects(catalog, aspect_def, entities)
            .await
    }

    async fn versioned_query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<(Vec<AspectMap>, i64)> {
        self.note("versioned_query_aspects");
        self.inner
            .versioned_query_aspects(catalog, entities, aspect_defs)
            .await
    }

    async fn apply_batch(
        &self,
        catalog: Uuid,
        batch: &cheap_core::dao::Batch,
    ) -> Result<cheap_core::dao::BatchOutcome> {
        self.note("apply_batch");
        self.inner.apply_batch(catalog, batch).await
    }

    async fn versioned_catalog_def(&self, catalog: Uuid) -> Result<(CatalogDef, i64)> {
        self.note("versioned_catalog_def");
        self.inner.versioned_catalog_def(catalog).await
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        self.note("query_aspects");
        self.inner
            .query_aspects(catalog, entities, aspect_defs)
            .await
    }

    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes> {
        self.note("changes_since");
        self.inner.changes_since(catalog, version).await
    }

    fn watch(
        &self,
        catalog: Uuid,
        since: i64,
    ) -> BoxStream<'_, Result<cheap_core::dao::ChangeEvent>> {
        self.note("watch");
        self.inner.watch(catalog, since)
    }

    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        self.note("aspect_changes_since");
        self.inner
            .aspect_changes_since(catalog, aspect_def, version)
            .await
    }

    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMark>> {
        self.note("sync_mark");
        self.inner.sync_mark(catalog).await
    }

    async fn set_sync_mark(&self, catalog: Uuid, mark: SyncMark) -> Result<()> {
        self.note("set_sync_mark");
        self.inner.set_sync_mark(catalog, mark).await
    }

    async fn put_task(&self, task: &cheap_core::dao::TaskRecord) -> Result<()> {
        self.note("put_task");
        self.inner.put_task(task).await
    }

    async fn get_task(&self, id: Uuid) -> Result<Option<cheap_core::dao::TaskRecord>> {
        self.note("get_task");
        self.inner.get_task(id).await
    }

    async fn health(&self) -> Result<cheap_core::dao::Health> {
        self.note("health");
        self.inner.health().await
    }

    async fn health_check(&self) -> Result<()> {
        self.note("health_check");
        self.inner.health_check().await
    }

    async fn close(&self) -> Result<()> {
        self.note("close");
        self.inner.close().await
    }

    fn statements_run(&self) -> Option<u64> {
        self.note("statements_run");
        self.inner.statements_run()
    }
}

/// Calls every method of `dao` once (failures are fine: only the call matters).
async fn call_everything(dao: &dyn CheapDao) {
    let catalog = Catalog::new();
    let id = catalog.id();
    let def = AspectDef::builder("x")
        .property(PropertyDef::new("p", PropertyType::String))
        .build()
        .unwrap();
    let hdef = HierarchyDef::new("h", HierarchyType::EntityList);
    let _ = dao.backend_name();
    let _ = dao.save_catalog(&catalog).await;
    let _ = dao.load_catalog(id).await;
    let parts = cheap_core::dao::parts::parts_of(&catalog, 10);
    let _ = dao
        .import_catalog(futures::stream::iter(parts.into_iter().map(Ok)).boxed())
        .await;
    let _ = dao.export_catalog(id).collect::<Vec<_>>().await;
    // The first event of a watch: the catalog's history since version 0.
    let _ = dao.watch(id, 0).next().await;
    let _ = dao.delete_catalog(id).await;
    let _ = dao.catalog_exists(id).await;
    let _ = dao.catalog_info(id).await;
    let _ = dao.list_catalog_ids().await;
    let _ = dao.catalog_count().await;
    let _ = dao.list_catalogs_page(1, 1).await;
    let _ = dao.load_catalogs_page(1, 1).await;
    let _ = dao.catalogs(1).collect::<Vec<_>>().await;
    let _ = dao.put_aspect_def(id, &def).await;
    let _ = dao.get_aspect_def(id, "x").await;
    let _ = dao.list_aspect_defs(id).await;
    let _ = dao.catalog_def(id).await;
    let _ = dao.versioned_catalog_def(id).await;
    let _ = dao.delete_aspect_def(id, "x").await;
    let _ = dao.create_hierarchy(id, &hdef).await;
    let _ = dao.replace_hierarchy(id, &hdef).await;
    let _ = dao.delete_hierarchy(id, "x").await;
    let _ = dao.list_hierarchies(id).await;
    let _ = dao.list_hierarchy_defs(id).await;
    let _ = dao.get_hierarchy(id, "x").await;
    let _ = dao.read_hierarchy_page(id, "x", 1, 1).await;
    let _ = dao.read_hierarchy_page_after(id, "x", None, 1).await;
    let _ = dao.add_entities(id, "x", &[id]).await;
    let _ = dao.insert_entities(id, "x", 1, &[id]).await;
    let _ = dao.remove_entities(id, "x", &[id]).await;
    let _ = dao
        .put_directory_entries(id, "x", &[("k".to_owned(), id)])
        .await;
    let _ = dao.remove_directory_keys(id, "x", &["x".to_owned()]).await;
    let _ = dao.remove_directory_entities(id, "x", &[id]).await;
    let _ = dao
        .add_tree_nodes(id, "x", "x", &[("k".to_owned(), None)])
        .await;
    let _ = dao.remove_tree_nodes(id, "x", &["x".to_owned()]).await;
    let _ = dao.upsert_aspects(id, "x", &[]).await;
    let _ = dao.merge_aspects(id, "x", &[]).await;
    let _ = dao.delete_aspects(id, "x", &[id]).await;
    let _ = dao.query_aspects(id, &[id], &["x".to_owned()]).await;
    let _ = dao
        .versioned_query_aspects(id, &[id], &["x".to_owned()])
        .await;
    let _ = dao.apply_batch(id, &cheap_core::dao::Batch::new()).await;
    let _ = dao.changes_since(id, 0).await;
    let _ = dao.aspect_changes_since(id, "x", 0).await;
    let _ = dao.sync_mark(id).await;
    let _ = dao
        .set_sync_mark(
            id,
            SyncMark {
                upstream_version: 0,
                local_version: 0,
                synced_at_ms: 0,
            },
        )
        .await;
    let _ = dao.health_check().await;
    let _ = dao.health().await;
    let _ = dao.get_task(id).await;
    let _ = dao
        .put_task(&cheap_core::dao::TaskRecord {
            status: cheap_core::rest::TaskStatus {
                task_id: id,
                status: "running".into(),
                catalog_id: None,
                version: None,
                message: String::new(),
                done: None,
                total: None,
            },
            heartbeat_ms: 0,
        })
        .await;
    let _ = dao.close().await;
    let _ = dao.statements_run();
}

/// The methods a wrapper failed to pass on.
async fn not_forwarded(wrapper: &dyn CheapDao, recorder: &Recorder) -> Vec<&'static str> {
    call_everything(wrapper).await;
    let seen = recorder.seen.lock().unwrap().clone();
    METHODS
        .iter()
        .copied()
        .filter(|m| !seen.contains(m))
        .collect()
}

#[test]
fn the_method_list_is_the_trait() {
    let source = include_str!("../src/dao/mod.rs");
    let start = source.find("pub trait CheapDao").unwrap();
    let end = start + source[start..].find("\n}\n").unwrap();
    let mut declared = Vec::new();
    for line in source[start..end].lines() {
        let line = line.trim_start();
        let rest = line
            .strip_prefix("async fn ")
            .or_else(|| line.strip_prefix("fn "));
        if let Some(rest) = rest {
            declared.push(rest.split('(').next().unwrap().to_owned());
        }
    }
    assert_eq!(
        declared, METHODS,
        "dao::forward::METHODS must list every CheapDao method"
    );
}

#[tokio::test]
async fn arc_and_box_forward_every_method() {
    let recorder = Arc::new(Recorder::default());
    let arc: Arc<Recorder> = recorder.clone();
    assert_eq!(not_forwarded(&arc, &recorder).await, Vec::<&str>::new());
    recorder.seen.lock().unwrap().clear();
    let boxed: Box<Arc<Recorder>> = Box::new(recorder.clone());
    assert_eq!(not_forwarded(&boxed, &recorder).await, Vec::<&str>::new());
}

#[tokio::test]
async fn instrumented_dao_forwards_every_method() {
    let recorder = Arc::new(Recorder::default());
    let dao = InstrumentedDao::new(recorder.clone(), Duration::from_secs(1));
    assert_eq!(not_forwarded(&dao, &recorder).await, Vec::<&str>::new());
}

#[tokio::test]
async fn species_dao_forwards_every_method() {
    let recorder = Arc::new(Recorder::default());
    let dao = SpeciesDao::new(recorder.clone());
    let missing = not_forwarded(&dao, &recorder).await;
    assert_eq!(missing, Vec::<&str>::new());
}
