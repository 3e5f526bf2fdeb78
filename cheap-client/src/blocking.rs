//! The blocking client: the same methods as [`crate::CheapClient`], for code without an async
//! runtime. It runs its own runtime on a thread of its own, so it also works when called from
//! inside a tokio runtime (the calling thread waits; nothing panics).

use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde_json::Value;
use uuid::Uuid;

use crate::client::{Conditional, DirectoryRemoval, HierarchyPage};
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use cheap_core::rest::*;
use cheap_core::{Aspect, AspectDef, AspectMap, Catalog, CatalogDef, CatalogSpecies, HierarchyDef};

struct RuntimeThread {
    handle: tokio::runtime::Handle,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RuntimeThread {
    fn start() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cheap-client")
            .enable_all()
            .build()
            .map_err(|e| ClientError::Invalid(format!("cannot start the client runtime: {e}")))?;
        let handle = rt.handle().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // The runtime lives and is dropped on this thread, never inside a caller's runtime.
        let thread = std::thread::Builder::new()
            .name("cheap-client-runtime".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = rx.await;
                });
            })
            .map_err(|e| ClientError::Invalid(format!("cannot start the client thread: {e}")))?;
        Ok(RuntimeThread {
            handle,
            stop: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// A blocking client for the CHEAP REST API; clones share the connection pool and runtime.
#[derive(Clone)]
pub struct CheapClient {
    inner: crate::CheapClient,
    rt: Arc<RuntimeThread>,
}

impl std::fmt::Debug for CheapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::CheapClient")
            .field("base_url", &self.inner.base_url())
            .finish()
    }
}

// Each argument: `mode name: Type => owned copy`, where mode says how the owned copy is
// passed to the async method: `v` by value, `r` by reference, `o` as `Option<&_>`, `s` as
// `Option<&str>`.
macro_rules! blocking {
    ($( $(#[$doc:meta])* fn $name:ident ( $($mode:ident $arg:ident : $t:ty => $own:expr),* ) -> $ret:ty; )*) => {
        impl CheapClient {
            $(
                $(#[$doc])*
                // The owned copies shadow the arguments; for values that is a plain move.
                #[allow(clippy::redundant_locals)]
                pub fn $name(&self, $($arg: $t),*) -> Result<$ret> {
                    $(let $arg = $own;)*
                    let c = self.inner.clone();
                    self.run(async move { c.$name($(blocking!(@pass $mode $arg)),*).await })
                }
            )*
        }
    };
    (@pass v $arg:ident) => { $arg };
    (@pass r $arg:ident) => { &$arg };
    (@pass o $arg:ident) => { $arg.as_ref() };
    (@pass s $arg:ident) => { $arg.as_deref() };
}

impl CheapClient {
    /// A client with default settings for the server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        CheapClient::with_config(ClientConfig::new(base_url))
    }

    /// A client with these settings.
    pub fn with_config(config: ClientConfig) -> Result<Self> {
        let rt = Arc::new(RuntimeThread::start()?);
        // reqwest's client must be built inside a runtime context for its timers.
        let inner = {
            let _guard = rt.handle.enter();
            crate::CheapClient::with_config(config)?
        };
        Ok(CheapClient { inner, rt })
    }

    /// A client whose writes apply only while the catalog is at `version` (`If-Match`; see
    /// [`crate::CheapClient::if_match`]).
    pub fn if_match(&self, version: i64) -> CheapClient {
        CheapClient {
            inner: self.inner.if_match(version),
            rt: self.rt.clone(),
        }
    }

    /// A batch of writes to `catalog`, sent with [`crate::batch::BatchCall::send`].
    pub fn batch(&self, catalog: Uuid) -> crate::batch::BatchCall<'_, CheapClient> {
        crate::batch::BatchCall::new(self, catalog)
    }

    /// The async client this one drives.
    pub fn as_async(&self) -> &crate::CheapClient {
        &self.inner
    }

    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| ClientError::Invalid("the client runtime stopped".into()))?
    }

    /// What changes in `catalog` after version `since` (`None`: its current version), as it
    /// changes: [`crate::CheapClient::watch`] as an iterator. Each `next` waits for the next
    /// event; the connection is opened again from the last event whenever it drops. Dropping
    /// the iterator closes the stream.
    pub fn watch(&self, catalog: Uuid, since: Option<i64>) -> Watch<'_> {
        Watch {
            client: self,
            events: Arc::new(tokio::sync::Mutex::new(self.inner.watch(catalog, since))),
        }
    }

    /// Every catalog id, fetched `page_size` at a time.
    pub fn catalog_ids(&self, page_size: u64) -> impl Iterator<Item = Result<Uuid>> + '_ {
        let size = page_size.max(1);
        Pages::new(
            move |page| self.list_catalogs(page, size).map(|r| r.catalog_ids),
            size,
        )
    }

    /// Every aspect def of a catalog, fetched `page_size` at a time.
    pub fn aspect_defs(
        &self,
        catalog: Uuid,
        page_size: u64,
    ) -> impl Iterator<Item = Result<AspectDef>> + '_ {
        let size = page_size.max(1);
        Pages::new(
            move |page| {
                self.list_aspect_defs(catalog, page, size)?
                    .aspect_defs
                    .iter()
                    .map(|v| {
                        cheap_core::json::read::aspect_def_from_json(v)
                            .map_err(|e| ClientError::Decode(e.to_string()))
                    })
                    .collect()
            },
            size,
        )
    }

    /// Every entity of a list or set, fetched `page_size` at a time by cursor.
    pub fn hierarchy_entities<'a>(
        &'a self,
        catalog: Uuid,
        name: &'a str,
        page_size: u64,
    ) -> impl Iterator<Item = Result<Uuid>> + 'a {
        let size = page_size.max(1);
        let mut after: Option<Option<String>> = Some(None);
        let mut page: std::vec::IntoIter<Uuid> = Vec::new().into_iter();
        std::iter::from_fn(move || loop {
            if let Some(e) = page.next() {
                return Some(Ok(e));
            }
            let cursor = after.take()?;
            match self.get_hierarchy_after(catalog, name, cursor.as_deref(), size) {
                Ok(HierarchyPage::Entities(e)) => {
                    after = e.next_cursor.map(Some);
                    page = e.entity_ids.into_iter();
                }
                Ok(_) => {
                    return Some(Err(ClientError::Invalid(format!(
                        "'{name}' is not an entity list or set"
                    ))))
                }
                Err(e) => return Some(Err(e)),
            }
        })
    }
}

/// Items of consecutive pages until a short page.
struct Pages<T, F> {
    fetch: F,
    size: u64,
    page: Option<u64>,
    buf: std::vec::IntoIter<T>,
}

impl<T, F: FnMut(u64) -> Result<Vec<T>>> Pages<T, F> {
    fn new(fetch: F, size: u64) -> Self {
        Pages {
            fetch,
            size,
            page: Some(0),
            buf: Vec::new().into_iter(),
        }
    }
}

impl<T, F: FnMut(u64) -> Result<Vec<T>>> Iterator for Pages<T, F> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(x) = self.buf.next() {
                return Some(Ok(x));
            }
            let page = self.page?;
            match (self.fetch)(page) {
                Ok(items) => {
                    self.page = (items.len() as u64 == self.size).then_some(page + 1);
                    self.buf = items.into_iter();
                }
                Err(e) => {
                    self.page = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

blocking! {
    /// `GET /health`.
    fn health_check() -> HealthResponse;
    /// `GET /metrics`.
    fn metrics() -> String;
    /// `GET /api-docs`.
    fn api_docs() -> Value;
    /// `POST /api/catalog`.
    fn create_catalog(r req: &CreateCatalogRequest => req.clone()) -> CreateCatalogResponse;
    /// Creates a catalog of `species` with the contents of `def`.
    fn create_catalog_with(v species: CatalogSpecies => species, v upstream: Option<Uuid> => upstream, o def: Option<&CatalogDef> => def.cloned()) -> CreateCatalogResponse;
    /// `GET /api/catalog?page&size`.
    fn list_catalogs(v page: u64 => page, v size: u64 => size) -> CatalogListResponse;
    /// `GET /api/catalog/{id}`.
    fn get_catalog(v id: Uuid => id) -> GetCatalogDefResponse;
    /// The catalog's def as a model [`CatalogDef`].
    fn get_catalog_def(v id: Uuid => id) -> CatalogDef;
    /// `DELETE /api/catalog/{id}`.
    fn delete_catalog(v id: Uuid => id) -> bool;
    /// `GET /api/catalog/{id}/export`.
    fn export_catalog(v id: Uuid => id) -> Catalog;
    /// `POST /api/catalog/import`.
    fn import_catalog(r catalog: &Catalog => catalog.clone()) -> ImportResponse;
    /// `POST /api/catalog/import?background=true`.
    fn import_catalog_background(r catalog: &Catalog => catalog.clone()) -> TaskStatus;
    /// `GET /api/tasks/{id}`.
    fn task_status(v task: Uuid => task) -> TaskStatus;
    /// `POST /api/catalog/{id}/aspect-defs`.
    fn create_aspect_def(v catalog: Uuid => catalog, r def: &AspectDef => def.clone()) -> CreateAspectDefResponse;
    /// `GET /api/catalog/{id}/aspect-defs?page&size`.
    fn list_aspect_defs(v catalog: Uuid => catalog, v page: u64 => page, v size: u64 => size) -> AspectDefListResponse;
    /// `GET /api/catalog/{id}/aspect-defs/{idOrName}`.
    fn get_aspect_def(v catalog: Uuid => catalog, r id_or_name: &str => id_or_name.to_owned()) -> AspectDef;
    /// `DELETE /api/catalog/{id}/aspect-defs/{idOrName}`.
    fn delete_aspect_def(v catalog: Uuid => catalog, r id_or_name: &str => id_or_name.to_owned()) -> bool;
    /// `POST /api/catalog/{id}/aspects/{def}`.
    fn upsert_aspects(v catalog: Uuid => catalog, r aspect_def: &str => aspect_def.to_owned(), r aspects: &[AspectInput] => aspects.to_vec()) -> UpsertAspectsResponse;
    /// `POST /api/catalog/{id}/aspects/{def}?merge=true`.
    fn merge_aspects(v catalog: Uuid => catalog, r aspect_def: &str => aspect_def.to_owned(), r aspects: &[AspectInput] => aspects.to_vec()) -> UpsertAspectsResponse;
    /// Upserts model aspects of one def.
    fn upsert(v catalog: Uuid => catalog, r aspects: &[Aspect] => aspects.to_vec()) -> UpsertAspectsResponse;
    /// `POST /api/catalog/{id}/aspects/query`.
    fn query_aspects(v catalog: Uuid => catalog, r entity_ids: &[Uuid] => entity_ids.to_vec(), r aspect_defs: &[String] => aspect_defs.to_vec()) -> AspectQueryResponse;
    /// The query read into model aspect maps.
    fn query_aspect_maps(v catalog: Uuid => catalog, r entity_ids: &[Uuid] => entity_ids.to_vec(), r aspect_defs: &[String] => aspect_defs.to_vec()) -> Vec<AspectMap>;
    /// `POST /api/catalog/{id}/hierarchies`.
    fn create_hierarchy(v catalog: Uuid => catalog, r def: &HierarchyDef => def.clone()) -> CreateHierarchyResponse;
    /// `GET /api/catalog/{id}/hierarchies/{name}?page&size`.
    fn get_hierarchy(v catalog: Uuid => catalog, r name: &str => name.to_owned(), v page: u64 => page, v size: u64 => size) -> HierarchyPage;
    /// `GET /api/catalog/{id}/hierarchies/{name}?after&size`: a page by cursor.
    fn get_hierarchy_after(v catalog: Uuid => catalog, r name: &str => name.to_owned(), s after: Option<&str> => after.map(str::to_owned), v size: u64 => size) -> HierarchyPage;
    /// `DELETE /api/catalog/{id}/hierarchies/{name}`.
    fn delete_hierarchy(v catalog: Uuid => catalog, r name: &str => name.to_owned()) -> bool;
    /// `POST .../entities`.
    fn add_entities(v catalog: Uuid => catalog, r name: &str => name.to_owned(), r ids: &[Uuid] => ids.to_vec()) -> OperationResponse;
    /// `DELETE .../entities`.
    fn remove_entities(v catalog: Uuid => catalog, r name: &str => name.to_owned(), r ids: &[Uuid] => ids.to_vec()) -> OperationResponse;
    /// `POST .../entries`.
    fn add_directory_entries(v catalog: Uuid => catalog, r name: &str => name.to_owned(), r entries: &IndexMap<String, Uuid> => entries.clone()) -> OperationResponse;
    /// `DELETE .../entries`.
    fn remove_directory_entries(v catalog: Uuid => catalog, r name: &str => name.to_owned(), r what: &DirectoryRemoval => what.clone()) -> OperationResponse;
    /// `POST .../nodes`.
    fn add_tree_nodes(v catalog: Uuid => catalog, r name: &str => name.to_owned(), r parent_path: &str => parent_path.to_owned(), r nodes: &IndexMap<String, Option<Uuid>> => nodes.clone()) -> TreeOperationResponse;
    /// `DELETE .../nodes`.
    fn remove_tree_nodes(v catalog: Uuid => catalog, r name: &str => name.to_owned(), r paths: &[String] => paths.to_vec()) -> TreeOperationResponse;
    /// `GET /api/catalog/{id}/info` (an extension).
    fn catalog_info(v catalog: Uuid => catalog) -> CatalogInfoResponse;
    /// `GET /api/catalog/{id}/hierarchies` (an extension).
    fn list_hierarchies(v catalog: Uuid => catalog) -> Vec<HierarchyInfoResponse>;
    /// `GET /api/catalog/{id}/changes?since=N` (an extension).
    fn changes_since(v catalog: Uuid => catalog, v since: i64 => since) -> ChangesResponse;
    /// `GET /api/catalog/{id}/aspects/{def}/changes?since=N` (an extension).
    fn aspect_changes_since(v catalog: Uuid => catalog, r aspect_def: &str => aspect_def.to_owned(), v since: i64 => since) -> AspectChangesResponse;
    /// `DELETE /api/catalog/{id}/aspects/{def}` (an extension).
    fn delete_aspects(v catalog: Uuid => catalog, r aspect_def: &str => aspect_def.to_owned(), r ids: &[Uuid] => ids.to_vec()) -> OperationResponse;
    /// `POST .../entities` with an index (an extension).
    fn insert_entities(v catalog: Uuid => catalog, r name: &str => name.to_owned(), v index: u64 => index, r ids: &[Uuid] => ids.to_vec()) -> OperationResponse;
    /// `GET /api/catalog/{id}/sync-mark` (an extension).
    fn sync_mark(v catalog: Uuid => catalog) -> Option<SyncMarkBody>;
    /// `PUT /api/catalog/{id}/sync-mark` (an extension).
    fn set_sync_mark(v catalog: Uuid => catalog, r mark: &SyncMarkBody => *mark) -> ();
    /// `POST /api/catalog/{id}/batch` (an extension).
    fn send_batch(v catalog: Uuid => catalog, r req: BatchRequest => req) -> BatchResponse;
    /// `GET /api/catalog/{id}` unless it still has entity tag `etag`.
    fn get_catalog_if_changed(v id: Uuid => id, s etag: Option<&str> => etag.map(str::to_owned)) -> Conditional<GetCatalogDefResponse>;
    /// `GET /api/catalog/{id}/export` unless the catalog still has entity tag `etag`.
    fn export_catalog_if_changed(v id: Uuid => id, s etag: Option<&str> => etag.map(str::to_owned)) -> Conditional<Catalog>;
    /// `GET .../hierarchies/{name}/slice` (an extension).
    fn hierarchy_slice(v catalog: Uuid => catalog, r name: &str => name.to_owned(), v offset: u64 => offset, v limit: u64 => limit) -> HierarchySliceResponse;
    /// `GET .../hierarchies/{name}/slice?after&limit`: a page of any hierarchy by cursor.
    fn hierarchy_slice_after(v catalog: Uuid => catalog, r name: &str => name.to_owned(), s after: Option<&str> => after.map(str::to_owned), v limit: u64 => limit) -> HierarchySliceResponse;
}

/// The iterator of [`CheapClient::watch`].
pub struct Watch<'a> {
    client: &'a CheapClient,
    events: Arc<
        tokio::sync::Mutex<
            futures::stream::BoxStream<'static, Result<cheap_core::dao::ChangeEvent>>,
        >,
    >,
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Iterator for Watch<'_> {
    type Item = Result<cheap_core::dao::ChangeEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        use futures::StreamExt;
        let events = self.events.clone();
        // Run on the client's runtime, which owns the connection.
        self.client
            .run(async move { Ok(events.lock().await.next().await) })
            .unwrap_or_else(|e| Some(Err(e)))
    }
}
