//! A [`CheapDao`] wrapper that counts operations, errors and latency per operation, logs slow
//! operations, and renders the figures in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::BoxStream;
use uuid::Uuid;

use super::{
    AspectChanges, AspectPatch, Batch, BatchOutcome, CatalogInfo, CatalogPart, Changes, CheapDao,
    CursorPage, HierarchyInfo, HierarchySlice, PageCursor, SyncMark, UpsertOutcome,
};
use crate::error::Result;
use crate::model::{Aspect, AspectDef, AspectMap, Catalog, CatalogDef, Hierarchy, HierarchyDef};

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default, Clone)]
struct OpStats {
    calls: u64,
    errors: u64,
    seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Figures collected by an [`InstrumentedDao`]; cheap to clone and share.
#[derive(Debug, Default, Clone)]
pub struct DaoMetrics {
    ops: Arc<Mutex<BTreeMap<&'static str, OpStats>>>,
}

impl DaoMetrics {
    fn record(&self, op: &'static str, elapsed: Duration, ok: bool) {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        let s = ops.entry(op).or_default();
        s.calls += 1;
        if !ok {
            s.errors += 1;
        }
        let secs = elapsed.as_secs_f64();
        s.seconds += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Calls and errors of one operation so far.
    pub fn counts(&self, op: &str) -> (u64, u64) {
        let ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        ops.get(op).map_or((0, 0), |s| (s.calls, s.errors))
    }

    /// The figures in the Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let ops = self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        out.push_str("# HELP cheap_dao_operations_total DAO operations by name.\n# TYPE cheap_dao_operations_total counter\n");
        for (op, s) in &ops {
            let _ = writeln!(out, "cheap_dao_operations_total{{op=\"{op}\"}} {}", s.calls);
        }
        out.push_str("# HELP cheap_dao_errors_total DAO operations the store failed to carry out (refused requests are not counted), by name.\n# TYPE cheap_dao_errors_total counter\n");
        for (op, s) in &ops {
            let _ = writeln!(out, "cheap_dao_errors_total{{op=\"{op}\"}} {}", s.errors);
        }
        out.push_str("# HELP cheap_dao_duration_seconds DAO operation latency.\n# TYPE cheap_dao_duration_seconds histogram\n");
        for (op, s) in &ops {
            for (b, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "cheap_dao_duration_seconds_bucket{{op=\"{op}\",le=\"{b}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "cheap_dao_duration_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {}",
                s.calls
            );
            let _ = writeln!(
                out,
                "cheap_dao_duration_seconds_sum{{op=\"{op}\"}} {}",
                s.seconds
            );
            let _ = writeln!(
                out,
                "cheap_dao_duration_seconds_count{{op=\"{op}\"}} {}",
                s.calls
            );
        }
        out
    }
}

/// Wraps a DAO: every call is timed and counted in [`DaoMetrics`], and calls slower than the
/// threshold are logged at WARN through `tracing`.
#[derive(Clone)]
pub struct InstrumentedDao {
    inner: Arc<dyn CheapDao>,
    metrics: DaoMetrics,
    slow: Duration,
}

impl std::fmt::Debug for InstrumentedDao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedDao")
            .field("backend", &self.inner.backend_name())
            .field("slow", &self.slow)
            .finish()
    }
}

impl InstrumentedDao {
    /// Wraps `inner`; operations slower than `slow` are logged.
    pub fn new(inner: Arc<dyn CheapDao>, slow: Duration) -> Self {
        InstrumentedDao {
            inner,
            metrics: DaoMetrics::default(),
            slow,
        }
    }

    /// The collected figures.
    pub fn metrics(&self) -> &DaoMetrics {
        &self.metrics
    }

    /// The wrapped DAO.
    pub fn inner(&self) -> &Arc<dyn CheapDao> {
        &self.inner
    }

    async fn run<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let r = fut.await;
        let elapsed = start.elapsed();
        // A refused request (a client's 404 or 400) is the store working, not failing.
        let failed = r.as_ref().err().is_some_and(|e| !e.is_refusal());
        self.metrics.record(op, elapsed, !failed);
        if elapsed >= self.slow {
            tracing::warn!(
                op,
                backend = self.inner.backend_name(),
                ms = elapsed.as_millis() as u64,
                ok = r.is_ok(),
                "slow DAO operation"
            );
        }
        if let Err(e) = &r {
            tracing::debug!(op, error = %e, "DAO operation failed");
        }
        r
    }
}

#[async_trait]
impl CheapDao for InstrumentedDao {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn catalogs(&self, page_size: u64) -> BoxStream<'_, Result<Catalog>> {
        self.inner.catalogs(page_size)
    }

    async fn save_catalog(&self, catalog: &Catalog) -> Result<i64> {
        self.run("save_catalog", self.inner.save_catalog(catalog))
            .await
    }

    async fn load_catalog(&self, id: Uuid) -> Result<Catalog> {
        self.run("load_catalog", self.inner.load_catalog(id)).await
    }

    async fn import_catalog(&self, parts: BoxStream<'_, Result<CatalogPart>>) -> Result<i64> {
        self.run("import_catalog", self.inner.import_catalog(parts))
            .await
    }

    fn export_catalog(&self, id: Uuid) -> BoxStream<'_, Result<CatalogPart>> {
        self.inner.export_catalog(id)
    }

    fn watch(&self, catalog: Uuid, since: i64) -> BoxStream<'_, Result<super::ChangeEvent>> {
        self.inner.watch(catalog, since)
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        self.run("delete_catalog", self.inner.delete_catalog(id))
            .await
    }

    async fn catalog_exists(&self, id: Uuid) -> Result<bool> {
        self.run("catalog_exists", self.inner.catalog_exists(id))
            .await
    }

    async fn catalog_info(&self, id: Uuid) -> Result<CatalogInfo> {
        self.run("catalog_info", self.inner.catalog_info(id)).await
    }

    async fn list_catalog_ids(&self) -> Result<Vec<Uuid>> {
        self.run("list_catalog_ids", self.inner.list_catalog_ids())
            .await
    }

    async fn catalog_count(&self) -> Result<u64> {
        self.run("catalog_count", self.inner.catalog_count()).await
    }

    async fn list_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<CatalogInfo>> {
        self.run(
            "list_catalogs_page",
            self.inner.list_catalogs_page(offset, limit),
        )
        .await
    }

    async fn load_catalogs_page(&self, offset: u64, limit: u64) -> Result<Vec<Catalog>> {
        self.run(
            "load_catalogs_page",
            self.inner.load_catalogs_page(offset, limit),
        )
        .await
    }

    async fn put_aspect_def(&self, catalog: Uuid, def: &AspectDef) -> Result<bool> {
        self.run("put_aspect_def", self.inner.put_aspect_def(catalog, def))
            .await
    }

    async fn get_aspect_def(&self, catalog: Uuid, name: &str) -> Result<AspectDef> {
        self.run("get_aspect_def", self.inner.get_aspect_def(catalog, name))
            .await
    }

    async fn list_aspect_defs(&self, catalog: Uuid) -> Result<Vec<AspectDef>> {
        self.run("list_aspect_defs", self.inner.list_aspect_defs(catalog))
            .await
    }

    async fn catalog_def(&self, catalog: Uuid) -> Result<CatalogDef> {
        self.run("catalog_def", self.inner.catalog_def(catalog))
            .await
    }

    async fn versioned_catalog_def(&self, catalog: Uuid) -> Result<(CatalogDef, i64)> {
        self.run(
            "versioned_catalog_def",
            self.inner.versioned_catalog_def(catalog),
        )
        .await
    }

    async fn delete_aspect_def(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.run(
            "delete_aspect_def",
            self.inner.delete_aspect_def(catalog, name),
        )
        .await
    }

    async fn create_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<()> {
        self.run(
            "create_hierarchy",
            self.inner.create_hierarchy(catalog, def),
        )
        .await
    }

    async fn replace_hierarchy(&self, catalog: Uuid, def: &HierarchyDef) -> Result<bool> {
        self.run(
            "replace_hierarchy",
            self.inner.replace_hierarchy(catalog, def),
        )
        .await
    }

    async fn delete_hierarchy(&self, catalog: Uuid, name: &str) -> Result<bool> {
        self.run(
            "delete_hierarchy",
            self.inner.delete_hierarchy(catalog, name),
        )
        .await
    }

    async fn list_hierarchy_defs(&self, catalog: Uuid) -> Result<Vec<HierarchyDef>> {
        self.run(
            "list_hierarchy_defs",
            self.inner.list_hierarchy_defs(catalog),
        )
        .await
    }

    async fn list_hierarchies(&self, catalog: Uuid) -> Result<Vec<HierarchyInfo>> {
        self.run("list_hierarchies", self.inner.list_hierarchies(catalog))
            .await
    }

    async fn get_hierarchy(&self, catalog: Uuid, name: &str) -> Result<Hierarchy> {
        self.run("get_hierarchy", self.inner.get_hierarchy(catalog, name))
            .await
    }

    async fn read_hierarchy_page(
        &self,
        catalog: Uuid,
        name: &str,
        offset: u64,
        limit: u64,
    ) -> Result<HierarchySlice> {
        self.run(
            "read_hierarchy_page",
            self.inner.read_hierarchy_page(catalog, name, offset, limit),
        )
        .await
    }

    async fn read_hierarchy_page_after(
        &self,
        catalog: Uuid,
        name: &str,
        after: Option<&PageCursor>,
        limit: u64,
    ) -> Result<CursorPage> {
        self.run(
            "read_hierarchy_page_after",
            self.inner
                .read_hierarchy_page_after(catalog, name, after, limit),
        )
        .await
    }

    async fn add_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        self.run(
            "add_entities",
            self.inner.add_entities(catalog, hierarchy, ids),
        )
        .await
    }

    async fn insert_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        index: u64,
        ids: &[Uuid],
    ) -> Result<u64> {
        self.run(
            "insert_entities",
            self.inner.insert_entities(catalog, hierarchy, index, ids),
        )
        .await
    }

    async fn remove_entities(&self, catalog: Uuid, hierarchy: &str, ids: &[Uuid]) -> Result<u64> {
        self.run(
            "remove_entities",
            self.inner.remove_entities(catalog, hierarchy, ids),
        )
        .await
    }

    async fn put_directory_entries(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        entries: &[(String, Uuid)],
    ) -> Result<u64> {
        self.run(
            "put_directory_entries",
            self.inner
                .put_directory_entries(catalog, hierarchy, entries),
        )
        .await
    }

    async fn remove_directory_keys(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        keys: &[String],
    ) -> Result<u64> {
        self.run(
            "remove_directory_keys",
            self.inner.remove_directory_keys(catalog, hierarchy, keys),
        )
        .await
    }

    async fn remove_directory_entities(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        ids: &[Uuid],
    ) -> Result<u64> {
        self.run(
            "remove_directory_entities",
            self.inner
                .remove_directory_entities(catalog, hierarchy, ids),
        )
        .await
    }

    async fn add_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Result<u64> {
        self.run(
            "add_tree_nodes",
            self.inner
                .add_tree_nodes(catalog, hierarchy, parent_path, nodes),
        )
        .await
    }

    async fn remove_tree_nodes(
        &self,
        catalog: Uuid,
        hierarchy: &str,
        paths: &[String],
    ) -> Result<u64> {
        self.run(
            "remove_tree_nodes",
            self.inner.remove_tree_nodes(catalog, hierarchy, paths),
        )
        .await
    }

    async fn upsert_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        aspects: &[Aspect],
    ) -> Result<Vec<UpsertOutcome>> {
        self.run(
            "upsert_aspects",
            self.inner.upsert_aspects(catalog, aspect_def, aspects),
        )
        .await
    }

    async fn merge_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        patches: &[AspectPatch],
    ) -> Result<Vec<Result<UpsertOutcome>>> {
        self.run(
            "merge_aspects",
            self.inner.merge_aspects(catalog, aspect_def, patches),
        )
        .await
    }

    async fn versioned_query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<(Vec<AspectMap>, i64)> {
        self.run(
            "versioned_query_aspects",
            self.inner
                .versioned_query_aspects(catalog, entities, aspect_defs),
        )
        .await
    }

    async fn apply_batch(&self, catalog: Uuid, batch: &Batch) -> Result<BatchOutcome> {
        self.run("apply_batch", self.inner.apply_batch(catalog, batch))
            .await
    }

    async fn delete_aspects(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        entities: &[Uuid],
    ) -> Result<u64> {
        self.run(
            "delete_aspects",
            self.inner.delete_aspects(catalog, aspect_def, entities),
        )
        .await
    }

    async fn query_aspects(
        &self,
        catalog: Uuid,
        entities: &[Uuid],
        aspect_defs: &[String],
    ) -> Result<Vec<AspectMap>> {
        self.run(
            "query_aspects",
            self.inner.query_aspects(catalog, entities, aspect_defs),
        )
        .await
    }

    async fn changes_since(&self, catalog: Uuid, version: i64) -> Result<Changes> {
        self.run("changes_since", self.inner.changes_since(catalog, version))
            .await
    }

    async fn aspect_changes_since(
        &self,
        catalog: Uuid,
        aspect_def: &str,
        version: i64,
    ) -> Result<AspectChanges> {
        self.run(
            "aspect_changes_since",
            self.inner
                .aspect_changes_since(catalog, aspect_def, version),
        )
        .await
    }

    async fn sync_mark(&self, catalog: Uuid) -> Result<Option<SyncMark>> {
        self.run("sync_mark", self.inner.sync_mark(catalog)).await
    }

    async fn set_sync_mark(&self, catalog: Uuid, mark: SyncMark) -> Result<()> {
        self.run("set_sync_mark", self.inner.set_sync_mark(catalog, mark))
            .await
    }

    async fn put_task(&self, task: &super::TaskRecord) -> Result<()> {
        self.run("put_task", self.inner.put_task(task)).await
    }

    async fn get_task(&self, id: Uuid) -> Result<Option<super::TaskRecord>> {
        self.run("get_task", self.inner.get_task(id)).await
    }

    async fn health(&self) -> Result<super::Health> {
        self.run("health", self.inner.health()).await
    }

    async fn health_check(&self) -> Result<()> {
        self.run("health_check", self.inner.health_check()).await
    }

    async fn close(&self) -> Result<()> {
        self.run("close", self.inner.close()).await
    }

    fn statements_run(&self) -> Option<u64> {
        self.inner.statements_run()
    }
}
