//! Forwarding [`CheapDao`] impls: a type that holds a DAO (a backend's handle
//! around the shared SQL engine, `Arc<T>`, `Box<T>`) passes every method on, the defaulted ones
//! included, so a wrapped backend keeps its own faster paths.

use std::sync::Arc;

use crate::dao::CheapDao;

/// Implements [`CheapDao`] for a type by forwarding every method, the
/// defaulted ones included, to the DAO an expression gives.
///
/// `forward_cheap_dao!([generics] Type, this => expression)`: inside the expression, `this` is
/// `&self`; the expression is a reference to the inner DAO.
///
/// ```
/// use cheap_core::{forward_cheap_dao, MemoryDao};
///
/// /// A store that is a MemoryDao with a name.
/// struct Named {
///     name: String,
///     inner: MemoryDao,
/// }
/// forward_cheap_dao!([] Named, this => &this.inner);
/// ```
#[macro_export]
macro_rules! forward_cheap_dao {
    ([$($generics:tt)*] $ty:ty, $this:ident => $inner:expr) => {
        #[$crate::__private::async_trait]
        impl<$($generics)*> $crate::CheapDao for $ty {
            fn backend_name(&self) -> &'static str {
                let $this = self;
                $crate::CheapDao::backend_name($inner)
            }

            async fn save_catalog(&self, catalog: &$crate::Catalog) -> $crate::Result<i64> {
                let $this = self;
                $crate::CheapDao::save_catalog($inner, catalog).await
            }

            async fn load_catalog(&self, id: $crate::Uuid) -> $crate::Result<$crate::Catalog> {
                let $this = self;
                $crate::CheapDao::load_catalog($inner, id).await
            }

            async fn import_catalog(&self, parts: $crate::__private::BoxStream<'_, $crate::Result<$crate::dao::CatalogPart>>) -> $crate::Result<i64> {
                let $this = self;
                $crate::CheapDao::import_catalog($inner, parts).await
            }

            fn export_catalog(&self, id: $crate::Uuid) -> $crate::__private::BoxStream<'_, $crate::Result<$crate::dao::CatalogPart>> {
                let $this = self;
                $crate::CheapDao::export_catalog($inner, id)
            }

            fn watch(&self, catalog: $crate::Uuid, since: i64) -> $crate::__private::BoxStream<'_, $crate::Result<$crate::dao::ChangeEvent>> {
                let $this = self;
                $crate::CheapDao::watch($inner, catalog, since)
            }

            async fn delete_catalog(&self, id: $crate::Uuid) -> $crate::Result<bool> {
                let $this = self;
                $crate::CheapDao::delete_catalog($inner, id).await
            }

            async fn catalog_exists(&self, id: $crate::Uuid) -> $crate::Result<bool> {
                let $this = self;
                $crate::CheapDao::catalog_exists($inner, id).await
            }

            async fn catalog_info(&self, id: $crate::Uuid) -> $crate::Result<$crate::dao::CatalogInfo> {
                let $this = self;
                $crate::CheapDao::catalog_info($inner, id).await
            }

            async fn list_catalog_ids(&self) -> $crate::Result<Vec<$crate::Uuid>> {
                let $this = self;
                $crate::CheapDao::list_catalog_ids($inner).await
            }

            async fn catalog_count(&self) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::catalog_count($inner).await
            }

            async fn list_catalogs_page(&self, offset: u64, limit: u64) -> $crate::Result<Vec<$crate::dao::CatalogInfo>> {
                let $this = self;
                $crate::CheapDao::list_catalogs_page($inner, offset, limit).await
            }

            async fn load_catalogs_page(&self, offset: u64, limit: u64) -> $crate::Result<Vec<$crate::Catalog>> {
                let $this = self;
                $crate::CheapDao::load_catalogs_page($inner, offset, limit).await
            }

            fn catalogs(&self, page_size: u64) -> $crate::__private::BoxStream<'_, $crate::Result<$crate::Catalog>> {
                let $this = self;
                $crate::CheapDao::catalogs($inner, page_size)
            }

            async fn put_aspect_def(&self, catalog: $crate::Uuid, def: &$crate::AspectDef) -> $crate::Result<bool> {
                let $this = self;
                $crate::CheapDao::put_aspect_def($inner, catalog, def).await
            }

            async fn get_aspect_def(&self, catalog: $crate::Uuid, name: &str) -> $crate::Result<$crate::AspectDef> {
                let $this = self;
                $crate::CheapDao::get_aspect_def($inner, catalog, name).await
            }

            async fn list_aspect_defs(&self, catalog: $crate::Uuid) -> $crate::Result<Vec<$crate::AspectDef>> {
                let $this = self;
                $crate::CheapDao::list_aspect_defs($inner, catalog).await
            }

            async fn catalog_def(&self, catalog: $crate::Uuid) -> $crate::Result<$crate::CatalogDef> {
                let $this = self;
                $crate::CheapDao::catalog_def($inner, catalog).await
            }

            async fn delete_aspect_def(&self, catalog: $crate::Uuid, name: &str) -> $crate::Result<bool> {
                let $this = self;
                $crate::CheapDao::delete_aspect_def($inner, catalog, name).await
            }

            async fn create_hierarchy(&self, catalog: $crate::Uuid, def: &$crate::HierarchyDef) -> $crate::Result<()> {
                let $this = self;
                $crate::CheapDao::create_hierarchy($inner, catalog, def).await
            }

            async fn replace_hierarchy(&self, catalog: $crate::Uuid, def: &$crate::HierarchyDef) -> $crate::Result<bool> {
                let $this = self;
                $crate::CheapDao::replace_hierarchy($inner, catalog, def).await
            }

            async fn delete_hierarchy(&self, catalog: $crate::Uuid, name: &str) -> $crate::Result<bool> {
                let $this = self;
                $crate::CheapDao::delete_hierarchy($inner, catalog, name).await
            }

            async fn list_hierarchies(&self, catalog: $crate::Uuid) -> $crate::Result<Vec<$crate::dao::HierarchyInfo>> {
                let $this = self;
                $crate::CheapDao::list_hierarchies($inner, catalog).await
            }

            async fn list_hierarchy_defs(&self, catalog: $crate::Uuid) -> $crate::Result<Vec<$crate::HierarchyDef>> {
                let $this = self;
                $crate::CheapDao::list_hierarchy_defs($inner, catalog).await
            }

            async fn get_hierarchy(&self, catalog: $crate::Uuid, name: &str) -> $crate::Result<$crate::Hierarchy> {
                let $this = self;
                $crate::CheapDao::get_hierarchy($inner, catalog, name).await
            }

            async fn read_hierarchy_page(&self, catalog: $crate::Uuid, name: &str, offset: u64, limit: u64) -> $crate::Result<$crate::dao::HierarchySlice> {
                let $this = self;
                $crate::CheapDao::read_hierarchy_page($inner, catalog, name, offset, limit).await
            }

            async fn read_hierarchy_page_after(&self, catalog: $crate::Uuid, name: &str, after: Option<&$crate::dao::PageCursor>, limit: u64) -> $crate::Result<$crate::dao::CursorPage> {
                let $this = self;
                $crate::CheapDao::read_hierarchy_page_after($inner, catalog, name, after, limit).await
            }

            async fn add_entities(&self, catalog: $crate::Uuid, hierarchy: &str, ids: &[$crate::Uuid]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::add_entities($inner, catalog, hierarchy, ids).await
            }

            async fn insert_entities(&self, catalog: $crate::Uuid, hierarchy: &str, index: u64, ids: &[$crate::Uuid]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::insert_entities($inner, catalog, hierarchy, index, ids).await
            }

            async fn remove_entities(&self, catalog: $crate::Uuid, hierarchy: &str, ids: &[$crate::Uuid]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::remove_entities($inner, catalog, hierarchy, ids).await
            }

            async fn put_directory_entries(&self, catalog: $crate::Uuid, hierarchy: &str, entries: &[(String, $crate::Uuid)]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::put_directory_entries($inner, catalog, hierarchy, entries).await
            }

            async fn remove_directory_keys(&self, catalog: $crate::Uuid, hierarchy: &str, keys: &[String]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::remove_directory_keys($inner, catalog, hierarchy, keys).await
            }

            async fn remove_directory_entities(&self, catalog: $crate::Uuid, hierarchy: &str, ids: &[$crate::Uuid]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::remove_directory_entities($inner, catalog, hierarchy, ids).await
            }

            async fn add_tree_nodes(&self, catalog: $crate::Uuid, hierarchy: &str, parent_path: &str, nodes: &[(String, Option<$crate::Uuid>)]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::add_tree_nodes($inner, catalog, hierarchy, parent_path, nodes).await
            }

            async fn remove_tree_nodes(&self, catalog: $crate::Uuid, hierarchy: &str, paths: &[String]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::remove_tree_nodes($inner, catalog, hierarchy, paths).await
            }

            async fn upsert_aspects(&self, catalog: $crate::Uuid, aspect_def: &str, aspects: &[$crate::Aspect]) -> $crate::Result<Vec<$crate::dao::UpsertOutcome>> {
                let $this = self;
                $crate::CheapDao::upsert_aspects($inner, catalog, aspect_def, aspects).await
            }

            async fn merge_aspects(
                &self,
                catalog: $crate::Uuid,
                aspect_def: &str,
                patches: &[$crate::dao::AspectPatch],
            ) -> $crate::Result<Vec<$crate::Result<$crate::dao::UpsertOutcome>>> {
                let $this = self;
                $crate::CheapDao::merge_aspects($inner, catalog, aspect_def, patches).await
            }

            async fn delete_aspects(&self, catalog: $crate::Uuid, aspect_def: &str, entities: &[$crate::Uuid]) -> $crate::Result<u64> {
                let $this = self;
                $crate::CheapDao::delete_aspects($inner, catalog, aspect_def, entities).await
            }

            async fn query_aspects(&self, catalog: $crate::Uuid, entities: &[$crate::Uuid], aspect_defs: &[String]) -> $crate::Result<Vec<$crate::AspectMap>> {
                let $this = self;
                $crate::CheapDao::query_aspects($inner, catalog, entities, aspect_defs).await
            }

            async fn versioned_query_aspects(&self, catalog: $crate::Uuid, entities: &[$crate::Uuid], aspect_defs: &[String]) -> $crate::Result<(Vec<$crate::AspectMap>, i64)> {
                let $this = self;
                $crate::CheapDao::versioned_query_aspects($inner, catalog, entities, aspect_defs).await
            }

            async fn apply_batch(&self, catalog: $crate::Uuid, batch: &$crate::dao::Batch) -> $crate::Result<$crate::dao::BatchOutcome> {
                let $this = self;
                $crate::CheapDao::apply_batch($inner, catalog, batch).await
            }

            async fn versioned_catalog_def(&self, catalog: $crate::Uuid) -> $crate::Result<($crate::CatalogDef, i64)> {
                let $this = self;
                $crate::CheapDao::versioned_catalog_def($inner, catalog).await
            }

            async fn changes_since(&self, catalog: $crate::Uuid, version: i64) -> $crate::Result<$crate::dao::Changes> {
                let $this = self;
                $crate::CheapDao::changes_since($inner, catalog, version).await
            }

            async fn aspect_changes_since(&self, catalog: $crate::Uuid, aspect_def: &str, version: i64) -> $crate::Result<$crate::dao::AspectChanges> {
                let $this = self;
                $crate::CheapDao::aspect_changes_since($inner, catalog, aspect_def, version).await
            }

            async fn sync_mark(&self, catalog: $crate::Uuid) -> $crate::Result<Option<$crate::dao::SyncMark>> {
                let $this = self;
                $crate::CheapDao::sync_mark($inner, catalog).await
            }

            async fn set_sync_mark(&self, catalog: $crate::Uuid, mark: $crate::dao::SyncMark) -> $crate::Result<()> {
                let $this = self;
                $crate::CheapDao::set_sync_mark($inner, catalog, mark).await
            }

            async fn put_task(&self, task: &$crate::dao::TaskRecord) -> $crate::Result<()> {
                let $this = self;
                $crate::CheapDao::put_task($inner, task).await
            }

            async fn get_task(&self, id: $crate::Uuid) -> $crate::Result<Option<$crate::dao::TaskRecord>> {
                let $this = self;
                $crate::CheapDao::get_task($inner, id).await
            }

            async fn health(&self) -> $crate::Result<$crate::dao::Health> {
                let $this = self;
                $crate::CheapDao::health($inner).await
            }

            async fn health_check(&self) -> $crate::Result<()> {
                let $this = self;
                $crate::CheapDao::health_check($inner).await
            }

            async fn close(&self) -> $crate::Result<()> {
                let $this = self;
                $crate::CheapDao::close($inner).await
            }

            fn statements_run(&self) -> Option<u64> {
                let $this = self;
                $crate::CheapDao::statements_run($inner)
            }
        }
    };
}

forward_cheap_dao!([T: CheapDao + ?Sized] Arc<T>, this => &**this);
forward_cheap_dao!([T: CheapDao + ?Sized] Box<T>, this => &**this);

/// The list of [`CheapDao`] methods, for tests that check a wrapper forwards
/// every one of them.
pub const METHODS: &[&str] = &[
    "backend_name",
    "save_catalog",
    "load_catalog",
    "import_catalog",
    "export_catalog",
    "delete_catalog",
    "catalog_exists",
    "catalog_info",
    "list_catalog_ids",
    "catalog_count",
    "list_catalogs_page",
    "load_catalogs_page",
    "catalogs",
    "put_aspect_def",
    "get_aspect_def",
    "list_aspect_defs",
    "catalog_def",
    "versioned_catalog_def",
    "delete_aspect_def",
    "create_hierarchy",
    "replace_hierarchy",
    "delete_hierarchy",
    "list_hierarchies",
    "list_hierarchy_defs",
    "get_hierarchy",
    "read_hierarchy_page",
    "read_hierarchy_page_after",
    "add_entities",
    "insert_entities",
    "remove_entities",
    "put_directory_entries",
    "remove_directory_keys",
    "remove_directory_entities",
    "add_tree_nodes",
    "remove_tree_nodes",
    "upsert_aspects",
    "merge_aspects",
    "delete_aspects",
    "query_aspects",
    "versioned_query_aspects",
    "apply_batch",
    "changes_since",
    "watch",
    "aspect_changes_since",
    "sync_mark",
    "set_sync_mark",
    "put_task",
    "get_task",
    "health_check",
    "health",
    "close",
    "statements_run",
];
